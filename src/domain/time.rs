//! Instants and dates given by clients. chrono reads years far outside what PostgreSQL stores (4713 BC
//! onwards) and what every time zone can shift without overflow, so each one is held to four-digit
//! years, the range RFC 3339 writes, before it reaches storage or date arithmetic.

use chrono::{DateTime, Datelike, NaiveDate, SubsecRound, Utc};

use super::FieldError;

const YEARS: std::ops::RangeInclusive<i32> = 1..=9999;

/// An instant in 0001–9999, at the precision both databases store (microseconds), so that what we
/// return equals what we read back later.
pub fn parse_instant(field: &str, time: DateTime<Utc>) -> Result<DateTime<Utc>, FieldError> {
    if YEARS.contains(&time.year()) {
        Ok(time.trunc_subsecs(6))
    } else {
        Err(FieldError::new(field, "must be a time between 0001-01-01T00:00:00Z and 9999-12-31T23:59:59Z"))
    }
}

/// An RFC 3339 time from a query parameter, held to the same range as [`parse_instant`].
pub fn parse_instant_text(field: &str, raw: &str) -> Result<DateTime<Utc>, FieldError> {
    let time = DateTime::parse_from_rfc3339(raw)
        .map_err(|_| FieldError::new(field, "must be an RFC 3339 time such as 2026-11-01T00:00:00Z"))?;
    parse_instant(field, time.with_timezone(&Utc))
}

/// A date of four-digit year, the `format: date` of the spec (RFC 3339 `full-date`): a snooze may be set
/// to any of them, and stored dates compare as text on SQLite.
pub fn parse_calendar_date(field: &str, date: NaiveDate) -> Result<NaiveDate, FieldError> {
    if YEARS.contains(&date.year()) {
        Ok(date)
    } else {
        Err(FieldError::new(field, "must be a date between 0001-01-01 and 9999-12-31"))
    }
}

/// A date from a query parameter, held to the same range as [`parse_calendar_date`].
pub fn parse_calendar_date_text(field: &str, raw: &str) -> Result<NaiveDate, FieldError> {
    let date = raw.parse().map_err(|_| FieldError::new(field, "must be a date such as 2026-12-31"))?;
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
        let kept = parse_instant_text("t", "2026-11-01T10:00:00.123456789+02:00").unwrap();
        assert_eq!(kept.to_rfc3339(), "2026-11-01T08:00:00.123456+00:00");
        assert_eq!(parse_calendar_date_text("d", "9999-12-31").unwrap().year(), 9999);
    }
}
