-- Disable the enforcement of foreign-keys constraints
PRAGMA foreign_keys = off;
-- Create "new_users" table
CREATE TABLE `new_users` (`id` uuid NOT NULL, `created_at` datetime NOT NULL, `updated_at` datetime NOT NULL, `email` text NOT NULL, `name` text NOT NULL DEFAULT (''), `password_hash` text NOT NULL, `is_super_admin` bool NOT NULL DEFAULT (false), `default_org_id` uuid NULL, `last_active_at` datetime NULL, `two_factor_enabled` bool NOT NULL DEFAULT (false), `totp_secret` text NULL, `totp_pending_secret` text NULL, `totp_last_step` integer NOT NULL DEFAULT (0), `recovery_code_hashes` json NOT NULL, `security_version` integer NOT NULL DEFAULT (0), `password_reset_hash` text NULL, `password_reset_expires_at` datetime NULL, PRIMARY KEY (`id`));
-- Copy rows from old table "users" to new temporary table "new_users"
INSERT INTO `new_users` (`id`, `created_at`, `updated_at`, `email`, `name`, `password_hash`, `is_super_admin`, `default_org_id`, `last_active_at`, `two_factor_enabled`, `totp_secret`, `totp_pending_secret`, `totp_last_step`, `recovery_code_hashes`, `security_version`) SELECT `id`, `created_at`, `updated_at`, `email`, `name`, `password_hash`, `is_super_admin`, `default_org_id`, `last_active_at`, `two_factor_enabled`, `totp_secret`, `totp_pending_secret`, `totp_last_step`, `recovery_code_hashes`, `security_version` FROM `users`;
-- Drop "users" table after copying rows
DROP TABLE `users`;
-- Rename temporary table "new_users" to "users"
ALTER TABLE `new_users` RENAME TO `users`;
-- Create index "users_email_key" to table: "users"
CREATE UNIQUE INDEX `users_email_key` ON `users` (`email`);
-- Create index "users_password_reset_hash_key" to table: "users"
CREATE UNIQUE INDEX `users_password_reset_hash_key` ON `users` (`password_reset_hash`);
-- Create index "user_created_at" to table: "users"
CREATE INDEX `user_created_at` ON `users` (`created_at`);
-- Enable back the enforcement of foreign-keys constraints
PRAGMA foreign_keys = on;
