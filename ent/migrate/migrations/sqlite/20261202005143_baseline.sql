-- Create "audit_logs" table
CREATE TABLE `audit_logs` (`id` uuid NOT NULL, `actor_email` text NOT NULL DEFAULT (''), `action` text NOT NULL, `category` text NOT NULL, `resource_type` text NOT NULL DEFAULT (''), `resource_id` text NOT NULL DEFAULT (''), `details` json NULL, `ip_address` text NOT NULL DEFAULT (''), `user_agent` text NOT NULL DEFAULT (''), `status` text NOT NULL DEFAULT ('success'), `created_at` datetime NOT NULL, `organization_id` uuid NULL, `actor_id` uuid NULL, PRIMARY KEY (`id`), CONSTRAINT `audit_logs_organizations_audit_logs` FOREIGN KEY (`organization_id`) REFERENCES `organizations` (`id`) ON DELETE SET NULL, CONSTRAINT `audit_logs_users_audit_logs` FOREIGN KEY (`actor_id`) REFERENCES `users` (`id`) ON DELETE SET NULL);
-- Create index "auditlog_organization_id_created_at_id" to table: "audit_logs"
CREATE INDEX `auditlog_organization_id_created_at_id` ON `audit_logs` (`organization_id`, `created_at`, `id`);
-- Create index "auditlog_organization_id_action_created_at" to table: "audit_logs"
CREATE INDEX `auditlog_organization_id_action_created_at` ON `audit_logs` (`organization_id`, `action`, `created_at`);
-- Create index "auditlog_actor_id_created_at" to table: "audit_logs"
CREATE INDEX `auditlog_actor_id_created_at` ON `audit_logs` (`actor_id`, `created_at`);
-- Create "auth_changes" table
CREATE TABLE `auth_changes` (`id` integer NOT NULL PRIMARY KEY AUTOINCREMENT, `kind` text NOT NULL, `key` text NOT NULL, `created_at` datetime NOT NULL);
-- Create index "authchange_created_at" to table: "auth_changes"
CREATE INDEX `authchange_created_at` ON `auth_changes` (`created_at`);
-- Create "invitations" table
CREATE TABLE `invitations` (`id` uuid NOT NULL, `created_at` datetime NOT NULL, `updated_at` datetime NOT NULL, `email` text NOT NULL, `token_hash` text NOT NULL, `token_encrypted` text NULL, `status` text NOT NULL DEFAULT ('PENDING'), `expires_at` datetime NOT NULL, `accepted_at` datetime NULL, `organization_id` uuid NOT NULL, `role_id` uuid NOT NULL, `invited_by_id` uuid NULL, PRIMARY KEY (`id`), CONSTRAINT `invitations_organizations_invitations` FOREIGN KEY (`organization_id`) REFERENCES `organizations` (`id`) ON DELETE NO ACTION, CONSTRAINT `invitations_roles_invitations` FOREIGN KEY (`role_id`) REFERENCES `roles` (`id`) ON DELETE NO ACTION, CONSTRAINT `invitations_users_invitations_sent` FOREIGN KEY (`invited_by_id`) REFERENCES `users` (`id`) ON DELETE SET NULL);
-- Create index "invitations_token_hash_key" to table: "invitations"
CREATE UNIQUE INDEX `invitations_token_hash_key` ON `invitations` (`token_hash`);
-- Create index "invitation_organization_id_status_created_at" to table: "invitations"
CREATE INDEX `invitation_organization_id_status_created_at` ON `invitations` (`organization_id`, `status`, `created_at`);
-- Create index "invitation_organization_id_email" to table: "invitations"
CREATE UNIQUE INDEX `invitation_organization_id_email` ON `invitations` (`organization_id`, `email`) WHERE status = 'PENDING';
-- Create "memberships" table
CREATE TABLE `memberships` (`id` uuid NOT NULL, `email` text NOT NULL, `joined_at` datetime NOT NULL, `last_active_at` datetime NOT NULL, `organization_id` uuid NOT NULL, `role_id` uuid NOT NULL, `user_id` uuid NOT NULL, PRIMARY KEY (`id`), CONSTRAINT `memberships_organizations_memberships` FOREIGN KEY (`organization_id`) REFERENCES `organizations` (`id`) ON DELETE NO ACTION, CONSTRAINT `memberships_roles_memberships` FOREIGN KEY (`role_id`) REFERENCES `roles` (`id`) ON DELETE NO ACTION, CONSTRAINT `memberships_users_memberships` FOREIGN KEY (`user_id`) REFERENCES `users` (`id`) ON DELETE NO ACTION);
-- Create index "membership_user_id_organization_id" to table: "memberships"
CREATE UNIQUE INDEX `membership_user_id_organization_id` ON `memberships` (`user_id`, `organization_id`);
-- Create index "membership_organization_id_joined_at_id" to table: "memberships"
CREATE INDEX `membership_organization_id_joined_at_id` ON `memberships` (`organization_id`, `joined_at`, `id`);
-- Create index "membership_organization_id_last_active_at_id" to table: "memberships"
CREATE INDEX `membership_organization_id_last_active_at_id` ON `memberships` (`organization_id`, `last_active_at`, `id`);
-- Create index "membership_organization_id_email_id" to table: "memberships"
CREATE INDEX `membership_organization_id_email_id` ON `memberships` (`organization_id`, `email`, `id`);
-- Create index "membership_role_id" to table: "memberships"
CREATE INDEX `membership_role_id` ON `memberships` (`role_id`);
-- Create "organizations" table
CREATE TABLE `organizations` (`id` uuid NOT NULL, `created_at` datetime NOT NULL, `updated_at` datetime NOT NULL, `name` text NOT NULL, `settings` json NOT NULL, `billing` json NOT NULL, `security_policy` json NOT NULL, `member_count` integer NOT NULL DEFAULT (0), PRIMARY KEY (`id`));
-- Create index "organizations_name_key" to table: "organizations"
CREATE UNIQUE INDEX `organizations_name_key` ON `organizations` (`name`);
-- Create "rate_limits" table
CREATE TABLE `rate_limits` (`key` text NOT NULL, `failures` integer NOT NULL DEFAULT (0), `window_start` datetime NOT NULL, `blocked_until` datetime NULL, PRIMARY KEY (`key`));
-- Create "roles" table
CREATE TABLE `roles` (`id` uuid NOT NULL, `created_at` datetime NOT NULL, `updated_at` datetime NOT NULL, `name` text NOT NULL, `description` text NOT NULL DEFAULT (''), `permissions` json NOT NULL, `built_in` bool NOT NULL DEFAULT (false), `organization_id` uuid NULL, PRIMARY KEY (`id`), CONSTRAINT `roles_organizations_roles` FOREIGN KEY (`organization_id`) REFERENCES `organizations` (`id`) ON DELETE SET NULL);
-- Create index "role_organization_id_name" to table: "roles"
CREATE UNIQUE INDEX `role_organization_id_name` ON `roles` (`organization_id`, `name`);
-- Create "server_settings" table
CREATE TABLE `server_settings` (`key` text NOT NULL, `value` text NOT NULL, `created_at` datetime NOT NULL, PRIMARY KEY (`key`));
-- Create "sessions" table
CREATE TABLE `sessions` (`id` uuid NOT NULL, `refresh_token_hash` text NOT NULL, `rotated_token_hashes` json NOT NULL, `user_agent` text NOT NULL DEFAULT (''), `ip_address` text NOT NULL DEFAULT (''), `created_at` datetime NOT NULL, `last_used_at` datetime NOT NULL, `expires_at` datetime NOT NULL, `revoked_at` datetime NULL, `revoke_reason` text NULL, `organization_id` uuid NOT NULL, `user_id` uuid NOT NULL, PRIMARY KEY (`id`), CONSTRAINT `sessions_organizations_sessions` FOREIGN KEY (`organization_id`) REFERENCES `organizations` (`id`) ON DELETE NO ACTION, CONSTRAINT `sessions_users_sessions` FOREIGN KEY (`user_id`) REFERENCES `users` (`id`) ON DELETE NO ACTION);
-- Create index "session_user_id_organization_id" to table: "sessions"
CREATE INDEX `session_user_id_organization_id` ON `sessions` (`user_id`, `organization_id`);
-- Create index "session_organization_id_last_used_at_id" to table: "sessions"
CREATE INDEX `session_organization_id_last_used_at_id` ON `sessions` (`organization_id`, `last_used_at`, `id`);
-- Create "users" table
CREATE TABLE `users` (`id` uuid NOT NULL, `created_at` datetime NOT NULL, `updated_at` datetime NOT NULL, `email` text NOT NULL, `name` text NOT NULL DEFAULT (''), `password_hash` text NOT NULL, `is_super_admin` bool NOT NULL DEFAULT (false), `default_org_id` uuid NULL, `last_active_at` datetime NULL, `two_factor_enabled` bool NOT NULL DEFAULT (false), `totp_secret` text NULL, `totp_pending_secret` text NULL, `totp_last_step` integer NOT NULL DEFAULT (0), `recovery_code_hashes` json NOT NULL, `security_version` integer NOT NULL DEFAULT (0), PRIMARY KEY (`id`));
-- Create index "users_email_key" to table: "users"
CREATE UNIQUE INDEX `users_email_key` ON `users` (`email`);
-- Create index "user_created_at" to table: "users"
CREATE INDEX `user_created_at` ON `users` (`created_at`);
