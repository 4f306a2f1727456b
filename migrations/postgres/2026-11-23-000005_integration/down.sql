DROP INDEX actions_team;
DROP TABLE webhook_deliveries;
DROP TABLE webhooks;
DROP TABLE idempotency_keys;
DROP TABLE action_refs;
DROP INDEX events_seq;
ALTER TABLE events DROP COLUMN seq;
