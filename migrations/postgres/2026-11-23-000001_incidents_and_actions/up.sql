-- Incidents and their corrective actions (PostgreSQL).
-- Ids are UUIDv7 text, timestamps are UTC, and every list filter and sort has an index.
-- Keep in step with migrations/sqlite: the same tables, columns and indexes.

-- Trigram indexes serve the substring search (`q`) on titles.
CREATE EXTENSION IF NOT EXISTS pg_trgm;

CREATE TABLE incidents (
    id            TEXT PRIMARY KEY NOT NULL,
    reference     TEXT UNIQUE,
    title         TEXT NOT NULL,
    summary       TEXT,
    severity      TEXT NOT NULL CHECK (severity IN ('low', 'medium', 'high', 'critical')),
    category      TEXT,
    status        TEXT NOT NULL CHECK (status IN ('open', 'contained', 'resolved', 'closed')),
    detected_at   TIMESTAMP,
    contained_at  TIMESTAMP,
    resolved_at   TIMESTAMP,
    discovered_by TEXT,
    created_at    TIMESTAMP NOT NULL,
    updated_at    TIMESTAMP NOT NULL,
    version       BIGINT NOT NULL
);
CREATE INDEX incidents_created ON incidents (created_at, id);
CREATE INDEX incidents_updated ON incidents (updated_at, id);
CREATE INDEX incidents_status_created ON incidents (status, created_at, id);
CREATE INDEX incidents_severity_created ON incidents (severity, created_at, id);
CREATE INDEX incidents_title_trgm ON incidents USING gin (lower(title) gin_trgm_ops);

-- The number behind the human key "ACT-<number>"; a sequence never hands out a number twice,
-- and replicas creating actions at once do not wait on each other.
CREATE SEQUENCE action_number_seq;

CREATE TABLE actions (
    id           TEXT PRIMARY KEY NOT NULL,
    number       BIGINT NOT NULL UNIQUE,
    incident_id  TEXT NOT NULL REFERENCES incidents (id) ON DELETE RESTRICT,
    title        TEXT NOT NULL,
    description  TEXT,
    owner_email  TEXT NOT NULL,
    owner_name   TEXT,
    team         TEXT,
    due_date     DATE NOT NULL,
    -- 1 = critical, 2 = high, 3 = medium, 4 = low, so that sorting by priority is sorting by number.
    priority     SMALLINT NOT NULL CHECK (priority BETWEEN 1 AND 4),
    category     TEXT NOT NULL CHECK (category IN ('prevention', 'detection', 'response', 'process',
                                                   'training', 'tooling', 'communication', 'other')),
    status       TEXT NOT NULL CHECK (status IN ('open', 'in_progress', 'blocked', 'done', 'cancelled')),
    resolution   TEXT,
    completed_at TIMESTAMP,
    created_at   TIMESTAMP NOT NULL,
    updated_at   TIMESTAMP NOT NULL,
    version      BIGINT NOT NULL
);
CREATE INDEX actions_created ON actions (created_at, id);
CREATE INDEX actions_updated ON actions (updated_at, id);
CREATE INDEX actions_due ON actions (due_date, id);
CREATE INDEX actions_priority ON actions (priority, id);
CREATE INDEX actions_incident_created ON actions (incident_id, created_at, id);
CREATE INDEX actions_owner_status_due ON actions (owner_email, status, due_date);
CREATE INDEX actions_status_due ON actions (status, due_date);
CREATE INDEX actions_category_created ON actions (category, created_at, id);
CREATE INDEX actions_title_trgm ON actions USING gin (lower(title) gin_trgm_ops);

CREATE TABLE action_tags (
    action_id TEXT NOT NULL REFERENCES actions (id) ON DELETE CASCADE,
    tag       TEXT NOT NULL,
    PRIMARY KEY (action_id, tag)
);
CREATE INDEX action_tags_tag ON action_tags (tag, action_id);
