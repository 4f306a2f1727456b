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
    sha256       TEXT CHECK (length(sha256) = 64 AND sha256 NOT GLOB '*[^0-9a-f]*'),
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
-- goes only with its incident (the cascade, which runs once the item's row is gone). A correction is a
-- new entry.
CREATE TRIGGER custody_entries_no_update BEFORE UPDATE ON custody_entries
BEGIN
    SELECT RAISE(ABORT, 'the chain of custody is append-only: UPDATE of a custody entry refused; record a correction as a new entry');
END;
CREATE TRIGGER custody_entries_no_delete BEFORE DELETE ON custody_entries
WHEN EXISTS (SELECT 1 FROM evidence WHERE id = OLD.evidence_id)
BEGIN
    SELECT RAISE(ABORT, 'the chain of custody is append-only: DELETE of a custody entry refused; record a correction as a new entry');
END;
