//! Reminder e-mails end to end: the sweep decides, the outbox holds, a real SMTP server receives.

use std::collections::{BTreeMap, BTreeSet};

use action_tracker::config::Secret;
use action_tracker::domain::principal::Role;
use chrono::{Datelike, NaiveDate, TimeZone, Utc, Weekday};
use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{
    TestApp, assert_problem, error_fields, id, spawn_app, spawn_app_with, spawn_app_with_smtp, spawn_app_with_smtp_and,
};
use crate::smtp::SmtpServer;

fn at(year: i32, month: u32, day: u32, hour: u32) -> chrono::DateTime<Utc> {
    Utc.with_ymd_and_hms(year, month, day, hour, 0, 0).unwrap()
}

#[tokio::test]
async fn a_month_of_sweeps_climbs_the_ladder_for_active_actions_only() {
    let app = spawn_app_with_smtp().await;
    let smtp = app.smtp();
    let incident = id(&app.create_incident(json!({"reference": "SEC-7", "title": "Phishing"})).await);
    // Due Tuesday 2026-03-10: one open, one done, one cancelled, one snoozed until the 20th.
    app.create_action(
        &incident,
        json!({"title": "Enforce MFA", "due_date": "2026-03-10", "owner_email": "dana@example.com"}),
    )
    .await;
    app.create_action(
        &incident,
        json!({"due_date": "2026-03-10", "owner_email": "done@example.com", "status": "done", "resolution": "ok"}),
    )
    .await;
    app.create_action(&incident, json!({"due_date": "2026-03-10", "owner_email": "gone@example.com", "status": "cancelled", "resolution": "moot"})).await;
    app.create_action(
        &incident,
        json!({"due_date": "2026-03-10", "owner_email": "sam@example.com", "snoozed_until": "2026-03-20"}),
    )
    .await;

    let reminders = app.reminders();
    let sender = app.emails();
    let mut received: BTreeMap<String, Vec<(u32, String)>> = BTreeMap::new();
    for day in 1..=31 {
        reminders.sweep(at(2026, 3, day, 10), false).await.unwrap();
        sender.deliver().await.unwrap();
        for email in smtp.take() {
            let date = NaiveDate::from_ymd_opt(2026, 3, day).unwrap();
            assert!(!matches!(date.weekday(), Weekday::Sat | Weekday::Sun), "an e-mail on a weekend: {date}");
            received.entry(email.to[0].clone()).or_default().push((day, email.subject));
        }
    }
    let days =
        |who: &str| -> Vec<u32> { received.get(who).map(|r| r.iter().map(|(d, _)| *d).collect()).unwrap_or_default() };
    assert_eq!(days("dana@example.com"), [9, 11, 16, 19, 23, 26, 30], "{received:?}");
    assert_eq!(days("sam@example.com"), [20, 23, 26, 30], "snoozed until the 20th: {received:?}");
    assert_eq!(days("ciso@example.com"), [17, 20, 24, 27, 31], "escalations: {received:?}");
    assert!(days("done@example.com").is_empty() && days("gone@example.com").is_empty());
    assert_eq!(received["dana@example.com"][0].1, "1 due-soon corrective action");
    assert_eq!(received["dana@example.com"][1].1, "1 overdue corrective action");
    assert_eq!(received["ciso@example.com"][0].1, "1 escalated corrective action");
}

#[tokio::test]
async fn one_digest_per_recipient_grouped_counted_escaped_and_linked() {
    let app = spawn_app_with_smtp().await;
    let smtp = app.smtp();
    let incident = id(&app.create_incident(json!({"reference": "SEC-9", "title": "Credential phishing"})).await);
    let owner = json!({"owner_email": "dana@example.com"});
    let mut overdue = owner.clone();
    overdue["due_date"] = json!("2026-03-09");
    overdue["title"] = json!("Rotate the VPN keys");
    let first = app.create_action(&incident, overdue.clone()).await;
    overdue["due_date"] = json!("2026-03-05");
    overdue["title"] = json!("Block the phishing domain");
    app.create_action(&incident, overdue).await;
    let mut soon = owner.clone();
    soon["due_date"] = json!("2026-03-13");
    soon["title"] = json!("<script>alert('pwned')</script>");
    app.create_action(&incident, soon).await;

    let reminders = app.reminders();
    let sender = app.emails();
    // Wednesday 2026-03-11, 10:00 UTC.
    let planned = reminders.sweep(at(2026, 3, 11, 10), false).await.unwrap();
    assert_eq!(planned.len(), 1, "one e-mail for one recipient");
    assert_eq!(sender.deliver().await.unwrap().sent, 1);
    let emails = smtp.take();
    let email = &emails[0];
    assert_eq!(email.to, ["dana@example.com"]);
    assert_eq!(email.subject, "2 overdue and 1 due-soon corrective actions");
    assert_eq!(email.auto_submitted, "auto-generated");
    assert!(email.has_date);
    assert!(email.message_id.contains(&planned[0].delivery_id.to_string()), "{}", email.message_id);

    let overdue_at = email.text.find("Overdue:").unwrap();
    let soon_at = email.text.find("Due soon:").unwrap();
    assert!(overdue_at < soon_at, "overdue first, then due soon");
    assert!(email.text.contains("ACT-1 Rotate the VPN keys (medium)"));
    assert!(email.text.contains("SEC-9 Credential phishing"));
    assert!(email.text.contains("Due 2026-03-05, 6 days overdue"), "{}", email.text);
    assert!(email.text.contains("Due 2026-03-09, 2 days overdue"), "{}", email.text);
    assert!(!email.html.contains("<script>"), "user text is escaped in HTML");
    assert!(email.html.contains("&#60;script&#62;") || email.html.contains("&lt;script&gt;"));

    let link_start = email.text.find("https://tracker.example.com/a/").unwrap();
    let link: String = email.text[link_start..].chars().take_while(|c| !c.is_whitespace()).collect();
    let path = link.trim_start_matches("https://tracker.example.com");
    let page = app.client.get(app.url(path)).send().await.unwrap();
    assert_eq!(page.status(), 200);
    assert_eq!(page.headers()["referrer-policy"], "no-referrer");
    let text = page.text().await.unwrap();
    assert!(text.contains("Rotate the VPN keys") && text.contains("SEC-9 Credential phishing"), "{text}");

    let done = app
        .client
        .post(app.url(path))
        .form(&[("op", "done"), ("resolution", "New keys deployed")])
        .send()
        .await
        .unwrap();
    assert_eq!(done.status(), 200);
    let action: Value = app.get(&format!("/api/v1/actions/{}", id(&first))).await.json().await.unwrap();
    assert_eq!(action["status"], "done");
    assert_eq!(action["updated_by"], "dana@example.com");
    let history: Value = app.get(&format!("/api/v1/actions/{}/history", id(&first))).await.json().await.unwrap();
    assert_eq!(history["items"][0]["actor"]["email"], "dana@example.com");

    assert!(reminders.sweep(at(2026, 3, 11, 14), false).await.unwrap().is_empty(), "nothing twice the same day");
}

