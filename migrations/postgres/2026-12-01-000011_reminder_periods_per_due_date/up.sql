-- An action's reminder periods name the due date they were decided for ('2026-03-10/1'), so moving the
-- due date starts the ladder again. Reminders sent so far belong to the current due date: the ladder
-- goes on from where it was, as before. Keep in step with the other backend's migration of the same name.
UPDATE reminders
SET period = (SELECT to_char(actions.due_date, 'YYYY-MM-DD') FROM actions WHERE actions.id = reminders.action_id)
    || '/' || period
WHERE kind <> 'manual';
