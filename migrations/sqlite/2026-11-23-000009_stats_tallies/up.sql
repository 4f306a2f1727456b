-- Unfiltered /stats at a million actions cannot scan them per request. Instead each change to an
-- action appends what the action counted for before (n = -1) and after (n = +1) to
-- action_tally_changes, in the writer's own transaction. Appending makes concurrent writers wait on
-- nothing, unlike counters updated in place. Background work folds the changes into the small tallies
-- below; a reader adds the tallies and the changes not folded yet.
CREATE TABLE action_tally_changes (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
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
INSERT INTO tally_state (id, as_of) SELECT 1, CASE WHEN EXISTS (SELECT 1 FROM actions) THEN NULL ELSE date('now') END;

-- What each action counts for, as the tallies see it (also how they are rebuilt). The triggers below
-- spell the same two expressions for OLD and NEW rows, as SQLite has no user-defined SQL functions.
CREATE VIEW action_tally_rows AS
    SELECT status, priority, category, due_date, owner_email,
           CASE WHEN a.status = 'done' AND date(a.completed_at) <= a.due_date THEN 1 ELSE 0 END AS on_time,
           CASE WHEN a.status = 'done' AND a.completed_at IS NOT NULL
                 THEN CAST(round((julianday(a.completed_at) - julianday(a.created_at)) * 86400.0) AS INTEGER) END AS close_seconds
    FROM actions a;

CREATE TRIGGER actions_tally_insert AFTER INSERT ON actions BEGIN
    INSERT INTO action_tally_changes (status, priority, category, due_date, owner_email, on_time, close_seconds, n)
    VALUES (NEW.status, NEW.priority, NEW.category, NEW.due_date, NEW.owner_email,
            CASE WHEN NEW.status = 'done' AND date(NEW.completed_at) <= NEW.due_date THEN 1 ELSE 0 END,
            CASE WHEN NEW.status = 'done' AND NEW.completed_at IS NOT NULL
                 THEN CAST(round((julianday(NEW.completed_at) - julianday(NEW.created_at)) * 86400.0) AS INTEGER) END,
            1);
END;

CREATE TRIGGER actions_tally_delete AFTER DELETE ON actions BEGIN
    INSERT INTO action_tally_changes (status, priority, category, due_date, owner_email, on_time, close_seconds, n)
    VALUES (OLD.status, OLD.priority, OLD.category, OLD.due_date, OLD.owner_email,
            CASE WHEN OLD.status = 'done' AND date(OLD.completed_at) <= OLD.due_date THEN 1 ELSE 0 END,
            CASE WHEN OLD.status = 'done' AND OLD.completed_at IS NOT NULL
                 THEN CAST(round((julianday(OLD.completed_at) - julianday(OLD.created_at)) * 86400.0) AS INTEGER) END,
            -1);
END;

-- Only rows whose counted columns changed; most updates (title, version, snoozing) append nothing.
CREATE TRIGGER actions_tally_update AFTER UPDATE ON actions
WHEN OLD.status IS NOT NEW.status OR OLD.priority IS NOT NEW.priority OR OLD.category IS NOT NEW.category
  OR OLD.due_date IS NOT NEW.due_date OR OLD.owner_email IS NOT NEW.owner_email
  OR OLD.completed_at IS NOT NEW.completed_at OR OLD.created_at IS NOT NEW.created_at
BEGIN
    INSERT INTO action_tally_changes (status, priority, category, due_date, owner_email, on_time, close_seconds, n)
    VALUES (OLD.status, OLD.priority, OLD.category, OLD.due_date, OLD.owner_email,
            CASE WHEN OLD.status = 'done' AND date(OLD.completed_at) <= OLD.due_date THEN 1 ELSE 0 END,
            CASE WHEN OLD.status = 'done' AND OLD.completed_at IS NOT NULL
                 THEN CAST(round((julianday(OLD.completed_at) - julianday(OLD.created_at)) * 86400.0) AS INTEGER) END,
            -1);
    INSERT INTO action_tally_changes (status, priority, category, due_date, owner_email, on_time, close_seconds, n)
    VALUES (NEW.status, NEW.priority, NEW.category, NEW.due_date, NEW.owner_email,
            CASE WHEN NEW.status = 'done' AND date(NEW.completed_at) <= NEW.due_date THEN 1 ELSE 0 END,
            CASE WHEN NEW.status = 'done' AND NEW.completed_at IS NOT NULL
                 THEN CAST(round((julianday(NEW.completed_at) - julianday(NEW.created_at)) * 86400.0) AS INTEGER) END,
            1);
END;