/// An e-mail is addressed to its recipient by name when the directory (or, for an owner, the action)
/// knows it, and counts days the way people do.
#[tokio::test]
async fn e_mails_name_their_recipient_and_count_days_in_words() {
    let app = spawn_app_with_smtp().await;
    let smtp = app.smtp();
    let incident = id(&app.create_incident(json!({"reference": "SEC-9", "title": "Credential phishing"})).await);
    app.put_person("lee@example.com", json!({"name": "Lee Chen", "manager_email": "morgan@example.com"})).await;
    app.put_person("morgan@example.com", json!({"name": "Morgan Ortiz"})).await;
    // Wednesday 2026-03-18: Dana's action is one day overdue, Lee's eight (escalated to Morgan).
    app.create_action(
        &incident,
        json!({"owner_email": "dana@example.com", "owner_name": "Dana Reyes",
                                        "due_date": "2026-03-17", "title": "Rotate the VPN keys"}),
    )
    .await;
    let lee = app
        .create_action(
            &incident,
            json!({"owner_email": "lee@example.com", "owner_name": "L. Chen",
                   "due_date": "2026-03-10", "title": "Block the domain"}),
        )
        .await;
    app.create_action(&incident, json!({"owner_email": "sam@example.com", "due_date": "2026-03-17"})).await;

    let reminders = app.reminders();
    let sender = app.emails();
    reminders.sweep(at(2026, 3, 18, 10), false).await.unwrap();
    sender.deliver().await.unwrap();
    let emails: BTreeMap<String, _> = smtp.take().into_iter().map(|e| (e.to[0].clone(), e)).collect();
    let to = |who: &str| emails[who].to_header.clone();
    assert_eq!(to("dana@example.com"), [("Dana Reyes".to_owned(), "dana@example.com".to_owned())]);
    assert_eq!(to("lee@example.com"), [("Lee Chen".to_owned(), "lee@example.com".to_owned())], "the directory first");
    assert_eq!(to("morgan@example.com"), [("Morgan Ortiz".to_owned(), "morgan@example.com".to_owned())]);
    assert_eq!(to("sam@example.com"), [(String::new(), "sam@example.com".to_owned())], "no name known, none made up");
    let dana = &emails["dana@example.com"];
    assert!(dana.text.starts_with("Hello Dana Reyes,"), "{}", dana.text);
    assert!(dana.text.contains("Due 2026-03-17, 1 day overdue"), "{}", dana.text);
    assert!(emails["morgan@example.com"].text.contains("Due 2026-03-10, 8 days overdue"));
    for email in emails.values() {
        assert!(!email.text.contains("day(s)") && !email.html.contains("day(s)"), "{}", email.text);
    }

    // A reminder sent by hand names its recipient the same way.
    let nudged = app.post(&format!("/api/v1/actions/{}/remind", id(&lee)), &json!({})).await;
    assert_eq!(nudged.status(), 202);
    sender.deliver().await.unwrap();
    let manual = smtp.take();
    assert_eq!(manual[0].to_header, [("Lee Chen".to_owned(), "lee@example.com".to_owned())]);
}

#[tokio::test]
async fn concurrent_sweeps_queue_each_reminder_once_and_concurrent_senders_send_each_once() {
    let app = spawn_app_with_smtp().await;
    let smtp = app.smtp();
    let incident = id(&app.create_incident(json!({})).await);
    for n in 0..12 {
        app.create_action(&incident, json!({"due_date": "2026-03-09", "owner_email": format!("owner{n}@example.com")}))
            .await;
    }
    let (first, second) = (app.reminders(), app.reminders());
    let (first_sender, second_sender) = (app.emails(), app.emails());
    let now = at(2026, 3, 11, 10);
    let (a, b) = tokio::join!(first.sweep(now, false), second.sweep(now, false));
    assert_eq!(a.unwrap().len() + b.unwrap().len(), 12, "each owner's reminder is queued by exactly one sweep");

    let (a, b) = tokio::join!(first_sender.deliver(), second_sender.deliver());
    assert_eq!(a.unwrap().sent + b.unwrap().sent, 12);
    let emails = smtp.take();
    assert_eq!(emails.len(), 12);
    let mut ids: Vec<&str> = emails.iter().map(|e| e.message_id.as_str()).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 12, "no e-mail delivered twice");
}

#[tokio::test]
async fn an_smtp_outage_loses_nothing_and_gives_up_visibly_after_the_last_attempt() {
    // The relay answers every message with a temporary failure: it is down for mail.
    let app = spawn_app_with_smtp().await;
    let smtp = app.smtp();
    smtp.refuse(true);
    let incident = id(&app.create_incident(json!({})).await);
    let action = app.create_action(&incident, json!({"due_date": "2026-03-09"})).await;
    let reminders = app.reminders();
    let sender = app.emails();
    reminders.sweep(at(2026, 3, 11, 10), false).await.unwrap();
    let report = sender.deliver().await.unwrap();
    assert_eq!((report.sent, report.retrying), (0, 1));
    let pending: Value = app.get("/api/v1/deliveries?status=pending").await.json().await.unwrap();
    assert_eq!(pending["items"][0]["attempts"], 1);
    assert!(pending["items"][0]["last_error"].is_string());

    smtp.refuse(false);
    assert_eq!(sender.deliver().await.unwrap().sent, 1, "back up: delivered");
    assert_eq!(sender.deliver().await.unwrap().sent, 0, "and only once");
    assert_eq!(smtp.take().len(), 1);

    // A relay that keeps refusing: after MAIL_MAX_ATTEMPTS (3 here) the e-mail is marked failed.
    smtp.refuse(true);
    app.builder(Method::POST, &format!("/api/v1/actions/{}/remind", id(&action))).send().await.unwrap();
    let mut failed = 0;
    for _ in 0..3 {
        failed += sender.deliver().await.unwrap().failed;
    }
    assert_eq!(failed, 1);
    let sent: Vec<Value> = app.get(&format!("/api/v1/actions/{}/reminders", id(&action))).await.json().await.unwrap();
    let statuses: Vec<(&str, &str)> =
        sent.iter().map(|r| (r["kind"].as_str().unwrap(), r["status"].as_str().unwrap())).collect();
    assert_eq!(statuses, [("overdue", "sent"), ("manual", "failed")]);
    assert_eq!(sent[1]["attempts"], 3);
    assert!(sent[1]["last_error"].as_str().unwrap().contains("451"), "{}", sent[1]["last_error"]);
}

