//! Background work, all of it: the reminder sweep (`reminders`), the e-mail and webhook senders (`email`,
//! `webhooks`, with what they share in `outbox`) and the fold of the `/stats` tallies (`tallies`).
//!
//! Every loop runs on the one small runner below: `every` for work on a timer, `drain` for an outbox
//! worked in claimed batches. No loop keeps its own timer, shutdown or backoff. Jobs plan and render;
//! the rows they read and write go through `db`, and nothing here writes SQL.

pub mod email;
pub mod outbox;
pub mod reminders;
pub mod tallies;
pub mod webhooks;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::db::StoreError;
use crate::shutdown::Shutdown;
use outbox::DeliveryReport;

/// How often a sender looks for due rows when its outbox was empty or its last run failed: new rows
/// wait at most this long, and a failing database is not asked in a tight loop.
pub const POLL: Duration = Duration::from_secs(5);

/// Runs `work` now and then every `interval`, until `shutdown` is requested. A run in hand is finished
/// first; a run that overruns its interval is followed by the next one at once.
pub fn every<F, Fut>(interval: Duration, shutdown: &Shutdown, mut work: F) -> tokio::task::JoinHandle<()>
where
    F: FnMut() -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send,
{
    let mut stop = shutdown.clone();
    tokio::spawn(async move {
        let mut timer = tokio::time::interval(interval);
        loop {
            // A stop asked for while a run overran its interval finds the next tick ready too: the stop
            // goes first, or a whole new run could start after it.
            tokio::select! {
                biased;
                _ = stop.requested() => return,
                _ = timer.tick() => {}
            }
            work().await;
        }
    })
}

/// An outbox as the drain loop sees it: rows claimed in batches, each claim holding its rows until a
/// lease runs out, so that a crashed sender's rows go out again.
pub trait Queue: Send + Sync + 'static {
    /// What a run failing is logged as.
    const WHAT: &'static str;
    type Item: Send;

    /// How long a claim holds its rows.
    fn lease(&self) -> Duration;

    /// Claims the next batch of rows due by `due_by`, held until `lease_until`; empty when none is left.
    fn claim(
        &self,
        due_by: DateTime<Utc>,
        lease_until: DateTime<Utc>,
    ) -> impl Future<Output = Result<Vec<Self::Item>, StoreError>> + Send;

    /// Sends a claimed batch and records each outcome before `lease_until`.
    fn work(
        &self,
        batch: Vec<Self::Item>,
        lease_until: DateTime<Utc>,
    ) -> impl Future<Output = Result<DeliveryReport, StoreError>> + Send;
}

/// Claims and works batches of `queue` until none is left or, between two batches, `shutdown` is
/// requested. Only what was due when the run began: a failure rescheduled during the run waits for the
/// next one.
#[tracing::instrument(skip_all, fields(queue = Q::WHAT))]
pub async fn drain<Q: Queue>(queue: &Q, shutdown: Option<&Shutdown>) -> Result<DeliveryReport, StoreError> {
    let mut report = DeliveryReport::default();
    let started = crate::domain::now();
    loop {
        if shutdown.is_some_and(Shutdown::is_requested) {
            return Ok(report);
        }
        let lease_until = crate::domain::now() + chrono::Duration::from_std(queue.lease()).unwrap_or_default();
        let batch = queue.claim(started, lease_until).await?;
        if batch.is_empty() {
            return Ok(report);
        }
        report += queue.work(batch, lease_until).await?;
    }
}

/// Drains `queue` every [`POLL`] until `shutdown` is requested; the batch in hand is finished. An empty
/// outbox or a failed run waits for the next poll.
pub fn drain_every<Q: Queue>(queue: Arc<Q>, shutdown: &Shutdown) -> tokio::task::JoinHandle<()> {
    let stop = shutdown.clone();
    every(POLL, shutdown, move || {
        let (queue, stop) = (Arc::clone(&queue), stop.clone());
        async move {
            if let Err(error) = drain(&*queue, Some(&stop)).await {
                tracing::error!(%error, "{} failed", Q::WHAT);
            }
        }
    })
}
