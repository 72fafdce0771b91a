package model

import "github.com/inferiallm/orgserver/server/auth"

// Viewer is the GraphQL Viewer: the signed-in caller. Its fields are resolved lazily, so a query
// for viewer { permissions } costs no database round trip.
type Viewer struct {
	Auth *auth.Viewer `json:"-"`
}

// Permissions returns the viewer's permissions in the active organization, in catalog order.
func (v *Viewer) Permissions() []string { return v.Auth.Permissions }