#[tokio::test]
async fn a_mailbox_the_relay_refuses_for_good_is_not_tried_again() {
    let app = spawn_app_with_smtp().await;
    let smtp = app.smtp();
    smtp.unknown_mailbox("left@example.com");
    let incident = id(&app.create_incident(json!({})).await);
    let gone = app.create_action(&incident, json!({"due_date": "2026-03-09", "owner_email": "left@example.com"})).await;
    app.create_action(&incident, json!({"due_date": "2026-03-09", "owner_email": "dana@example.com"})).await;
    let reminders = app.reminders();
    let sender = app.emails();
    reminders.sweep(at(2026, 3, 11, 10), false).await.unwrap();
    let report = sender.deliver().await.unwrap();
    assert_eq!((report.sent, report.retrying, report.failed), (1, 0, 1), "550 is final; MAIL_MAX_ATTEMPTS is 3 here");
    let sent: Vec<Value> = app.get(&format!("/api/v1/actions/{}/reminders", id(&gone))).await.json().await.unwrap();
    assert_eq!((sent[0]["status"].as_str(), sent[0]["attempts"].as_i64()), (Some("failed"), Some(1)));
    assert!(sent[0]["last_error"].as_str().unwrap().contains("550"), "{}", sent[0]["last_error"]);

    // The relay's words can name the mail infrastructure: only admins read them.
    let viewer = app.token("dashboard@example.com", &[Role::Viewer]);
    let path = format!("/api/v1/actions/{}/reminders", id(&gone));
    let seen: Vec<Value> = app.request_as(Some(&viewer), Method::GET, &path, None).await.json().await.unwrap();
    assert_eq!((seen[0]["status"].as_str(), &seen[0]["last_error"]), (Some("failed"), &Value::Null));

    // The mailbox is fixed: an admin sends the failed e-mail again, with its Message-ID.
    let failed: Value = app.get("/api/v1/deliveries?status=failed").await.json().await.unwrap();
    let delivery = failed["items"][0]["id"].as_str().unwrap().to_owned();
    smtp.take();
    smtp.known_mailbox("left@example.com");
    let again = app.post(&format!("/api/v1/deliveries/{delivery}/redeliver"), &json!({})).await;
    assert_eq!(again.status(), 202);
    assert_eq!(sender.deliver().await.unwrap().sent, 1);
    let received = smtp.take();
    assert_eq!(received.iter().map(|e| e.to[0].as_str()).collect::<Vec<_>>(), ["left@example.com"]);
    assert_eq!(received[0].message_id, failed["items"][0]["message_id"].as_str().unwrap());
    let missing = app.post(&format!("/api/v1/deliveries/{}/redeliver", uuid::Uuid::nil()), &json!({})).await;
    assert_problem(missing, 404, "not_found").await;
}

/// Sending a claim of e-mails takes longer than MAIL_LEASE on a slow relay. Once the lease has run out a
/// second sender takes the rest over; the first must not still be sending them, nor undo its results.
#[tokio::test]
async fn a_relay_slower_than_the_lease_does_not_get_an_email_twice() {
    let app = spawn_app_with_smtp_and(|settings| {
        settings.mail.connections = 1;
        settings.mail.smtp_timeout = std::time::Duration::from_secs(1);
        settings.mail.lease = std::time::Duration::from_secs(3);
    })
    .await;
    let smtp = app.smtp();
    let incident = id(&app.create_incident(json!({})).await);
    for n in 0..10 {
        app.create_action(&incident, json!({"due_date": "2026-03-09", "owner_email": format!("owner{n}@example.com")}))
            .await;
    }
    let first = app.reminders();
    let (first_sender, second_sender) = (app.emails(), app.emails());
    assert_eq!(first.sweep(at(2026, 3, 11, 10), false).await.unwrap().len(), 10);

    // 10 e-mails one after another at 400 ms each outlast the first sender's 3 s lease.
    smtp.slow(std::time::Duration::from_millis(400));
    let early = tokio::spawn(async move { first_sender.deliver().await.unwrap() });
    tokio::time::sleep(std::time::Duration::from_millis(3500)).await;
    let late = second_sender.deliver().await.unwrap();
    let early = early.await.unwrap();

    let mut ids: Vec<String> = smtp.take().into_iter().map(|e| e.message_id).collect();
    let received = ids.len();
    ids.sort();
    ids.dedup();
    assert_eq!((received, ids.len()), (10, 10), "each e-mail arrived, once");
    assert_eq!(early.sent + late.sent, 10, "each sent e-mail recorded once: {early:?} {late:?}");
    let sent: Value = app.get("/api/v1/deliveries?status=sent").await.json().await.unwrap();
    assert_eq!(sent["items"].as_array().unwrap().len(), 10);
}

