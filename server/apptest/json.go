package apptest

import (
	"encoding/json"
	"strconv"
	"strings"
)

// Dig returns the value at a dotted path of decoded JSON, or nil when there is none. List
// items are numbered: "viewer.memberships.0.role.name". The empty path is v itself.
func Dig(v any, path string) any {
	if path == "" {
		return v
	}
	for _, k := range strings.Split(path, ".") {
		switch x := v.(type) {
		case map[string]any:
			v = x[k]
		case []any:
			i, err := strconv.Atoi(k)
			if err != nil || i < 0 || i >= len(x) {
				return nil
			}
			v = x[i]
		default:
			return nil
		}
	}
	return v
}

// Dig returns the value at a dotted path of the data, list items numbered (see Dig).
func (r *Response) Dig(path string) any {
	var v any
	if err := json.Unmarshal(r.Data, &v); err != nil {
		return nil
	}
	return Dig(v, path)
}
