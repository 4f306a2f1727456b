-- The history also covers an incident's indicators of compromise, its evidence with each entry of the
-- evidence's chain of custody, and the time the team spent on it. SQLite cannot change a CHECK
-- constraint in place, so the table is rebuilt with its rows and indexes.
CREATE TABLE events_new (
    id          TEXT PRIMARY KEY NOT NULL,
    entity_type TEXT NOT NULL CHECK (entity_type IN ('incident', 'action', 'review', 'timeline_entry', 'person', 'indicator', 'evidence',
                                          'custody_entry', 'effort_entry')),
    entity_id   TEXT NOT NULL,
    kind        TEXT NOT NULL CHECK (kind IN ('created', 'updated', 'deleted', 'commented', 'verified')),
    actor_sub   TEXT NOT NULL,
    actor_email TEXT,
    occurred_at TIMESTAMP NOT NULL,
    request_id  TEXT,
    -- JSON object: field -> {"old": …, "new": …}
    changes     TEXT NOT NULL,
    reason      TEXT,
    seq         BIGINT NOT NULL DEFAULT 0
);
INSERT INTO events_new (id, entity_type, entity_id, kind, actor_sub, actor_email, occurred_at, request_id, changes,
                        reason, seq)
    SELECT id, entity_type, entity_id, kind, actor_sub, actor_email, occurred_at, request_id, changes, reason, seq
    FROM events;
DROP TABLE events;
ALTER TABLE events_new RENAME TO events;
CREATE INDEX events_entity ON events (entity_type, entity_id, id);
CREATE UNIQUE INDEX events_seq ON events (seq);
CREATE INDEX events_entity_seq ON events (entity_id, seq);
