-- Create "org_policies" table
CREATE TABLE "org_policies" ("id" uuid NOT NULL, "created_at" timestamptz NOT NULL, "updated_at" timestamptz NOT NULL, "policy_type" character varying NOT NULL, "config" jsonb NOT NULL, "organization_id" uuid NOT NULL, PRIMARY KEY ("id"), CONSTRAINT "org_policies_organizations_policies" FOREIGN KEY ("organization_id") REFERENCES "organizations" ("id") ON UPDATE NO ACTION ON DELETE NO ACTION);
-- Create index "orgpolicy_organization_id_policy_type" to table: "org_policies"
CREATE UNIQUE INDEX "orgpolicy_organization_id_policy_type" ON "org_policies" ("organization_id", "policy_type");
-- Create "usage_records" table
CREATE TABLE "usage_records" ("id" uuid NOT NULL, "created_at" timestamptz NOT NULL, "updated_at" timestamptz NOT NULL, "api_key_id" uuid NOT NULL, "key_prefix" character varying NOT NULL, "key_name" character varying NOT NULL DEFAULT '', "day" character varying NOT NULL, "model" character varying NOT NULL, "requests" bigint NOT NULL, "tokens" bigint NOT NULL, "organization_id" uuid NOT NULL, PRIMARY KEY ("id"), CONSTRAINT "usage_records_organizations_usage_records" FOREIGN KEY ("organization_id") REFERENCES "organizations" ("id") ON UPDATE NO ACTION ON DELETE NO ACTION);
-- Create index "usagerecord_organization_id_api_key_id_day_model" to table: "usage_records"
CREATE UNIQUE INDEX "usagerecord_organization_id_api_key_id_day_model" ON "usage_records" ("organization_id", "api_key_id", "day", "model");
-- Create index "usagerecord_organization_id_day" to table: "usage_records"
CREATE INDEX "usagerecord_organization_id_day" ON "usage_records" ("organization_id", "day");
