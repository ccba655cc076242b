-- A binary serving as relink_app without MIGRATION_DATABASE_URL checks that every
-- migration is applied before it serves (it may not apply them itself): it reads the
-- migration ledger, and may do nothing else to it.
GRANT SELECT ON _sqlx_migrations TO relink_app;
