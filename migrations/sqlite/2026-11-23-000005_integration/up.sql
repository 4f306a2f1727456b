-- Integration with ticketing systems and dashboards: the change feed's commit order, ticket references,
-- idempotent retries and webhooks. Keep in step with the other backend's migration of the same name.

-- The change feed's position: SQLite commits one writer at a time, so numbering at insert is commit order.
ALTER TABLE events ADD COLUMN seq BIGINT NOT NULL DEFAULT 0;
UPDATE events SET seq = (SELECT COUNT(*) FROM events AS earlier WHERE earlier.id <= events.id);
CREATE UNIQUE INDEX events_seq ON events (seq);

-- Tickets in other systems an action is linked to; one ticket links to at most one action.
CREATE TABLE action_refs (
    system    TEXT NOT NULL,
    key       TEXT NOT NULL,
    action_id TEXT NOT NULL REFERENCES actions (id) ON DELETE CASCADE,
    url       TEXT,
    PRIMARY KEY (system, key)
);
CREATE INDEX action_refs_action ON action_refs (action_id);

-- Idempotency-Key: the first response to a POST, replayed to retries with the same key for 24 hours.
-- `status` is null while the first request is still running; its lease says when a crashed one is given up.
CREATE TABLE idempotency_keys (
    principal        TEXT NOT NULL,
    key              TEXT NOT NULL,
    request_hash     TEXT NOT NULL,
    status           INTEGER,
    response_headers TEXT,
    response_body    TEXT,
    created_at       TIMESTAMP NOT NULL,
    locked_until     TIMESTAMP NOT NULL,
    PRIMARY KEY (principal, key)
);
CREATE INDEX idempotency_keys_created ON idempotency_keys (created_at);

-- Webhooks: where to POST which kinds of change. The secret signs each delivery, so it is kept as given.
CREATE TABLE webhooks (
    id          TEXT PRIMARY KEY NOT NULL,
    url         TEXT NOT NULL,
    secret      TEXT NOT NULL,
    -- JSON array of event types, e.g. ["action.created", "action.overdue"]
    events      TEXT NOT NULL,
    description TEXT,
    created_at  TIMESTAMP NOT NULL,
    created_by  TEXT NOT NULL
);
CREATE INDEX webhooks_created ON webhooks (created_at, id);

-- The webhook outbox: written in the same transaction as the change, sent by a background worker with
-- a lease, retried with backoff; the log the API shows.
CREATE TABLE webhook_deliveries (
    id               TEXT PRIMARY KEY NOT NULL,
    webhook_id       TEXT NOT NULL REFERENCES webhooks (id) ON DELETE CASCADE,
    event_type       TEXT NOT NULL,
    payload          TEXT NOT NULL,
    status           TEXT NOT NULL CHECK (status IN ('pending', 'sending', 'delivered', 'failed')),
    attempts         INTEGER NOT NULL,
    next_attempt_at  TIMESTAMP NOT NULL,
    locked_until     TIMESTAMP,
    last_status_code INTEGER,
    last_error       TEXT,
    created_at       TIMESTAMP NOT NULL,
    delivered_at     TIMESTAMP
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (status, next_attempt_at);
CREATE INDEX webhook_deliveries_webhook ON webhook_deliveries (webhook_id, id);

-- /stats?team= narrows by team.
CREATE INDEX actions_team ON actions (team);
