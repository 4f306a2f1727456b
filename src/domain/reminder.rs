//! The reminder ladder: which reminders an action is due on a given day. Pure arithmetic on dates; the
//! sweep (`crate::jobs::reminders`) asks it, and the `reminders` table remembers what was already sent.

use chrono::{DateTime, Datelike, NaiveDate, Timelike, Weekday};
use chrono_tz::Tz;
use serde::Serialize;
use utoipa::ToSchema;

#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    Serialize,
    ToSchema,
    strum::EnumString,
    strum::IntoStaticStr,
    strum::VariantArray,
)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
/// due_soon: the due date is near; overdue: it has passed; escalation: to the escalation contact;
/// manual: someone pressed "remind".
pub enum ReminderKind {
    DueSoon,
    Overdue,
    Escalation,
    Manual,
}

/// One rung of the ladder: `period` tells the rungs of one kind apart ("1", "2", … for overdue).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Rung {
    pub kind: ReminderKind,
    pub period: String,
}

impl Rung {
    /// This rung for an action due on `due`: the period names the due date ("2026-03-10/1"), so an action
    /// whose due date moves climbs the ladder again for the new date (a due-soon reminder, then overdue
    /// and escalations counted afresh) instead of staying silent once the old date's rungs were spent.
    pub fn of_due_date(self, due: NaiveDate) -> Self {
        Self { period: format!("{due}/{}", self.period), ..self }
    }

    /// The first overdue reminder (for its due date): when an action becomes overdue.
    pub fn is_first_overdue(&self) -> bool {
        self.kind == ReminderKind::Overdue && self.period.rsplit('/').next() == Some("1")
    }
}

/// The due date (`YYYY-MM-DD`) an action's reminder period was decided for; `None` for manual ones.
pub fn due_date_of(period: &str) -> Option<&str> {
    period.split_once('/').map(|(due, _)| due)
}

/// The time a sweep runs as (`as_of` of a dry run, `remind --as-of`): an RFC 3339 time in the years due
/// dates may have, 2000 to 2199. Beyond them the ladder's date arithmetic in the database reaches the
/// edges of what each backend's date functions handle, and the two answered differently (SQLite's
/// date() gives NULL past 9999, PostgreSQL computes on), so a sweep outside them is refused, not guessed.
pub fn parse_sweep_time(field: &str, raw: &str) -> Result<DateTime<chrono::Utc>, super::FieldError> {
    let time = super::time::parse_instant_text(field, raw)?;
    if !(2000..=2199).contains(&time.year()) {
        return Err(super::FieldError::new(
            field,
            "must be a time between 2000-01-01T00:00:00Z and 2199-12-31T23:59:59Z, the years due dates may have",
        ));
    }
    Ok(time)
}

#[derive(Debug, Clone)]
pub struct Ladder {
    pub due_soon_days: i64,
    pub repeat_days: i64,
    pub max_overdue: i64,
    pub escalate_after_days: i64,
    pub send_hour: u32,
    pub weekdays_only: bool,
    /// The server's TIMEZONE: the recipient's own, unless the people directory gives them one.
    pub timezone: Tz,
}

impl Ladder {
    /// Reminders go out on business days (unless weekdays_only is off) from the send hour on, in the
    /// recipient's local time.
    pub fn may_send_at(&self, now: DateTime<chrono::Utc>, timezone: Tz) -> bool {
        let local = now.with_timezone(&timezone);
        let weekend = matches!(local.weekday(), Weekday::Sat | Weekday::Sun);
        local.hour() >= self.send_hour && !(self.weekdays_only && weekend)
    }

    /// The recipient's local date.
    pub fn today(&self, now: DateTime<chrono::Utc>, timezone: Tz) -> NaiveDate {
        now.with_timezone(&timezone).date_naive()
    }

    /// The rungs an active, unsnoozed action with `due_date` is due on `today`, given what it was already
    /// sent. Due-soon goes once. Overdue reminders start the day after the due date and follow each other
    /// REPEAT days apart, counted from the last one actually sent, so a reminder held back by a weekend
    /// does not make the next one come a day later. Escalations work the same, ESCALATE days apart.
    pub fn rungs(&self, due_date: NaiveDate, today: NaiveDate, sent: &History, escalation_contact: bool) -> Vec<Rung> {
        let mut rungs = Vec::new();
        let days_left = (due_date - today).num_days();
        if (0..=self.due_soon_days).contains(&days_left) && sent.due_soon.count == 0 {
            rungs.push(Rung { kind: ReminderKind::DueSoon, period: "due_soon".into() });
        }
        let days_overdue = -days_left;
        if days_overdue >= 1 && sent.overdue.is_due(today, self.repeat_days, self.max_overdue) {
            rungs.push(Rung { kind: ReminderKind::Overdue, period: (sent.overdue.count + 1).to_string() });
        }
        if escalation_contact
            && self.escalate_after_days > 0
            && days_overdue >= self.escalate_after_days
            && sent.escalation.is_due(today, self.escalate_after_days, self.max_overdue)
        {
            rungs.push(Rung { kind: ReminderKind::Escalation, period: (sent.escalation.count + 1).to_string() });
        }
        rungs
    }
}

