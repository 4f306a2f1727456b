-- The custody log's entries go only when their item does; without this, deleting the item itself would
-- erase its whole log. An item goes only with its incident (the cascade, which runs once the incident's
-- row is gone). Keep in step with the other backend's migration of the same name.
CREATE FUNCTION evidence_goes_only_with_its_incident() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' AND NOT EXISTS (SELECT 1 FROM incidents WHERE id = OLD.incident_id) THEN
        RETURN OLD;
    END IF;
    RAISE EXCEPTION 'evidence goes only with its incident: % of an item of evidence refused', TG_OP
        USING ERRCODE = 'restrict_violation';
END $$;
CREATE TRIGGER evidence_goes_only_with_its_incident BEFORE DELETE ON evidence
    FOR EACH ROW EXECUTE FUNCTION evidence_goes_only_with_its_incident();
CREATE TRIGGER evidence_no_truncate BEFORE TRUNCATE ON evidence
    FOR EACH STATEMENT EXECUTE FUNCTION evidence_goes_only_with_its_incident();
