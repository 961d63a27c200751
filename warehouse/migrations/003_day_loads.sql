-- Ingest manifest: which run's inputs the warehouse holds for each day. Written in the same
-- transaction as the day's data (warehouse.loader.replace_day), so it can never disagree with it;
-- warehouse.audit.day_already_loaded() compares it with the inputs of a new run.
CREATE TABLE webtrail.day_loads (
    day            date        PRIMARY KEY,
    run_id         uuid        REFERENCES webtrail.pipeline_runs (run_id) ON DELETE SET NULL,
    input_sha256   text[]      NOT NULL,
    tables         text[]      NOT NULL,
    loaded_at      timestamptz NOT NULL DEFAULT now()
);
