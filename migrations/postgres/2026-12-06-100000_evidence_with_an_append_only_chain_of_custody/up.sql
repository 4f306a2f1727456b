-- An incident's evidence: where each item is stored (a URI, never the file itself), its SHA-256, who
-- collected it and when, and its chain of custody, which is only ever appended to.
-- Keep in step with the other backend's migration of the same name.
CREATE TABLE evidence (
    id           TEXT PRIMARY KEY NOT NULL,
    incident_id  TEXT NOT NULL REFERENCES incidents (id) ON DELETE CASCADE,
    description  TEXT NOT NULL,
    kind         TEXT NOT NULL CHECK (kind IN ('disk_image', 'memory_image', 'log', 'network_capture', 'file', 'email',
                                           'screenshot', 'document', 'cloud_export', 'other')),
    location     TEXT NOT NULL,
    -- Lower-case hex, as the service stores it.
    sha256       TEXT CHECK (sha256 ~ '^[0-9a-f]{64}$'),
    collected_by TEXT NOT NULL,
    collected_at TIMESTAMP NOT NULL,
    created_at   TIMESTAMP NOT NULL,
    updated_at   TIMESTAMP NOT NULL,
    version      BIGINT NOT NULL,
    created_by   TEXT NOT NULL,
    updated_by   TEXT NOT NULL
);
-- An incident's evidence in the order it was collected (its list, its count, the report).
CREATE INDEX evidence_incident ON evidence (incident_id, collected_at, id);

-- One hand-over each; the first is the collection (from nobody to the collector).
CREATE TABLE custody_entries (
    id             TEXT PRIMARY KEY NOT NULL,
    evidence_id    TEXT NOT NULL REFERENCES evidence (id) ON DELETE CASCADE,
    from_holder    TEXT,
    to_holder      TEXT NOT NULL,
    transferred_at TIMESTAMP NOT NULL,
    purpose        TEXT NOT NULL,
    recorded_at    TIMESTAMP NOT NULL,
    recorded_by    TEXT NOT NULL
);
-- An item's log in order (and its count), and the logs of an incident's items read together.
CREATE INDEX custody_entries_evidence ON custody_entries (evidence_id, transferred_at, id);

-- A chain of custody is evidence in court only if nobody could have rewritten it: the database itself
-- refuses to change or remove an entry, whoever asks. An entry goes only with its item of evidence, which
-- goes only with its incident (the cascade, when the item's row is already gone). A correction is a new
-- entry.
CREATE FUNCTION custody_entries_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' AND NOT EXISTS (SELECT 1 FROM evidence WHERE id = OLD.evidence_id) THEN
        RETURN OLD;
    END IF;
    RAISE EXCEPTION 'the chain of custody is append-only: % of a custody entry refused; record a correction as a new entry', TG_OP
        USING ERRCODE = 'restrict_violation';
END $$;
CREATE TRIGGER custody_entries_append_only BEFORE UPDATE OR DELETE ON custody_entries
    FOR EACH ROW EXECUTE FUNCTION custody_entries_append_only();
-- TRUNCATE fires no row triggers; it would empty every log at once.
CREATE TRIGGER custody_entries_no_truncate BEFORE TRUNCATE ON custody_entries
    FOR EACH STATEMENT EXECUTE FUNCTION custody_entries_append_only();
