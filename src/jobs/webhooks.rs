//! The webhook sender: claims due deliveries, POSTs them signed, with retries, and records each
//! outcome. Runs inside `serve` every few seconds (with BACKGROUND_WORK), or on demand.
//!
//! Each delivery is a POST of the JSON payload with `Webhook-Id` (the event id, stable across retries),
//! `Webhook-Timestamp` (Unix seconds) and `Webhook-Signature: v1=<hex HMAC-SHA256 of "<timestamp>.<body>">`
//! keyed with the webhook's secret. A 2xx answer is delivered; anything else, or no answer within 10 s,
//! is retried with the outbox's retry policy (MAIL_RETRY_BASE doubling to MAIL_RETRY_MAX, at most
//! MAIL_MAX_ATTEMPTS attempts).

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures_util::StreamExt;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::outbox::{DeliveryReport, Outcome, RetryPolicy, fits_in_lease};
use super::{Queue, drain, drain_every};
use crate::config::Settings;
use crate::db::outbox::{Attempt, Attempted, Held};
use crate::db::webhooks::WebhookOutbox;
use crate::db::{self, Db, StoreError};
use crate::outbound::TargetPolicy;
use crate::shutdown::Shutdown;

const BATCH: i64 = 20;
const TIMEOUT: Duration = Duration::from_secs(10);
/// Receivers served at once.
const CONCURRENT_SENDS: usize = 8;

pub struct WebhookSender {
    db: Db,
    client: reqwest::Client,
    /// Which receivers may be reached; the client enforces it for names, `send` for address literals.
    targets: TargetPolicy,
    retry: RetryPolicy,
    /// The longest one request may take: 10 s, or less if MAIL_LEASE is short.
    time_limit: Duration,
}

/// `v1=<hex HMAC-SHA256 of "<timestamp>.<body>">`.
pub fn signature(secret: &str, timestamp: i64, body: &str) -> String {
    let mut mac = match Hmac::<Sha256>::new_from_slice(secret.as_bytes()) {
        Ok(mac) => mac,
        // HMAC takes keys of any length; this branch cannot be reached.
        Err(_) => return String::new(),
    };
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body.as_bytes());
    format!("v1={}", hex::encode(mac.finalize().into_bytes()))
}

