DROP INDEX events_entity_seq;
