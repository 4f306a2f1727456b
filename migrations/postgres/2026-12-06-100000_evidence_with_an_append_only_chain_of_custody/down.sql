DELETE FROM events WHERE entity_type IN ('evidence', 'custody_entry');
DROP TABLE custody_entries;
DROP FUNCTION custody_entries_append_only();
DROP TABLE evidence;
