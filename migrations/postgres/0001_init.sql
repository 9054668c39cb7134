-- minicode schema (PostgreSQL). Keep in step with ../sqlite/0001_init.sql.
-- Ids are UUID text, timestamps are milliseconds since the Unix epoch.

CREATE TABLE users (
    id            TEXT PRIMARY KEY,
    username      TEXT NOT NULL UNIQUE,   -- stored lower-case
    password_hash TEXT NOT NULL,          -- argon2id PHC string
    created_at    BIGINT NOT NULL
);

-- Browser sessions. Only the SHA-256 of the cookie value is stored.
CREATE TABLE sessions (
    id_hash     TEXT PRIMARY KEY,
    user_id     TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    created_at  BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL
);
CREATE INDEX sessions_user ON sessions(user_id);
CREATE INDEX sessions_expiry ON sessions(expires_at);

-- Personal API tokens, sent as `Authorization: Bearer`. Only the hash is stored.
CREATE TABLE api_tokens (
    id           TEXT PRIMARY KEY,
    user_id      TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    name         TEXT NOT NULL,
    prefix       TEXT NOT NULL,
    token_hash   TEXT NOT NULL UNIQUE,
    created_at   BIGINT NOT NULL,
    last_used_at BIGINT
);
CREATE INDEX api_tokens_user ON api_tokens(user_id);

CREATE TABLE projects (
    id             TEXT PRIMARY KEY,
    user_id        TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    name           TEXT NOT NULL,
    description    TEXT NOT NULL,
    model          TEXT,
    created_at     BIGINT NOT NULL,
    updated_at     BIGINT NOT NULL,
    -- Last time anything happened in the project; drives idle clean-up.
    last_active_at BIGINT NOT NULL
);
CREATE INDEX projects_user_created ON projects(user_id, created_at);

-- One row per generation run; the state machine persists here as it moves.
CREATE TABLE agent_runs (
    id            TEXT PRIMARY KEY,
    project_id    TEXT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    description   TEXT NOT NULL,
    state         TEXT NOT NULL,
    current_phase BIGINT,
    -- The last step that finished, so a restarted server resumes after it.
    last_step     TEXT,
    error         TEXT,
    model         TEXT NOT NULL,
    input_tokens  BIGINT NOT NULL DEFAULT 0,
    output_tokens BIGINT NOT NULL DEFAULT 0,
    cost_usd      DOUBLE PRECISION,
    created_at    BIGINT NOT NULL,
    updated_at    BIGINT NOT NULL,
    finished_at   BIGINT,
    -- The project's event seq when the run started: a page opened mid-run replays from it.
    start_seq     BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX agent_runs_project ON agent_runs(project_id, created_at);

-- The phases of a run's plan, with per-phase usage.
CREATE TABLE agent_phases (
    run_id        TEXT NOT NULL REFERENCES agent_runs(id) ON DELETE CASCADE,
    number        BIGINT NOT NULL,
    phase_json    TEXT NOT NULL,
    implemented   BIGINT NOT NULL DEFAULT 0,
    input_tokens  BIGINT NOT NULL DEFAULT 0,
    output_tokens BIGINT NOT NULL DEFAULT 0,
    cost_usd      DOUBLE PRECISION,
    created_at    BIGINT NOT NULL,
    PRIMARY KEY (run_id, number)
);

-- Every version of every file of a project. The workspace on disk can always
-- be rebuilt from the newest version of each path (deleted = 1 ends a path).
CREATE TABLE generated_files (
    id         TEXT PRIMARY KEY,
    project_id TEXT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    path       TEXT NOT NULL,
    version    BIGINT NOT NULL,
    content    BYTEA NOT NULL,
    sha256     TEXT NOT NULL,
    size       BIGINT NOT NULL,
    deleted    BIGINT NOT NULL DEFAULT 0,
    source     TEXT NOT NULL,   -- generation | chat | user | upload | restore
    run_id     TEXT,
    created_at BIGINT NOT NULL,
    UNIQUE (project_id, path, version)
);
CREATE INDEX generated_files_project_path ON generated_files(project_id, path, version);

CREATE TABLE chats (
    id         TEXT PRIMARY KEY,
    project_id TEXT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    title      TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX chats_project ON chats(project_id, created_at);

CREATE TABLE messages (
    id            TEXT PRIMARY KEY,
    chat_id       TEXT NOT NULL REFERENCES chats(id) ON DELETE CASCADE,
    role          TEXT NOT NULL,
    content       TEXT NOT NULL,
    tool_calls    TEXT NOT NULL DEFAULT '[]',
    input_tokens  BIGINT,
    output_tokens BIGINT,
    cost_usd      DOUBLE PRECISION,
    created_at    BIGINT NOT NULL,
    -- 1 while the assistant is still writing the message.
    pending       BIGINT NOT NULL DEFAULT 0,
    -- Insertion order: created_at can tie within one millisecond.
    position      BIGINT NOT NULL
);
CREATE INDEX messages_chat ON messages(chat_id, position);

-- Undo points: the set of file versions a project had at one moment.
CREATE TABLE checkpoints (
    id            TEXT PRIMARY KEY,
    project_id    TEXT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    message       TEXT NOT NULL,
    kind          TEXT NOT NULL,   -- phase | chat | before_restore | restore
    manifest      TEXT NOT NULL,   -- JSON {path: generated_files.id}
    changed_files TEXT NOT NULL,   -- JSON [path] changed since the previous checkpoint
    created_at    BIGINT NOT NULL,
    position      BIGINT NOT NULL
);
CREATE INDEX checkpoints_project ON checkpoints(project_id, position);

-- The per-project event log the WebSocket replays on `resume`.
CREATE TABLE events (
    project_id TEXT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    seq        BIGINT NOT NULL,
    kind       TEXT NOT NULL,
    frame      TEXT NOT NULL,   -- the serialised envelope, sent as-is on replay
    created_at BIGINT NOT NULL,
    PRIMARY KEY (project_id, seq)
);
