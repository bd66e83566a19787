-- Leases (decision 60): the replica that drives a live run (`owner`), a stop or delete asked
-- of it by another replica (`requested`), and every replica's heartbeat: a run whose
-- owner's heartbeat lapsed is claimed by another replica. Keep in step with
-- ../sqlite/0005_leases.sql.
ALTER TABLE runs ADD COLUMN owner TEXT COLLATE "C";
ALTER TABLE runs ADD COLUMN requested TEXT;
CREATE TABLE replicas (
    id TEXT COLLATE "C" NOT NULL PRIMARY KEY,
    started BIGINT NOT NULL,
    alive_until BIGINT NOT NULL
);

-- A request (stop, delete) written by one replica wakes the run's owner at once: channel
-- `runplane_requests`, payload the run's id (src/changes.rs).
CREATE FUNCTION runplane_run_requested() RETURNS trigger AS $$
BEGIN
    PERFORM pg_notify('runplane_requests', NEW.id);
    RETURN NULL;
END
$$ LANGUAGE plpgsql;

CREATE TRIGGER runs_requested
    AFTER UPDATE OF requested ON runs
    FOR EACH ROW WHEN (NEW.requested IS NOT NULL)
    EXECUTE FUNCTION runplane_run_requested();
