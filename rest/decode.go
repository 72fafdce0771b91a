package rest

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
)

// The executor hands back an operation's data as JSON. Decoding it into untyped maps and
// slices and then walking them (read, fill) costs an allocation per value and a map lookup per
// field; decodeAt instead decodes it once into a typed mirror of what the shape reads (a
// struct made with reflect.StructOf whose json tags are the gql paths, nested where the paths
// share a prefix) and copies that into the shape. Where the shape does not allow it (a path
// that goes on through a list, a kind fill does not know, two fields at one path that cannot
// share a mirror), or where the data turns out not to fit the mirror, it reads as before:
// json.Unmarshal into any, then read. Either way the shape gets the same values: every leaf of
// the mirror treats JSON null and absence as fill treats nil.

// decodeAt reads the operation data raw at path into a new T, as read does from decoded data.
func decodeAt[T any](raw json.RawMessage, path string) (T, error) {
	var v T
	d := decoderFor(reflect.TypeFor[T](), path)
	if d.ok && !d.misfit.Load() {
		m := reflect.New(d.mirror)
		err := json.Unmarshal(raw, m.Interface())
		if err == nil {
			return v, d.copy(reflect.ValueOf(&v).Elem(), m.Elem())
		}
		var typeErr *json.UnmarshalTypeError
		if !errors.As(err, &typeErr) {
			return v, fmt.Errorf("rest: the data: %w", err)
		}
		// The data is not the shape the mirror expected: read it the general way from now on
		// (its errors say where).
		d.misfit.Store(true)
	}
	var data any
	if err := json.Unmarshal(raw, &data); err != nil {
		return v, fmt.Errorf("rest: the data: %w", err)
	}
	return read[T](data, path)
}

// decoder is the mirror of the data a T read at a path needs, and how to copy it into a T.
type decoder struct {
	ok     bool // the shape allows a mirror
	misfit atomic.Bool
	mirror reflect.Type
	viewer bool // the path goes through the viewer (null: 401)
	leaf   leaf
}

// copy sets dst from the decoded mirror m.
func (d *decoder) copy(dst, m reflect.Value) error {
	if d.viewer && m.Field(0).IsNil() {
		return &httpError{Status: http.StatusUnauthorized, Detail: "Not authenticated"}
	}
	d.leaf.copy(dst, m)
	return nil
}

type decoderKey struct {
	t    reflect.Type
	path string
}

var decoders sync.Map // decoderKey → *decoder

// decoderFor returns the decoder of a t at path, made once.
func decoderFor(t reflect.Type, path string) *decoder {
	key := decoderKey{t, path}
	if d, ok := decoders.Load(key); ok {
		return d.(*decoder)
	}
	d := &decoder{}
	conv, mirror, ok := compile(t, gqlTag{path: path})
	if ok {
		if path == "" {
			d.mirror, d.leaf = mirror, leaf{conv: conv}
		} else {
			// The value at path is a pointer in the mirror, so that null and absent are nil.
			segs := strings.Split(path, ".")
			root := &node{}
			ok = root.add(segs, &leaf{conv: derefConv(conv), mirror: reflect.PointerTo(mirror)})
			if ok {
				d.mirror = root.build()
				d.leaf = *root.leaves()[0]
				d.viewer = segs[0] == "viewer"
			}
		}
	}
	d.ok = ok
	got, _ := decoders.LoadOrStore(key, d)
	return got.(*decoder)
}

// conv sets dst from src, a value of the mirror; an invalid src is null or absent.
type conv func(dst, src reflect.Value)

// derefConv is c for a pointer to its source.
func derefConv(c conv) conv {
	return func(dst, src reflect.Value) {
		if src.IsValid() && !src.IsNil() {
			c(dst, src.Elem())
			return
		}
		c(dst, reflect.Value{})
	}
}

var (
	anyType = reflect.TypeFor[any]()
	mapType = reflect.TypeFor[map[string]any]()
)

