DROP TABLE reminders;
DROP TABLE deliveries;
ALTER TABLE actions DROP COLUMN snoozed_until;
