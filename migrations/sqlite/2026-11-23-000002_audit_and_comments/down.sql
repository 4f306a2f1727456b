DROP TABLE comments;
DROP TABLE events;
ALTER TABLE actions DROP COLUMN updated_by;
ALTER TABLE actions DROP COLUMN created_by;
ALTER TABLE incidents DROP COLUMN updated_by;
ALTER TABLE incidents DROP COLUMN created_by;
