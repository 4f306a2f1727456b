-- The history also covers an incident's indicators of compromise, its evidence with each entry of the
-- evidence's chain of custody, and the time the team spent on it.
ALTER TABLE events DROP CONSTRAINT events_entity_type_check;
ALTER TABLE events ADD CONSTRAINT events_entity_type_check
    CHECK (entity_type IN ('incident', 'action', 'review', 'timeline_entry', 'person', 'indicator', 'evidence',
                           'custody_entry', 'effort_entry'));
