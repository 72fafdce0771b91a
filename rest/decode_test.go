package rest

import (
	"encoding/json"
	"reflect"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// decodeCase is data of an operation, read at path into the type of want by read (through
// untyped JSON, the reference) and by decodeAt (through the typed mirror, where the shape
// allows); both must give the same value and the same error.
type decodeCase struct {
	name, path, data string
	typed            bool // decodeAt uses the mirror
	check            func(t *testing.T, path string, raw json.RawMessage, typed bool)
}

func same[T any](t *testing.T, path string, raw json.RawMessage, typed bool) {
	t.Helper()
	var data any
	require.NoError(t, json.Unmarshal(raw, &data))
	want, wantErr := read[T](data, path)
	got, err := decodeAt[T](raw, path)
	assert.Equal(t, wantErr, err)
	assert.Equal(t, want, got)
	// Both answer the same JSON (null, [] and {} included).
	wj, _ := json.Marshal(want)
	gj, _ := json.Marshal(got)
	assert.JSONEq(t, string(wj), string(gj))
	d := decoderFor(reflect.TypeFor[T](), path)
	assert.Equal(t, typed, d.ok && !d.misfit.Load(), "decoded through the mirror")
}

func TestDecodeAtReadsAsRead(t *testing.T) {
	users := `{"viewer":{"organization":{"memberList":[
	  {"role":{"name":"admin"},"lastActiveAt":"2026-01-02T03:04:05.123+02:00","organization":{"id":"o1"},
	   "user":{"id":"u1","email":"a@x","name":"A","createdAt":"2026-01-01T00:00:00Z","twoFactorEnabled":true}},
	  {"role":null,"lastActiveAt":null,"organization":{"id":"o1"},"user":{"id":"u2","email":"b@x","name":"B","createdAt":"bad","twoFactorEnabled":false}},
	  {"organization":{}},
	  null]}}}`
	cases := []decodeCase{
		{"members", "viewer.organization.memberList", users, true, same[[]UserResponse]},
		{"members, none", "viewer.organization.memberList", `{"viewer":{"organization":{"memberList":[]}}}`, true, same[[]UserResponse]},
		{"members, null list", "viewer.organization.memberList", `{"viewer":{"organization":{"memberList":null}}}`, true, same[[]UserResponse]},
		{"members, null organization", "viewer.organization.memberList", `{"viewer":{"organization":null}}`, true, same[[]UserResponse]},
		{"signed out", "viewer.organization.memberList", `{"viewer":null}`, true, same[[]UserResponse]},
		{"signed out, viewer itself", "viewer", `{"viewer":null}`, true, same[PermissionsResponse]},
		{"permissions sorted, allowed models empty", "viewer", `{"viewer":{"permissions":["b","a","c"]}}`, true, same[PermissionsResponse]},
		{"token with memberships", "login", `{"login":{"accessToken":"a","refreshToken":"r","tokenType":"bearer","expiresIn":1800,
		  "memberships":[{"organization":{"id":"o","name":"O"},"role":{"name":"admin","permissions":["z","a"]}}]}}`, true, same[AuthToken]},
		{"token, null memberships", "login", `{"login":{"accessToken":"a","expiresIn":1.9,"memberships":null}}`, true, same[AuthToken]},
		{"organization: two fields read settings.logPayloads, billing null", "organization",
			`{"organization":{"id":"o","name":"O","createdAt":"2026-01-01T00:00:00+01:00","settings":{"defaultRole":"member","logPayloads":true},"billing":null}}`,
			true, same[OrganizationResponse]},
		{"organization with billing", "organization",
			`{"organization":{"id":"o","settings":null,"billing":{"billingEmail":"b@x","plan":"pro"}}}`, true, same[OrganizationResponse]},
		{"audit: details object, null actor", "viewer.organization.auditLogList",
			`{"viewer":{"organization":{"auditLogList":[{"id":"1","actorID":null,"details":{"n":1,"s":["x"]},"status":"success"},{"id":"2","details":null}]}}}`,
			true, same[[]AuditLogResponse]},
		{"lower-cased status, null token", "invitationPreview", `{"invitationPreview":{"id":"i","status":"PENDING","token":null,"role":{"name":"member"}}}`,
			true, same[*InviteResponse]},
		{"null pointer at path", "invitationPreview", `{"invitationPreview":null}`, true, same[*InviteResponse]},
		{"the whole data", "", `{"revokeOtherSessions":3}`, true, same[RevokedResponse]},
		// Paths through lists: the mirror does not fit, so the data is read as before.
		{"a path through a list", "permissionCatalog.name", `{"permissionCatalog":[{"name":"a"},{"name":"b"}]}`, false, same[[]string]},
		{"a connection's nodes", "viewer.organization.invitations", `{"viewer":{"organization":{"invitations":{"edges":[{"node":{"id":"i","status":"PENDING"}}]}}}}`,
			false, same[InvitationsResponse]},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) { c.check(t, c.path, json.RawMessage(c.data), c.typed) })
	}
}

// A value of the wrong JSON kind fails as fill fails, through the general way.
func TestDecodeAtMismatch(t *testing.T) {
	raw := json.RawMessage(`{"createRole":{"name":7}}`)
	_, err := decodeAt[RoleResponse](raw, "createRole")
	require.Error(t, err)
	var data any
	require.NoError(t, json.Unmarshal(raw, &data))
	_, want := read[RoleResponse](data, "createRole")
	assert.Equal(t, want, err)
}

// Every reply of the table that can be decoded through a mirror is; those that cannot are
// known.
func TestDecodeAtTable(t *testing.T) {
	var general []string
	for _, r := range table() {
		if r.Reply.in == nil {
			continue
		}
		if !decoderFor(r.Reply.in, r.Reply.path).ok {
			general = append(general, r.Pattern)
		}
	}
	assert.Empty(t, general)
}

// BenchmarkReplyUsers measures what the REST layer does with a page of 50 members after the
// executor: read the data into the shape and write the answer, through untyped JSON (general)
// and through the typed mirror (typed).
func BenchmarkReplyUsers(b *testing.B) {
	var rows []map[string]any
	for i := range 50 {
		rows = append(rows, map[string]any{
			"role": map[string]any{"name": "member"}, "lastActiveAt": "2026-01-02T03:04:05.123456Z",
			"organization": map[string]any{"id": "3c6bede6-a08b-4e28-89fc-726933c48a3b"},
			"user": map[string]any{"id": "8f0e9f3c-6a1e-4d52-9d0c-0f6f3b8f2a1" + string(rune('0'+i%10)), "email": "user00001@bench.test",
				"name": "User 00001", "createdAt": "2026-01-01T00:00:00.123456Z", "twoFactorEnabled": false},
		})
	}
	raw, _ := json.Marshal(map[string]any{"viewer": map[string]any{"organization": map[string]any{"memberList": rows}}})
	const path = "viewer.organization.memberList"
	b.Run("general", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			var data any
			if err := json.Unmarshal(raw, &data); err != nil {
				b.Fatal(err)
			}
			v, err := read[[]UserResponse](data, path)
			if err != nil {
				b.Fatal(err)
			}
			_, _ = json.Marshal(v)
		}
	})
	b.Run("typed", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			v, err := decodeAt[[]UserResponse](raw, path)
			if err != nil {
				b.Fatal(err)
			}
			_, _ = json.Marshal(v)
		}
	})
}
