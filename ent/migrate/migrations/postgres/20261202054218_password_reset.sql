-- Modify "users" table
ALTER TABLE "users" ADD COLUMN "password_reset_hash" character varying NULL, ADD COLUMN "password_reset_expires_at" timestamptz NULL;
-- Create index "users_password_reset_hash_key" to table: "users"
CREATE UNIQUE INDEX "users_password_reset_hash_key" ON "users" ("password_reset_hash");
