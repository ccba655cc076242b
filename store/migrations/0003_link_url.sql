-- The hosted-auth link the Reconnect workflow last issued for a `connecting` row, so that
-- a repeated click within the reuse window is answered from PostgreSQL without a round
-- trip through the workflow. Written by the workflow's mark_connecting activity only;
-- meaningful only while the row is `connecting` under `link_token`.
ALTER TABLE linkedin_accounts
    ADD COLUMN link_url        text,
    ADD COLUMN link_issued_at  timestamptz,
    ADD COLUMN link_expires_at timestamptz;
