package schema

import (
	"entgo.io/contrib/entgql"
	"github.com/vektah/gqlparser/v2/ast"
)

// hasPermission is the @hasPermission(permission: "...") directive of schema.graphqls.
func hasPermission(permission string) entgql.Directive {
	return entgql.NewDirective("hasPermission", &ast.Argument{
		Name:  "permission",
		Value: &ast.Value{Raw: permission, Kind: ast.StringValue},
	})
}

// superAdmin is the @superAdmin directive of schema.graphqls.
func superAdmin() entgql.Directive { return entgql.NewDirective("superAdmin") }
