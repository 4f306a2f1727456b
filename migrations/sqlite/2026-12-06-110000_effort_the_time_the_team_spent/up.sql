-- The time the team spent on an incident: per person (an address, stored lower-case) and phase, in whole
-- minutes of at most a week per entry. Keep in step with the other backend's migration of the same name.
CREATE TABLE effort_entries (
    id           TEXT PRIMARY KEY NOT NULL,
    incident_id  TEXT NOT NULL REFERENCES incidents (id) ON DELETE CASCADE,
    person       TEXT NOT NULL,
    phase        TEXT NOT NULL CHECK (phase IN ('detection', 'analysis', 'containment', 'eradication', 'recovery',
                                             'post_incident')),
    minutes      BIGINT NOT NULL CHECK (minutes BETWEEN 1 AND 10080),
    performed_on DATE,
    note         TEXT,
    created_at   TIMESTAMP NOT NULL,
    updated_at   TIMESTAMP NOT NULL,
    version      BIGINT NOT NULL,
    created_by   TEXT NOT NULL,
    updated_by   TEXT NOT NULL
);
-- An incident's entries in the order recorded (its list, its count, the report); with the minutes, the
-- sums per incident for the report and /stats read the index alone.
CREATE INDEX effort_entries_incident ON effort_entries (incident_id, created_at, id);
CREATE INDEX effort_entries_incident_minutes ON effort_entries (incident_id, minutes);
