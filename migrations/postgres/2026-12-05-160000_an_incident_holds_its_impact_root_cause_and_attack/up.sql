-- The incident's impact, root cause and attack (the report's impact assessment, root cause analysis and
-- incident details). What reports and statistics will add up (downtime, cost, the root cause's category) has
-- a column of its own; lists and the notification are JSON written only by the service: affected_systems as
-- [{"name", "kind", "role"}], data_exposed and contributing_factors as strings, attack_techniques as
-- [{"id", "note"}], notification as {"regulator", "customers", "deadline"}. Cost in the currency's minor
-- units, never a float.
ALTER TABLE incidents
    ADD COLUMN business_impact TEXT,
    ADD COLUMN affected_systems TEXT NOT NULL DEFAULT '[]',
    ADD COLUMN data_exposed TEXT NOT NULL DEFAULT '[]',
    ADD COLUMN records_exposed BIGINT,
    ADD COLUMN downtime_minutes BIGINT,
    ADD COLUMN people_affected BIGINT,
    ADD COLUMN cost_minor_units BIGINT,
    ADD COLUMN cost_currency TEXT,
    ADD COLUMN notification TEXT,
    ADD COLUMN root_cause TEXT,
    ADD COLUMN root_cause_category TEXT,
    ADD COLUMN contributing_factors TEXT NOT NULL DEFAULT '[]',
    ADD COLUMN attack_vector TEXT,
    ADD COLUMN attack_techniques TEXT NOT NULL DEFAULT '[]';

ALTER TABLE incidents ADD CONSTRAINT incidents_cost_has_currency CHECK ((cost_minor_units IS NULL) = (cost_currency IS NULL));
