-- Runplane's schema on PostgreSQL. Keep in step with ../sqlite/0001_initial.sql: the store
-- runs the same SQL on both. Timestamps are unix nanoseconds, JSON documents are text.
-- Keys are COLLATE "C": byte order, as on SQLite, whatever the database's locale.

CREATE TABLE projects (
    name TEXT COLLATE "C" NOT NULL PRIMARY KEY,
    description TEXT,
    created BIGINT NOT NULL
);

-- Every create or update of a function is a new row; ids are UUIDv7, so the highest id of
-- a name is its latest version.
CREATE TABLE functions (
    id TEXT COLLATE "C" NOT NULL PRIMARY KEY,
    project TEXT COLLATE "C" NOT NULL REFERENCES projects (name) ON DELETE CASCADE,
    name TEXT COLLATE "C" NOT NULL,
    kind TEXT NOT NULL,
    spec TEXT NOT NULL,
    created BIGINT NOT NULL
);
CREATE INDEX functions_by_name ON functions (project, name, id);

CREATE TABLE tasks (
    id TEXT COLLATE "C" NOT NULL PRIMARY KEY,
    project TEXT COLLATE "C" NOT NULL REFERENCES projects (name) ON DELETE CASCADE,
    kind TEXT NOT NULL,
    function TEXT NOT NULL,
    spec TEXT NOT NULL,
    created BIGINT NOT NULL
);
CREATE INDEX tasks_by_project ON tasks (project, id);

-- version = 1 + number of transitions; log_seq = seq of the last log line.
CREATE TABLE runs (
    id TEXT COLLATE "C" NOT NULL PRIMARY KEY,
    project TEXT COLLATE "C" NOT NULL REFERENCES projects (name) ON DELETE CASCADE,
    function TEXT NOT NULL,
    function_kind TEXT NOT NULL,
    action TEXT NOT NULL,
    kind TEXT NOT NULL,
    function_ref TEXT NOT NULL,
    target TEXT NOT NULL,
    spec TEXT NOT NULL,
    runtime_digest TEXT,
    state TEXT NOT NULL,
    status TEXT NOT NULL,
    version BIGINT NOT NULL,
    created BIGINT NOT NULL,
    updated BIGINT NOT NULL,
    idempotency_key TEXT,
    log_seq BIGINT NOT NULL DEFAULT 0
);
-- NULL keys never collide, so runs without a key are not constrained.
CREATE UNIQUE INDEX runs_by_idempotency_key ON runs (project, idempotency_key);
CREATE INDEX runs_by_project ON runs (project, id);
CREATE INDEX runs_by_state ON runs (state, id);

CREATE TABLE transitions (
    run_id TEXT COLLATE "C" NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    seq BIGINT NOT NULL,
    from_state TEXT NOT NULL,
    to_state TEXT NOT NULL,
    at BIGINT NOT NULL,
    reason TEXT,
    PRIMARY KEY (run_id, seq)
);

CREATE TABLE logs (
    run_id TEXT COLLATE "C" NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    seq BIGINT NOT NULL,
    stream TEXT NOT NULL,
    line TEXT NOT NULL,
    at BIGINT NOT NULL,
    PRIMARY KEY (run_id, seq)
);
