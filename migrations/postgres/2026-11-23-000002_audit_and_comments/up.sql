-- Who did what: actors on incidents and actions, an append-only event history, and comments.
-- Keep in step with the other backend's migration of the same name.

ALTER TABLE incidents ADD COLUMN created_by TEXT NOT NULL DEFAULT '';
ALTER TABLE incidents ADD COLUMN updated_by TEXT NOT NULL DEFAULT '';
ALTER TABLE actions ADD COLUMN created_by TEXT NOT NULL DEFAULT '';
ALTER TABLE actions ADD COLUMN updated_by TEXT NOT NULL DEFAULT '';

-- One row per create, change, delete or comment, written in the same transaction as the change itself.
-- Rows are never updated or deleted, and outlive the incident or action they describe.
CREATE TABLE events (
    id          TEXT PRIMARY KEY NOT NULL,
    entity_type TEXT NOT NULL CHECK (entity_type IN ('incident', 'action')),
    entity_id   TEXT NOT NULL,
    kind        TEXT NOT NULL CHECK (kind IN ('created', 'updated', 'deleted', 'commented')),
    actor_sub   TEXT NOT NULL,
    actor_email TEXT,
    occurred_at TIMESTAMP NOT NULL,
    request_id  TEXT,
    -- JSON object: field -> {"old": …, "new": …}
    changes     TEXT NOT NULL,
    reason      TEXT
);
CREATE INDEX events_entity ON events (entity_type, entity_id, id);

CREATE TABLE comments (
    id           TEXT PRIMARY KEY NOT NULL,
    action_id    TEXT NOT NULL REFERENCES actions (id) ON DELETE CASCADE,
    author_sub   TEXT NOT NULL,
    author_email TEXT,
    author_name  TEXT,
    body         TEXT NOT NULL,
    created_at   TIMESTAMP NOT NULL
);
CREATE INDEX comments_action ON comments (action_id, id);
