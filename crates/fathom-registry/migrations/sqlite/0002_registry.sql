-- Registry: models, versions, aliases with their history, and the audit log.

CREATE TABLE audit_log (
    id      INTEGER PRIMARY KEY,
    at      INTEGER NOT NULL,
    actor   TEXT    NOT NULL,
    host    TEXT    NOT NULL,
    action  TEXT    NOT NULL,
    model   TEXT,
    version INTEGER,
    alias   TEXT,
    reason  TEXT    NOT NULL,
    detail  TEXT    NOT NULL
);
CREATE INDEX audit_log_by_model ON audit_log (model, id);
CREATE INDEX audit_log_by_action ON audit_log (action, id);

CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'the audit log is append-only');
END;
CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'the audit log is append-only');
END;

CREATE TABLE registered_models (
    id           INTEGER PRIMARY KEY,
    name         TEXT    NOT NULL UNIQUE,
    description  TEXT    NOT NULL,
    intended_use TEXT    NOT NULL,
    limitations  TEXT    NOT NULL,
    owner        TEXT    NOT NULL,
    created_at   INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL
);

CREATE TABLE model_versions (
    id               INTEGER PRIMARY KEY,
    model_id         INTEGER NOT NULL REFERENCES registered_models (id),
    version          INTEGER NOT NULL,
    run_id           INTEGER REFERENCES runs (id),
    artifact_uri     TEXT    NOT NULL,
    artifact_sha256  TEXT    NOT NULL,
    schema_hash      TEXT    NOT NULL,
    holdout_snapshot TEXT,
    owner            TEXT    NOT NULL,
    description      TEXT    NOT NULL,
    created_at       INTEGER NOT NULL,
    status           TEXT    NOT NULL CHECK (status IN ('active', 'archived')),
    archived_at      INTEGER,
    UNIQUE (model_id, version)
);
CREATE INDEX model_versions_by_run ON model_versions (run_id);

CREATE TABLE version_metrics (
    version_id INTEGER NOT NULL REFERENCES model_versions (id),
    key        TEXT    NOT NULL,
    value      REAL    NOT NULL,
    PRIMARY KEY (version_id, key)
) WITHOUT ROWID;

-- One row per (model, alias): an alias names exactly one version.
CREATE TABLE model_aliases (
    model_id   INTEGER NOT NULL REFERENCES registered_models (id),
    alias      TEXT    NOT NULL,
    version_id INTEGER NOT NULL REFERENCES model_versions (id),
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (model_id, alias)
) WITHOUT ROWID;
CREATE INDEX model_aliases_by_version ON model_aliases (version_id);

-- Every alias move. kind: set | promote | force | rollback | remove.
CREATE TABLE alias_history (
    id                  INTEGER PRIMARY KEY,
    model_id            INTEGER NOT NULL REFERENCES registered_models (id),
    alias               TEXT    NOT NULL,
    version_id          INTEGER REFERENCES model_versions (id),
    previous_version_id INTEGER REFERENCES model_versions (id),
    kind                TEXT    NOT NULL CHECK (kind IN ('set', 'promote', 'force', 'rollback', 'remove')),
    moved_at            INTEGER NOT NULL,
    audit_id            INTEGER NOT NULL REFERENCES audit_log (id)
);
CREATE INDEX alias_history_by_model_alias ON alias_history (model_id, alias, id);
CREATE INDEX alias_history_by_previous ON alias_history (previous_version_id, moved_at);