// compile returns how to set a t from the mirror type of its data, as fill does with tag; ok
// is false when the shape does not allow a mirror.
func compile(t reflect.Type, tag gqlTag) (conv, reflect.Type, bool) {
	switch t.Kind() {
	case reflect.Pointer:
		c, m, ok := compile(t.Elem(), tag)
		if !ok {
			return nil, nil, false
		}
		elem := t.Elem()
		return func(dst, src reflect.Value) {
			if !src.IsValid() || src.IsNil() {
				dst.SetZero()
				return
			}
			p := reflect.New(elem)
			c(p.Elem(), src.Elem())
			dst.Set(p)
		}, reflect.PointerTo(m), true
	case reflect.Struct:
		return compileStruct(t, tag)
	case reflect.Slice:
		item := gqlTag{path: tag.path, time: tag.time, lower: tag.lower}
		c, m, ok := compile(t.Elem(), item)
		if !ok {
			return nil, nil, false
		}
		sortStrings := func(reflect.Value) {}
		if tag.sorted && t == reflect.TypeFor[[]string]() {
			sortStrings = func(s reflect.Value) { slices.Sort(s.Interface().([]string)) }
		}
		if tag.list {
			return func(dst, src reflect.Value) {
				s := reflect.MakeSlice(t, 1, 1)
				c(s.Index(0), src)
				sortStrings(s)
				dst.Set(s)
			}, m, true
		}
		return func(dst, src reflect.Value) {
			n := 0
			if src.IsValid() {
				n = src.Len()
			}
			s := reflect.MakeSlice(t, n, n)
			for i := range n {
				c(s.Index(i), src.Index(i))
			}
			sortStrings(s)
			dst.Set(s)
		}, reflect.SliceOf(m), true
	case reflect.Map:
		return func(dst, src reflect.Value) {
			if !src.IsValid() || src.IsNil() {
				dst.Set(reflect.ValueOf(map[string]any{}))
				return
			}
			dst.Set(src)
		}, mapType, t == mapType
	case reflect.String:
		return func(dst, src reflect.Value) {
			var s string
			if src.IsValid() {
				s = src.String()
			}
			if tag.time {
				s = stamp(s)
			}
			if tag.lower {
				s = strings.ToLower(s)
			}
			dst.SetString(s)
		}, t, t.Kind() == reflect.String
	case reflect.Bool:
		return func(dst, src reflect.Value) {
			dst.SetBool(src.IsValid() && src.Bool())
		}, reflect.TypeFor[bool](), true
	case reflect.Int:
		// fill reads numbers as float64, as json does into any.
		return func(dst, src reflect.Value) {
			if src.IsValid() {
				dst.SetInt(int64(src.Float()))
			}
		}, reflect.TypeFor[float64](), true
	case reflect.Interface:
		return func(dst, src reflect.Value) {
			if src.IsValid() && !src.IsNil() {
				dst.Set(src.Elem())
			}
		}, anyType, t == anyType
	}
	return nil, nil, false
}

