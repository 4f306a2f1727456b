DELETE FROM events WHERE entity_type IN ('indicator', 'evidence', 'custody_entry', 'effort_entry');
ALTER TABLE events DROP CONSTRAINT events_entity_type_check;
ALTER TABLE events ADD CONSTRAINT events_entity_type_check
    CHECK (entity_type IN ('incident', 'action', 'review', 'timeline_entry', 'person'));
