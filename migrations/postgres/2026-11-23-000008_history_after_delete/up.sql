-- The change feed filtered to one incident, action, review or timeline entry: the history of one that
-- was deleted, in commit order.
CREATE INDEX events_entity_seq ON events (entity_id, seq);
