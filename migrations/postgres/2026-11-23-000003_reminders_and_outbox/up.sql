-- Reminders and the e-mail outbox. Keep in step with the other backend's migration of the same name.

-- No reminders for a snoozed action until this date; its due date does not move.
ALTER TABLE actions ADD COLUMN snoozed_until DATE;

-- Outgoing e-mail. A row is written in the same transaction as the decision to send it, and is only
-- marked sent after the SMTP server accepted it; a sender claims rows with a lease, so a crashed
-- sender's claim is taken over when the lease runs out.
CREATE TABLE deliveries (
    id              TEXT PRIMARY KEY NOT NULL,
    recipient       TEXT NOT NULL,
    subject         TEXT NOT NULL,
    text_body       TEXT NOT NULL,
    html_body       TEXT NOT NULL,
    message_id      TEXT NOT NULL,
    status          TEXT NOT NULL CHECK (status IN ('pending', 'sending', 'sent', 'failed')),
    attempts        INTEGER NOT NULL,
    next_attempt_at TIMESTAMP NOT NULL,
    locked_until    TIMESTAMP,
    last_error      TEXT,
    created_at      TIMESTAMP NOT NULL,
    sent_at         TIMESTAMP
);
CREATE INDEX deliveries_due ON deliveries (status, next_attempt_at);
CREATE INDEX deliveries_created ON deliveries (created_at, id);

-- One row per reminder decided on. The unique key is what makes a reminder go out once per period,
-- whatever the number of sweeps, restarts or replicas.
CREATE TABLE reminders (
    id          TEXT PRIMARY KEY NOT NULL,
    action_id   TEXT NOT NULL REFERENCES actions (id) ON DELETE CASCADE,
    kind        TEXT NOT NULL CHECK (kind IN ('due_soon', 'overdue', 'escalation', 'manual')),
    period      TEXT NOT NULL,
    recipient   TEXT NOT NULL,
    delivery_id TEXT NOT NULL REFERENCES deliveries (id),
    created_at  TIMESTAMP NOT NULL,
    UNIQUE (action_id, kind, period)
);
CREATE INDEX reminders_delivery ON reminders (delivery_id);