#[tokio::test]
async fn the_api_runs_sweeps_shows_the_outbox_and_limits_manual_reminders() {
    let app = spawn_app_with_smtp().await;
    let smtp = app.smtp();
    let incident = id(&app.create_incident(json!({})).await);
    // Due Tuesday 2030-01-08: far enough ahead that a real sweep today has nothing to say about it.
    let action = app.create_action(&incident, json!({"due_date": "2030-01-08", "title": "Patch the VPN"})).await;

    let dry: Value = app
        .post("/api/v1/reminders/run", &json!({"dry_run": true, "as_of": "2030-01-10T10:00:00Z"}))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(dry["emails"][0]["recipient"], "dana@example.com");
    assert_eq!(dry["emails"][0]["kinds"], json!(["overdue"]));
    assert_eq!(dry["emails"][0]["action_keys"], json!(["ACT-1"]));
    assert_eq!(dry["emails"][0]["delivery_id"], Value::Null);
    assert!(smtp.take().is_empty(), "a dry run sends nothing");
    let none: Value = app.get("/api/v1/deliveries").await.json().await.unwrap();
    assert_eq!(none["items"], json!([]), "and queues nothing");

    let problem = assert_problem(
        app.post("/api/v1/reminders/run", &json!({"as_of": "2026-03-11T10:00:00Z"})).await,
        422,
        "validation_failed",
    )
    .await;
    assert_eq!(error_fields(&problem), ["as_of"]);

    let path = format!("/api/v1/actions/{}/remind", id(&action));
    let editor = app.token("facilitator@example.com", &[Role::Editor]);
    let nudged = app.request_as(Some(&editor), Method::POST, &path, None).await;
    assert_eq!(nudged.status(), 202);
    let again = app.request_as(Some(&editor), Method::POST, &path, None).await;
    let retry_after: i64 = again.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((3000..=3600).contains(&retry_after), "{retry_after}");
    assert_problem(again, 429, "too_many_requests").await;

    let run: Value = app.post("/api/v1/reminders/run", &json!({})).await.json().await.unwrap();
    assert_eq!(run["delivered"]["sent"], 1, "the manual reminder went out with the run: {run}");
    let emails = smtp.take();
    assert_eq!(emails[0].subject, "Reminder: ACT-1 Patch the VPN");
    let outbox: Value = app.get("/api/v1/deliveries?status=sent").await.json().await.unwrap();
    assert_eq!(outbox["items"][0]["recipient"], "dana@example.com");

    let done = app
        .patch(&format!("/api/v1/actions/{}", id(&action)), &json!({"status": "done", "resolution": "Patched"}))
        .await;
    assert_eq!(done.status(), 200);
}

#[tokio::test]
async fn owner_links_refuse_expired_and_tampered_tokens_with_a_page() {
    let app = spawn_app().await;
    let incident = id(&app.create_incident(json!({})).await);
    let action = app.create_action(&incident, json!({"owner_email": "dana@example.com"})).await;
    let good = app.link(&id(&action), "dana@example.com").await;

    let tampered = format!("{}x", &good[..good.len() - 1]);
    let page = app.client.get(app.url(&format!("/a/{tampered}"))).send().await.unwrap();
    assert_eq!(page.status(), 401);
    assert!(page.headers()["content-type"].to_str().unwrap().starts_with("text/html"));
    assert!(page.text().await.unwrap().contains("This link is not valid."));

    let owner = action_tracker::domain::email::EmailAddress::parse("owner", "dana@example.com").unwrap();
    let action_id = uuid::Uuid::parse_str(&id(&action)).unwrap();
    let old = app.link_keys().sign(action_id, &owner, 1, Utc::now() - chrono::Duration::days(8));
    let expired = app.client.get(app.url(&format!("/a/{old}"))).send().await.unwrap();
    assert_eq!(expired.status(), 401);
    assert!(expired.text().await.unwrap().contains("This link has expired."));

    let api_token = app.token("dana@example.com", &[Role::Admin]);
    assert_eq!(
        app.client.get(app.url(&format!("/a/{api_token}"))).send().await.unwrap().status(),
        401,
        "an API token is no link"
    );

    let no_resolution = app.client.post(app.url(&format!("/a/{good}"))).form(&[("op", "done")]).send().await.unwrap();
    assert_eq!(no_resolution.status(), 422);
    let snoozed = app.client.post(app.url(&format!("/a/{good}"))).form(&[("op", "snooze")]).send().await.unwrap();
    assert_eq!(snoozed.status(), 200);
    let current: Value = app.get(&format!("/api/v1/actions/{}", id(&action))).await.json().await.unwrap();
    let in_a_week = (Utc::now().date_naive() + chrono::Duration::days(7)).to_string();
    assert_eq!(current["snoozed_until"], in_a_week);
    assert_eq!(current["status"], "open");

    app.patch(&format!("/api/v1/actions/{}", id(&action)), &json!({"owner_email": "sam@example.com"})).await;
    let handed_over = app.client.get(app.url(&format!("/a/{good}"))).send().await.unwrap();
    assert_eq!(handed_over.status(), 403);
}

/// A link is for one decision about the action the reminder described: used once, or once the action
/// moved on, it shows the action as it is and changes nothing, so it can never reopen verified work.
#[tokio::test]
async fn a_one_click_link_decides_once_and_never_reopens_finished_work() {
    let app = spawn_app().await;
    let incident = id(&app.create_incident(json!({})).await);
    let action = app.create_action(&incident, json!({"owner_email": "dana@example.com"})).await;
    let path = format!("/api/v1/actions/{}", id(&action));
    let link = app.link(&id(&action), "dana@example.com").await;
    let page = |link: String| app.client.get(app.url(&format!("/a/{link}"))).send();
    let choose = |link: String, op: &'static str| {
        app.client.post(app.url(&format!("/a/{link}"))).form(&[("op", op), ("resolution", "Keys rotated.")]).send()
    };

    let first = page(link.clone()).await.unwrap();
    assert_eq!(first.status(), 200);
    assert!(first.text().await.unwrap().contains("Mark it done"));
    let done = choose(link.clone(), "done").await.unwrap();
    assert_eq!(done.status(), 200);
    assert!(!done.text().await.unwrap().contains("<form"), "one decision: no buttons after it");
    let sam = app.token("sam@example.com", &[Role::Editor]);
    let verify = json!({"evidence": "Checked the key store."});
    let verified = app.request_as(Some(&sam), reqwest::Method::POST, &format!("{path}/verify"), Some(&verify)).await;
    assert_eq!(verified.status(), 200);
    let before: Value = app.get(&path).await.json().await.unwrap();

    // The same link again, for each choice: nothing changes, the page says why and shows the state.
    for op in ["start", "snooze", "done"] {
        let replayed = choose(link.clone(), op).await.unwrap();
        assert_eq!(replayed.status(), 409, "{op}");
        let text = replayed.text().await.unwrap();
        assert!(text.contains("This link has been used") && text.contains("status <strong>done</strong>"), "{text}");
        assert!(!text.contains("<form"), "{text}");
    }
    let shown = page(link.clone()).await.unwrap();
    assert_eq!(shown.status(), 409);
    let after: Value = app.get(&path).await.json().await.unwrap();
    assert_eq!(after, before, "verified work stays done and verified");
    assert_eq!(after["verified_by"], "sam@example.com");

    // An unused link ends when the action moves on, here a new due date: a newer reminder brings a new one.
    let other = app.create_action(&incident, json!({"owner_email": "dana@example.com"})).await;
    let other_path = format!("/api/v1/actions/{}", id(&other));
    let unused = app.link(&id(&other), "dana@example.com").await;
    let moved = json!({"due_date": "2030-02-01", "due_date_change_reason": "Waiting for hardware"});
    assert_eq!(app.patch(&other_path, &moved).await.status(), 200);
    assert_eq!(choose(unused.clone(), "start").await.unwrap().status(), 409);
    let current: Value = app.get(&other_path).await.json().await.unwrap();
    assert_eq!(current["status"], "open");
    let fresh = app.link(&id(&other), "dana@example.com").await;
    assert_eq!(choose(fresh, "start").await.unwrap().status(), 200);
}

