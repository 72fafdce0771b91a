// Command codegen runs gqlgen over gqlgen.yml, as `gqlgen generate` does, with one change to
// the executor it writes: an object's fields resolve one after another instead of each in a
// goroutine of its own.
//
// gqlgen starts a goroutine for every field that has a resolver or a method taking a context,
// for every object of a list: the Users page's 50 members cost 100 such goroutines, their
// stacks and their scheduling. Here they buy nothing: a request's statements take turns on its
// one database connection (server/database), the authentication cache and the operation's
// loaders answer the rest from memory, and nothing else a resolver does waits. gqlgen has no
// setting for it, so this plugin sets the flag gqlgen itself sets for the Mutation type, for
// every object. (Lists of objects still marshal their elements in goroutines: that is in
// gqlgen's template, not in its data.)
package main

import (
	"fmt"
	"os"

	"github.com/99designs/gqlgen/api"
	"github.com/99designs/gqlgen/codegen"
	"github.com/99designs/gqlgen/codegen/config"
)

type sequentialFields struct{}

func (sequentialFields) Name() string { return "sequential-fields" }

func (sequentialFields) GenerateCode(data *codegen.Data) error {
	for _, o := range data.Objects {
		o.DisableConcurrency = true
	}
	return nil
}

func main() {
	cfg, err := config.LoadConfigFromDefaultLocations()
	if err == nil {
		err = api.Generate(cfg, api.AddPlugin(sequentialFields{}))
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "codegen:", err)
		os.Exit(1)
	}
}
