-- The reminder sweep goes recipient by recipient: a manager's round finds the people who report to them.
CREATE INDEX people_manager ON people (manager_email, email);