/// A choice that would change nothing is not offered, and refused as such: a link is spent by the change
/// it makes, and a page never thanks the owner for one that did not happen.
#[tokio::test]
async fn a_link_choice_that_changes_nothing_is_refused_and_the_link_keeps_its_one_decision() {
    let app = spawn_app().await;
    let incident = id(&app.create_incident(json!({})).await);
    let action =
        app.create_action(&incident, json!({"owner_email": "dana@example.com", "status": "in_progress"})).await;
    let link = app.link(&id(&action), "dana@example.com").await;
    let page = app.client.get(app.url(&format!("/a/{link}"))).send().await.unwrap().text().await.unwrap();
    assert!(!page.contains("I am working on it") && page.contains("Mark it done"), "{page}");
    let start = app.client.post(app.url(&format!("/a/{link}"))).form(&[("op", "start")]).send().await.unwrap();
    assert_eq!(start.status(), 422);
    assert!(start.text().await.unwrap().contains("already in progress"));
    let unchanged: Value = app.get(&format!("/api/v1/actions/{}", id(&action))).await.json().await.unwrap();
    assert_eq!(unchanged["version"], action["version"]);

    let snooze = app.client.post(app.url(&format!("/a/{link}"))).form(&[("op", "snooze")]).send().await.unwrap();
    assert_eq!(snooze.status(), 200, "the one decision");
    let again = app.link(&id(&action), "dana@example.com").await;
    let twice = app.client.post(app.url(&format!("/a/{again}"))).form(&[("op", "snooze")]).send().await.unwrap();
    assert_eq!(twice.status(), 422);
    assert!(twice.text().await.unwrap().contains("already snoozed until"));
    let spent = app.client.post(app.url(&format!("/a/{link}"))).form(&[("op", "done"), ("resolution", "x")]);
    assert_eq!(spent.send().await.unwrap().status(), 409, "the first link made its decision");
}

#[test]
fn the_remind_command_runs_one_dry_sweep() {
    let dir = tempfile::tempdir().unwrap();
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_action-tracker"))
        .args(["remind", "--once", "--dry-run", "--as-of", "2026-03-11T10:00:00Z"])
        .env("DATABASE_URL", dir.path().join("tracker.db"))
        .env("DATA_DIR", dir.path())
        .env_remove("SMTP_URL")
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    assert!(output.stdout.is_empty(), "an empty database has nothing to remind of");
    assert!(dir.path().join("link-secret").exists(), "the embedded default generates the link secret");
}

#[tokio::test]
async fn the_facilitator_hears_about_a_review_not_held_once_per_period_until_it_is() {
    let app = spawn_app_with_smtp().await;
    let smtp = app.smtp();
    // Resolved Monday 2026-03-02: the review is due Monday 2026-03-16.
    let resolved = json!({"reference": "SEC-8", "title": "Ransomware", "status": "resolved",
                          "detected_at": "2026-03-01T08:00:00Z", "resolved_at": "2026-03-02T12:00:00Z"});
    let incident = id(&app.create_incident(resolved.clone()).await);
    let review = id(&app.create_review(&incident, json!({"facilitator_email": "facilitator@example.com"})).await);
    // No review planned at all: the escalation contact hears about it instead.
    let mut unplanned = resolved;
    unplanned["reference"] = json!("SEC-9");
    app.create_incident(unplanned).await;

    let reminders = app.reminders();
    let sender = app.emails();
    let mut received: BTreeMap<String, Vec<(u32, String)>> = BTreeMap::new();
    for day in 1..=31 {
        // Two sweeps a day, as replicas or a short interval would run them: still one e-mail per period.
        for hour in [10, 15] {
            reminders.sweep(at(2026, 3, day, hour), false).await.unwrap();
            sender.deliver().await.unwrap();
        }
        for email in smtp.take() {
            received.entry(email.to[0].clone()).or_default().push((day, email.subject));
        }
    }
    let days = |who: &str| -> Vec<u32> { received[who].iter().map(|(d, _)| *d).collect() };
    assert_eq!(days("facilitator@example.com"), [13, 17, 20, 23, 26, 30], "{received:?}");
    assert_eq!(received["facilitator@example.com"][0].1, "Lessons-learned review due: SEC-8 Ransomware");
    assert_eq!(received["facilitator@example.com"][1].1, "Lessons-learned review overdue: SEC-8 Ransomware");
    assert_eq!(days("ciso@example.com"), [13, 17, 20, 23, 26, 30], "{received:?}");

    app.patch(&format!("/api/v1/reviews/{review}"), &json!({"status": "held"})).await;
    reminders.sweep(at(2026, 4, 2, 10), false).await.unwrap();
    sender.deliver().await.unwrap();
    let after: Vec<String> = smtp.take().into_iter().map(|e| e.to[0].clone()).collect();
    assert_eq!(after, ["ciso@example.com"], "a held review stops its reminders; the unplanned one goes on");
}

