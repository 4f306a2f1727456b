-- A GET by id reads one row: the action's tags, ticket links and whether its owner left are kept with
-- it, written in the same transaction as action_tags and action_refs (which stay, for the tag filter
-- and the ticket look-up) and as the directory entry. Tags as a JSON array of strings; tickets as a JSON
-- array of [system, key, url] arrays.
ALTER TABLE actions
    ADD COLUMN tags TEXT NOT NULL DEFAULT '[]',
    ADD COLUMN external_refs TEXT NOT NULL DEFAULT '[]',
    ADD COLUMN owner_inactive BOOLEAN NOT NULL DEFAULT FALSE;

UPDATE actions a SET tags = t.tags
FROM (SELECT action_id, json_agg(tag ORDER BY tag)::text AS tags FROM action_tags GROUP BY action_id) t
WHERE t.action_id = a.id;

UPDATE actions a SET external_refs = r.refs
FROM (
    SELECT action_id, json_agg(json_build_array(system, key, url) ORDER BY system, key)::text AS refs
    FROM action_refs GROUP BY action_id
) r
WHERE r.action_id = a.id;

UPDATE actions SET owner_inactive = TRUE WHERE owner_email IN (SELECT email FROM people WHERE active = 0);
