-- The custody log's entries go only when their item does; without this, deleting the item itself would
-- erase its whole log. An item goes only with its incident (the cascade, which runs once the incident's
-- row is gone). Keep in step with the other backend's migration of the same name.
CREATE TRIGGER evidence_goes_only_with_its_incident BEFORE DELETE ON evidence
WHEN EXISTS (SELECT 1 FROM incidents WHERE id = OLD.incident_id)
BEGIN
    SELECT RAISE(ABORT, 'evidence goes only with its incident: DELETE of an item of evidence refused');
END;
