-- Add column "actor_api_key_id" to table: "audit_logs"
ALTER TABLE `audit_logs` ADD COLUMN `actor_api_key_id` uuid NULL;
-- Create "api_keys" table
CREATE TABLE `api_keys` (`id` uuid NOT NULL, `created_at` datetime NOT NULL, `updated_at` datetime NOT NULL, `name` text NOT NULL, `prefix` text NOT NULL, `secret_hash` text NOT NULL, `expires_at` datetime NULL, `revoked_at` datetime NULL, `last_used_at` datetime NULL, `organization_id` uuid NOT NULL, `role_id` uuid NOT NULL, `created_by_id` uuid NULL, PRIMARY KEY (`id`), CONSTRAINT `api_keys_organizations_api_keys` FOREIGN KEY (`organization_id`) REFERENCES `organizations` (`id`) ON DELETE NO ACTION, CONSTRAINT `api_keys_roles_api_keys` FOREIGN KEY (`role_id`) REFERENCES `roles` (`id`) ON DELETE NO ACTION, CONSTRAINT `api_keys_users_api_keys_created` FOREIGN KEY (`created_by_id`) REFERENCES `users` (`id`) ON DELETE SET NULL);
-- Create index "api_keys_secret_hash_key" to table: "api_keys"
CREATE UNIQUE INDEX `api_keys_secret_hash_key` ON `api_keys` (`secret_hash`);
-- Create index "apikey_organization_id_created_at_id" to table: "api_keys"
CREATE INDEX `apikey_organization_id_created_at_id` ON `api_keys` (`organization_id`, `created_at`, `id`);
-- Create index "apikey_created_by_id" to table: "api_keys"
CREATE INDEX `apikey_created_by_id` ON `api_keys` (`created_by_id`);
-- Create index "apikey_role_id" to table: "api_keys"
CREATE INDEX `apikey_role_id` ON `api_keys` (`role_id`);
