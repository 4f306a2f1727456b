-- Back to one ladder per action: keep the reminders of the current due date, forget earlier dates'.
DELETE FROM reminders
WHERE kind <> 'manual'
  AND substr(period, 1, 10) <> (SELECT to_char(actions.due_date, 'YYYY-MM-DD') FROM actions WHERE actions.id = reminders.action_id);
UPDATE reminders SET period = substr(period, 12) WHERE kind <> 'manual';
