-- Several instances on one database (issue 15). Keep in step with the
-- other backend's 0011_cluster.sql.

-- Each project's newest event seq. The event writer of whichever instance
-- stores a batch takes the next seqs from here in the same transaction, so
-- seqs stay unique and dense per project with several writers, and the row
-- lock makes commit order equal seq order.
CREATE TABLE event_seqs (
    project_id TEXT PRIMARY KEY REFERENCES projects(id) ON DELETE CASCADE,
    last_seq   BIGINT NOT NULL
);
INSERT INTO event_seqs (project_id, last_seq)
    SELECT project_id, MAX(seq) FROM events GROUP BY project_id;

-- The running minicode processes: each renews its heartbeat; one whose
-- heartbeat is older than the lease time is gone.
CREATE TABLE instances (
    id           TEXT PRIMARY KEY,
    started_at   BIGINT NOT NULL,
    heartbeat_at BIGINT NOT NULL,
    -- 1 once it is shutting down: it takes no new work.
    draining     BIGINT NOT NULL DEFAULT 0,
    -- Where the other instances reach it (previews of sandboxes it runs).
    internal_url TEXT
);

-- Which instance runs a project's sandbox (its dev server): a preview
-- request that lands elsewhere is forwarded there.
CREATE TABLE sandbox_hosts (
    project_id  TEXT PRIMARY KEY REFERENCES projects(id) ON DELETE CASCADE,
    instance_id TEXT NOT NULL,
    updated_at  BIGINT NOT NULL
);

-- Keys every instance must share (the preview tickets' signing key): the
-- first instance stores its own; the others use it.
CREATE TABLE server_keys (
    name TEXT PRIMARY KEY,
    key  TEXT NOT NULL
);

-- Which instance runs a project's generation or chat turn: at most one per
-- project (what BUSY means). The owner renews `expires_at`; when it stops
-- renewing (killed), another instance takes the work over.
CREATE TABLE work_leases (
    project_id       TEXT PRIMARY KEY REFERENCES projects(id) ON DELETE CASCADE,
    -- `generation` or `chat`.
    work             TEXT NOT NULL,
    work_id          TEXT NOT NULL,
    chat_id          TEXT,
    instance_id      TEXT NOT NULL,
    expires_at       BIGINT NOT NULL,
    -- Set by a cancel that reached another instance; the owner acts on it.
    cancel_requested BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX work_leases_instance ON work_leases (instance_id);

-- Attempts per key and minute (sign-in, registration), shared by instances.
CREATE TABLE rate_hits (
    key          TEXT NOT NULL,
    window_start BIGINT NOT NULL,
    hits         BIGINT NOT NULL,
    PRIMARY KEY (key, window_start)
);

-- Every instance looks for work to take over at each heartbeat: runs in
-- progress and replies being written are few, so index only those.
CREATE INDEX agent_runs_active ON agent_runs (project_id)
    WHERE state IN ('idle', 'designing_phase', 'implementing_phase', 'installing_deps', 'starting_server');
CREATE INDEX messages_pending ON messages (chat_id) WHERE pending = 1;
