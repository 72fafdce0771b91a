-- Modify "organizations" table
ALTER TABLE "organizations" ADD COLUMN "sso_policy" jsonb NULL;
-- Modify "sessions" table
ALTER TABLE "sessions" ADD COLUMN "sign_in_method" character varying NOT NULL DEFAULT 'password', ADD COLUMN "sso_connection_id" uuid NULL, ADD COLUMN "idp_mfa" boolean NOT NULL DEFAULT false;
-- Create "sso_connections" table
CREATE TABLE "sso_connections" ("id" uuid NOT NULL, "created_at" timestamptz NOT NULL, "updated_at" timestamptz NOT NULL, "name" character varying NOT NULL, "issuer_url" character varying NOT NULL, "issuer" character varying NOT NULL, "client_id" character varying NOT NULL, "client_secret" character varying NOT NULL, "scopes" jsonb NOT NULL, "token_auth_method" character varying NOT NULL DEFAULT 'client_secret_basic', "email_claim" character varying NOT NULL DEFAULT 'email', "name_claim" character varying NOT NULL DEFAULT 'name', "email_verified_claim" character varying NOT NULL DEFAULT 'email_verified', "status" character varying NOT NULL DEFAULT 'draft', "jit_enabled" boolean NOT NULL DEFAULT false, "default_role" character varying NOT NULL DEFAULT 'member', "trust_idp_mfa" boolean NOT NULL DEFAULT false, "max_session_hours" bigint NOT NULL DEFAULT 0, "authorization_endpoint" character varying NOT NULL, "token_endpoint" character varying NOT NULL, "userinfo_endpoint" character varying NOT NULL DEFAULT '', "jwks_uri" character varying NOT NULL, "signing_algs" jsonb NOT NULL, "tested_at" timestamptz NULL, "test_claims" jsonb NULL, "organization_id" uuid NOT NULL, PRIMARY KEY ("id"), CONSTRAINT "sso_connections_organizations_sso_connections" FOREIGN KEY ("organization_id") REFERENCES "organizations" ("id") ON UPDATE NO ACTION ON DELETE NO ACTION);
-- Create index "ssoconnection_organization_id_created_at" to table: "sso_connections"
CREATE INDEX "ssoconnection_organization_id_created_at" ON "sso_connections" ("organization_id", "created_at");
-- Create "sso_attempts" table
CREATE TABLE "sso_attempts" ("id" uuid NOT NULL, "purpose" character varying NOT NULL, "ticket_hash" character varying NULL, "state_hash" character varying NULL, "browser_hash" character varying NOT NULL DEFAULT '', "nonce" character varying NOT NULL DEFAULT '', "code_verifier" character varying NOT NULL DEFAULT '', "return_to" character varying NOT NULL DEFAULT '/', "started_by_id" uuid NULL, "created_at" timestamptz NOT NULL, "expires_at" timestamptz NOT NULL, "state_used_at" timestamptz NULL, "handoff_hash" character varying NULL, "handoff_kind" character varying NULL, "handoff_expires_at" timestamptz NULL, "handoff_used_at" timestamptz NULL, "user_id" uuid NULL, "issuer" character varying NOT NULL DEFAULT '', "subject" character varying NOT NULL DEFAULT '', "email" character varying NOT NULL DEFAULT '', "name" character varying NOT NULL DEFAULT '', "idp_mfa" boolean NOT NULL DEFAULT false, "organization_id" uuid NOT NULL, "connection_id" uuid NOT NULL, PRIMARY KEY ("id"), CONSTRAINT "sso_attempts_organizations_sso_attempts" FOREIGN KEY ("organization_id") REFERENCES "organizations" ("id") ON UPDATE NO ACTION ON DELETE NO ACTION, CONSTRAINT "sso_attempts_sso_connections_attempts" FOREIGN KEY ("connection_id") REFERENCES "sso_connections" ("id") ON UPDATE NO ACTION ON DELETE NO ACTION);
-- Create index "sso_attempts_handoff_hash_key" to table: "sso_attempts"
CREATE UNIQUE INDEX "sso_attempts_handoff_hash_key" ON "sso_attempts" ("handoff_hash");
-- Create index "sso_attempts_state_hash_key" to table: "sso_attempts"
CREATE UNIQUE INDEX "sso_attempts_state_hash_key" ON "sso_attempts" ("state_hash");
-- Create index "sso_attempts_ticket_hash_key" to table: "sso_attempts"
CREATE UNIQUE INDEX "sso_attempts_ticket_hash_key" ON "sso_attempts" ("ticket_hash");
-- Create index "ssoattempt_expires_at" to table: "sso_attempts"
CREATE INDEX "ssoattempt_expires_at" ON "sso_attempts" ("expires_at");
-- Create "sso_domains" table
CREATE TABLE "sso_domains" ("id" uuid NOT NULL, "created_at" timestamptz NOT NULL, "updated_at" timestamptz NOT NULL, "domain" character varying NOT NULL, "verification_token" character varying NOT NULL, "verified_at" timestamptz NULL, "verified_domain" character varying NULL, "organization_id" uuid NOT NULL, "connection_id" uuid NULL, PRIMARY KEY ("id"), CONSTRAINT "sso_domains_organizations_sso_domains" FOREIGN KEY ("organization_id") REFERENCES "organizations" ("id") ON UPDATE NO ACTION ON DELETE NO ACTION, CONSTRAINT "sso_domains_sso_connections_domains" FOREIGN KEY ("connection_id") REFERENCES "sso_connections" ("id") ON UPDATE NO ACTION ON DELETE SET NULL);
-- Create index "sso_domains_verified_domain_key" to table: "sso_domains"
CREATE UNIQUE INDEX "sso_domains_verified_domain_key" ON "sso_domains" ("verified_domain");
-- Create index "ssodomain_connection_id" to table: "sso_domains"
CREATE INDEX "ssodomain_connection_id" ON "sso_domains" ("connection_id");
-- Create index "ssodomain_organization_id_domain" to table: "sso_domains"
CREATE UNIQUE INDEX "ssodomain_organization_id_domain" ON "sso_domains" ("organization_id", "domain");
-- Create "sso_identities" table
CREATE TABLE "sso_identities" ("id" uuid NOT NULL, "created_at" timestamptz NOT NULL, "updated_at" timestamptz NOT NULL, "issuer" character varying NOT NULL, "subject" character varying NOT NULL, "email" character varying NOT NULL DEFAULT '', "last_sign_in_at" timestamptz NULL, "organization_id" uuid NOT NULL, "connection_id" uuid NOT NULL, "user_id" uuid NOT NULL, PRIMARY KEY ("id"), CONSTRAINT "sso_identities_organizations_sso_identities" FOREIGN KEY ("organization_id") REFERENCES "organizations" ("id") ON UPDATE NO ACTION ON DELETE NO ACTION, CONSTRAINT "sso_identities_sso_connections_identities" FOREIGN KEY ("connection_id") REFERENCES "sso_connections" ("id") ON UPDATE NO ACTION ON DELETE NO ACTION, CONSTRAINT "sso_identities_users_sso_identities" FOREIGN KEY ("user_id") REFERENCES "users" ("id") ON UPDATE NO ACTION ON DELETE NO ACTION);
-- Create index "ssoidentity_connection_id_issuer_subject" to table: "sso_identities"
CREATE UNIQUE INDEX "ssoidentity_connection_id_issuer_subject" ON "sso_identities" ("connection_id", "issuer", "subject");
-- Create index "ssoidentity_user_id" to table: "sso_identities"
CREATE INDEX "ssoidentity_user_id" ON "sso_identities" ("user_id");
