-- Publishing: each production build of a project's app (a deployment, its
-- files under <data dir>/sites/<id>/), and the project's site, which serves
-- one of them at its own host. Keep in step with ../postgres/0009_deployments.sql.
CREATE TABLE deployments (
    id          TEXT PRIMARY KEY,
    project_id  TEXT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    -- 1, 2, 3… per project.
    number      BIGINT NOT NULL,
    -- building | ready | failed
    status      TEXT NOT NULL,
    error       TEXT,
    -- The end of a failed build's output.
    log         TEXT,
    files       BIGINT NOT NULL DEFAULT 0,
    bytes       BIGINT NOT NULL DEFAULT 0,
    build_ms    BIGINT,
    created_at  BIGINT NOT NULL,
    finished_at BIGINT,
    UNIQUE (project_id, number)
);

CREATE TABLE sites (
    project_id      TEXT PRIMARY KEY REFERENCES projects(id) ON DELETE CASCADE,
    -- The site's host name (one DNS label): readable, or unguessable when unlisted.
    slug            TEXT NOT NULL UNIQUE,
    -- public | unlisted | private
    visibility      TEXT NOT NULL,
    -- The deployment served; NULL while unpublished.
    live_deployment TEXT REFERENCES deployments(id) ON DELETE SET NULL,
    updated_at      BIGINT NOT NULL
);
