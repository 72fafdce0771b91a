package graph_test

import (
	"errors"

	"github.com/inferiallm/orgserver/ent/privacy"
)

func isDenied(err error) bool { return errors.Is(err, privacy.Deny) }
