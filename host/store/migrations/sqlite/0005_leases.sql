-- Leases (decision 60): the replica that drives a live run (`owner`), a stop or delete asked
-- of it by another replica (`requested`), and every replica's heartbeat. A SQLite file has
-- one host, which takes every live run at start; the columns keep both backends' SQL one.
-- Keep in step with ../postgres/0005_leases.sql.
ALTER TABLE runs ADD COLUMN owner TEXT;
ALTER TABLE runs ADD COLUMN requested TEXT;
CREATE TABLE replicas (
    id TEXT NOT NULL PRIMARY KEY,
    started BIGINT NOT NULL,
    alive_until BIGINT NOT NULL
);
