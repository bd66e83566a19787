-- Triggers (scheduler, lifecycle). Keep in step with the other backend's 0006_triggers.sql:
-- the store runs the same SQL on both. The firing cursors (`next_due`, `seen_until`) only
-- move forward, by writes conditional on `version` (src/triggers.rs).
CREATE TABLE triggers (
    id TEXT NOT NULL PRIMARY KEY,
    project TEXT NOT NULL REFERENCES projects (name) ON DELETE CASCADE,
    name TEXT NOT NULL,
    kind TEXT NOT NULL,
    spec TEXT NOT NULL,
    state TEXT NOT NULL,
    message TEXT,
    next_due INTEGER,
    seen_until INTEGER,
    activated INTEGER NOT NULL,
    last_fired TEXT,
    version INTEGER NOT NULL,
    created INTEGER NOT NULL,
    updated INTEGER NOT NULL
);
CREATE INDEX triggers_by_project ON triggers (project, created, id);
-- What the scheduler loop asks every second: running schedules due by now.
CREATE INDEX triggers_by_due ON triggers (state, kind, next_due);
-- What the lifecycle sweep asks every second: transitions stamped after a time.
CREATE INDEX transitions_by_time ON transitions (at, to_state);
