ALTER TABLE actions DROP COLUMN tags;
ALTER TABLE actions DROP COLUMN external_refs;
ALTER TABLE actions DROP COLUMN owner_inactive;
