-- Runtime versions, content-addressed by the sha256 of their component. Keep in step with
-- ../sqlite/0002_runtime_versions.sql. At most one version of a name is 'active'.
CREATE TABLE runtime_versions (
    digest TEXT COLLATE "C" NOT NULL PRIMARY KEY,
    name TEXT COLLATE "C" NOT NULL,
    origin TEXT NOT NULL,
    loaded_by TEXT NOT NULL,
    loaded_at BIGINT NOT NULL,
    state TEXT NOT NULL,
    reason TEXT,
    size BIGINT NOT NULL,
    info TEXT,
    -- NULL for a version that failed before it could be kept (it never answered).
    component BYTEA
);
CREATE INDEX runtime_versions_by_name ON runtime_versions (name, loaded_at);
CREATE UNIQUE INDEX runtime_versions_one_active ON runtime_versions (name) WHERE state = 'active';
CREATE INDEX runs_by_runtime_digest ON runs (runtime_digest, state);
