-- Lessons-learned reviews, incident timelines, the people directory, and verification of actions.
-- Keep in step with the other backend's migration of the same name.

CREATE TABLE reviews (
    id                TEXT PRIMARY KEY NOT NULL,
    incident_id       TEXT NOT NULL REFERENCES incidents (id) ON DELETE CASCADE,
    status            TEXT NOT NULL CHECK (status IN ('scheduled', 'held', 'completed')),
    scheduled_for     TIMESTAMP,
    held_at           TIMESTAMP,
    facilitator_email TEXT,
    scribe_email      TEXT,
    -- JSON array of {"email", "name", "role"}
    attendees         TEXT NOT NULL,
    agenda            TEXT,
    -- JSON object: question key -> answer
    answers           TEXT NOT NULL,
    created_at        TIMESTAMP NOT NULL,
    updated_at        TIMESTAMP NOT NULL,
    version           BIGINT NOT NULL,
    created_by        TEXT NOT NULL,
    updated_by        TEXT NOT NULL
);
CREATE INDEX reviews_incident ON reviews (incident_id, created_at, id);
-- The review reminder sweep starts from resolved incidents.
CREATE INDEX incidents_resolved ON incidents (resolved_at);

-- Where an action came from, and who checked that it really was done.
ALTER TABLE actions ADD COLUMN review_id TEXT REFERENCES reviews (id) ON DELETE SET NULL;
ALTER TABLE actions ADD COLUMN verified_at TIMESTAMP;
ALTER TABLE actions ADD COLUMN verified_by TEXT;
ALTER TABLE actions ADD COLUMN verification_evidence TEXT;
CREATE INDEX actions_review ON actions (review_id);
CREATE INDEX actions_status_verified ON actions (status, verified_at);

CREATE TABLE timeline_entries (
    id          TEXT PRIMARY KEY NOT NULL,
    incident_id TEXT NOT NULL REFERENCES incidents (id) ON DELETE CASCADE,
    occurred_at TIMESTAMP NOT NULL,
    description TEXT NOT NULL,
    source      TEXT,
    kind        TEXT NOT NULL CHECK (kind IN ('detection', 'analysis', 'containment', 'eradication', 'recovery',
                                          'communication', 'other')),
    created_at  TIMESTAMP NOT NULL,
    updated_at  TIMESTAMP NOT NULL,
    version     BIGINT NOT NULL,
    created_by  TEXT NOT NULL,
    updated_by  TEXT NOT NULL
);
CREATE INDEX timeline_entries_incident ON timeline_entries (incident_id, occurred_at, id);

-- The people directory: whom to escalate to, and in which time zone a person's day starts.
-- Addresses are stored lower-case, as on actions. `active` is 0 or 1 (no boolean type on both backends).
CREATE TABLE people (
    email         TEXT PRIMARY KEY NOT NULL,
    name          TEXT,
    manager_email TEXT,
    timezone      TEXT,
    active        SMALLINT NOT NULL CHECK (active IN (0, 1)),
    created_at    TIMESTAMP NOT NULL,
    updated_at    TIMESTAMP NOT NULL,
    version       BIGINT NOT NULL,
    created_by    TEXT NOT NULL,
    updated_by    TEXT NOT NULL
);
CREATE INDEX people_active ON people (active, email);

-- Reminders about a lessons-learned review that is not held yet, once per (incident, kind, period).
CREATE TABLE review_reminders (
    id          TEXT PRIMARY KEY NOT NULL,
    incident_id TEXT NOT NULL REFERENCES incidents (id) ON DELETE CASCADE,
    kind        TEXT NOT NULL CHECK (kind IN ('due_soon', 'overdue')),
    period      TEXT NOT NULL,
    recipient   TEXT NOT NULL,
    delivery_id TEXT NOT NULL REFERENCES deliveries (id),
    created_at  TIMESTAMP NOT NULL,
    UNIQUE (incident_id, kind, period)
);
CREATE INDEX review_reminders_delivery ON review_reminders (delivery_id);

-- The history now also covers reviews, timeline entries and people, and records verifications.
-- SQLite cannot change a CHECK constraint in place, so the table is rebuilt with its rows.
CREATE TABLE events_new (
    id          TEXT PRIMARY KEY NOT NULL,
    entity_type TEXT NOT NULL CHECK (entity_type IN ('incident', 'action', 'review', 'timeline_entry', 'person')),
    entity_id   TEXT NOT NULL,
    kind        TEXT NOT NULL CHECK (kind IN ('created', 'updated', 'deleted', 'commented', 'verified')),
    actor_sub   TEXT NOT NULL,
    actor_email TEXT,
    occurred_at TIMESTAMP NOT NULL,
    request_id  TEXT,
    -- JSON object: field -> {"old": …, "new": …}
    changes     TEXT NOT NULL,
    reason      TEXT
);
INSERT INTO events_new SELECT id, entity_type, entity_id, kind, actor_sub, actor_email, occurred_at, request_id,
                              changes, reason FROM events;
DROP TABLE events;
ALTER TABLE events_new RENAME TO events;
CREATE INDEX events_entity ON events (entity_type, entity_id, id);
