package telemetry

import "sync"

// Values of the operation label that are not an operation's name.
const (
	OperationAnonymous = "(anonymous)" // a validated operation without a name
	OperationOther     = "(other)"     // a name past the cap, too long, or not admitted
	OperationRefused   = "(refused)"   // refused before it ran: unparsable, invalid, over a limit
)

// MaxOperationNames bounds how many operation names label metrics and name spans, so that a
// client cannot make series without end by naming operations at random.
const MaxOperationNames = 100

// maxOperationName is the longest name used as a label.
const maxOperationName = 64

// OperationNames is the bounded set of GraphQL operation names that label metrics and name
// spans. The zero value is ready to use.
type OperationNames struct {
	mu    sync.RWMutex
	names map[string]bool
}

// Know admits names from the start (the REST layer's operations), within MaxOperationNames.
func (o *OperationNames) Know(names ...string) {
	for _, n := range names {
		o.Label(n, true)
	}
}

// Label is the label of a validated operation's name: the name if it is known already, or if
// admit and there is room for one more; otherwise (other). Callers admit only names they
// trust somewhat (see the GraphQL extension).
func (o *OperationNames) Label(name string, admit bool) string {
	switch {
	case name == "":
		return OperationAnonymous
	case len(name) > maxOperationName:
		return OperationOther
	}
	o.mu.RLock()
	known := o.names[name]
	o.mu.RUnlock()
	if known {
		return name
	}
	if !admit {
		return OperationOther
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.names == nil {
		o.names = map[string]bool{}
	}
	if o.names[name] || len(o.names) < MaxOperationNames {
		o.names[name] = true
		return name
	}
	return OperationOther
}
