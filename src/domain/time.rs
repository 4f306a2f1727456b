//! Instants and dates given by clients, read strictly: a date is `YYYY-MM-DD` and nothing else, an
//! instant is an RFC 3339 `date-time` (`2026-11-01T08:15:00Z`, `…+02:00`), the formats the OpenAPI spec
//! states. chrono alone would also take `2026-1-1` or a space for the `T`, which a client's own
//! validator refuses, so the same value would be valid here and invalid there.
//!
//! Each one is also held to four-digit years, the range RFC 3339 writes: chrono reads years far outside
//! what PostgreSQL stores (4713 BC onwards) and what every time zone can shift without overflow.
//!
//! The same parsers serve bodies, query parameters, cursors and the command line.

use chrono::{DateTime, Datelike, NaiveDate, SubsecRound, Utc};

use super::FieldError;

const YEARS: std::ops::RangeInclusive<i32> = 1..=9999;

/// An instant already read, held to 0001–9999 and to the precision both databases store
/// (microseconds), so that what we return equals what we read back later.
pub fn parse_instant(field: &str, time: DateTime<Utc>) -> Result<DateTime<Utc>, FieldError> {
    if YEARS.contains(&time.year()) {
        Ok(time.trunc_subsecs(6))
    } else {
        Err(FieldError::new(field, "must be a time between 0001-01-01T00:00:00Z and 9999-12-31T23:59:59Z"))
    }
}

/// An RFC 3339 `date-time`: `T` between date and time (a space, which chrono also takes, is not RFC
/// 3339's `date-time`), and an offset (`Z` or `±hh:mm`).
pub fn parse_instant_text(field: &str, raw: &str) -> Result<DateTime<Utc>, FieldError> {
    let invalid = || FieldError::new(field, "must be an RFC 3339 time such as 2026-11-01T08:15:00Z");
    // RFC 3339 is ASCII; chrono would also take a Unicode minus sign (U+2212) in the offset.
    if !raw.is_ascii() || !matches!(raw.as_bytes().get(10), Some(b'T' | b't')) {
        return Err(invalid());
    }
    // The date part is read by the date rules first, so that 2026-02-30T… says what is wrong with it.
    parse_calendar_date_text(field, &raw[..10])?;
    let time = DateTime::parse_from_rfc3339(raw).map_err(|_| invalid())?;
    parse_instant(field, time.with_timezone(&Utc))
}

/// A date already read, held to 0001–9999: stored dates compare as text on SQLite.
pub fn parse_calendar_date(field: &str, date: NaiveDate) -> Result<NaiveDate, FieldError> {
    if YEARS.contains(&date.year()) {
        Ok(date)
    } else {
        Err(FieldError::new(field, "must be a date between 0001-01-01 and 9999-12-31"))
    }
}

/// A `YYYY-MM-DD` date (RFC 3339 `full-date`): four, two and two digits, and a day the calendar has.
pub fn parse_calendar_date_text(field: &str, raw: &str) -> Result<NaiveDate, FieldError> {
    let bytes = raw.as_bytes();
    let shaped = bytes.len() == 10
        && bytes.iter().enumerate().all(|(i, b)| if i == 4 || i == 7 { *b == b'-' } else { b.is_ascii_digit() });
    if !shaped {
        return Err(FieldError::new(field, "must be a date written YYYY-MM-DD, such as 2026-12-31"));
    }
    let number = |range: std::ops::Range<usize>| raw[range].parse::<u32>().unwrap_or_default();
    let (year, month, day) = (number(0..4), number(5..7), number(8..10));
    let date = i32::try_from(year).ok().and_then(|year| NaiveDate::from_ymd_opt(year, month, day));
    let date = date.ok_or_else(|| FieldError::new(field, format!("{raw} is not a calendar date")))?;
    parse_calendar_date(field, date)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_and_dates_outside_four_digit_years_are_refused() {
        assert!(parse_instant_text("t", "-5000-01-01T00:00:00Z").is_err());
        assert!(parse_instant_text("t", "+10000-01-01T00:00:00Z").is_err());
        assert!(parse_calendar_date_text("d", "-5000-01-01").is_err());
        assert!(parse_calendar_date_text("d", "+10000-01-01").is_err());
        assert!(parse_calendar_date_text("d", "0000-01-01").is_err());
        let kept = parse_instant_text("t", "2026-11-01T10:00:00.123456789+02:00").unwrap();
        assert_eq!(kept.to_rfc3339(), "2026-11-01T08:00:00.123456+00:00");
        assert_eq!(parse_calendar_date_text("d", "9999-12-31").unwrap().year(), 9999);
    }

    #[test]
    fn dates_are_yyyy_mm_dd_only_and_say_when_the_calendar_has_no_such_day() {
        for loose in ["2026-1-1", "2026-01-1", "26-01-01", "2026/01/01", "2026-01-01 ", " 2026-01-01", "20260101"] {
            let error = parse_calendar_date_text("due_date", loose).unwrap_err();
            assert_eq!(error.message, "must be a date written YYYY-MM-DD, such as 2026-12-31", "{loose:?}");
        }
        let error = parse_calendar_date_text("due_date", "2026-02-30").unwrap_err();
        assert_eq!(error.message, "2026-02-30 is not a calendar date");
        assert!(parse_calendar_date_text("due_date", "2026-13-01").is_err());
        assert!(parse_calendar_date_text("due_date", "2028-02-29").is_ok());
    }

    #[test]
    fn instants_are_rfc_3339_date_times_only() {
        for loose in [
            "2026-11-01 08:15:00Z",
            "2026-11-1T08:15:00Z",
            "2026-11-01T8:15:00Z",
            "2026-11-01T08:15Z",
            "2026-11-01T08:15:00",
            "2026-11-01",
            "2026-11-01T08:15:00\u{2212}02:00",
            "",
        ] {
            assert!(parse_instant_text("occurred_at", loose).is_err(), "{loose:?}");
        }
        assert!(parse_instant_text("occurred_at", "2026-11-01t08:15:00z").is_ok(), "RFC 3339 is case-insensitive");
        let error = parse_instant_text("occurred_at", "2026-02-30T08:00:00Z").unwrap_err();
        assert_eq!(error.message, "2026-02-30 is not a calendar date");
    }
}
