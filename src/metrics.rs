//! Prometheus metrics: HTTP requests counted and timed in this process, and the state of the data
//! (actions, outboxes, reminders) read from the database at each scrape, so every replica reports the
//! same totals and nothing is lost on restart.

use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry, TextEncoder,
};

use crate::db::stats::MetricsSnapshot;

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
            Opts::new("action_tracker_reminders_sent", "Reminder e-mails accepted by the SMTP server, by kind"),
            &["kind"],
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

    /// The exposition text, with the data gauges set from `snapshot`.
    pub fn render(&self, snapshot: &MetricsSnapshot) -> Result<String, prometheus::Error> {
        self.actions.reset();
        for (status, priority, count) in &snapshot.actions {
            self.actions.with_label_values(&[status.as_str(), priority.as_str()]).set(*count);
        }
        self.overdue.set(snapshot.overdue);
        self.outbox.reset();
        for (channel, rows) in [("email", &snapshot.emails), ("webhook", &snapshot.webhooks)] {
            for (status, count) in rows {
                self.outbox.with_label_values(&[channel, status.as_str()]).set(*count);
            }
        }
        self.reminders.reset();
        for (kind, count) in &snapshot.reminders_sent {
            self.reminders.with_label_values(&[kind.as_str()]).set(*count);
        }
        let mut buffer = Vec::new();
        TextEncoder::new().encode(&self.registry.gather(), &mut buffer)?;
        Ok(String::from_utf8_lossy(&buffer).into_owned())
    }
}
