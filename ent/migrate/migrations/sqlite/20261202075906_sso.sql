-- Disable the enforcement of foreign-keys constraints
PRAGMA foreign_keys = off;
-- Add column "sso_policy" to table: "organizations"
ALTER TABLE `organizations` ADD COLUMN `sso_policy` json NULL;
-- Create "new_sessions" table
CREATE TABLE `new_sessions` (`id` uuid NOT NULL, `refresh_token_hash` text NOT NULL, `rotated_token_hashes` json NOT NULL, `user_agent` text NOT NULL DEFAULT (''), `ip_address` text NOT NULL DEFAULT (''), `created_at` datetime NOT NULL, `last_used_at` datetime NOT NULL, `expires_at` datetime NOT NULL, `revoked_at` datetime NULL, `revoke_reason` text NULL, `sign_in_method` text NOT NULL DEFAULT ('password'), `sso_connection_id` uuid NULL, `idp_mfa` bool NOT NULL DEFAULT (false), `organization_id` uuid NOT NULL, `user_id` uuid NOT NULL, PRIMARY KEY (`id`), CONSTRAINT `sessions_organizations_sessions` FOREIGN KEY (`organization_id`) REFERENCES `organizations` (`id`) ON DELETE NO ACTION, CONSTRAINT `sessions_users_sessions` FOREIGN KEY (`user_id`) REFERENCES `users` (`id`) ON DELETE NO ACTION);
-- Copy rows from old table "sessions" to new temporary table "new_sessions"
INSERT INTO `new_sessions` (`id`, `refresh_token_hash`, `rotated_token_hashes`, `user_agent`, `ip_address`, `created_at`, `last_used_at`, `expires_at`, `revoked_at`, `revoke_reason`, `organization_id`, `user_id`) SELECT `id`, `refresh_token_hash`, `rotated_token_hashes`, `user_agent`, `ip_address`, `created_at`, `last_used_at`, `expires_at`, `revoked_at`, `revoke_reason`, `organization_id`, `user_id` FROM `sessions`;
-- Drop "sessions" table after copying rows
DROP TABLE `sessions`;
-- Rename temporary table "new_sessions" to "sessions"
ALTER TABLE `new_sessions` RENAME TO `sessions`;
-- Create index "session_user_id_organization_id" to table: "sessions"
CREATE INDEX `session_user_id_organization_id` ON `sessions` (`user_id`, `organization_id`);
-- Create index "session_organization_id_last_used_at_id" to table: "sessions"
CREATE INDEX `session_organization_id_last_used_at_id` ON `sessions` (`organization_id`, `last_used_at`, `id`);
-- Create "sso_attempts" table
CREATE TABLE `sso_attempts` (`id` uuid NOT NULL, `purpose` text NOT NULL, `ticket_hash` text NULL, `state_hash` text NULL, `browser_hash` text NOT NULL DEFAULT (''), `nonce` text NOT NULL DEFAULT (''), `code_verifier` text NOT NULL DEFAULT (''), `return_to` text NOT NULL DEFAULT ('/'), `started_by_id` uuid NULL, `created_at` datetime NOT NULL, `expires_at` datetime NOT NULL, `state_used_at` datetime NULL, `handoff_hash` text NULL, `handoff_kind` text NULL, `handoff_expires_at` datetime NULL, `handoff_used_at` datetime NULL, `user_id` uuid NULL, `issuer` text NOT NULL DEFAULT (''), `subject` text NOT NULL DEFAULT (''), `email` text NOT NULL DEFAULT (''), `name` text NOT NULL DEFAULT (''), `idp_mfa` bool NOT NULL DEFAULT (false), `organization_id` uuid NOT NULL, `connection_id` uuid NOT NULL, PRIMARY KEY (`id`), CONSTRAINT `sso_attempts_organizations_sso_attempts` FOREIGN KEY (`organization_id`) REFERENCES `organizations` (`id`) ON DELETE NO ACTION, CONSTRAINT `sso_attempts_sso_connections_attempts` FOREIGN KEY (`connection_id`) REFERENCES `sso_connections` (`id`) ON DELETE NO ACTION);
-- Create index "sso_attempts_ticket_hash_key" to table: "sso_attempts"
CREATE UNIQUE INDEX `sso_attempts_ticket_hash_key` ON `sso_attempts` (`ticket_hash`);
-- Create index "sso_attempts_state_hash_key" to table: "sso_attempts"
CREATE UNIQUE INDEX `sso_attempts_state_hash_key` ON `sso_attempts` (`state_hash`);
-- Create index "sso_attempts_handoff_hash_key" to table: "sso_attempts"
CREATE UNIQUE INDEX `sso_attempts_handoff_hash_key` ON `sso_attempts` (`handoff_hash`);
-- Create index "ssoattempt_expires_at" to table: "sso_attempts"
CREATE INDEX `ssoattempt_expires_at` ON `sso_attempts` (`expires_at`);
-- Create "sso_connections" table
CREATE TABLE `sso_connections` (`id` uuid NOT NULL, `created_at` datetime NOT NULL, `updated_at` datetime NOT NULL, `name` text NOT NULL, `issuer_url` text NOT NULL, `issuer` text NOT NULL, `client_id` text NOT NULL, `client_secret` text NOT NULL, `scopes` json NOT NULL, `token_auth_method` text NOT NULL DEFAULT ('client_secret_basic'), `email_claim` text NOT NULL DEFAULT ('email'), `name_claim` text NOT NULL DEFAULT ('name'), `email_verified_claim` text NOT NULL DEFAULT ('email_verified'), `status` text NOT NULL DEFAULT ('draft'), `jit_enabled` bool NOT NULL DEFAULT (false), `default_role` text NOT NULL DEFAULT ('member'), `trust_idp_mfa` bool NOT NULL DEFAULT (false), `max_session_hours` integer NOT NULL DEFAULT (0), `authorization_endpoint` text NOT NULL, `token_endpoint` text NOT NULL, `userinfo_endpoint` text NOT NULL DEFAULT (''), `jwks_uri` text NOT NULL, `signing_algs` json NOT NULL, `tested_at` datetime NULL, `test_claims` json NULL, `organization_id` uuid NOT NULL, PRIMARY KEY (`id`), CONSTRAINT `sso_connections_organizations_sso_connections` FOREIGN KEY (`organization_id`) REFERENCES `organizations` (`id`) ON DELETE NO ACTION);
-- Create index "ssoconnection_organization_id_created_at" to table: "sso_connections"
CREATE INDEX `ssoconnection_organization_id_created_at` ON `sso_connections` (`organization_id`, `created_at`);
-- Create "sso_domains" table
CREATE TABLE `sso_domains` (`id` uuid NOT NULL, `created_at` datetime NOT NULL, `updated_at` datetime NOT NULL, `domain` text NOT NULL, `verification_token` text NOT NULL, `verified_at` datetime NULL, `verified_domain` text NULL, `organization_id` uuid NOT NULL, `connection_id` uuid NULL, PRIMARY KEY (`id`), CONSTRAINT `sso_domains_organizations_sso_domains` FOREIGN KEY (`organization_id`) REFERENCES `organizations` (`id`) ON DELETE NO ACTION, CONSTRAINT `sso_domains_sso_connections_domains` FOREIGN KEY (`connection_id`) REFERENCES `sso_connections` (`id`) ON DELETE SET NULL);
-- Create index "sso_domains_verified_domain_key" to table: "sso_domains"
CREATE UNIQUE INDEX `sso_domains_verified_domain_key` ON `sso_domains` (`verified_domain`);
-- Create index "ssodomain_organization_id_domain" to table: "sso_domains"
CREATE UNIQUE INDEX `ssodomain_organization_id_domain` ON `sso_domains` (`organization_id`, `domain`);
-- Create index "ssodomain_connection_id" to table: "sso_domains"
CREATE INDEX `ssodomain_connection_id` ON `sso_domains` (`connection_id`);
-- Create "sso_identities" table
CREATE TABLE `sso_identities` (`id` uuid NOT NULL, `created_at` datetime NOT NULL, `updated_at` datetime NOT NULL, `issuer` text NOT NULL, `subject` text NOT NULL, `email` text NOT NULL DEFAULT (''), `last_sign_in_at` datetime NULL, `organization_id` uuid NOT NULL, `connection_id` uuid NOT NULL, `user_id` uuid NOT NULL, PRIMARY KEY (`id`), CONSTRAINT `sso_identities_organizations_sso_identities` FOREIGN KEY (`organization_id`) REFERENCES `organizations` (`id`) ON DELETE NO ACTION, CONSTRAINT `sso_identities_sso_connections_identities` FOREIGN KEY (`connection_id`) REFERENCES `sso_connections` (`id`) ON DELETE NO ACTION, CONSTRAINT `sso_identities_users_sso_identities` FOREIGN KEY (`user_id`) REFERENCES `users` (`id`) ON DELETE NO ACTION);
-- Create index "ssoidentity_connection_id_issuer_subject" to table: "sso_identities"
CREATE UNIQUE INDEX `ssoidentity_connection_id_issuer_subject` ON `sso_identities` (`connection_id`, `issuer`, `subject`);
-- Create index "ssoidentity_user_id" to table: "sso_identities"
CREATE INDEX `ssoidentity_user_id` ON `sso_identities` (`user_id`);
-- Enable back the enforcement of foreign-keys constraints
PRAGMA foreign_keys = on;
