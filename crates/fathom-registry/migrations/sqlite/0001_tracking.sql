-- Tracking: experiments, runs and what each run logged.
-- Times are UTC microseconds since 1970-01-01.

CREATE TABLE experiments (
    id          INTEGER PRIMARY KEY,
    name        TEXT    NOT NULL UNIQUE,
    description TEXT    NOT NULL DEFAULT '',
    created_at  INTEGER NOT NULL
);

CREATE TABLE runs (
    id             INTEGER PRIMARY KEY,
    experiment_id  INTEGER NOT NULL REFERENCES experiments (id),
    name           TEXT    NOT NULL,
    status         TEXT    NOT NULL CHECK (status IN ('running', 'finished', 'failed')),
    start_time     INTEGER NOT NULL,
    end_time       INTEGER,
    source_version TEXT,
    data_snapshot  TEXT,
    seed           INTEGER,
    host           TEXT    NOT NULL,
    fathom_version TEXT    NOT NULL,
    failure        TEXT
);
CREATE INDEX runs_by_experiment_start ON runs (experiment_id, start_time, id);
CREATE INDEX runs_by_start ON runs (start_time, id);

CREATE TABLE run_params (
    run_id INTEGER NOT NULL REFERENCES runs (id),
    key    TEXT    NOT NULL,
    value  TEXT    NOT NULL,
    PRIMARY KEY (run_id, key)
) WITHOUT ROWID;
CREATE INDEX run_params_by_key_value ON run_params (key, value, run_id);

CREATE TABLE run_tags (
    run_id INTEGER NOT NULL REFERENCES runs (id),
    key    TEXT    NOT NULL,
    value  TEXT    NOT NULL,
    PRIMARY KEY (run_id, key)
) WITHOUT ROWID;
CREATE INDEX run_tags_by_key_value ON run_tags (key, value, run_id);

-- Every logged value, for curves. Listings never read this table.
CREATE TABLE metric_history (
    run_id      INTEGER NOT NULL REFERENCES runs (id),
    key         TEXT    NOT NULL,
    step        INTEGER NOT NULL,
    value       REAL    NOT NULL,
    recorded_at INTEGER NOT NULL
);
CREATE INDEX metric_history_by_run_key_step ON metric_history (run_id, key, step);

-- The value at the highest step of each metric of each run.
CREATE TABLE latest_metrics (
    run_id      INTEGER NOT NULL REFERENCES runs (id),
    key         TEXT    NOT NULL,
    step        INTEGER NOT NULL,
    value       REAL    NOT NULL,
    recorded_at INTEGER NOT NULL,
    PRIMARY KEY (run_id, key)
) WITHOUT ROWID;
CREATE INDEX latest_metrics_by_key_value ON latest_metrics (key, value, run_id);

CREATE TABLE run_artifacts (
    run_id     INTEGER NOT NULL REFERENCES runs (id),
    name       TEXT    NOT NULL,
    uri        TEXT    NOT NULL,
    sha256     TEXT    NOT NULL,
    size_bytes INTEGER NOT NULL,
    PRIMARY KEY (run_id, name)
) WITHOUT ROWID;
