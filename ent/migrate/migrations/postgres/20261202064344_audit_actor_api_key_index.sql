-- Create index "auditlog_actor_api_key_id_created_at" to table: "audit_logs"
CREATE INDEX "auditlog_actor_api_key_id_created_at" ON "audit_logs" ("actor_api_key_id", "created_at");
