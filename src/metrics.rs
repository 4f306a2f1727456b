//! Prometheus metrics: HTTP requests counted and timed in this process, and the state of the data
//! (actions, outboxes, reminders) read from the database at each scrape, so every replica reports the
//! same totals and nothing is lost on restart.

use std::collections::BTreeMap;

use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry, TextEncoder,
};
use strum::VariantArray;

use crate::db::deliveries::DeliveryStatus;
use crate::db::stats::MetricsSnapshot;
use crate::db::webhooks::WebhookDeliveryStatus;
use crate::domain::action::{ActionStatus, Priority};
use crate::domain::reminder::ReminderKind;

pub struct Metrics {
    registry: Registry,
    http_requests: IntCounterVec,
    http_duration: HistogramVec,
    actions: IntGaugeVec,
    overdue: IntGauge,
    outbox: IntGaugeVec,
    reminders: IntGaugeVec,
}

impl Metrics {
    /// Start-up only: the metric definitions are fixed, so failing here is a programming error.
    pub fn new() -> anyhow::Result<Self> {
        let registry = Registry::new();
        let http_requests = IntCounterVec::new(
            Opts::new("action_tracker_http_requests_total", "HTTP requests served, by route, method and status"),
            &["route", "method", "status"],
        )?;
        let http_duration = HistogramVec::new(
            HistogramOpts::new("action_tracker_http_request_duration_seconds", "Time to answer HTTP requests")
                .buckets(vec![0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0]),
            &["route", "method", "status"],
        )?;
        let actions = IntGaugeVec::new(
            Opts::new("action_tracker_actions", "Corrective actions, by status and priority"),
            &["status", "priority"],
        )?;
        let overdue = IntGauge::new(
            "action_tracker_actions_overdue",
            "Open, in progress or blocked actions past their due date",
        )?;
        let outbox = IntGaugeVec::new(
            Opts::new("action_tracker_outbox_messages", "Outgoing e-mails and webhook deliveries, by status"),
            &["channel", "status"],
        )?;
        let reminders = IntGaugeVec::new(
            Opts::new(
                "action_tracker_reminders_sent",
                "Reminders whose e-mail the SMTP server accepted, one per action or review and rung (a digest \
                 e-mail carries several), by what they are about and kind",
            ),
            &["about", "kind"],
        )?;
        registry.register(Box::new(http_requests.clone()))?;
        registry.register(Box::new(http_duration.clone()))?;
        registry.register(Box::new(actions.clone()))?;
        registry.register(Box::new(overdue.clone()))?;
        registry.register(Box::new(outbox.clone()))?;
        registry.register(Box::new(reminders.clone()))?;
        Ok(Self { registry, http_requests, http_duration, actions, overdue, outbox, reminders })
    }

    pub fn observe_request(&self, route: &str, method: &str, status: u16, seconds: f64) {
        let status = status.to_string();
        let labels = [route, method, status.as_str()];
        self.http_requests.with_label_values(&labels).inc();
        self.http_duration.with_label_values(&labels).observe(seconds);
    }

    /// The exposition text, with the data gauges set from `snapshot`. Every label combination the data
    /// gauges can take is exported, at 0 when nothing has it, so dashboards and alerts see 0 rather than
    /// no data before the first action, e-mail or webhook. Each series is set once to its new value (no
    /// reset in between), so a scrape running alongside never sees a series missing.
    pub fn render(&self, snapshot: &MetricsSnapshot) -> Result<String, prometheus::Error> {
        let actions = every(ActionStatus::VARIANTS.iter().flat_map(|status| {
            Priority::VARIANTS.iter().map(move |priority| [<&str>::from(status), <&str>::from(priority)])
        }));
        set(
            &self.actions,
            actions,
            snapshot.actions.iter().map(|(status, priority, n)| ([status.as_str(), priority.as_str()], *n)),
        );
        self.overdue.set(snapshot.overdue);

        let outbox = every(
            DeliveryStatus::VARIANTS
                .iter()
                .map(|status| ["email", status.into()])
                .chain(WebhookDeliveryStatus::VARIANTS.iter().map(|status| ["webhook", status.into()])),
        );
        let counted = snapshot.emails.iter().map(|(status, n)| (["email", status.as_str()], *n));
        let counted = counted.chain(snapshot.webhooks.iter().map(|(status, n)| (["webhook", status.as_str()], *n)));
        set(&self.outbox, outbox, counted);

        // A review is reminded when it is due soon and when it is overdue: it has no escalation rung, and
        // no one reminds about it by hand.
        let reminders = every(
            ReminderKind::VARIANTS
                .iter()
                .map(|kind| ["action", kind.into()])
                .chain([ReminderKind::DueSoon, ReminderKind::Overdue].iter().map(|kind| ["review", kind.into()])),
        );
        let counted = snapshot.reminders_sent.iter().map(|(about, kind, n)| ([about.as_str(), kind.as_str()], *n));
        set(&self.reminders, reminders, counted);

        let mut buffer = Vec::new();
        TextEncoder::new().encode(&self.registry.gather(), &mut buffer)?;
        Ok(String::from_utf8_lossy(&buffer).into_owned())
    }
}

/// Every label combination of a gauge, each at zero.
fn every<const N: usize>(labels: impl Iterator<Item = [&'static str; N]>) -> BTreeMap<[String; N], i64> {
    labels.map(|labels| (labels.map(str::to_owned), 0)).collect()
}

/// Sets each series of `gauge` to its count, and those with none counted to zero.
fn set<'a, const N: usize>(
    gauge: &IntGaugeVec,
    mut values: BTreeMap<[String; N], i64>,
    counted: impl Iterator<Item = ([&'a str; N], i64)>,
) {
    for (labels, n) in counted {
        *values.entry(labels.map(str::to_owned)).or_default() += n;
    }
    for (labels, n) in &values {
        gauge.with_label_values(&labels.each_ref().map(String::as_str)).set(*n);
    }
}
