//! The reminder ladder: which reminders an action is due on a given day. Pure arithmetic on dates; the
//! sweep (`crate::reminders`) asks it, and the `reminders` table remembers what was already sent.

use chrono::{DateTime, Datelike, NaiveDate, Timelike, Weekday};
use chrono_tz::Tz;
use serde::Serialize;
use utoipa::ToSchema;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, ToSchema, strum::EnumString, strum::IntoStaticStr)]
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

#[derive(Debug, Clone)]
pub struct Ladder {
    pub due_soon_days: i64,
    pub repeat_days: i64,
    pub max_overdue: i64,
    pub escalate_after_days: i64,
    pub send_hour: u32,
    pub weekdays_only: bool,
    pub timezone: Tz,
}

impl Ladder {
    /// Reminders go out on business days (unless weekdays_only is off) from the send hour on, local time.
    pub fn may_send_at(&self, now: DateTime<chrono::Utc>) -> bool {
        let local = now.with_timezone(&self.timezone);
        let weekend = matches!(local.weekday(), Weekday::Sat | Weekday::Sun);
        local.hour() >= self.send_hour && !(self.weekdays_only && weekend)
    }

    pub fn today(&self, now: DateTime<chrono::Utc>) -> NaiveDate {
        now.with_timezone(&self.timezone).date_naive()
    }

    /// The rungs an active, unsnoozed action with `due_date` stands on `today`. Each rung is sent once;
    /// a rung missed while nothing was sent (a weekend, an outage) is not made up for, the current one is.
    pub fn rungs(&self, due_date: NaiveDate, today: NaiveDate, escalation_contact: bool) -> Vec<Rung> {
        let mut rungs = Vec::new();
        let days_left = (due_date - today).num_days();
        if (0..=self.due_soon_days).contains(&days_left) {
            rungs.push(Rung { kind: ReminderKind::DueSoon, period: "due_soon".into() });
        }
        let days_overdue = -days_left;
        if days_overdue >= 1 {
            let step = (days_overdue - 1) / self.repeat_days.max(1) + 1;
            if step <= self.max_overdue {
                rungs.push(Rung { kind: ReminderKind::Overdue, period: step.to_string() });
            }
        }
        if escalation_contact && self.escalate_after_days > 0 && days_overdue >= self.escalate_after_days {
            let step = days_overdue / self.escalate_after_days;
            if step <= self.max_overdue {
                rungs.push(Rung { kind: ReminderKind::Escalation, period: step.to_string() });
            }
        }
        rungs
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

    fn periods(rungs: &[Rung], kind: ReminderKind) -> Vec<String> {
        rungs.iter().filter(|r| r.kind == kind).map(|r| r.period.clone()).collect()
    }

    #[test]
    fn the_ladder_climbs_due_soon_then_every_third_day_overdue_then_escalation() {
        let due = date(10);
        assert!(ladder().rungs(due, date(6), true).is_empty(), "four days ahead is not soon");
        assert_eq!(periods(&ladder().rungs(due, date(7), true), ReminderKind::DueSoon), ["due_soon"]);
        assert_eq!(periods(&ladder().rungs(due, date(10), true), ReminderKind::DueSoon), ["due_soon"]);
        assert_eq!(periods(&ladder().rungs(due, date(11), true), ReminderKind::Overdue), ["1"]);
        assert_eq!(periods(&ladder().rungs(due, date(13), true), ReminderKind::Overdue), ["1"]);
        assert_eq!(periods(&ladder().rungs(due, date(14), true), ReminderKind::Overdue), ["2"]);
        assert!(periods(&ladder().rungs(due, date(16), true), ReminderKind::Escalation).is_empty());
        assert_eq!(periods(&ladder().rungs(due, date(17), true), ReminderKind::Escalation), ["1"]);
        assert_eq!(periods(&ladder().rungs(due, date(24), true), ReminderKind::Escalation), ["2"]);
        assert!(periods(&ladder().rungs(due, date(17), false), ReminderKind::Escalation).is_empty());
    }

    #[test]
    fn overdue_reminders_stop_at_the_maximum() {
        let due = date(1);
        let last = ladder().rungs(due, date(1) + chrono::Duration::days(28), false);
        assert_eq!(periods(&last, ReminderKind::Overdue), ["10"]);
        let beyond = ladder().rungs(due, date(1) + chrono::Duration::days(31), false);
        assert!(periods(&beyond, ReminderKind::Overdue).is_empty());
    }

    #[test]
    fn sending_waits_for_the_local_send_hour_on_a_weekday() {
        // 2026-03-09 is a Monday; 08:30 UTC is 09:30 in Berlin.
        assert!(ladder().may_send_at(chrono::Utc.with_ymd_and_hms(2026, 3, 9, 8, 30, 0).unwrap()));
        assert!(!ladder().may_send_at(chrono::Utc.with_ymd_and_hms(2026, 3, 9, 7, 30, 0).unwrap()));
        assert!(!ladder().may_send_at(chrono::Utc.with_ymd_and_hms(2026, 3, 7, 12, 0, 0).unwrap()), "Saturday");
        let any_day = Ladder { weekdays_only: false, ..ladder() };
        assert!(any_day.may_send_at(chrono::Utc.with_ymd_and_hms(2026, 3, 7, 12, 0, 0).unwrap()));
    }
}
