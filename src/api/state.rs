//! What every handler may use: the application state, registered once at start-up.

use chrono::NaiveDate;

use crate::db::Db;

/// What every handler may use.
#[derive(Clone)]
pub struct AppState {
    pub db: Db,
    pub timezone: chrono_tz::Tz,
    pub tokens: crate::auth::TokenVerifier,
    pub reminders: std::sync::Arc<crate::jobs::reminders::Reminders>,
    pub emails: std::sync::Arc<crate::jobs::email::EmailSender>,
    /// Days after an incident's resolution by which its lessons-learned review is due.
    pub review_due_days: i64,
    /// `Cache-Control: private, max-age` of collections, in seconds.
    pub cache_max_age: u64,
    pub metrics: std::sync::Arc<crate::metrics::Metrics>,
    /// A bearer token Prometheus may scrape `/metrics` with, instead of a JWT.
    pub metrics_token: Option<crate::config::Secret>,
    /// Where webhooks may point.
    pub webhook_targets: crate::outbound::TargetPolicy,
    /// How long a request holds its Idempotency-Key before a retry may take it over: as long as the
    /// request may run and its last statement after that, so a retry never runs beside work that is
    /// still going on after a timeout.
    pub idempotency_lease: chrono::Duration,
}

impl AppState {
    /// Today in the configured time zone: the day that decides what is overdue.
    pub fn today(&self) -> NaiveDate {
        chrono::Utc::now().with_timezone(&self.timezone).date_naive()
    }
}

/// How handlers receive the state.
pub type Data = actix_web::web::Data<AppState>;