/// What one action was already sent, per kind.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct History {
    pub due_soon: Sent,
    pub overdue: Sent,
    pub escalation: Sent,
}

/// How many reminders of one kind an action had, and the (local) day of the last one.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Sent {
    pub count: i64,
    pub last: Option<NaiveDate>,
}

impl Sent {
    fn is_due(&self, today: NaiveDate, every_days: i64, at_most: i64) -> bool {
        let rested = self.last.is_none_or(|last| (today - last).num_days() >= every_days.max(1));
        self.count < at_most && rested
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn ladder() -> Ladder {
        Ladder {
            due_soon_days: 3,
            repeat_days: 3,
            max_overdue: 10,
            escalate_after_days: 7,
            send_hour: 9,
            weekdays_only: true,
            timezone: chrono_tz::Europe::Berlin,
        }
    }

    fn date(day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 3, day).unwrap()
    }

    /// Walks the calendar like the sweep does, one weekday sweep a day, and returns what went out when.
    fn walk(due: NaiveDate, from: NaiveDate, days: i64, contact: bool) -> Vec<(NaiveDate, ReminderKind, String)> {
        let mut history = History::default();
        let mut sent = Vec::new();
        for offset in 0..days {
            let today = from + chrono::Duration::days(offset);
            if matches!(today.weekday(), Weekday::Sat | Weekday::Sun) {
                continue;
            }
            for rung in ladder().rungs(due, today, &history, contact) {
                let slot = match rung.kind {
                    ReminderKind::DueSoon => &mut history.due_soon,
                    ReminderKind::Overdue => &mut history.overdue,
                    _ => &mut history.escalation,
                };
                slot.count += 1;
                slot.last = Some(today);
                sent.push((today, rung.kind, rung.period));
            }
        }
        sent
    }

    #[test]
    fn a_month_of_reminders_for_one_action() {
        // Due Tuesday 2026-03-10.
        let sent = walk(date(10), date(1), 31, true);
        let expected = [
            (9, ReminderKind::DueSoon, "due_soon"),
            (11, ReminderKind::Overdue, "1"),
            (16, ReminderKind::Overdue, "2"),
            (17, ReminderKind::Escalation, "1"),
            (19, ReminderKind::Overdue, "3"),
            (23, ReminderKind::Overdue, "4"),
            (24, ReminderKind::Escalation, "2"),
            (26, ReminderKind::Overdue, "5"),
            (30, ReminderKind::Overdue, "6"),
            (31, ReminderKind::Escalation, "3"),
        ];
        let expected: Vec<_> = expected.iter().map(|(d, k, p)| (date(*d), *k, p.to_string())).collect();
        assert_eq!(sent, expected);
    }

    #[test]
    fn no_escalation_without_a_contact_and_overdue_reminders_stop_at_the_maximum() {
        let sent = walk(date(1), date(1), 120, false);
        assert!(sent.iter().all(|(_, kind, _)| *kind != ReminderKind::Escalation));
        let overdue = sent.iter().filter(|(_, kind, _)| *kind == ReminderKind::Overdue).count();
        assert_eq!(overdue, 10);
    }

    #[test]
    fn sending_waits_for_the_local_send_hour_on_a_weekday() {
        // 2026-03-09 is a Monday; 08:30 UTC is 09:30 in Berlin.
        let berlin = chrono_tz::Europe::Berlin;
        assert!(ladder().may_send_at(chrono::Utc.with_ymd_and_hms(2026, 3, 9, 8, 30, 0).unwrap(), berlin));
        assert!(!ladder().may_send_at(chrono::Utc.with_ymd_and_hms(2026, 3, 9, 7, 30, 0).unwrap(), berlin));
        assert!(!ladder().may_send_at(chrono::Utc.with_ymd_and_hms(2026, 3, 7, 12, 0, 0).unwrap(), berlin), "Saturday");
        let any_day = Ladder { weekdays_only: false, ..ladder() };
        assert!(any_day.may_send_at(chrono::Utc.with_ymd_and_hms(2026, 3, 7, 12, 0, 0).unwrap(), berlin));
        // 20:00 UTC on a Monday is already 09:00 on Tuesday in Auckland, and still 12:00 Monday in Los Angeles.
        let evening = chrono::Utc.with_ymd_and_hms(2026, 3, 9, 20, 0, 0).unwrap();
        assert!(ladder().may_send_at(evening, chrono_tz::Pacific::Auckland));
        assert_eq!(ladder().today(evening, chrono_tz::Pacific::Auckland), date(10));
        assert_eq!(ladder().today(evening, chrono_tz::America::Los_Angeles), date(9));
    }
}
