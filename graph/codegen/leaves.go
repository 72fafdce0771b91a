package main

import (
	"bytes"
	"fmt"
	"go/ast"
	"go/format"
	"go/parser"
	"go/token"
	"go/types"
	"os"
	"strings"

	"github.com/99designs/gqlgen/codegen"
	gqlast "github.com/vektah/gqlparser/v2/ast"
)

// A plain leaf field is marshalled directly, without gqlgen's machinery for a field.
//
// gqlgen resolves every field the same way: a field context, a context.Context holding it, the
// field middleware, a deferred recover, closures around the resolver and the marshaller, and the
// value boxed in an interface. For a field that reads a struct field and writes a scalar, none
// of it can matter: the read cannot fail or panic, nothing below it needs the field context, and
// the middleware acts only on errors and on objects. A Users page has seven such fields per
// member, 350 per page; going through all that costs them a tenth of the page's CPU.
//
// So the executor's function for such a field is rewritten to call the marshaller with the
// value. Where the marshaller could report an error, which needs the field context for its
// path, the field keeps gqlgen's way: non-null pointers, maps and slices, and types this list
// does not know. A non-null time.Time or UUID is reported null when zero; it goes direct when
// not zero and gqlgen's way otherwise.
type leaf struct {
	// notZero, if set, is the condition on v for the direct way: v is not zero.
	notZero func(v ast.Expr) ast.Expr
}

// neverNull are the Go types whose non-null marshallers never answer null.
var neverNull = map[string]bool{"string": true, "bool": true, "int": true, "int32": true, "int64": true}

// nullWhenZero are the Go types whose non-null marshallers answer null for their zero value,
// and how to tell it.
var nullWhenZero = map[string]func(v ast.Expr) ast.Expr{
	"time.Time": func(v ast.Expr) ast.Expr {
		return &ast.UnaryExpr{Op: token.NOT, X: &ast.CallExpr{Fun: &ast.SelectorExpr{X: v, Sel: ast.NewIdent("IsZero")}}}
	},
	"github.com/google/uuid.UUID": func(v ast.Expr) ast.Expr {
		return &ast.BinaryExpr{X: v, Op: token.NEQ, Y: &ast.SelectorExpr{X: ast.NewIdent("uuid"), Sel: ast.NewIdent("Nil")}}
	},
}

// plainLeaf reports whether f is a plain leaf field, and how to marshal it.
func plainLeaf(f *codegen.Field) (leaf, bool) {
	t := f.TypeReference
	if f.IsResolver || !f.IsVariable() || len(f.Args) > 0 || len(f.Directives) > 0 ||
		strings.HasPrefix(f.Object.Name, "__") || t == nil || t.Definition == nil ||
		(t.Definition.Kind != gqlast.Scalar && t.Definition.Kind != gqlast.Enum) {
		return leaf{}, false
	}
	if !t.GQL.NonNull {
		return leaf{}, true
	}
	switch u := t.GO.(type) {
	case *types.Pointer, *types.Map, *types.Slice, *types.Interface:
		return leaf{}, false
	default:
		name := types.TypeString(u, nil)
		switch {
		case nullWhenZero[name] != nil:
			return leaf{notZero: nullWhenZero[name]}, true
		case neverNull[name], t.Definition.Kind == gqlast.Enum && !t.IsPtr():
			return leaf{}, true
		}
	}
	return leaf{}, false
}

// plainLeaves rewrites the executor in file to marshal the leaves directly.
func plainLeaves(file string, leaves map[string]leaf) error {
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, file, nil, parser.ParseComments)
	if err != nil {
		return err
	}
	done := 0
	for _, d := range f.Decls {
		fn, ok := d.(*ast.FuncDecl)
		if !ok || fn.Recv == nil {
			continue
		}
		l, ok := leaves[fn.Name.Name]
		if !ok {
			continue
		}
		body, err := directLeaf(fn, l)
		if err != nil {
			return fmt.Errorf("%s: %s: %w: has gqlgen's template changed?", file, fn.Name.Name, err)
		}
		fn.Body.List = body
		done++
	}
	if done != len(leaves) {
		return fmt.Errorf("%s: %d plain leaf fields rewritten of %d: has gqlgen's template changed?", file, done, len(leaves))
	}
	var out bytes.Buffer
	if err := format.Node(&out, fset, f); err != nil {
		return err
	}
	src, err := format.Source(out.Bytes())
	if err != nil {
		return err
	}
	return os.WriteFile(file, src, 0o644)
}

