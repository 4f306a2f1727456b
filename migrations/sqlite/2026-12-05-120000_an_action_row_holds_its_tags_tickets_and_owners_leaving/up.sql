-- A GET by id reads one row: the action's tags, ticket links and whether its owner left are kept with
-- it, written in the same transaction as action_tags and action_refs (which stay, for the tag filter
-- and the ticket look-up) and as the directory entry. Tags as a JSON array of strings; tickets as a JSON
-- array of [system, key, url] arrays.
ALTER TABLE actions ADD COLUMN tags TEXT NOT NULL DEFAULT '[]';
ALTER TABLE actions ADD COLUMN external_refs TEXT NOT NULL DEFAULT '[]';
ALTER TABLE actions ADD COLUMN owner_inactive BOOLEAN NOT NULL DEFAULT 0;

UPDATE actions
SET tags = (SELECT json_group_array(tag) FROM (SELECT tag FROM action_tags t WHERE t.action_id = actions.id ORDER BY tag))
WHERE id IN (SELECT action_id FROM action_tags);

-- json_array inside the aggregate: a JSON value loses its type through a subquery and would be quoted.
UPDATE actions
SET external_refs = (
    SELECT json_group_array(json_array(system, key, url))
    FROM (SELECT system, key, url FROM action_refs r WHERE r.action_id = actions.id ORDER BY system, key)
)
WHERE id IN (SELECT action_id FROM action_refs);

UPDATE actions SET owner_inactive = 1 WHERE owner_email IN (SELECT email FROM people WHERE active = 0);
