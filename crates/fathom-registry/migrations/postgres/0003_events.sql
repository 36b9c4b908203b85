-- Registry events (the outbox) and their delivery to webhooks.

-- One row per registry change, written in the same transaction as the
-- change. kind: version_registered | alias_moved | promotion_refused |
-- rollback | alias_removed | version_archived.
CREATE TABLE registry_events (
    id       BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at       BIGINT  NOT NULL,
    kind     TEXT    NOT NULL,
    model    TEXT    NOT NULL,
    version  BIGINT,
    alias    TEXT,
    audit_id BIGINT  REFERENCES audit_log (id),
    payload  TEXT    NOT NULL
);
CREATE INDEX registry_events_by_model ON registry_events (model, id);

-- Each webhook fathom has seen in a configuration: it receives the events
-- recorded after it was first seen. scanned_to: the highest event id
-- already matched against its filter.
CREATE TABLE webhooks (
    id         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    url        TEXT    NOT NULL UNIQUE,
    first_seen BIGINT  NOT NULL,
    scanned_to BIGINT  NOT NULL
);

-- One row per (event, webhook): pending until delivered, or failed after
-- the last attempt.
CREATE TABLE event_deliveries (
    event_id        BIGINT  NOT NULL REFERENCES registry_events (id),
    webhook_id      BIGINT  NOT NULL REFERENCES webhooks (id),
    status          TEXT    NOT NULL CHECK (status IN ('pending', 'delivered', 'failed')),
    attempts        BIGINT  NOT NULL,
    next_attempt_at BIGINT  NOT NULL,
    last_attempt_at BIGINT,
    last_status     BIGINT,
    last_error      TEXT,
    delivered_at    BIGINT,
    PRIMARY KEY (event_id, webhook_id)
);
CREATE INDEX event_deliveries_due ON event_deliveries (status, next_attempt_at);
