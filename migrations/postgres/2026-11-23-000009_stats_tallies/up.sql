-- Unfiltered /stats at a million actions cannot scan them per request. Instead each change to an
-- action appends what the action counted for before (n = -1) and after (n = +1) to
-- action_tally_changes, in the writer's own transaction. Appending makes concurrent writers wait on
-- nothing, unlike counters updated in place. Background work folds the changes into the small tallies
-- below; a reader adds the tallies and the changes not folded yet.
CREATE TABLE action_tally_changes (
    id            BIGSERIAL PRIMARY KEY,
    status        TEXT NOT NULL,
    priority      SMALLINT NOT NULL,
    category      TEXT NOT NULL,
    due_date      DATE NOT NULL,
    owner_email   TEXT NOT NULL,
    -- 1 when done no later than the due date.
    on_time       SMALLINT NOT NULL,
    -- Whole seconds from creation to done; NULL unless done.
    close_seconds BIGINT,
    n             BIGINT NOT NULL
);

CREATE TABLE action_tallies_by_due (
    status   TEXT NOT NULL,
    due_date DATE NOT NULL,
    on_time  SMALLINT NOT NULL,
    n        BIGINT NOT NULL,
    PRIMARY KEY (status, due_date, on_time)
);

CREATE TABLE action_tallies_by_kind (
    status   TEXT NOT NULL,
    priority SMALLINT NOT NULL,
    category TEXT NOT NULL,
    n        BIGINT NOT NULL,
    PRIMARY KEY (status, priority, category)
);

-- Done actions by time to close, truncated (see db::tallies::close_bucket) so the table stays small.
CREATE TABLE action_tallies_by_close (
    close_bucket BIGINT PRIMARY KEY NOT NULL,
    n            BIGINT NOT NULL
);

-- Per owner: open work, and open work due before tally_state.as_of. "Overdue today" is that plus the
-- few actions due between as_of and today, so the day rolling over changes nothing stored.
CREATE TABLE owner_tallies (
    owner_email TEXT PRIMARY KEY NOT NULL,
    open        BIGINT NOT NULL,
    overdue     BIGINT NOT NULL
);

-- One row. as_of NULL means the tallies are not built yet: /stats counts the actions themselves until
-- background work (or `seed`) builds them. A database with actions already in it starts that way.
CREATE TABLE tally_state (
    id    SMALLINT PRIMARY KEY NOT NULL CHECK (id = 1),
    as_of DATE
);
INSERT INTO tally_state (id, as_of) SELECT 1, CASE WHEN EXISTS (SELECT 1 FROM actions) THEN NULL ELSE CURRENT_DATE END;

CREATE FUNCTION action_on_time(status TEXT, completed_at TIMESTAMP, due_date DATE) RETURNS SMALLINT
    LANGUAGE sql IMMUTABLE AS
$$ SELECT CASE WHEN status = 'done' AND CAST(completed_at AS DATE) <= due_date THEN 1 ELSE 0 END::smallint $$;

CREATE FUNCTION action_close_seconds(status TEXT, created_at TIMESTAMP, completed_at TIMESTAMP) RETURNS BIGINT
    LANGUAGE sql IMMUTABLE AS
$$ SELECT CASE WHEN status = 'done' AND completed_at IS NOT NULL
               THEN round(EXTRACT(EPOCH FROM (completed_at - created_at)))::bigint END $$;

-- What each action counts for, as the tallies see it (also how they are rebuilt).
CREATE VIEW action_tally_rows AS
    SELECT status, priority, category, due_date, owner_email,
           action_on_time(status, completed_at, due_date) AS on_time,
           action_close_seconds(status, created_at, completed_at) AS close_seconds
    FROM actions;

-- Statement-level triggers: a bulk insert of a thousand actions appends its changes in one statement.
CREATE FUNCTION actions_tally_inserted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO action_tally_changes (status, priority, category, due_date, owner_email, on_time, close_seconds, n)
    SELECT status, priority, category, due_date, owner_email,
           action_on_time(status, completed_at, due_date), action_close_seconds(status, created_at, completed_at), 1
    FROM new_rows;
    RETURN NULL;
END $$;

CREATE FUNCTION actions_tally_deleted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO action_tally_changes (status, priority, category, due_date, owner_email, on_time, close_seconds, n)
    SELECT status, priority, category, due_date, owner_email,
           action_on_time(status, completed_at, due_date), action_close_seconds(status, created_at, completed_at), -1
    FROM old_rows;
    RETURN NULL;
END $$;

-- Only rows whose counted columns changed; most updates (title, version, snoozing) append nothing.
CREATE FUNCTION actions_tally_updated() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    WITH changed AS (
        SELECT o.status AS old_status, o.priority AS old_priority, o.category AS old_category,
               o.due_date AS old_due_date, o.owner_email AS old_owner_email,
               action_on_time(o.status, o.completed_at, o.due_date) AS old_on_time,
               action_close_seconds(o.status, o.created_at, o.completed_at) AS old_close_seconds,
               n.status, n.priority, n.category, n.due_date, n.owner_email,
               action_on_time(n.status, n.completed_at, n.due_date) AS on_time,
               action_close_seconds(n.status, n.created_at, n.completed_at) AS close_seconds
        FROM old_rows o JOIN new_rows n ON n.id = o.id
        WHERE (o.status, o.priority, o.category, o.due_date, o.owner_email, o.completed_at, o.created_at)
              IS DISTINCT FROM (n.status, n.priority, n.category, n.due_date, n.owner_email, n.completed_at, n.created_at)
    )
    INSERT INTO action_tally_changes (status, priority, category, due_date, owner_email, on_time, close_seconds, n)
    SELECT old_status, old_priority, old_category, old_due_date, old_owner_email, old_on_time, old_close_seconds, -1
    FROM changed
    UNION ALL
    SELECT status, priority, category, due_date, owner_email, on_time, close_seconds, 1 FROM changed;
    RETURN NULL;
END $$;

CREATE TRIGGER actions_tally_insert AFTER INSERT ON actions
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION actions_tally_inserted();
CREATE TRIGGER actions_tally_delete AFTER DELETE ON actions
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION actions_tally_deleted();
CREATE TRIGGER actions_tally_update AFTER UPDATE ON actions
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION actions_tally_updated();
