package schema

import (
	"entgo.io/contrib/entgql"
)

// superAdmin is the @superAdmin directive of schema.graphqls.
func superAdmin() entgql.Directive { return entgql.NewDirective("superAdmin") }
