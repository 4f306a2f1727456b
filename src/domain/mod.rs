//! Domain types: values that are valid once built.
//!
//! Request bodies become these types at the HTTP edge (`api`), and the database layer (`db`) only ever
//! receives them, so no unchecked input reaches storage. The rules of the product live here too:
//! which status changes need a resolution, when an action is overdue. Nothing in this module does I/O
//! or knows about HTTP or SQL.

pub mod action;
pub mod assessment;
pub mod audit;
pub mod comment;
pub mod effort;
pub mod email;
pub mod errors;
pub mod evidence;
pub mod external;
pub mod incident;
pub mod indicator;
pub mod listing;
pub mod outbox;
pub mod patch;
pub mod person;
pub mod principal;
pub mod reminder;
pub mod review;
pub mod text;
pub mod time;
pub mod timeline;
pub mod webhook;

pub use errors::{FieldError, FieldErrors};
pub use patch::Patch;

/// The current time at the precision both databases store (microseconds), so that what we return
/// equals what we read back later.
pub fn now() -> chrono::DateTime<chrono::Utc> {
    use chrono::SubsecRound;
    chrono::Utc::now().trunc_subsecs(6)
}
