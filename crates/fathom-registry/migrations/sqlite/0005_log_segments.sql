-- Prediction-log files shipped to the artifact store by serving replicas,
-- so that monitoring reads the log of every replica. One row per Parquet
-- file of a compacted segment: (replica, seq) names the segment, kind
-- says which records it holds. Times are ms since 1970-01-01 (those of
-- the records), shipped_at UTC microseconds.
CREATE TABLE log_segments (
    replica     TEXT   NOT NULL,
    seq         BIGINT NOT NULL,
    kind        TEXT   NOT NULL CHECK (kind IN ('predictions', 'feedback')),
    uri         TEXT   NOT NULL,
    sha256      TEXT   NOT NULL,
    bytes       BIGINT NOT NULL,
    records     BIGINT NOT NULL,
    min_time_ms BIGINT NOT NULL,
    max_time_ms BIGINT NOT NULL,
    shipped_at  BIGINT NOT NULL,
    PRIMARY KEY (replica, seq, kind)
);
CREATE INDEX log_segments_by_time ON log_segments (max_time_ms);
