-- Pushing a project to another git host: each user's credentials (the
-- token sealed with the server's secret key, never stored in clear) and
-- each project's remote. Keep in step with ../sqlite/0010_git_remotes.sql.
CREATE TABLE git_credentials (
    id         TEXT PRIMARY KEY,
    user_id    TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    -- The host the credential is sent to (`github.com`, `gitlab.example.com:8443`).
    host       TEXT NOT NULL,
    username   TEXT NOT NULL,
    -- base64(nonce || ChaCha20-Poly1305 ciphertext), bound to its owner and host.
    secret     TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    UNIQUE (user_id, host)
);

CREATE TABLE project_remotes (
    project_id TEXT PRIMARY KEY REFERENCES projects(id) ON DELETE CASCADE,
    url        TEXT NOT NULL,
    updated_at BIGINT NOT NULL
);
