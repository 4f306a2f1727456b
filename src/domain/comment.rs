//! Comments on corrective actions: progress notes from owners and facilitators.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::text::LongText;

#[derive(Debug, Clone, PartialEq)]
pub struct Comment {
    pub id: Uuid,
    pub action_id: Uuid,
    pub author_sub: String,
    pub author_email: Option<String>,
    pub author_name: Option<String>,
    pub text: LongText,
    pub created_at: DateTime<Utc>,
}
