-- Accounts an operator can run in public: admins, disabled users, invites,
-- and API tokens with a scope and an expiry. Keep in step with
-- ../sqlite/0002_accounts.sql.

ALTER TABLE users ADD COLUMN is_admin BIGINT NOT NULL DEFAULT 0;
-- Set by an admin: the user cannot sign in and their sessions are gone.
ALTER TABLE users ADD COLUMN disabled_at BIGINT;

-- The oldest account of an existing server becomes its admin.
UPDATE users SET is_admin = 1
 WHERE id = (SELECT id FROM users ORDER BY created_at, id LIMIT 1);

-- 'read' tokens may only read (GET); 'full' tokens may do what the user can.
ALTER TABLE api_tokens ADD COLUMN scope TEXT NOT NULL DEFAULT 'full';
ALTER TABLE api_tokens ADD COLUMN expires_at BIGINT;
-- Tokens minted before tokens expired get 90 days from the upgrade.
UPDATE api_tokens
   SET expires_at = CAST(EXTRACT(EPOCH FROM now()) * 1000 AS BIGINT) + 7776000000  -- 90 days in ms
 WHERE expires_at IS NULL;

-- Single-use invitations to register while registration is by invite.
-- Only the SHA-256 of the code is stored.
CREATE TABLE invites (
    id         TEXT PRIMARY KEY,
    code_hash  TEXT NOT NULL UNIQUE,
    note       TEXT NOT NULL,
    created_by TEXT REFERENCES users(id) ON DELETE SET NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    used_by    TEXT REFERENCES users(id) ON DELETE SET NULL,
    used_at    BIGINT
);
CREATE INDEX invites_created ON invites(created_at);
