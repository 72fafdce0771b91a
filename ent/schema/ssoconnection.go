package schema

import (
	"entgo.io/contrib/entgql"
	"entgo.io/ent"
	"entgo.io/ent/entql"
	"entgo.io/ent/schema"
	"entgo.io/ent/schema/edge"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"
	"github.com/google/uuid"

	"github.com/inferiallm/orgserver/ent/privacy"
	"github.com/inferiallm/orgserver/server/auth"
)

// SSOConnection is an organization's OpenID Connect identity provider: where its members sign in
// instead of with a password. It is created as a draft from the issuer's discovery document,
// becomes tested after a test sign-in through the real provider, then active; it can be
// disabled. Its client secret is stored sealed with the encryption key.
type SSOConnection struct{ ent.Schema }

// Mixin of the SSOConnection.
func (SSOConnection) Mixin() []ent.Mixin {
	return []ent.Mixin{idMixin{}, timeMixin{}, orgMixin{ref: "sso_connections"}}
}

// Fields of the SSOConnection.
func (SSOConnection) Fields() []ent.Field {
	hidden := entgql.Skip(entgql.SkipAll)
	return []ent.Field{
		field.String("name").NotEmpty().MaxRuneLen(100),
		field.String("issuer_url").NotEmpty().MaxLen(2048).
			Comment("The issuer URL the admin gave, where discovery was run."),
		field.String("issuer").NotEmpty().MaxLen(2048).
			Comment("The issuer the discovery document names: ID tokens must carry exactly this iss."),
		field.String("client_id").NotEmpty().MaxLen(512),
		field.String("client_secret").Sensitive().Annotations(hidden).
			Comment("Sealed with the encryption key."),
		field.Strings("scopes").Default([]string{"openid", "email", "profile"}),
		field.Enum("token_auth_method").Values("client_secret_basic", "client_secret_post").
			Default("client_secret_basic"),
		field.String("email_claim").Default("email").MaxLen(100),
		field.String("name_claim").Default("name").MaxLen(100),
		field.String("email_verified_claim").Default("email_verified").MaxLen(100).
			Comment("The claim that must be literally true at a first sign-in (Entra ID: xms_edov)."),
		field.Enum("status").Values("draft", "tested", "active", "disabled").Default("draft"),
		field.Bool("jit_enabled").Default(false).
			Comment("Whether a first sign-in without an account creates the account and membership."),
		field.String("default_role").Default(auth.RoleMember).
			Comment("Role of members created just in time; never admin."),
		field.Bool("trust_idp_mfa").Default(false).
			Comment("Whether the provider's MFA (amr/acr evidence with a recent auth_time) stands in for this server's 2FA."),
		field.Int("max_session_hours").Default(0).NonNegative().
			Comment("The longest a session signed in through the connection lasts; 0: the server's and policy's limits only."),
		field.String("authorization_endpoint").Annotations(hidden),
		field.String("token_endpoint").Annotations(hidden),
		field.String("userinfo_endpoint").Default("").Annotations(hidden),
		field.String("jwks_uri").Annotations(hidden),
		field.Strings("signing_algs").Default([]string{}).
			Comment("The asymmetric ID token signing algorithms discovery announced; no other is accepted."),
		field.Time("tested_at").Optional().Nillable(),
		field.JSON("test_claims", map[string]any{}).Optional().Annotations(hidden).
			Comment("The mapped claims of the last test sign-in."),
	}
}

// Edges of the SSOConnection.
func (SSOConnection) Edges() []ent.Edge {
	skip := entgql.Skip(entgql.SkipAll)
	return []ent.Edge{
		edge.To("domains", SSODomain.Type).Annotations(skip),
		edge.To("identities", SSOIdentity.Type).Annotations(skip),
		edge.To("attempts", SSOAttempt.Type).Annotations(skip),
	}
}

// Indexes of the SSOConnection.
func (SSOConnection) Indexes() []ent.Index {
	return []ent.Index{index.Fields("organization_id", "created_at")}
}

// Annotations of the SSOConnection.
func (SSOConnection) Annotations() []schema.Annotation {
	return []schema.Annotation{
		entgql.Skip(entgql.SkipMutationCreateInput, entgql.SkipMutationUpdateInput, entgql.SkipWhereInput),
	}
}

// Policy of the SSOConnection: visible and changed inside the active organization by holders of
// sso:manage. Signing in reads a connection before there is a viewer, in graph/sso.go, with an
// explicit bypass.
func (SSOConnection) Policy() ent.Policy {
	return orgOwnedPolicy(filterSSOManaged())
}

// filterSSOManaged keeps the active organization's rows, for viewers holding sso:manage.
func filterSSOManaged() privacy.FilterFunc {
	return filter(func(v *auth.Viewer) entql.P {
		if !v.Can(auth.SSOManage) {
			return entql.FieldEQ("id", uuid.Nil)
		}
		return inActiveOrg(v)
	})
}
