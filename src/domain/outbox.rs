//! What the e-mail outbox holds: a message rendered once, stored with the change that caused it, and
//! sent later by whoever claims it. The database stores it and `mail` sends it; neither owns it.

/// What the outbox holds for one delivery.
#[derive(Debug, Clone)]
pub struct Outgoing {
    pub recipient: String,
    /// Shown with the address in `To` when known ("Dana Reyes" <dana@example.com>).
    pub recipient_name: Option<String>,
    pub subject: String,
    pub text: String,
    pub html: String,
    /// Stable per delivery, so a resend after a crash is recognisable as the same message.
    pub message_id: String,
}
