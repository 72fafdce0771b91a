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
// every object.
//
// Lists of objects are marshalled in a goroutine per element by gqlgen's template, which no
// plugin reaches; after generating, this command has the executor call inturn.MarshalSlice,
// which takes the same arguments and marshals the elements in turn.
//
// Plain leaf fields (a scalar or enum read from a struct field: no resolver, no arguments, no
// directives) are marshalled directly: see plainLeaves.
package main

import (
	"bytes"
	"fmt"
	"go/format"
	"os"

	"github.com/99designs/gqlgen/api"
	"github.com/99designs/gqlgen/codegen"
	"github.com/99designs/gqlgen/codegen/config"
)

// sequentialFields turns off gqlgen's goroutine per field, and finds the plain leaf fields.
type sequentialFields struct{ leaves map[string]leaf }

func (*sequentialFields) Name() string { return "sequential-fields" }

func (p *sequentialFields) GenerateCode(data *codegen.Data) error {
	p.leaves = map[string]leaf{}
	for _, o := range data.Objects {
		o.DisableConcurrency = true
		for _, f := range o.Fields {
			if l, ok := plainLeaf(f); ok {
				p.leaves["_"+o.Name+"_"+f.Name] = l
			}
		}
	}
	return nil
}

func main() {
	cfg, err := config.LoadConfigFromDefaultLocations()
	p := &sequentialFields{}
	if err == nil {
		err = api.Generate(cfg, api.AddPlugin(p))
	}
	if err == nil {
		err = listsInTurn(cfg.Exec.Filename)
	}
	if err == nil {
		err = noDeferredGroups(cfg.Exec.Filename)
	}
	if err == nil {
		err = plainLeaves(cfg.Exec.Filename, p.leaves)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "codegen:", err)
		os.Exit(1)
	}
}

const (
	concurrentSlice = "graphql.MarshalSliceConcurrently("
	sliceInTurn     = "inturn.MarshalSlice("
	inturnImport    = "\"github.com/inferiallm/orgserver/graph/inturn\""
)

const (
	newDeferredGroup  = "deferred := graphql.NewDeferredGroup(ctx)"
	zeroDeferredGroup = "var deferred graphql.DeferredGroup"
)

// noDeferredGroups has the executor in file skip an empty group of deferred fields per object.
//
// Each object's marshaller starts a group for its @defer fragments, which allocates the field's
// whole path, a field set and a map: four times per member on a Users page. Only gqlgen's
// concurrent template ever adds to a group; with every object's fields in turn (above) the
// group stays empty, and its zero value is an empty group. The command checks that the
// executor uses the group in no other way than asking whether it is empty.
func noDeferredGroups(file string) error {
	src, err := os.ReadFile(file)
	if err != nil {
		return err
	}
	uses := bytes.Count(src, []byte("deferred")) - bytes.Count(src, []byte("deferredResults"))
	news := bytes.Count(src, []byte(newDeferredGroup))
	known := news + bytes.Count(src, []byte("len(deferred.Defers)")) + bytes.Count(src, []byte("ec.ProcessDeferredGroup(deferred)"))
	if news == 0 || uses != known {
		return fmt.Errorf("%s: %d groups of deferred fields, used %d times, %d of them known: has gqlgen's template changed?", file, news, uses, known)
	}
	src = bytes.ReplaceAll(src, []byte(newDeferredGroup), []byte(zeroDeferredGroup))
	return os.WriteFile(file, src, 0o644)
}

// listsInTurn has the executor in file marshal lists with inturn.MarshalSlice.
func listsInTurn(file string) error {
	src, err := os.ReadFile(file)
	if err != nil {
		return err
	}
	if !bytes.Contains(src, []byte(concurrentSlice)) {
		return fmt.Errorf("%s: no %s to replace: has gqlgen's template changed?", file, concurrentSlice)
	}
	src = bytes.ReplaceAll(src, []byte(concurrentSlice), []byte(sliceInTurn))
	src = bytes.Replace(src, []byte("import (\n"), []byte("import (\n\t"+inturnImport+"\n"), 1)
	if src, err = format.Source(src); err != nil {
		return fmt.Errorf("%s: %w", file, err)
	}
	return os.WriteFile(file, src, 0o644)
}