#[tokio::test]
async fn owners_get_their_reminders_on_their_own_local_day() {
    let app = spawn_app_with_smtp().await;
    let smtp = app.smtp();
    app.put_person("kiri@example.com", json!({"timezone": "Pacific/Auckland"})).await;
    app.put_person("lee@example.com", json!({"timezone": "America/Los_Angeles"})).await;
    let incident = id(&app.create_incident(json!({})).await);
    for owner in ["kiri@example.com", "lee@example.com"] {
        app.create_action(&incident, json!({"owner_email": owner, "due_date": "2026-03-10"})).await;
    }
    let reminders = app.reminders();
    let sender = app.emails();
    let mut first_overdue: BTreeMap<String, chrono::DateTime<Utc>> = BTreeMap::new();
    // Hourly sweeps from Tuesday 2026-03-10 00:00 UTC to Thursday 00:00 UTC.
    for hour in 0..48 {
        let now = at(2026, 3, 10, 0) + chrono::Duration::hours(hour);
        reminders.sweep(now, false).await.unwrap();
        sender.deliver().await.unwrap();
        for email in smtp.take() {
            if email.subject.contains("overdue") {
                first_overdue.entry(email.to[0].clone()).or_insert(now);
            }
        }
    }
    // 09:00 on Wednesday the 11th, local time: NZDT is UTC+13, PDT is UTC-7.
    assert_eq!(first_overdue["kiri@example.com"], at(2026, 3, 10, 20), "{first_overdue:?}");
    assert_eq!(first_overdue["lee@example.com"], at(2026, 3, 11, 16), "{first_overdue:?}");
}

/// Kiri works in Auckland, her manager Lee in Los Angeles: the escalation about Kiri's action waits for
/// Lee's morning, not Kiri's.
#[tokio::test]
async fn an_escalation_keeps_the_manager_s_hours() {
    let app = spawn_app_with_smtp().await;
    let smtp = app.smtp();
    app.put_person("kiri@example.com", json!({"timezone": "Pacific/Auckland", "manager_email": "lee@example.com"}))
        .await;
    app.put_person("lee@example.com", json!({"timezone": "America/Los_Angeles"})).await;
    let incident = id(&app.create_incident(json!({})).await);
    // Due Monday 2026-03-02: eight days overdue on Tuesday the 10th, past REMINDER_ESCALATE_AFTER_DAYS.
    app.create_action(&incident, json!({"owner_email": "kiri@example.com", "due_date": "2026-03-02"})).await;
    let reminders = app.reminders();
    let sender = app.emails();
    let mut first: BTreeMap<String, chrono::DateTime<Utc>> = BTreeMap::new();
    // Hourly from Tuesday 07:00 UTC: 20:00 in Auckland, midnight in Los Angeles.
    for hour in 0..24 {
        let now = at(2026, 3, 10, 7) + chrono::Duration::hours(hour);
        reminders.sweep(now, false).await.unwrap();
        sender.deliver().await.unwrap();
        for email in smtp.take() {
            first.entry(email.to[0].clone()).or_insert(now);
        }
    }
    assert_eq!(first["kiri@example.com"], at(2026, 3, 10, 7), "Kiri's evening: {first:?}");
    assert_eq!(first["lee@example.com"], at(2026, 3, 10, 16), "09:00 PDT: {first:?}");
}

#[tokio::test]
async fn escalations_go_to_the_manager_and_reminders_for_someone_who_left_go_to_theirs() {
    let app = spawn_app_with_smtp().await;
    let smtp = app.smtp();
    app.put_person("dana@example.com", json!({"manager_email": "morgan@example.com"})).await;
    app.put_person("gone@example.com", json!({"manager_email": "pat@example.com", "active": false})).await;
    let incident = id(&app.create_incident(json!({})).await);
    // Due Monday 2026-03-02; Wednesday the 11th is 9 days later: overdue and escalated.
    for owner in ["dana@example.com", "gone@example.com"] {
        app.create_action(&incident, json!({"owner_email": owner, "due_date": "2026-03-02"})).await;
    }
    let reminders = app.reminders();
    let sender = app.emails();
    reminders.sweep(at(2026, 3, 11, 10), false).await.unwrap();
    sender.deliver().await.unwrap();
    let mut got: Vec<(String, String)> = smtp.take().into_iter().map(|e| (e.to[0].clone(), e.subject)).collect();
    got.sort();
    assert_eq!(
        got,
        [
            ("dana@example.com".to_owned(), "1 overdue corrective action".to_owned()),
            ("morgan@example.com".to_owned(), "1 escalated corrective action".to_owned()),
            ("pat@example.com".to_owned(), "1 escalated and 1 overdue corrective actions".to_owned()),
        ],
        "the escalation contact is only the fallback, and nobody writes to someone who left"
    );
}

#[tokio::test]
async fn a_sweep_over_more_recipients_than_one_round_decides_as_if_in_one_piece() {
    let app = spawn_app().await;
    // What the sweep decides is the point; the hundreds of e-mails it queues are not sent here.
    app.expect_unsent();
    // 700 owners and the escalation contact are two rounds; the contact's comes first and is stored
    // before most owners' reminders are decided.
    let seeded = app
        .command(&["seed", "--incidents", "2", "--actions", "1500", "--owners", "700", "--all-overdue"])
        .output()
        .unwrap();
    assert!(seeded.status.success(), "{}", String::from_utf8_lossy(&seeded.stderr));
    let mut day = Utc::now().date_naive();
    while matches!(day.weekday(), Weekday::Sat | Weekday::Sun) {
        day = day.succ_opt().unwrap();
    }
    let noon = day.and_hms_opt(12, 0, 0).unwrap().and_utc();

    let mut expected: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for action in app.walk("/api/v1/actions?limit=200").await {
        let key = action["key"].as_str().unwrap().to_owned();
        let due: NaiveDate = action["due_date"].as_str().unwrap().parse().unwrap();
        expected.entry(action["owner_email"].as_str().unwrap().to_owned()).or_default().push(key.clone());
        if (day - due).num_days() >= 7 {
            expected.entry("ciso@example.com".to_owned()).or_default().push(key);
        }
    }
    expected.values_mut().for_each(|keys| keys.sort());
    assert!(expected.len() > 500 && expected["ciso@example.com"].len() > 100, "{}", expected.len());
    let differing = |queued: &[action_tracker::jobs::reminders::Queued]| {
        let mut keys: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for email in queued {
            let mut sorted = email.action_keys.clone();
            sorted.sort();
            assert!(keys.insert(email.recipient.clone(), sorted).is_none(), "two e-mails to {}", email.recipient);
        }
        let mut differing: Vec<&String> =
            keys.keys().chain(expected.keys()).filter(|r| keys.get(*r) != expected.get(*r)).collect();
        differing.dedup();
        differing.into_iter().cloned().collect::<BTreeSet<String>>()
    };
    let reminders = app.reminders();
    let dry_run = reminders.sweep(noon, true).await.unwrap();
    assert_eq!(differing(&dry_run), BTreeSet::new(), "recipients whose e-mail is not what is due");
    let queued = reminders.sweep(noon, false).await.unwrap();
    assert_eq!(differing(&queued), BTreeSet::new(), "storing one round changes no decision of the next");
    assert!(reminders.sweep(noon, false).await.unwrap().is_empty(), "nothing twice");
}

