DELETE FROM events WHERE entity_type = 'effort_entry';
DROP TABLE effort_entries;
