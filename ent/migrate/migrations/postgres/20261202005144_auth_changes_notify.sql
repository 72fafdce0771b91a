-- Notify every new auth_changes row as "kind:key" on the channel inferia_auth_changes_<schema>
-- (channels are database-wide, so the schema's name completes it). A notification is delivered
-- when its transaction commits, never before and never for one that rolls back; each replica's
-- authentication cache listens there (server/app/database.go names the channel's prefix).
-- Idempotent: a database adopted from an auto-migrating release has both already.
CREATE OR REPLACE FUNCTION inferia_notify_auth_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('inferia_auth_changes_' || TG_TABLE_SCHEMA, NEW.kind || ':' || NEW.key);
  RETURN NULL;
END $$;
CREATE OR REPLACE TRIGGER auth_changes_notify AFTER INSERT ON auth_changes
  FOR EACH ROW EXECUTE FUNCTION inferia_notify_auth_change();
