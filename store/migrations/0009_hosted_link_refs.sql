-- Secrets out of workflow history (issue 13). A hosted-auth link's token (the notify
-- callback's only credential) and its wizard url (which opens a login into the
-- account) grant access: they live here, and on the row once the link is current.
-- Workflow history carries only `link_ref`, a random reference (`link_` + 32 hex).
CREATE TABLE hosted_auth_links (
    link_ref    text PRIMARY KEY,
    account_id  uuid NOT NULL REFERENCES linkedin_accounts(id) ON DELETE CASCADE,
    token       text NOT NULL UNIQUE,
    -- Set once Unipile issued the link (the `create_hosted_link` activity).
    url         text,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX hosted_auth_links_account ON hosted_auth_links (account_id);

-- The reference of the row's current link (NULL for links issued before references:
-- their runs carry the token itself, which the store still accepts).
ALTER TABLE linkedin_accounts ADD COLUMN link_ref text;
