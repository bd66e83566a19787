-- Clients of the original platform's API choose their entities' ids (uuid4 hex), so ids
-- no longer sort by creation: listings order by `created`, then id. Keep in step with
-- ../sqlite/0003_client_ids.sql.
CREATE INDEX functions_by_created ON functions (project, name, created);
CREATE INDEX tasks_by_function ON tasks (project, function, kind);
CREATE INDEX runs_by_created ON runs (project, created, id);
-- 1 for a run that asked for the cluster and runs on the local target because the host
-- has none: its document still says `local_execution: false`, as the client asked
-- (the original platform's SDK would otherwise execute the run itself).
ALTER TABLE runs ADD COLUMN placed_locally INTEGER NOT NULL DEFAULT 0;
