package main

import (
	"go/types"
	"testing"

	"github.com/99designs/gqlgen/codegen"
	"github.com/99designs/gqlgen/codegen/config"
	"github.com/vektah/gqlparser/v2/ast"
)

// uuidType stands for github.com/google/uuid.UUID.
var uuidType = types.NewNamed(types.NewTypeName(0, types.NewPackage("github.com/google/uuid", "uuid"), "UUID", nil),
	types.NewArray(types.Typ[types.Byte], 16), nil)

var timeType = types.NewNamed(types.NewTypeName(0, types.NewPackage("time", "time"), "Time", nil), types.NewStruct(nil, nil), nil)

func TestPlainLeafTakesOnlyFieldsThatCannotFail(t *testing.T) {
	field := func(kind ast.DefinitionKind, gql *ast.Type, goType types.Type, change func(*codegen.Field)) *codegen.Field {
		f := &codegen.Field{
			FieldDefinition: &ast.FieldDefinition{Name: "f"},
			Object:          &codegen.Object{Definition: &ast.Definition{Name: "User"}},
			GoFieldType:     codegen.GoFieldVariable,
			TypeReference:   &config.TypeReference{Definition: &ast.Definition{Kind: kind}, GQL: gql, GO: goType},
		}
		if change != nil {
			change(f)
		}
		return f
	}
	str := types.Typ[types.String]
	for _, c := range []struct {
		name     string
		field    *codegen.Field
		plain    bool
		zeroNull bool
	}{
		{"non-null string", field(ast.Scalar, ast.NonNullNamedType("String", nil), str, nil), true, false},
		{"nullable string pointer", field(ast.Scalar, ast.NamedType("String", nil), types.NewPointer(str), nil), true, false},
		{"non-null string pointer: nil is an error", field(ast.Scalar, ast.NonNullNamedType("String", nil), types.NewPointer(str), nil), false, false},
		{"non-null time: zero is null", field(ast.Scalar, ast.NonNullNamedType("Time", nil), timeType, nil), true, true},
		{"non-null UUID: uuid.Nil is null", field(ast.Scalar, ast.NonNullNamedType("ID", nil), uuidType, nil), true, true},
		{"non-null map", field(ast.Scalar, ast.NonNullNamedType("Map", nil), types.NewMap(str, str), nil), false, false},
		{"non-null unknown scalar", field(ast.Scalar, ast.NonNullNamedType("Float", nil), types.Typ[types.Float64], nil), false, false},
		{"object", field(ast.Object, ast.NonNullNamedType("Role", nil), types.NewPointer(str), nil), false, false},
		{"resolver", field(ast.Scalar, ast.NonNullNamedType("String", nil), str, func(f *codegen.Field) { f.IsResolver = true }), false, false},
		{"method", field(ast.Scalar, ast.NonNullNamedType("String", nil), str, func(f *codegen.Field) { f.GoFieldType = codegen.GoFieldMethod }), false, false},
		{"arguments", field(ast.Scalar, ast.NonNullNamedType("String", nil), str, func(f *codegen.Field) { f.Args = []*codegen.FieldArgument{{}} }), false, false},
		{"directive", field(ast.Scalar, ast.NonNullNamedType("String", nil), str, func(f *codegen.Field) { f.Directives = []*codegen.Directive{{}} }), false, false},
		{"introspection", field(ast.Scalar, ast.NonNullNamedType("String", nil), str, func(f *codegen.Field) { f.Object.Name = "__Type" }), false, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			l, plain := plainLeaf(c.field)
			if plain != c.plain || (l.notZero != nil) != c.zeroNull {
				t.Errorf("plain %v, checks zero %v; want %v, %v", plain, l.notZero != nil, c.plain, c.zeroNull)
			}
		})
	}
}