/// `remind --once --as-of` against the test's own database, as cron would run it.
fn remind_once(app: &TestApp, smtp: &SmtpServer, as_of: &str) -> String {
    let output = app
        .command(&["remind", "--once", "--as-of", as_of])
        .env("SMTP_URL", smtp.url())
        .env("REMINDER_ESCALATION_EMAIL", "ciso@example.com")
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8(output.stdout).unwrap()
}

#[tokio::test]
async fn cron_runs_of_remind_once_send_the_review_reminder_once_per_period() {
    let app = spawn_app_with_smtp().await;
    let smtp = app.smtp();
    let incident = id(&app
        .create_incident(json!({"reference": "SEC-5", "title": "Lost laptop", "status": "resolved",
                                "resolved_at": "2026-03-02T12:00:00Z"}))
        .await);
    app.create_review(&incident, json!({"facilitator_email": "facilitator@example.com"})).await;

    // Tuesday the 17th: the review (due Monday the 16th) is one day overdue.
    let first = remind_once(&app, smtp, "2026-03-17T10:00:00Z");
    assert_eq!(first, "facilitator@example.com\tLessons-learned review overdue: SEC-5 Lost laptop\t\n");
    assert_eq!(remind_once(&app, smtp, "2026-03-17T16:00:00Z"), "", "the same period is not queued twice");
    assert_eq!(remind_once(&app, smtp, "2026-03-18T10:00:00Z"), "", "the next one waits REMINDER_REPEAT_DAYS");
    assert_eq!(remind_once(&app, smtp, "2026-03-20T10:00:00Z").lines().count(), 1);
    let received: Vec<String> = smtp.take().into_iter().map(|e| e.subject).collect();
    assert_eq!(received.len(), 2, "{received:?}");
}

/// SMTP_CONNECTIONS is how many conversations the sender holds open at once: a relay that allows two
/// never sees a third, and two are used when there is enough to send.
#[tokio::test]
async fn the_sender_keeps_to_smtp_connections() {
    let app = spawn_app_with_smtp_and(|settings| {
        settings.mail.connections = 2;
    })
    .await;
    let smtp = app.smtp();
    smtp.slow(std::time::Duration::from_millis(50));
    let incident = id(&app.create_incident(json!({})).await);
    for owner in 0..12 {
        let body = json!({"due_date": "2026-03-10", "owner_email": format!("owner{owner}@example.com")});
        app.create_action(&incident, body).await;
    }
    let reminders = app.reminders();
    let sender = app.emails();
    assert_eq!(reminders.sweep(at(2026, 3, 11, 10), false).await.unwrap().len(), 12);
    assert_eq!(sender.deliver().await.unwrap().sent, 12);
    assert_eq!(smtp.count(), 12);
    assert_eq!(smtp.most_messages_at_once(), 2);
}

/// A relay that accepts the connection and then says nothing (overloaded, or a half-open firewall) must
/// not hold the sender: after SMTP_TIMEOUT the e-mail goes back to the outbox for a retry.
#[tokio::test]
async fn a_relay_that_never_answers_is_given_up_on_after_smtp_timeout() {
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("smtp://127.0.0.1:{}", silent.local_addr().unwrap().port());
    std::thread::spawn(move || {
        let held: Vec<_> = silent.incoming().take(4).collect();
        std::thread::sleep(std::time::Duration::from_secs(60));
        drop(held);
    });
    let app = spawn_app_with(move |settings| {
        settings.mail.smtp_url = Some(Secret::new(url));
        settings.mail.smtp_timeout = std::time::Duration::from_secs(1);
    })
    .await;
    // The relay never answers: the e-mail waits for its next attempt, which is the point.
    app.expect_unsent();
    let incident = id(&app.create_incident(json!({})).await);
    app.create_action(&incident, json!({"due_date": "2026-03-10", "owner_email": "dana@example.com"})).await;
    let reminders = app.reminders();
    let sender = app.emails();
    reminders.sweep(at(2026, 3, 11, 10), false).await.unwrap();

    let report = tokio::time::timeout(std::time::Duration::from_secs(20), sender.deliver())
        .await
        .expect("the sender gave up on the silent relay")
        .unwrap();
    assert_eq!((report.sent, report.retrying), (0, 1));
    let deliveries: Value = app.get("/api/v1/deliveries").await.json().await.unwrap();
    let last_error = deliveries["items"][0]["last_error"].as_str().unwrap_or_default().to_owned();
    assert!(last_error.contains("did not answer within 1s"), "{deliveries}");
}

