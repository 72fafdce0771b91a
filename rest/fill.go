package rest

import (
	"fmt"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/vektah/gqlparser/v2/ast"
)

// How an operation's data becomes an InferiaLLM shape. Each field of a shape names where its
// value is with a gql tag: a dotted path of the fields the operation selects, from where the
// route reads (route.Reply), then options.
//
//	CreatedAt string `json:"created_at" gql:"user.createdAt,time"`
//
// A path that meets a list goes on in each of its items ("edges.node" of a connection is its
// nodes). The options: time writes a time as RFC 3339 in UTC with a Z; lower lower-cases;
// sorted sorts a list; list makes a list of the one value. Lists and objects the data leaves
// out are empty, never null; a pointer is null where the data is. A field without a gql tag
// is the route's to set. ValidateOperations checks every path against the operation the route
// runs, so a field the operation does not select fails the start, not a client.

// read reads the data at path into a new T. A path through the viewer needs one: the viewer
// query takes no token and is null for an anonymous caller, which the REST routes answer 401.
func read[T any](data any, path string) (T, error) {
	var v T
	if first, _, _ := strings.Cut(path, "."); first == "viewer" && dig(data, "viewer") == nil {
		return v, &httpError{Status: http.StatusUnauthorized, Detail: "Not authenticated"}
	}
	err := fill(reflect.ValueOf(&v).Elem(), dig(data, path), gqlTag{path: path})
	return v, err
}

// dig returns the value at a dotted path of decoded JSON; a list maps the rest of the path
// over its items.
func dig(v any, path string) any {
	if path == "" {
		return v
	}
	switch x := v.(type) {
	case map[string]any:
		key, rest, _ := strings.Cut(path, ".")
		return dig(x[key], rest)
	case []any:
		out := make([]any, len(x))
		for i, item := range x {
			out[i] = dig(item, path)
		}
		return out
	}
	return nil
}

// gqlTag is a parsed gql tag.
type gqlTag struct {
	path                      string
	time, lower, sorted, list bool
}

func parseTag(tag string) gqlTag {
	path, opts, _ := strings.Cut(tag, ",")
	t := gqlTag{path: path}
	for _, o := range strings.Split(opts, ",") {
		switch o {
		case "time":
			t.time = true
		case "lower":
			t.lower = true
		case "sorted":
			t.sorted = true
		case "list":
			t.list = true
		}
	}
	return t
}

// field is a struct field and its gql tag (tagged is false without one).
type field struct {
	index  int
	tag    gqlTag
	tagged bool
}

// fieldsOf returns the fields of a struct type, parsed once.
var fieldsOf = func() func(reflect.Type) []field {
	var cache sync.Map
	return func(t reflect.Type) []field {
		if fs, ok := cache.Load(t); ok {
			return fs.([]field)
		}
		var fs []field
		for i := range t.NumField() {
			tag, ok := t.Field(i).Tag.Lookup("gql")
			fs = append(fs, field{index: i, tag: parseTag(tag), tagged: ok})
		}
		cache.Store(t, fs)
		return fs
	}
}()

