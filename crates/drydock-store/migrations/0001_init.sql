-- drydock store, schema 1: tasks, their hash-chained events, pull requests and approvals.
-- Timestamps are RFC 3339 UTC text with nanoseconds ("2025-01-31T09:15:02.123456789Z"), fixed
-- width, so text order is time order. JSON columns hold serde_json text of drydock-core types.

CREATE TABLE tasks (
    id                  TEXT PRIMARY KEY NOT NULL,  -- ULID, canonical upper case
    short_id            TEXT NOT NULL,              -- TaskId::short(): lower-case last 8 chars
    kind                TEXT NOT NULL,
    repo_location       TEXT NOT NULL,
    repo_name           TEXT NOT NULL,
    title               TEXT NOT NULL,
    spec                TEXT NOT NULL CHECK (json_valid(spec)),
    state               TEXT NOT NULL CHECK (state IN ('queued', 'preparing', 'running',
                            'awaiting_approval', 'finalizing', 'completed', 'failed',
                            'cancelled', 'timed_out')),
    created_at          TEXT NOT NULL,
    updated_at          TEXT NOT NULL,
    finished_at         TEXT,
    branch              TEXT,
    prompt_hash         TEXT,
    failure             TEXT CHECK (failure IS NULL OR json_valid(failure)),
    stats               TEXT NOT NULL CHECK (json_valid(stats)),
    -- Head of the event chain: a deleted last event leaves the head pointing past the log.
    chain_seq           INTEGER NOT NULL DEFAULT 0 CHECK (chain_seq >= 0),
    chain_hash          TEXT NOT NULL
                            DEFAULT '0000000000000000000000000000000000000000000000000000000000000000',
    cancel_requested_at TEXT,
    lease_worker        TEXT,
    lease_expires_at    TEXT
);

CREATE INDEX tasks_by_created ON tasks (created_at, id);
CREATE INDEX tasks_by_state ON tasks (state, created_at, id);
CREATE INDEX tasks_by_short_id ON tasks (short_id);
CREATE INDEX tasks_by_lease ON tasks (lease_expires_at) WHERE lease_expires_at IS NOT NULL;

CREATE TABLE events (
    task_id   TEXT NOT NULL REFERENCES tasks (id),
    seq       INTEGER NOT NULL CHECK (seq >= 1),
    at        TEXT NOT NULL,
    type      TEXT NOT NULL,
    payload   TEXT NOT NULL,   -- canonical JSON of the whole Event
    prev_hash TEXT NOT NULL,   -- hash of event seq - 1; 64 zeros for seq 1
    hash      TEXT NOT NULL,   -- sha256_hex(prev_hash || "\n" || payload)
    PRIMARY KEY (task_id, seq)
) WITHOUT ROWID;

-- The log is append-only. These triggers stop accidents (a stray UPDATE in a shell); deliberate
-- tampering by someone who can drop them is what the hash chain detects.
CREATE TRIGGER events_no_update BEFORE UPDATE ON events
BEGIN
    SELECT RAISE(ABORT, 'drydock events are append-only');
END;

CREATE TRIGGER events_no_delete BEFORE DELETE ON events
BEGIN
    SELECT RAISE(ABORT, 'drydock events are append-only');
END;

CREATE TABLE pull_requests (
    task_id     TEXT PRIMARY KEY NOT NULL REFERENCES tasks (id),
    title       TEXT NOT NULL,
    body        TEXT NOT NULL,
    head_branch TEXT NOT NULL,
    base_branch TEXT NOT NULL,
    head_sha    TEXT NOT NULL,
    base_sha    TEXT NOT NULL,
    diff_stat   TEXT NOT NULL CHECK (json_valid(diff_stat)),
    url         TEXT,
    created_at  TEXT NOT NULL
);

CREATE TABLE approvals (
    id           TEXT PRIMARY KEY NOT NULL,  -- ULID
    task_id      TEXT NOT NULL REFERENCES tasks (id),
    action       TEXT NOT NULL CHECK (json_valid(action)),
    resource     TEXT NOT NULL,
    reason       TEXT NOT NULL,
    requested_at TEXT NOT NULL,
    approved     INTEGER CHECK (approved IN (0, 1)),
    resolved_by  TEXT,
    resolved_at  TEXT
);

CREATE INDEX approvals_by_task ON approvals (task_id, requested_at);
-- A task waits on at most one question at a time.
CREATE UNIQUE INDEX approvals_one_pending ON approvals (task_id) WHERE approved IS NULL;