// directLeaf returns the new body of fn, whose body must be gqlgen's
// `return graphql.ResolveField(ctx, oc, field, fieldContext, func(ctx) (any, error) { return
// obj.F, nil }, nil, func(ctx, selections, v T) graphql.Marshaler { return ec.marshalX(ctx,
// selections, v) }, ...)`: `return ec.marshalX(ctx, field.Selections, obj.F)`, or with
// notZero `if v := obj.F; <v is not zero> { return ec.marshalX(ctx, field.Selections, v) }`
// followed by gqlgen's body.
func directLeaf(fn *ast.FuncDecl, l leaf) ([]ast.Stmt, error) {
	if len(fn.Body.List) != 1 {
		return nil, fmt.Errorf("%d statements", len(fn.Body.List))
	}
	ret, ok := fn.Body.List[0].(*ast.ReturnStmt)
	if !ok || len(ret.Results) != 1 {
		return nil, fmt.Errorf("not a single return")
	}
	call, ok := ret.Results[0].(*ast.CallExpr)
	if !ok || !isSelector(call.Fun, "graphql", "ResolveField") || len(call.Args) != 9 {
		return nil, fmt.Errorf("not graphql.ResolveField with 9 arguments")
	}
	if id, ok := call.Args[5].(*ast.Ident); !ok || id.Name != "nil" {
		return nil, fmt.Errorf("has a directive chain")
	}
	value, err := onlyReturn(call.Args[4], 2)
	if err != nil {
		return nil, fmt.Errorf("resolver: %w", err)
	}
	if nilErr, ok := value[1].(*ast.Ident); !ok || nilErr.Name != "nil" || !readsObj(value[0]) {
		return nil, fmt.Errorf("resolver is not `return obj.F, nil`")
	}
	marshalled, err := onlyReturn(call.Args[6], 1)
	if err != nil {
		return nil, fmt.Errorf("marshaller: %w", err)
	}
	marshal, ok := marshalled[0].(*ast.CallExpr)
	if !ok || len(marshal.Args) != 3 {
		return nil, fmt.Errorf("marshaller is not `return ec.marshalX(ctx, selections, v)`")
	}
	sel, ok := marshal.Fun.(*ast.SelectorExpr)
	if !ok || !strings.HasPrefix(sel.Sel.Name, "marshal") {
		return nil, fmt.Errorf("marshaller calls %T", marshal.Fun)
	}
	direct := func(v ast.Expr) *ast.ReturnStmt {
		return &ast.ReturnStmt{Results: []ast.Expr{&ast.CallExpr{
			Fun:  &ast.SelectorExpr{X: ast.NewIdent("ec"), Sel: ast.NewIdent(sel.Sel.Name)},
			Args: []ast.Expr{ast.NewIdent("ctx"), &ast.SelectorExpr{X: ast.NewIdent("field"), Sel: ast.NewIdent("Selections")}, v},
		}}}
	}
	if l.notZero == nil {
		return []ast.Stmt{direct(value[0])}, nil
	}
	return []ast.Stmt{&ast.IfStmt{
		Init: &ast.AssignStmt{Lhs: []ast.Expr{ast.NewIdent("v")}, Tok: token.DEFINE, Rhs: []ast.Expr{value[0]}},
		Cond: l.notZero(ast.NewIdent("v")),
		Body: &ast.BlockStmt{List: []ast.Stmt{direct(ast.NewIdent("v"))}},
	}, ret}, nil
}

// onlyReturn returns the results of e, a function literal whose body is one return of n values.
func onlyReturn(e ast.Expr, n int) ([]ast.Expr, error) {
	lit, ok := e.(*ast.FuncLit)
	if !ok || len(lit.Body.List) != 1 {
		return nil, fmt.Errorf("not a one-statement function literal")
	}
	ret, ok := lit.Body.List[0].(*ast.ReturnStmt)
	if !ok || len(ret.Results) != n {
		return nil, fmt.Errorf("not a return of %d values", n)
	}
	return ret.Results, nil
}

// readsObj reports whether e is obj.A.B...: a read of fields, with no call.
func readsObj(e ast.Expr) bool {
	for {
		switch x := e.(type) {
		case *ast.SelectorExpr:
			e = x.X
		case *ast.Ident:
			return x.Name == "obj"
		default:
			return false
		}
	}
}

func isSelector(e ast.Expr, pkg, name string) bool {
	s, ok := e.(*ast.SelectorExpr)
	if !ok {
		return false
	}
	id, ok := s.X.(*ast.Ident)
	return ok && id.Name == pkg && s.Sel.Name == name
}
