-- A Safe delete of an inert duplicate session has no row to name: its audit intent row
-- carries the Unipile account id only.
ALTER TABLE linkedin_account_audit_log ALTER COLUMN account_id DROP NOT NULL;
