ALTER TABLE actions DROP COLUMN tags, DROP COLUMN external_refs, DROP COLUMN owner_inactive;
