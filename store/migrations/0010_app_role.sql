-- Least privilege (issue 13): the role the binaries serve with. It owns nothing, so it
-- cannot alter or drop a table, nor disable a trigger (ALTER TABLE … DISABLE TRIGGER
-- needs ownership); it is no superuser, so it cannot set session_replication_role to
-- skip triggers; it may not update or delete audit rows, nor delete an account row.
-- The role is cluster-wide and created once; its login and password are given by the
-- schema owner at start-up (`relink_store::Store::grant_app_login`), never here.
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'relink_app') THEN
        CREATE ROLE relink_app NOLOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS;
    END IF;
EXCEPTION
    -- Another database of the same cluster created it meanwhile.
    WHEN duplicate_object OR unique_violation THEN NULL;
END $$;

DO $$
BEGIN
    EXECUTE format('GRANT CONNECT ON DATABASE %I TO relink_app', current_database());
END $$;
GRANT USAGE ON SCHEMA public TO relink_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO relink_app;
GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO relink_app;
-- Tables and sequences of later migrations (run by the same owner) get the same.
ALTER DEFAULT PRIVILEGES IN SCHEMA public
    GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO relink_app;
ALTER DEFAULT PRIVILEGES IN SCHEMA public
    GRANT USAGE, SELECT ON SEQUENCES TO relink_app;

-- The audit log is append-only for the application: read and append, nothing else.
REVOKE UPDATE, DELETE, TRUNCATE ON linkedin_account_audit_log FROM relink_app;
-- An account row is never deleted by the application (its audit history refers to it).
REVOKE DELETE, TRUNCATE ON linkedin_accounts FROM relink_app;
-- The migration ledger is the owner's.
REVOKE ALL ON _sqlx_migrations FROM relink_app;
