DELETE FROM events WHERE entity_type IN ('review', 'timeline_entry', 'person') OR kind = 'verified';
CREATE TABLE events_old (
    id          TEXT PRIMARY KEY NOT NULL,
    entity_type TEXT NOT NULL CHECK (entity_type IN ('incident', 'action')),
    entity_id   TEXT NOT NULL,
    kind        TEXT NOT NULL CHECK (kind IN ('created', 'updated', 'deleted', 'commented')),
    actor_sub   TEXT NOT NULL,
    actor_email TEXT,
    occurred_at TIMESTAMP NOT NULL,
    request_id  TEXT,
    changes     TEXT NOT NULL,
    reason      TEXT
);
INSERT INTO events_old SELECT * FROM events;
DROP TABLE events;
ALTER TABLE events_old RENAME TO events;
CREATE INDEX events_entity ON events (entity_type, entity_id, id);
DROP TABLE review_reminders;
DROP TABLE people;
DROP TABLE timeline_entries;
DROP INDEX actions_status_verified;
DROP INDEX actions_review;
ALTER TABLE actions DROP COLUMN verification_evidence;
ALTER TABLE actions DROP COLUMN verified_by;
ALTER TABLE actions DROP COLUMN verified_at;
ALTER TABLE actions DROP COLUMN review_id;
DROP INDEX incidents_resolved;
DROP TABLE reviews;
