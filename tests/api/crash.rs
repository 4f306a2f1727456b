//! Crash safety of the reminders, with the real binary in real processes: `remind --once` killed with
//! SIGKILL in the middle of a sweep or of delivery and run again, and two `serve` replicas sweeping and
//! delivering over one database. Whatever happens, every queued e-mail reaches the SMTP server; an
//! e-mail arrives twice only as a resend of the same Message-ID that was in flight when its sender
//! died; and no action's reminder of one kind is in two different e-mails.
//!
//! Each takes tens of seconds, so they run with `cargo test --test api -- --ignored`.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use diesel::connection::SimpleConnection;
use diesel::{Connection, PgConnection, QueryableByName, RunQueryDsl, SqliteConnection};
use serde_json::Value;

use crate::helpers::{TestApp, spawn_app};
use crate::smtp::{Received, SmtpServer};

/// A process of ours; killed if the test ends early, so none outlives it.
struct Running(Child);

impl Running {
    /// SIGKILL: no shutdown code runs, as when the host dies or the OOM killer strikes.
    fn kill(&mut self) {
        self.0.kill().unwrap();
        self.0.wait().unwrap();
    }

    fn has_exited(&mut self) -> bool {
        self.0.try_wait().unwrap().is_some()
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `action-tracker <args>` on the app's database, sending through `smtp`. Every day and hour is a
/// sending time, so the tests do not depend on when they run; a short lease lets a restart take over
/// what a killed sender held.
fn command(app: &TestApp, smtp: &SmtpServer, args: &[&str], env: &[(&str, &str)]) -> std::process::Command {
    let mut command = app.command(args);
    command
        .env("SMTP_URL", smtp.url())
        .env("MAIL_LEASE", "3s")
        .env("MAIL_RETRY_BASE", "0s")
        .env("REMINDER_SEND_HOUR", "0")
        .env("REMINDER_WEEKDAYS_ONLY", "false")
        .env("RUST_LOG", if std::env::var("TEST_LOG").is_ok() { "info" } else { "error" })
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::null());
    command
}

/// Starts a process to be killed or stopped by the test; what it says goes to the test's output only with
/// TEST_LOG, since what it said last before a kill tells nothing.
fn start(app: &TestApp, smtp: &SmtpServer, args: &[&str], env: &[(&str, &str)]) -> Running {
    let mut command = command(app, smtp, args, env);
    if std::env::var("TEST_LOG").is_err() {
        command.stderr(Stdio::null());
    }
    Running(command.spawn().unwrap())
}

/// Runs `command` to its end off the test's runtime, so the HTTP client's connections stay served.
async fn finish(mut command: std::process::Command) -> std::process::Output {
    tokio::task::spawn_blocking(move || command.output()).await.unwrap().unwrap()
}

/// `seed --all-overdue`: `actions` open overdue actions spread over `owners` owners; returns how many
/// digests a sweep would queue for them (one per owner who got an action).
async fn seed(app: &TestApp, smtp: &SmtpServer, actions: usize, owners: usize) -> usize {
    let output = finish(app.command(&[
        "seed",
        "--incidents",
        "5",
        "--actions",
        &actions.to_string(),
        "--owners",
        &owners.to_string(),
        "--all-overdue",
    ]))
    .await;
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let mut dry_run = command(app, smtp, &["remind", "--once", "--dry-run"], &[]);
    dry_run.stdout(Stdio::piped());
    let planned = finish(dry_run).await;
    assert!(planned.status.success());
    String::from_utf8(planned.stdout).unwrap().lines().count()
}

/// Polls `done` every few milliseconds; fails the test after `limit`.
async fn wait_for(what: &str, limit: Duration, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !done() {
        assert!(Instant::now() < deadline, "gave up after {limit:?} waiting for {what}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// The whole e-mail outbox, as an admin sees it.
async fn outbox(app: &TestApp) -> Vec<Value> {
    app.walk("/api/v1/deliveries?limit=200").await
}

fn message_ids(outbox: &[Value], status: &str) -> HashSet<String> {
    outbox.iter().filter(|d| d["status"] == status).map(|d| d["message_id"].as_str().unwrap().to_owned()).collect()
}

fn unfinished(outbox: &[Value]) -> usize {
    outbox.iter().filter(|d| d["status"] == "pending" || d["status"] == "sending").count()
}

/// Runs `remind --once` until the outbox holds nothing pending or being sent: a killed sender's leases
/// run out after MAIL_LEASE, and a later run takes its e-mails over.
async fn remind_until_done(app: &TestApp, smtp: &SmtpServer) {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let output = finish(command(app, smtp, &["remind", "--once"], &[])).await;
        assert!(output.status.success(), "remind --once failed: {}", String::from_utf8_lossy(&output.stderr));
        if unfinished(&outbox(app).await) == 0 {
            return;
        }
        assert!(Instant::now() < deadline, "the outbox still holds unsent e-mails after two minutes");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The (section, action key) pairs an e-mail's text lists, e.g. ("Overdue:", "ACT-12").
fn reminders_in(text: &str) -> Vec<(String, String)> {
    let mut section = String::new();
    let mut found = Vec::new();
    for line in text.lines() {
        if let Some(item) = line.strip_prefix("- ACT-") {
            let number: String = item.chars().take_while(char::is_ascii_digit).collect();
            found.push((section.clone(), format!("ACT-{number}")));
        } else if !line.starts_with(' ') && line.ends_with(':') {
            section = line.to_owned();
        }
    }
    found
}

/// What must hold after any crash: the outbox is all sent; the SMTP server received every queued
/// e-mail and nothing else; an e-mail arrived twice only if its Message-ID is in `resendable` (in flight
/// when a sender was killed), and then as the same message; every one of the `actions` seeded overdue
/// actions had its overdue reminder in exactly one e-mail.
async fn assert_each_reminder_once(app: &TestApp, received: &[Received], actions: usize, resendable: &HashSet<String>) {
    let outbox = outbox(app).await;
    let statuses: BTreeSet<&str> = outbox.iter().map(|d| d["status"].as_str().unwrap()).collect();
    assert_eq!(statuses, BTreeSet::from(["sent"]), "every queued e-mail ends up sent");
    let queued = message_ids(&outbox, "sent");
    assert_eq!(queued.len(), outbox.len(), "one Message-ID per queued e-mail");

    let mut copies: BTreeMap<&str, Vec<&Received>> = BTreeMap::new();
    for email in received {
        copies.entry(email.message_id.as_str()).or_default().push(email);
    }
    let arrived: HashSet<String> = copies.keys().map(|id| (*id).to_owned()).collect();
    assert_eq!(arrived, queued, "the SMTP server got every queued e-mail, and only those");
    for (message_id, copies) in &copies {
        if copies.len() > 1 {
            assert!(
                resendable.contains(*message_id),
                "{message_id} arrived {} times but was not in flight at a crash",
                copies.len()
            );
            assert!(
                copies
                    .iter()
                    .all(|c| c.to == copies[0].to && c.subject == copies[0].subject && c.text == copies[0].text),
                "a resend of {message_id} is the same message"
            );
        }
    }

    let mut carried_by: BTreeMap<(String, String), &str> = BTreeMap::new();
    for (message_id, copies) in &copies {
        for reminder in reminders_in(&copies[0].text) {
            if let Some(other) = carried_by.insert(reminder.clone(), message_id) {
                panic!("{reminder:?} is in two e-mails: {other} and {message_id}");
            }
        }
    }
    let reminded: BTreeSet<&str> =
        carried_by.keys().filter(|(section, _)| section == "Overdue:").map(|(_, key)| key.as_str()).collect();
    let expected: BTreeSet<String> = (1..=actions).map(|n| format!("ACT-{n}")).collect();
    assert_eq!(reminded, expected.iter().map(String::as_str).collect(), "every overdue action was reminded once");
}

#[tokio::test]
#[ignore = "fault test: run with --ignored"]
async fn a_sender_killed_mid_delivery_loses_no_email_and_resends_only_what_was_in_flight() {
    const ACTIONS: usize = 1_500;
    let smtp = SmtpServer::start();
    let app = spawn_app().await;
    let digests = seed(&app, &smtp, ACTIONS, 300).await;

    // A relay that takes 40 ms per message: a kill lands among messages accepted, being accepted and
    // not yet sent.
    smtp.slow(Duration::from_millis(40));
    let mut sender = start(&app, &smtp, &["remind", "--once"], &[]);
    wait_for("the first e-mails to arrive", Duration::from_secs(60), || smtp.count() >= 40 || sender.has_exited())
        .await;
    sender.kill();
    let at_kill = outbox(&app).await;
    assert_eq!(at_kill.len(), digests, "the sweep queued one digest per owner before sending began");
    assert!(unfinished(&at_kill) > 0, "the kill landed before the last e-mail was sent");
    let in_flight = message_ids(&at_kill, "sending");

    smtp.slow(Duration::ZERO);
    remind_until_done(&app, &smtp).await;
    assert_each_reminder_once(&app, &smtp.take(), ACTIONS, &in_flight).await;
}

/// Tells whether a sweep is under way, from the lock it holds: on PostgreSQL its advisory lock, on
/// SQLite the database's write lock (the sweep is the only writer before anything is queued).
enum SweepProbe {
    Postgres(PgConnection),
    Sqlite(SqliteConnection),
}

#[derive(QueryableByName)]
struct Held {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    locks: i64,
}

impl SweepProbe {
    fn open(app: &TestApp) -> Self {
        match &app.settings.database.url {
            action_tracker::config::DatabaseUrl::Postgres(url) => Self::Postgres(PgConnection::establish(url).unwrap()),
            action_tracker::config::DatabaseUrl::Sqlite(path) => {
                let mut conn = SqliteConnection::establish(&path.display().to_string()).unwrap();
                conn.batch_execute("PRAGMA busy_timeout = 0").unwrap();
                Self::Sqlite(conn)
            }
        }
    }

    fn sweeping(&mut self) -> bool {
        match self {
            Self::Postgres(conn) => {
                let held: Held = diesel::sql_query(
                    "SELECT count(*) AS locks FROM pg_locks WHERE locktype = 'advisory' AND granted \
                     AND database = (SELECT oid FROM pg_database WHERE datname = current_database())",
                )
                .get_result(conn)
                .unwrap();
                held.locks > 0
            }
            Self::Sqlite(conn) => match conn.batch_execute("BEGIN IMMEDIATE") {
                Ok(()) => {
                    conn.batch_execute("ROLLBACK").unwrap();
                    false
                }
                Err(_) => true,
            },
        }
    }
}

#[tokio::test]
#[ignore = "fault test: run with --ignored"]
async fn sweeps_killed_mid_way_leave_each_reminder_to_be_sent_exactly_once() {
    const ACTIONS: usize = 10_000;
    let smtp = SmtpServer::start();
    let app = spawn_app().await;
    let digests = seed(&app, &smtp, ACTIONS, 400).await;

    // Kill the sweep ever later after it starts, until one gets through: a crash at its start, while it
    // plans, and while it queues.
    let mut probe = SweepProbe::open(&app);
    let mut queued_at_kills = Vec::new();
    let mut in_flight = HashSet::new();
    for delay in [0, 250, 1_000, 2_500, 5_000].map(Duration::from_millis) {
        let mut sweeper = start(&app, &smtp, &["remind", "--once"], &[]);
        wait_for("the sweep to start", Duration::from_secs(60), || probe.sweeping() || sweeper.has_exited()).await;
        tokio::time::sleep(delay).await;
        if sweeper.has_exited() {
            break;
        }
        sweeper.kill();
        let at_kill = outbox(&app).await;
        in_flight.extend(message_ids(&at_kill, "sending"));
        queued_at_kills.push(at_kill.len());
        if at_kill.len() == digests {
            break;
        }
    }
    assert!(
        queued_at_kills.first().is_some_and(|&queued| queued < digests),
        "the first kill landed before the sweep had queued everything: {queued_at_kills:?}"
    );

    remind_until_done(&app, &smtp).await;
    assert_eq!(outbox(&app).await.len(), digests, "one digest per owner, however many sweeps were killed");
    assert_each_reminder_once(&app, &smtp.take(), ACTIONS, &in_flight).await;
}

#[tokio::test]
#[ignore = "fault test: run with --ignored"]
async fn two_serve_replicas_on_one_database_send_each_email_once() {
    const ACTIONS: usize = 2_000;
    let smtp = SmtpServer::start();
    let app = spawn_app().await;
    let digests = seed(&app, &smtp, ACTIONS, 400).await;

    // 150 ms a message keeps one sender busy for longer than the 5 s between delivery runs, so both
    // replicas are sending at once whenever they started.
    smtp.slow(Duration::from_millis(150));
    let replicas: Vec<Running> = ["a", "b"]
        .iter()
        .map(|name| {
            let from = format!("replica {name} <{name}@tracker.example.com>");
            let env = [
                ("LISTEN_ADDR", "127.0.0.1:0"),
                ("HTTP_WORKERS", "1"),
                ("BACKGROUND_WORK", "true"),
                ("REMINDER_SWEEP_INTERVAL", "2s"),
                // On SQLite the replicas take turns on the one write lock, and a sweep holds it while it
                // plans: writers may wait longer than the default 5 s for their turn.
                ("DATABASE_TIMEOUT", "30s"),
                ("MAIL_LEASE", "5m"),
                ("MAIL_FROM", from.as_str()),
            ];
            start(&app, &smtp, &["serve"], &env)
        })
        .collect();

    let deadline = Instant::now() + Duration::from_secs(180);
    loop {
        let outbox = outbox(&app).await;
        if outbox.len() >= digests && unfinished(&outbox) == 0 {
            break;
        }
        assert!(Instant::now() < deadline, "the replicas did not deliver everything in three minutes");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    drop(replicas);

    let received = smtp.take();
    let senders: BTreeSet<&str> = received.iter().map(|e| e.from.as_str()).collect();
    assert_eq!(senders, BTreeSet::from(["a@tracker.example.com", "b@tracker.example.com"]), "both replicas sent");
    assert_eq!(outbox(&app).await.len(), digests, "one digest per owner, however many replicas swept");
    assert_each_reminder_once(&app, &received, ACTIONS, &HashSet::new()).await;
}

#[tokio::test]
#[ignore = "fault test: run with --ignored"]
async fn sigterm_lets_serve_finish_the_emails_in_hand_then_exit_0() {
    let smtp = SmtpServer::start();
    let app = spawn_app().await;
    // It stops after the batch in hand: the rest waits in the outbox for the next start, which is the point.
    app.expect_unsent();
    let digests = seed(&app, &smtp, 600, 300).await;

    // At 300 ms a message, a batch of e-mails takes seconds: SIGTERM lands while one is in hand.
    smtp.slow(Duration::from_millis(300));
    let env = [("LISTEN_ADDR", "127.0.0.1:0"), ("BACKGROUND_WORK", "true"), ("MAIL_LEASE", "5m")];
    let mut server = start(&app, &smtp, &["serve"], &env);
    wait_for("the first e-mails to arrive", Duration::from_secs(60), || smtp.count() >= 3).await;
    let status = std::process::Command::new("kill").args(["-TERM", &server.0.id().to_string()]).status().unwrap();
    assert!(status.success());

    let deadline = Instant::now() + Duration::from_secs(60);
    let exit = loop {
        if let Some(exit) = server.0.try_wait().unwrap() {
            break exit;
        }
        assert!(Instant::now() < deadline, "serve did not stop within a minute of SIGTERM");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(exit.code(), Some(0), "a clean stop exits 0");

    let outbox = outbox(&app).await;
    assert_eq!(outbox.iter().filter(|d| d["status"] == "sending").count(), 0, "nothing is left half-sent");
    let sent = message_ids(&outbox, "sent");
    let received: Vec<String> = smtp.take().into_iter().map(|e| e.message_id).collect();
    assert_eq!(received.len(), sent.len(), "each e-mail it sent arrived once");
    assert_eq!(received.into_iter().collect::<HashSet<_>>(), sent, "and is recorded as sent");
    assert!(sent.len() < digests, "it stopped after the batch in hand instead of sending everything");
}