/// An action was extended after its overdue reminders ran out; when it slips past the new date, the owner
/// hears about it again (and before that, that it is due soon).
#[tokio::test]
async fn moving_the_due_date_starts_the_ladder_again() {
    let app = spawn_app_with_smtp_and(|settings| {
        settings.reminders.max_overdue = 1;
        settings.reminders.escalate_after_days = 0;
    })
    .await;
    let smtp = app.smtp();
    let incident = id(&app.create_incident(json!({})).await);
    let action = id(&app.create_action(&incident, json!({"due_date": "2026-03-09"})).await);
    let reminders = app.reminders();
    let sender = app.emails();
    let sent_on = |day: u32| {
        let reminders = std::sync::Arc::clone(&reminders);
        let (sender, smtp) = (&sender, &smtp);
        async move {
            reminders.sweep(at(2026, 3, day, 10), false).await.unwrap();
            sender.deliver().await.unwrap();
            smtp.take().into_iter().map(|e| e.subject).collect::<Vec<_>>()
        }
    };
    assert_eq!(sent_on(10).await.len(), 1, "overdue the day after");
    assert!(sent_on(13).await.is_empty(), "REMINDER_MAX_OVERDUE is 1 here: the ladder is spent");

    let extended = json!({"due_date": "2026-03-18", "due_date_change_reason": "Vendor patch slipped"});
    assert_eq!(app.request(Method::PATCH, &format!("/api/v1/actions/{action}"), Some(&extended)).await.status(), 200);
    let due_soon = sent_on(16).await;
    assert_eq!(due_soon.len(), 1, "due soon for the new date");
    assert!(due_soon[0].contains("due-soon"), "{due_soon:?}");
    assert!(sent_on(17).await.is_empty());
    let overdue = sent_on(19).await;
    assert_eq!(overdue.len(), 1, "overdue again for the new date");
    assert!(overdue[0].contains("overdue"), "{overdue:?}");

    let history: Vec<Value> = app.get(&format!("/api/v1/actions/{action}/reminders")).await.json().await.unwrap();
    let periods: Vec<&str> = history.iter().map(|r| r["period"].as_str().unwrap()).collect();
    assert_eq!(periods, ["2026-03-09/1", "2026-03-18/due_soon", "2026-03-18/1"]);
}

/// The relay was down when the reminder was queued; by the time it is back, the owner has closed the
/// action. The e-mail is withdrawn, not sent late; a digest with something still due goes out.
#[tokio::test]
async fn an_email_whose_actions_were_closed_meanwhile_is_withdrawn_unsent() {
    let app = spawn_app_with_smtp().await;
    let smtp = app.smtp();
    smtp.refuse(true);
    let incident = id(&app.create_incident(json!({})).await);
    let closed = id(&app.create_action(&incident, json!({"due_date": "2026-03-09"})).await);
    let pair = json!({"due_date": "2026-03-09", "owner_email": "sam@example.com"});
    let sams_closed = id(&app.create_action(&incident, pair.clone()).await);
    app.create_action(&incident, pair).await;
    let reminders = app.reminders();
    let sender = app.emails();
    assert_eq!(reminders.sweep(at(2026, 3, 11, 10), false).await.unwrap().len(), 2);
    assert_eq!(sender.deliver().await.unwrap().retrying, 2);

    let done = json!({"status": "done", "resolution": "Rotated"});
    for action in [&closed, &sams_closed] {
        assert_eq!(app.request(Method::PATCH, &format!("/api/v1/actions/{action}"), Some(&done)).await.status(), 200);
    }
    smtp.refuse(false);
    assert_eq!(sender.deliver().await.unwrap().sent, 1, "only Sam's digest: one of its actions is still due");
    let received = smtp.take();
    assert_eq!(received.iter().map(|e| e.to[0].as_str()).collect::<Vec<_>>(), ["sam@example.com"]);
    let outbox: Value = app.get("/api/v1/deliveries").await.json().await.unwrap();
    assert_eq!(outbox["items"].as_array().unwrap().len(), 1, "Dana's e-mail left the outbox: {outbox}");
    let history: Vec<Value> = app.get(&format!("/api/v1/actions/{closed}/reminders")).await.json().await.unwrap();
    assert!(history.is_empty(), "and with it the reminder that was never sent: {history:?}");
}

/// A round is planned from one read and recorded later; an action deleted in between has no reminders to
/// differ by, yet its reminder cannot be stored. The round must be read again, not fail the sweep.
#[tokio::test]
async fn a_round_whose_action_was_deleted_while_it_was_planned_is_read_again() {
    use action_tracker::db::reminders::{NewEmail, Recorded, Scope, Subject};
    use action_tracker::domain::outbox::Outgoing;
    use action_tracker::domain::reminder::{ReminderKind, Rung};

    let app = spawn_app().await;
    let incident = id(&app.create_incident(json!({})).await);
    let action =
        app.create_action(&incident, json!({"due_date": "2026-03-09", "owner_email": "dana@example.com"})).await;
    let db = action_tracker::db::Db::connect(&app.settings.database).unwrap();
    let now = at(2026, 3, 11, 10);
    let scope = Scope {
        latest_today: NaiveDate::from_ymd_opt(2026, 3, 11).unwrap(),
        horizon: NaiveDate::from_ymd_opt(2026, 3, 14).unwrap(),
        contact: None,
        escalate_due_by: None,
    };
    let due = action_tracker::db::reminders::due(&db, scope.clone(), now).await.unwrap();
    let input = action_tracker::db::reminders::round(&db, scope, due.recipients, due.reviews).await.unwrap();
    assert_eq!(input.actions.len(), 1, "the overdue action is planned for");
    let seen = input.seen();

    assert_eq!(app.delete(&format!("/api/v1/actions/{}", id(&action))).await.status(), 204);
    let action_id = id(&action).parse().unwrap();
    let email = NewEmail {
        delivery_id: uuid::Uuid::now_v7(),
        email: Outgoing {
            recipient: "dana@example.com".into(),
            recipient_name: None,
            subject: "Overdue: an action".into(),
            text: "text".into(),
            html: "<p>html</p>".into(),
            message_id: "<deleted-meanwhile@example.com>".into(),
        },
        reminders: vec![(
            Subject::Action(action_id),
            Rung { kind: ReminderKind::Overdue, period: "1".into() }
                .of_due_date(NaiveDate::from_ymd_opt(2026, 3, 9).unwrap()),
        )],
    };
    let recorded = action_tracker::db::reminders::record(&db, seen, vec![email], now).await;
    assert_eq!(recorded.unwrap(), Recorded::Stale, "read again, not refused as a conflict");
    assert_eq!(app.count_sql("SELECT count(*) FROM deliveries"), 0, "nothing was stored");
}
