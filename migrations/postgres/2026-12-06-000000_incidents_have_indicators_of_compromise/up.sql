-- Indicators of compromise, one row per value per incident. `value` is normalised for its type by the
-- service, so "have we seen this before?" is an exact match on indicators_value.
CREATE TABLE indicators (
    id          TEXT PRIMARY KEY NOT NULL,
    incident_id TEXT NOT NULL REFERENCES incidents (id) ON DELETE CASCADE,
    kind        TEXT NOT NULL CHECK (kind IN ('ipv4', 'ipv6', 'cidr', 'domain', 'url', 'email', 'md5', 'sha1', 'sha256',
                                          'file_name', 'registry_key', 'user_agent', 'cve')),
    value       TEXT NOT NULL CHECK (length(value) BETWEEN 1 AND 2048),
    tlp         TEXT NOT NULL CHECK (tlp IN ('clear', 'green', 'amber', 'amber+strict', 'red')),
    confidence  INTEGER CHECK (confidence BETWEEN 0 AND 100),
    first_seen  TIMESTAMP,
    last_seen   TIMESTAMP,
    source      TEXT,
    description TEXT,
    created_at  TIMESTAMP NOT NULL,
    updated_at  TIMESTAMP NOT NULL,
    version     BIGINT NOT NULL,
    created_by  TEXT NOT NULL,
    updated_by  TEXT NOT NULL,
    CHECK (first_seen IS NULL OR last_seen IS NULL OR first_seen <= last_seen)
);
-- One value once per incident; also serves an incident's list, in order of value.
CREATE UNIQUE INDEX indicators_incident_value ON indicators (incident_id, value);
-- GET /indicators?value=…: every incident that saw a value, newest first.
CREATE INDEX indicators_value ON indicators (value, id);
