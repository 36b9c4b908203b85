-- Registry: models, versions, aliases with their history, and the audit log.

CREATE TABLE audit_log (
    id      BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at      BIGINT  NOT NULL,
    actor   TEXT    NOT NULL,
    host    TEXT    NOT NULL,
    action  TEXT    NOT NULL,
    model   TEXT,
    version BIGINT,
    alias   TEXT,
    reason  TEXT    NOT NULL,
    detail  TEXT    NOT NULL
);
CREATE INDEX audit_log_by_model ON audit_log (model, id);
CREATE INDEX audit_log_by_action ON audit_log (action, id);

CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $body$
BEGIN
    RAISE EXCEPTION 'the audit log is append-only';
END;
$body$;
CREATE TRIGGER audit_log_no_change BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_append_only();

CREATE TABLE registered_models (
    id           BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name         TEXT    NOT NULL UNIQUE,
    description  TEXT    NOT NULL,
    intended_use TEXT    NOT NULL,
    limitations  TEXT    NOT NULL,
    owner        TEXT    NOT NULL,
    created_at   BIGINT  NOT NULL,
    updated_at   BIGINT  NOT NULL
);

CREATE TABLE model_versions (
    id               BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    model_id         BIGINT  NOT NULL REFERENCES registered_models (id),
    version          BIGINT  NOT NULL,
    run_id           BIGINT REFERENCES runs (id),
    artifact_uri     TEXT    NOT NULL,
    artifact_sha256  TEXT    NOT NULL,
    schema_hash      TEXT    NOT NULL,
    holdout_snapshot TEXT,
    owner            TEXT    NOT NULL,
    description      TEXT    NOT NULL,
    created_at       BIGINT  NOT NULL,
    status           TEXT    NOT NULL CHECK (status IN ('active', 'archived')),
    archived_at      BIGINT,
    UNIQUE (model_id, version)
);
CREATE INDEX model_versions_by_run ON model_versions (run_id);

CREATE TABLE version_metrics (
    version_id BIGINT  NOT NULL REFERENCES model_versions (id),
    key        TEXT    NOT NULL,
    value      DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (version_id, key)
);

-- One row per (model, alias): an alias names exactly one version.
CREATE TABLE model_aliases (
    model_id   BIGINT  NOT NULL REFERENCES registered_models (id),
    alias      TEXT    NOT NULL,
    version_id BIGINT  NOT NULL REFERENCES model_versions (id),
    updated_at BIGINT  NOT NULL,
    PRIMARY KEY (model_id, alias)
);
CREATE INDEX model_aliases_by_version ON model_aliases (version_id);

-- Every alias move. kind: set | promote | force | rollback | remove.
CREATE TABLE alias_history (
    id                  BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    model_id            BIGINT  NOT NULL REFERENCES registered_models (id),
    alias               TEXT    NOT NULL,
    version_id          BIGINT REFERENCES model_versions (id),
    previous_version_id BIGINT REFERENCES model_versions (id),
    kind                TEXT    NOT NULL CHECK (kind IN ('set', 'promote', 'force', 'rollback', 'remove')),
    moved_at            BIGINT  NOT NULL,
    audit_id            BIGINT  NOT NULL REFERENCES audit_log (id)
);
CREATE INDEX alias_history_by_model_alias ON alias_history (model_id, alias, id);
CREATE INDEX alias_history_by_previous ON alias_history (previous_version_id, moved_at);
