-- Pipeline runs, their task attempts, and leases.
-- Times are UTC microseconds since 1970-01-01.

-- One row per (pipeline, logical date): a second run for the same date
-- finds this row instead of creating another. logical_date is YYYY-MM-DD
-- or an RFC 3339 UTC time; scheduled_for is the cron occurrence it was
-- run for (NULL for manual and triggered runs); invocations counts how
-- often a runner started it (1, plus one per resume).
CREATE TABLE pipeline_runs (
    id            INTEGER PRIMARY KEY,
    pipeline      TEXT    NOT NULL,
    logical_date  TEXT    NOT NULL,
    status        TEXT    NOT NULL CHECK (status IN ('queued', 'running', 'succeeded', 'failed', 'skipped')),
    trigger       TEXT    NOT NULL,
    reason        TEXT    NOT NULL,
    params        TEXT    NOT NULL,
    scheduled_for INTEGER,
    created_at    INTEGER NOT NULL,
    started_at    INTEGER,
    ended_at      INTEGER,
    invocations   INTEGER NOT NULL,
    error         TEXT,
    failed_task   TEXT,
    alert_owner   TEXT,
    note          TEXT,
    UNIQUE (pipeline, logical_date)
);
CREATE INDEX pipeline_runs_by_pipeline ON pipeline_runs (pipeline, id);
CREATE INDEX pipeline_runs_by_status ON pipeline_runs (status, id);

-- One row per attempt of a task in a run, numbered from 1 across resumes.
-- Rows for tasks that did not run (an upstream task failed, or stopped
-- the pipeline) have no start time. stop: set when a succeeded attempt
-- stopped the pipeline on purpose (its downstream tasks are skipped).
CREATE TABLE pipeline_task_runs (
    id         INTEGER PRIMARY KEY,
    run_id     INTEGER NOT NULL REFERENCES pipeline_runs (id),
    task       TEXT    NOT NULL,
    attempt    INTEGER NOT NULL,
    status     TEXT    NOT NULL CHECK (status IN ('running', 'succeeded', 'failed', 'timed_out', 'upstream_failed', 'skipped')),
    started_at INTEGER,
    ended_at   INTEGER,
    error      TEXT,
    output     TEXT,
    stop       TEXT,
    log        TEXT    NOT NULL,
    UNIQUE (run_id, task, attempt)
);

-- Named leases: whoever holds an unexpired lease alone may do its work.
CREATE TABLE pipeline_leases (
    name        TEXT    PRIMARY KEY,
    holder      TEXT    NOT NULL,
    acquired_at INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL
);
