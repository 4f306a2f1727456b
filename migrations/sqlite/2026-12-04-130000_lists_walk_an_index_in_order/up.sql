-- Every list of actions walks an index in its sort order from the cursor, never sorting its matches.
-- Keep in step with migrations/postgres.
--
-- Without an owner or an incident, a list walks (created_at, id), (updated_at, id), (due_date, id) or
-- (priority, id), which exist, checking the broad filters (status, overdue, priority, category, tag, due
-- dates, verified) on the way. A person's queue and an incident's actions are few among many: each is
-- found by its column and yields its rows in the sort order through one of these.
DROP INDEX actions_owner_status_due;
CREATE INDEX actions_owner_created ON actions (owner_email, created_at, id);
CREATE INDEX actions_owner_updated ON actions (owner_email, updated_at, id);
-- Also the reminder sweep's: an owner's actions due by the horizon.
CREATE INDEX actions_owner_due ON actions (owner_email, due_date, id);
CREATE INDEX actions_owner_priority ON actions (owner_email, priority, id);
-- actions_incident_created (incident_id, created_at, id) serves the default sort already.
CREATE INDEX actions_incident_updated ON actions (incident_id, updated_at, id);
CREATE INDEX actions_incident_due ON actions (incident_id, due_date, id);
CREATE INDEX actions_incident_priority ON actions (incident_id, priority, id);
-- Category, and status with verification, are broad filters, checked along the walk: nothing looks
-- actions up by them any more.
DROP INDEX actions_category_created;
DROP INDEX actions_status_verified;