// compileStruct is compile for a struct: its tagged fields are leaves of a tree of the paths
// they read, the fields of a nested struct (not a pointer) inlined at its path, so that paths
// with a common prefix ("user.id", "user.email") share one object of the mirror.
func compileStruct(t reflect.Type, tag gqlTag) (conv, reflect.Type, bool) {
	root := &node{}
	var untagged [][]int
	ok := true
	var add func(t reflect.Type, at []int, prefix []string)
	add = func(t reflect.Type, at []int, prefix []string) {
		for _, f := range fieldsOf(t) {
			index := append(slices.Clone(at), f.index)
			ft := t.Field(f.index).Type
			if !f.tagged {
				if k := ft.Kind(); k == reflect.Slice || k == reflect.Map {
					untagged = append(untagged, index)
				}
				continue
			}
			segs := append(slices.Clone(prefix), strings.Split(f.tag.path, ".")...)
			sub := f.tag
			sub.path = strings.TrimPrefix(tag.path+"."+strings.Join(segs, "."), ".")
			if ft.Kind() == reflect.Struct && !f.tag.list {
				add(ft, index, segs)
				continue
			}
			c, m, fine := compile(ft, sub)
			ok = ok && fine && root.add(segs, &leaf{dst: index, conv: c, mirror: m})
		}
	}
	add(t, nil, nil)
	if !ok {
		return nil, nil, false
	}
	mirror := root.build()
	leaves := root.leaves()
	return func(dst, src reflect.Value) {
		for _, l := range leaves {
			l.copy(dst.FieldByIndex(l.dst), src)
		}
		for _, index := range untagged {
			// The route sets it; but lists and objects are never null.
			if v := dst.FieldByIndex(index); v.IsNil() {
				_ = fill(v, nil, tag)
			}
		}
	}, mirror, true
}

// node is an object of the mirror: its keys, each the leaves that read it or another object.
type node struct {
	keys     []string
	children map[string]*node
	leafs    map[string][]*leaf
}

// leaf is a value the shape reads: dst is the field it sets (an index path, for fields of
// inlined structs), src the field of the mirror it reads (set by build), mirror its type.
type leaf struct {
	dst    []int
	src    []int
	conv   conv
	mirror reflect.Type
}

// copy sets dst from the leaf's value in the mirror value m, invalid when an object on its
// way is null or absent.
func (l *leaf) copy(dst, m reflect.Value) {
	v := m
	for i, index := range l.src {
		if !v.IsValid() {
			break
		}
		v = v.Field(index)
		if i < len(l.src)-1 {
			// An object on the way: a pointer in the mirror.
			if v.IsNil() {
				v = reflect.Value{}
			} else {
				v = v.Elem()
			}
		}
	}
	l.conv(dst, v)
}

// add puts l at the path segs; false when something else is there already (leaves of one
// path share it when their mirrors are of one type).
func (n *node) add(segs []string, l *leaf) bool {
	key := segs[0]
	if len(segs) == 1 {
		if _, taken := n.children[key]; taken {
			return false
		}
		if n.leafs == nil {
			n.leafs = map[string][]*leaf{}
		}
		same, taken := n.leafs[key]
		if taken && same[0].mirror != l.mirror {
			return false
		}
		if !taken {
			n.keys = append(n.keys, key)
		}
		n.leafs[key] = append(same, l)
		return true
	}
	if _, taken := n.leafs[key]; taken {
		return false
	}
	child, ok := n.children[key]
	if !ok {
		if n.children == nil {
			n.children = map[string]*node{}
		}
		child = &node{}
		n.children[key] = child
		n.keys = append(n.keys, key)
	}
	return child.add(segs[1:], l)
}

// build returns the mirror type of n and sets the src of its leaves.
func (n *node) build() reflect.Type {
	fields := make([]reflect.StructField, len(n.keys))
	for i, key := range n.keys {
		fields[i] = reflect.StructField{Name: "F" + strconv.Itoa(i), Tag: reflect.StructTag(`json:"` + key + `"`)}
		if ls, ok := n.leafs[key]; ok {
			fields[i].Type = ls[0].mirror
			for _, l := range ls {
				l.src = []int{i}
			}
			continue
		}
		child := n.children[key]
		fields[i].Type = reflect.PointerTo(child.build())
		for _, l := range child.leaves() {
			l.src = append([]int{i}, l.src...)
		}
	}
	return reflect.StructOf(fields)
}

// leaves are the leaves under n.
func (n *node) leaves() []*leaf {
	var out []*leaf
	for _, key := range n.keys {
		if ls, ok := n.leafs[key]; ok {
			out = append(out, ls...)
		} else {
			out = append(out, n.children[key].leaves()...)
		}
	}
	return out
}
