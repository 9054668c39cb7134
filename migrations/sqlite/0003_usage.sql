-- Quotas and the usage ledger (sqlite). Keep in step with ../postgres/0003_usage.sql.
-- (0002 is the accounts migration; numbers are applied in order.)

-- One row per unit of model work: a row with event 'start' when a generation
-- or chat turn is admitted (no tokens; it is what the per-hour limits count),
-- then one row per model call with what the provider reported. The daily
-- budgets sum these rows. project_id has no foreign key on purpose: the usage
-- of a deleted project still counts towards its owner's totals.
CREATE TABLE usage_events (
    id            TEXT PRIMARY KEY,
    user_id       TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    project_id    TEXT,
    -- The generation run or the chat reply (message id) the row belongs to.
    work_id       TEXT NOT NULL,
    kind          TEXT NOT NULL,   -- generation | chat
    event         TEXT NOT NULL,   -- start | model_call
    model         TEXT NOT NULL,
    input_tokens  BIGINT NOT NULL DEFAULT 0,
    output_tokens BIGINT NOT NULL DEFAULT 0,
    -- What the provider said the call cost; NULL for models without a price.
    cost_usd      REAL,
    created_at    BIGINT NOT NULL
);
CREATE INDEX usage_events_user_created ON usage_events(user_id, created_at);
CREATE INDEX usage_events_project ON usage_events(project_id);

-- Per-user overrides of the configured quotas. NULL: the server's default;
-- 0: unlimited; n: the limit.
CREATE TABLE user_quotas (
    user_id              TEXT PRIMARY KEY REFERENCES users(id) ON DELETE CASCADE,
    projects             BIGINT,
    sandboxes            BIGINT,
    chat_turns_per_hour  BIGINT,
    generations_per_hour BIGINT,
    tokens_per_day       BIGINT,
    usd_per_day          REAL,
    updated_at           BIGINT NOT NULL
);
