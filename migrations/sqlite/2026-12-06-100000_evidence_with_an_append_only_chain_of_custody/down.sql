DELETE FROM events WHERE entity_type IN ('evidence', 'custody_entry');
DROP TRIGGER custody_entries_no_delete;
DROP TRIGGER custody_entries_no_update;
DROP TABLE custody_entries;
DROP TABLE evidence;
