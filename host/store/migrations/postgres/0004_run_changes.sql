-- Every commit that changes what a run reads as (state, status, version; a new or a
-- deleted run) notifies channel `runplane_runs` with the run's id, so every host drops
-- that run from its read cache (src/changes.rs). Log lines (`log_seq`) are not part of
-- a run's document and do not notify. SQLite has no such signal: its hosts watch the
-- file's data version instead, so this migration is PostgreSQL's alone.
CREATE FUNCTION runplane_run_changed() RETURNS trigger AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        PERFORM pg_notify('runplane_runs', OLD.id);
    ELSE
        PERFORM pg_notify('runplane_runs', NEW.id);
    END IF;
    RETURN NULL;
END
$$ LANGUAGE plpgsql;

CREATE TRIGGER runs_changed
    AFTER INSERT OR DELETE OR UPDATE OF state, status, version ON runs
    FOR EACH ROW EXECUTE FUNCTION runplane_run_changed();
