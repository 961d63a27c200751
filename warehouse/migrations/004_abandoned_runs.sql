-- A run whose process died (SIGKILL, OOM, lost machine) could never leave 'running'. The next run
-- that starts marks such rows 'abandoned' and records when it noticed (warehouse.gateway.begin_run):
-- a live run holds a session advisory lock for its whole life, so a 'running' row whose lock is
-- free belongs to a dead process.
ALTER TABLE webtrail.pipeline_runs DROP CONSTRAINT pipeline_runs_status_check;
ALTER TABLE webtrail.pipeline_runs ADD CONSTRAINT pipeline_runs_status_check
    CHECK (status IN ('running', 'completed', 'failed', 'skipped', 'abandoned'));
ALTER TABLE webtrail.pipeline_runs ADD COLUMN abandoned_at timestamptz;