// fill sets dst from the decoded JSON src, as tag says.
func fill(dst reflect.Value, src any, tag gqlTag) error {
	mismatch := func() error {
		return fmt.Errorf("rest: %s is %T in the data, not %s", tag.path, src, dst.Type())
	}
	switch dst.Kind() {
	case reflect.Pointer:
		if src == nil {
			dst.SetZero()
			return nil
		}
		p := reflect.New(dst.Type().Elem())
		if err := fill(p.Elem(), src, tag); err != nil {
			return err
		}
		dst.Set(p)
	case reflect.Struct:
		m, ok := src.(map[string]any)
		if !ok && src != nil {
			return mismatch()
		}
		for _, f := range fieldsOf(dst.Type()) {
			v := dst.Field(f.index)
			if !f.tagged {
				// The route sets it; but lists and objects are never null.
				if k := v.Kind(); (k == reflect.Slice || k == reflect.Map) && v.IsNil() {
					_ = fill(v, nil, tag)
				}
				continue
			}
			sub := f.tag
			sub.path = strings.TrimPrefix(tag.path+"."+f.tag.path, ".")
			if err := fill(v, dig(m, f.tag.path), sub); err != nil {
				return err
			}
		}
	case reflect.Slice:
		list, ok := src.([]any)
		switch {
		case tag.list:
			list = []any{src}
		case !ok && src != nil:
			return mismatch()
		}
		s := reflect.MakeSlice(dst.Type(), len(list), len(list))
		item := gqlTag{path: tag.path, time: tag.time, lower: tag.lower}
		for i, x := range list {
			if err := fill(s.Index(i), x, item); err != nil {
				return err
			}
		}
		if tag.sorted {
			if strs, ok := s.Interface().([]string); ok {
				slices.Sort(strs)
			}
		}
		dst.Set(s)
	case reflect.Map:
		m, ok := src.(map[string]any)
		if !ok && src != nil {
			return mismatch()
		}
		if m == nil {
			m = map[string]any{}
		}
		dst.Set(reflect.ValueOf(m))
	case reflect.String:
		s, ok := src.(string)
		if !ok && src != nil {
			return mismatch()
		}
		if tag.time {
			s = stamp(s)
		}
		if tag.lower {
			s = strings.ToLower(s)
		}
		dst.SetString(s)
	case reflect.Bool:
		b, ok := src.(bool)
		if !ok && src != nil {
			return mismatch()
		}
		dst.SetBool(b)
	case reflect.Int:
		n, ok := src.(float64)
		if !ok && src != nil {
			return mismatch()
		}
		dst.SetInt(int64(n))
	case reflect.Interface:
		if src != nil {
			dst.Set(reflect.ValueOf(src))
		}
	default:
		return fmt.Errorf("rest: cannot read %s into %s", tag.path, dst.Type())
	}
	return nil
}

// stamp writes a GraphQL time as RFC 3339 in UTC with a Z.
func stamp(s string) string {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return s
	}
	return t.UTC().Format(time.RFC3339Nano)
}

// checkSelected returns an error for every gql path of t, read at path of set, that set does
// not select.
func checkSelected(set ast.SelectionSet, path string, t reflect.Type) []error {
	named := t
	for named.Kind() == reflect.Pointer || named.Kind() == reflect.Slice {
		named = named.Elem()
	}
	return unselected(set, path, t, named.Name(), path)
}

// unselected is checkSelected for the field goName, which reads at (the whole path, for errors).
func unselected(set ast.SelectionSet, path string, t reflect.Type, goName, at string) []error {
	set, ok := selected(set, path)
	if !ok {
		return []error{fmt.Errorf("%s reads %q, which the operation does not select", goName, at)}
	}
	for t.Kind() == reflect.Pointer || t.Kind() == reflect.Slice {
		t = t.Elem()
	}
	if t.Kind() != reflect.Struct {
		return nil
	}
	var errs []error
	for _, f := range fieldsOf(t) {
		if f.tagged {
			sf := t.Field(f.index)
			errs = append(errs, unselected(set, f.tag.path, sf.Type, goName+"."+sf.Name, strings.TrimPrefix(at+"."+f.tag.path, "."))...)
		}
	}
	return errs
}

// selected follows a dotted path of response names through a selection set, fragments
// included, and returns what is selected at its end.
func selected(set ast.SelectionSet, path string) (ast.SelectionSet, bool) {
	if path == "" {
		return set, true
	}
	name, rest, _ := strings.Cut(path, ".")
	for _, f := range fields(set) {
		if f.Alias == name {
			if sub, ok := selected(f.SelectionSet, rest); ok {
				return sub, true
			}
		}
	}
	return nil, false
}

// fields are the fields of a selection set, with those of its fragments.
func fields(set ast.SelectionSet) []*ast.Field {
	var out []*ast.Field
	for _, sel := range set {
		switch s := sel.(type) {
		case *ast.Field:
			out = append(out, s)
		case *ast.InlineFragment:
			out = append(out, fields(s.SelectionSet)...)
		case *ast.FragmentSpread:
			out = append(out, fields(s.Definition.SelectionSet)...)
		}
	}
	return out
}
