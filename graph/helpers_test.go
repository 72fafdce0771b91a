package graph_test

import (
	"errors"

	"github.com/inferiallm/orgserver/ent/predicate"
	"github.com/inferiallm/orgserver/ent/privacy"
	"github.com/inferiallm/orgserver/ent/role"
	"github.com/inferiallm/orgserver/server/auth"
)

func isDenied(err error) bool { return errors.Is(err, privacy.Deny) }

func authAll() []string { return auth.AllPermissions() }

func roleNamed(name string) predicate.Role { return role.And(role.Name(name), role.BuiltIn(true)) }
