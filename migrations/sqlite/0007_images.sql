-- Images the user attached to a build prompt or a chat message (screenshots,
-- mock-ups). Uploaded first, then claimed by the message or run they were
-- sent with; unsent ones are removed by the housekeeping after a day.
-- The bytes are stored as sent, minus their metadata (EXIF, text chunks).
-- Keep in step with ../postgres/0007_images.sql.
CREATE TABLE images (
    id         TEXT PRIMARY KEY,
    project_id TEXT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    media_type TEXT NOT NULL,
    width      BIGINT NOT NULL,
    height     BIGINT NOT NULL,
    size       BIGINT NOT NULL,
    data       BLOB NOT NULL,
    -- What it was sent with (at most one of them); NULL while unsent.
    message_id TEXT REFERENCES messages(id) ON DELETE CASCADE,
    run_id     TEXT REFERENCES agent_runs(id) ON DELETE CASCADE,
    -- Order within its message or run.
    position   BIGINT NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL
);
CREATE INDEX images_project ON images(project_id, created_at);
CREATE INDEX images_message ON images(message_id);
CREATE INDEX images_run ON images(run_id);