impl WebhookSender {
    pub fn new(settings: &Settings, db: Db) -> anyhow::Result<Self> {
        let time_limit = settings.mail.conversation_limit(TIMEOUT);
        let targets = TargetPolicy { allow_private: settings.webhook_allow_private_targets };
        let client = targets
            .client_builder()
            .timeout(time_limit)
            .user_agent(concat!("action-tracker/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Self { db, client, targets, retry: RetryPolicy::new(settings), time_limit })
    }

    /// Sends every delivery that is due, until none is left.
    #[tracing::instrument(skip(self))]
    pub async fn deliver(&self) -> Result<DeliveryReport, StoreError> {
        drain(self, None).await
    }

    /// Sends due deliveries every few seconds, until `shutdown` is requested; the batch in hand is finished.
    pub fn spawn(self: Arc<Self>, shutdown: &Shutdown) -> tokio::task::JoinHandle<()> {
        drain_every(self, shutdown)
    }

    async fn send_and_record(
        &self,
        delivery: db::webhooks::Claimed,
        lease: DateTime<Utc>,
    ) -> Result<Outcome, StoreError> {
        if !fits_in_lease(lease, self.time_limit) {
            WebhookOutbox::release(&self.db, delivery.id, lease).await?;
            return Ok(Outcome::Released);
        }
        let (status, error) = self.send(&delivery).await;
        let retry_at = error.as_ref().and_then(|_| self.retry.retry_at(delivery.attempts));
        if let Some(error) = &error {
            tracing::warn!(delivery = %delivery.id, attempts = delivery.attempts, %error, "webhook not accepted");
        }
        let result = match (&error, retry_at) {
            (None, _) => Attempted::Done(crate::domain::now()),
            (Some(_), Some(at)) => Attempted::RetryAt(at),
            (Some(_), None) => Attempted::GaveUp,
        };
        let attempt = Attempt { result, error, status_code: status };
        let outcome = Outcome::of(&attempt);
        let held = WebhookOutbox::record(&self.db, delivery.id.clone(), lease, attempt).await?;
        if held == Held::Lost {
            tracing::warn!(delivery = %delivery.id, "the lease ran out before the receiver answered; the sender that took this delivery over records it (raise MAIL_LEASE)");
            return Ok(Outcome::Lost);
        }
        Ok(outcome)
    }

    async fn send(&self, delivery: &db::webhooks::Claimed) -> (Option<u16>, Option<String>) {
        if let Err(refusal) = self.targets.allows_literal(&delivery.url) {
            return (None, Some(refusal));
        }
        let timestamp = Utc::now().timestamp();
        let event_id = serde_json::from_str::<serde_json::Value>(&delivery.payload)
            .ok()
            .and_then(|p| p["id"].as_str().map(str::to_owned))
            .unwrap_or_default();
        let sent = self
            .client
            .post(&delivery.url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header("Webhook-Id", event_id)
            .header("Webhook-Timestamp", timestamp.to_string())
            .header("Webhook-Signature", signature(&delivery.secret, timestamp, &delivery.payload))
            .body(delivery.payload.clone())
            .send()
            .await;
        match sent {
            Ok(response) if response.status().is_success() => (Some(response.status().as_u16()), None),
            Ok(response) => {
                (Some(response.status().as_u16()), Some(format!("the receiver answered {}", response.status())))
            }
            // Without the URL: it may carry credentials, and the log shows which webhook anyway. With the
            // causes, which say why (a refused private address, a refused connection, a timeout).
            Err(error) => (None, Some(with_causes(&error.without_url()))),
        }
    }
}

impl Queue for WebhookSender {
    const WHAT: &'static str = "webhook delivery";
    type Item = db::webhooks::Claimed;

    fn lease(&self) -> Duration {
        self.retry.lease()
    }

    async fn claim(
        &self,
        due_by: DateTime<Utc>,
        lease_until: DateTime<Utc>,
    ) -> Result<Vec<db::webhooks::Claimed>, StoreError> {
        db::webhooks::claim(&self.db, due_by, lease_until, BATCH).await
    }

    /// Receivers get their deliveries in the order of the changes, one at a time; different receivers
    /// are served side by side, so a slow one does not hold up the others. Each outcome is recorded as
    /// soon as the receiver answered, so a crash resends only what was in flight, and no request starts
    /// that could run past the claim's lease (see `fits_in_lease`).
    async fn work(
        &self,
        batch: Vec<db::webhooks::Claimed>,
        lease_until: DateTime<Utc>,
    ) -> Result<DeliveryReport, StoreError> {
        let mut by_receiver: Vec<Vec<db::webhooks::Claimed>> = Vec::new();
        for delivery in batch {
            match by_receiver.iter_mut().find(|group| group[0].url == delivery.url) {
                Some(group) => group.push(delivery),
                None => by_receiver.push(vec![delivery]),
            }
        }
        let reports: Vec<Result<DeliveryReport, StoreError>> = futures_util::stream::iter(by_receiver)
            .map(|group| async move {
                let mut report = DeliveryReport::default();
                for delivery in group {
                    report.count(self.send_and_record(delivery, lease_until).await?);
                }
                Ok(report)
            })
            .buffer_unordered(CONCURRENT_SENDS)
            .collect()
            .await;
        let mut report = DeliveryReport::default();
        for group in reports {
            report += group?;
        }
        Ok(report)
    }
}

/// An error and its sources, `: `-separated, each said once.
fn with_causes(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text = format!("{text}: {cause_text}");
        }
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signature_covers_timestamp_and_body() {
        let a = signature("s3cret-s3cret-s3cret", 1_700_000_000, "{}");
        assert!(a.starts_with("v1=") && a.len() == 3 + 64);
        assert_ne!(a, signature("s3cret-s3cret-s3cret", 1_700_000_001, "{}"));
        assert_ne!(a, signature("s3cret-s3cret-s3cret", 1_700_000_000, "{ }"));
        assert_ne!(a, signature("another-secret-value", 1_700_000_000, "{}"));
    }
}
