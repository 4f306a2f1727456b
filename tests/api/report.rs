//! The final incident report, in the three formats, built from a whole incident.

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{TestApp, assert_problem, id, spawn_app};

const SECTIONS: [&str; 13] = [
    "Executive summary",
    "Incident details",
    "Detection and analysis",
    "Containment, eradication and recovery",
    "Impact assessment",
    "Root cause analysis",
    "Indicators of compromise",
    "Lessons learned",
    "Recommendations",
    "Metrics",
    "Appendices",
    "Evidence and chain of custody",
    "Full timeline",
];

/// One incident from detection to review, with a hostile title.
async fn reviewed_incident(app: &TestApp) -> String {
    let incident = id(&app
        .create_incident(json!({
            "reference": "SEC-42", "title": "<script>alert('x')</script> Credential phishing", "severity": "high",
            "category": "phishing", "status": "resolved", "detected_at": "2026-03-02T08:15:00Z",
            "contained_at": "2026-03-02T11:40:00Z", "resolved_at": "2026-03-04T17:00:00Z",
            "discovered_by": "SOC analyst on duty",
            "impact": {
                "business_impact": "Suppliers went unpaid for a day. <img src=x onerror=alert(1)>",
                "affected_systems": [{"name": "sso.example.com", "kind": "application", "role": "impersonated"}],
                "data_exposed": ["credentials"], "records_exposed": 3, "downtime_minutes": 240,
                "cost": {"amount": "12500", "currency": "EUR"},
                "notification": {"regulator": true, "deadline": "2026-03-05T08:15:00Z"}
            },
            "root_cause": {"description": "Newly registered domains were not blocked.", "category": "process_gap",
                           "contributing_factors": ["SMS codes as the second factor"]},
            "attack": {"vector": "email", "techniques": [{"id": "T1566.002", "note": "Link to a fake SSO page"}]}
        }))
        .await);
    app.create_timeline_entry(
        &incident,
        json!({"occurred_at": "2026-03-02T08:15:00Z", "kind": "detection",
        "source": "EDR alert", "description": "Credential page opened by three finance users"}),
    )
    .await;
    app.create_timeline_entry(
        &incident,
        json!({"occurred_at": "2026-03-02T11:40:00Z", "kind": "containment",
        "description": "Accounts disabled, sessions revoked"}),
    )
    .await;
    let review = id(&app
        .create_review(
            &incident,
            json!({
                "status": "held", "held_at": "2026-03-09T14:00:00Z",
                "attendees": [{"email": "dana@example.com", "name": "Dana Reyes", "role": "IT Security"}],
                "answers": {"what_happened": "Three users entered credentials on a fake SSO page.",
                            "do_differently": "Block newly registered domains at the proxy."}
            }),
        )
        .await);
    let indicators = format!("/api/v1/incidents/{incident}/indicators");
    for body in [
        json!({"type": "url", "value": "https://login-examp1e.com/sso?a=<b>", "tlp": "amber", "confidence": 90,
               "first_seen": "2026-03-02T08:01:00Z", "source": "proxy logs", "description": "The *fake* SSO page"}),
        json!({"type": "domain", "value": "login-examp1e.com", "tlp": "green"}),
        json!({"type": "ipv4", "value": "203.0.113.66", "tlp": "red", "description": "Attacker VPN exit"}),
    ] {
        app.post(&indicators, &body).await.error_for_status().unwrap();
    }
    let actions = json!({"actions": [
        {"title": "Enforce FIDO2 for finance", "owner_email": "dana@example.com", "owner_name": "Dana Reyes",
         "due_date": "2026-04-01", "status": "done", "resolution": "Keys issued"},
        {"title": "Block new domains", "owner_email": "lee@example.com", "due_date": "2026-04-15"}
    ]});
    let created: Value = app.post(&format!("/api/v1/reviews/{review}/actions"), &actions).await.json().await.unwrap();
    let done = id(&created["items"][0]);
    app.post(&format!("/api/v1/actions/{done}/verify"), &json!({"evidence": "Checked the IdP"})).await;
    let item: Value = app
        .post(
            &format!("/api/v1/incidents/{incident}/evidence"),
            &json!({"description": "Proxy log export | <b>March 2</b>", "kind": "log",
                    "location": "s3://forensics/sec-42/proxy.log.gz", "sha256": "9F86D081884C7D659A2FEAA0C55AD015A3BF4F1B2B0B822CD15D6C15B0F00A08",
                    "collected_by": "Sam Responder", "collected_at": "2026-03-02T10:30:00Z"}),
        )
        .await
        .json()
        .await
        .unwrap();
    let custody = format!("/api/v1/evidence/{}/custody", id(&item));
    app.post(
        &custody,
        &json!({"from": "Sam Responder", "to": "Legal hold vault", "at": "2026-03-03T09:00:00Z", "purpose": "legal hold"}),
    )
    .await
    .error_for_status()
    .unwrap();
    let effort = format!("/api/v1/incidents/{incident}/effort");
    for body in [
        json!({"person": "sam@example.com", "phase": "analysis", "minutes": 150}),
        json!({"person": "dana@example.com", "phase": "containment", "minutes": 90}),
        json!({"person": "sam@example.com", "phase": "post_incident", "minutes": 1500}),
    ] {
        app.post(&effort, &body).await.error_for_status().unwrap();
    }
    incident
}

async fn report(app: &TestApp, incident: &str, accept: Option<&str>) -> reqwest::Response {
    let mut request = app.builder(Method::GET, &format!("/api/v1/incidents/{incident}/report"));
    if let Some(accept) = accept {
        request = request.header("accept", accept);
    }
    request.send().await.unwrap()
}

#[tokio::test]
async fn markdown_by_default_with_every_section_and_the_action_table() {
    let app = spawn_app().await;
    let incident = reviewed_incident(&app).await;
    let response = report(&app, &incident, None).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "text/markdown; charset=utf-8");
    let markdown = response.text().await.unwrap();
    for section in SECTIONS {
        assert!(markdown.contains(&format!("## {section}")), "missing {section}:\n{markdown}");
    }
    assert!(markdown.contains("\\<script\\>"), "markup in user text is escaped:\n{markdown}");
    assert!(!markdown.contains("<script>"));
    assert!(markdown.contains("| Detected → contained | 3 h 25 min |"), "{markdown}");
    assert!(
        markdown
            .contains("| ACT-1 | Enforce FIDO2 for finance | Dana Reyes | medium | 2026-04-01 | done | Verified by"),
        "{markdown}"
    );
    assert!(markdown.contains("| ACT-2 | Block new domains | lee@example.com |"), "{markdown}");
    assert!(markdown.contains("### Exactly what happened, and at what times?"));
    assert!(markdown.contains("Block newly registered domains at the proxy."));
    assert!(markdown.contains("| Agreed | 2 |") && markdown.contains("| Verified | 1 |"), "{markdown}");
    assert!(markdown.contains("| Attack vector | email |"), "{markdown}");
    assert!(markdown.contains("| T1566.002 | Link to a fake SSO page |"), "{markdown}");
    assert!(markdown.contains("| sso.example.com | application | impersonated |"), "{markdown}");
    assert!(markdown.contains("Suppliers went unpaid for a day. \\<img src=x onerror=alert(1)\\>"), "{markdown}");
    for row in [
        "| Data exposed | credentials |",
        "| Records exposed | 3 |",
        "| Downtime | 4 h |",
        "| People affected | unknown |",
        "| Cost | 12500.00 EUR |",
        "| Notification owed | to the regulator, by 2026-03-05 08:15 UTC |",
    ] {
        assert!(markdown.contains(row), "{row} in\n{markdown}");
    }
    assert!(markdown.contains("Category: process gap\n\nNewly registered domains were not blocked."), "{markdown}");
    assert!(markdown.contains("- SMS codes as the second factor"), "{markdown}");
    // Indicators are defanged, so that nobody opens them from the report, and still escaped.
    assert!(
        markdown.contains("| url | hxxps\\[\\://\\]login-examp1e\\[.\\]com/sso?a=%3Cb%3E | TLP:AMBER | 90 | 2026-03-02 08:01 UTC – ? | proxy logs | The \\*fake\\* SSO page |"),
        "{markdown}"
    );
    assert!(markdown.contains("| domain | login-examp1e\\[.\\]com | TLP:GREEN |"), "{markdown}");
    assert!(
        markdown.contains("| ipv4 | 203\\[.\\]0\\[.\\]113\\[.\\]66 | TLP:RED |"),
        "the admin sees TLP:RED: {markdown}"
    );
    assert!(!markdown.contains("login-examp1e.com"), "no live indicator anywhere: {markdown}");
    // Each phase holds its answers and its part of the timeline; the appendix holds all of it.
    let detection =
        &markdown[markdown.find("## Detection and analysis").unwrap()..markdown.find("## Containment").unwrap()];
    assert!(
        detection.contains("### Exactly what happened") && detection.contains("Credential page opened"),
        "{detection}"
    );
    assert!(!detection.contains("Accounts disabled"), "{detection}");
    // Time spent, in hours (a day of work is not 24 of them), by phase and person.
    for row in [
        "| analysis | 2 h 30 min |",
        "| eradication | 0 min |",
        "| post incident | 25 h |",
        "| Total | 29 h |",
        "| sam@example.com | 27 h 30 min |",
        "| dana@example.com | 1 h 30 min |",
    ] {
        assert!(markdown.contains(row), "{row} in\n{markdown}");
    }
    assert!(markdown.contains("The team recorded 29 h of work on it."), "{markdown}");
    // The evidence appendix: every item, its hash, where it is (not a link) and who holds it, then its custody.
    assert!(
        markdown.contains(
            "| E1 | Proxy log export \\| \\<b\\>March 2\\</b\\> | log | s3\\://forensics/sec-42/proxy.log.gz | \
             9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08 | 2026-03-02 10:30 UTC by Sam Responder | \
             Legal hold vault |"
        ),
        "{markdown}"
    );
    assert!(markdown.contains("#### Custody of E1\n"), "{markdown}");
    assert!(markdown.contains("| 2026-03-02 10:30 UTC | — | Sam Responder | collected |"), "{markdown}");
    assert!(
        markdown.contains("| 2026-03-03 09:00 UTC | Sam Responder | Legal hold vault | legal hold |"),
        "{markdown}"
    );
    let appendix = &markdown[markdown.find("### Full timeline").unwrap()..];
    assert!(appendix.contains("Credential page opened") && appendix.contains("Accounts disabled"), "{appendix}");
    let order: Vec<usize> =
        SECTIONS.iter().map(|s| markdown.find(&format!("# {s}\n")).unwrap_or_else(|| panic!("{s}"))).collect();
    assert!(order.is_sorted(), "sections in the report's order: {order:?}");

    let viewer = app.token("viewer@example.com", &[action_tracker::domain::principal::Role::Viewer]);
    let path = format!("/api/v1/incidents/{incident}/report");
    let seen = app.request_as(Some(&viewer), Method::GET, &path, None).await.text().await.unwrap();
    assert!(!seen.contains("203\\[.\\]0\\[.\\]113\\[.\\]66") && !seen.contains("Attacker VPN"), "{seen}");
    assert!(seen.contains("_TLP:RED indicators are shown to editors and admins only._"), "{seen}");
}

#[tokio::test]
async fn html_is_escaped_and_self_contained_and_json_carries_the_same_content() {
    let app = spawn_app().await;
    let incident = reviewed_incident(&app).await;
    let response = report(&app, &incident, Some("text/html,application/xhtml+xml,*/*;q=0.8")).await;
    assert_eq!(response.status(), 200);
    assert!(response.headers()["content-security-policy"].to_str().unwrap().contains("default-src 'none'"));
    assert_eq!(response.headers()["x-content-type-options"], "nosniff");
    let html = response.text().await.unwrap();
    for section in SECTIONS {
        assert!(
            html.contains(&format!("<h2>{section}</h2>")) || html.contains(&format!("<h3>{section}</h3>")),
            "missing {section}"
        );
    }
    assert!(html.contains("hxxps[://]login-examp1e[.]com/sso?a=%3Cb%3E"), "{html}");
    assert!(!html.contains("login-examp1e.com"), "no live indicator in HTML either");
    assert!(!html.contains("<script>"), "user text is escaped in HTML");
    assert!(html.contains("&#60;script&#62;") || html.contains("&lt;script&gt;"));
    assert!(html.contains("<td>Enforce FIDO2 for finance</td>"), "{html}");
    assert!(!html.contains("src=\"http") && !html.contains("href=\"http"), "nothing external to load");
    assert!(!html.contains("<img"), "user text is escaped in the impact too");
    assert!(html.contains("<tr><th>Cost</th><td>12500.00 EUR</td></tr>"), "{html}");
    assert!(html.contains("<td class=\"nowrap\">T1566.002</td>"), "{html}");
    assert!(!html.contains("<b>March"), "evidence descriptions are escaped: {html}");
    assert!(html.contains("<h4>Custody of E1</h4>"), "{html}");
    assert!(html.contains("<td>Legal hold vault</td>"), "{html}");
    assert!(html.contains("<td><strong>Total</strong></td><td><strong>29 h</strong></td>"), "{html}");

    let json: Value = report(&app, &incident, Some("application/json")).await.json().await.unwrap();
    assert_eq!(json["metrics"]["actions_total"], 2);
    assert_eq!(json["metrics"]["done"], 1);
    assert_eq!(json["metrics"]["verified"], 1);
    assert_eq!(json["key_durations"]["detection_to_containment"]["seconds"], 3 * 3600 + 25 * 60);
    assert_eq!(json["recommendations"][0]["key"], "ACT-1");
    assert_eq!(json["detection_and_analysis"]["answers"][0]["key"], "what_happened");
    assert_eq!(json["detection_and_analysis"]["timeline"].as_array().unwrap().len(), 1);
    assert_eq!(json["containment_eradication_recovery"]["timeline"][0]["kind"], "containment");
    let values: Vec<&str> =
        json["indicators"].as_array().unwrap().iter().map(|i| i["value"].as_str().unwrap()).collect();
    assert_eq!(
        values,
        ["203.0.113.66", "login-examp1e.com", "https://login-examp1e.com/sso?a=%3Cb%3E"],
        "by type, then value"
    );
    assert_eq!(json["red_indicators_withheld"], false);
    assert_eq!(json["lessons_learned"][0]["key"], "do_differently");
    assert_eq!(json["timeline"].as_array().unwrap().len(), 2);
    assert_eq!(json["impact"]["cost"], json!({"amount": "12500.00", "currency": "EUR"}));
    assert_eq!(json["impact"]["downtime_text"], "4 h");
    assert_eq!(json["impact"]["notification_deadline_local"], "2026-03-05 08:15 UTC");
    assert_eq!(json["root_cause"]["category"], "process_gap");
    assert_eq!(json["attack"]["techniques"][0]["id"], "T1566.002");
    assert_eq!(json["time_spent"]["total_minutes"], 1740);
    assert_eq!(json["time_spent"]["by_phase"][5], json!({"phase": "post_incident", "minutes": 1500, "text": "25 h"}));
    assert_eq!(json["time_spent"]["by_person"][0]["person"], "sam@example.com");
    assert_eq!(json["evidence"][0]["label"], "E1");
    assert_eq!(json["evidence"][0]["holder"], "Legal hold vault");
    assert_eq!(json["evidence"][0]["custody"].as_array().unwrap().len(), 2);

    let missing = report(&app, &uuid::Uuid::now_v7().to_string(), None).await;
    assert_problem(missing, 404, "not_found").await;
}

/// An `Accept` naming nothing the report comes in gets one answer, whether its media types are unknown
/// or malformed: 406, listing the formats there are. `*/*`, an empty `Accept` and none at all get the
/// default.
#[tokio::test]
async fn an_accept_naming_no_format_of_the_report_is_refused_alike_whether_unknown_or_malformed() {
    let app = spawn_app().await;
    let incident = id(&app.create_incident(json!({})).await);
    for accept in ["application/pdf", "image/*", "null", "foo", "/", "text/", "*/html", "text/html;q=7", "*/*;q=0"] {
        let problem = assert_problem(report(&app, &incident, Some(accept)).await, 406, "not_acceptable").await;
        let detail = problem["detail"].as_str().unwrap();
        assert!(
            ["text/markdown", "text/html", "application/json"].iter().all(|m| detail.contains(m)),
            "{accept}: {detail}"
        );
    }
    let unreadable = app
        .builder(Method::GET, &format!("/api/v1/incidents/{incident}/report"))
        .header("accept", reqwest::header::HeaderValue::from_bytes(b"text/caf\xe9").unwrap())
        .send()
        .await
        .unwrap();
    assert_problem(unreadable, 406, "not_acceptable").await;
    for accept in [Some("*/*"), Some(""), None, Some("foo, text/markdown;q=0.5")] {
        let response = report(&app, &incident, accept).await;
        assert_eq!(response.status(), 200, "{accept:?}");
        assert_eq!(response.headers()["content-type"], "text/markdown; charset=utf-8", "{accept:?}");
    }
}

/// Renders the HTML report to PDF in headless Chromium and reads the text back. Needs `chromium` and
/// `pdftotext` (Debian: chromium, poppler-utils); `.ci/run` installs both and runs it with `--ignored`.
#[tokio::test]
#[ignore = "needs Chromium and pdftotext; .ci/run installs them and runs this test"]
async fn the_html_report_prints_to_pdf_in_headless_chromium() {
    let app = spawn_app().await;
    let incident = reviewed_incident(&app).await;
    let html = report(&app, &incident, Some("text/html")).await.text().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let page = dir.path().join("report.html");
    let pdf = dir.path().join("report.pdf");
    std::fs::write(&page, html).unwrap();
    let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| "chromium".into());
    let status = std::process::Command::new(&chromium)
        .args(["--headless", "--no-sandbox", "--disable-gpu", "--no-pdf-header-footer"])
        .arg(format!("--user-data-dir={}", dir.path().join("profile").display()))
        .arg(format!("--print-to-pdf={}", pdf.display()))
        .arg(format!("file://{}", page.display()))
        .status()
        .unwrap_or_else(|e| panic!("running {chromium}: {e}"));
    assert!(status.success(), "chromium failed: {status}");
    let bytes = std::fs::read(&pdf).unwrap();
    assert!(bytes.starts_with(b"%PDF"), "not a PDF");
    let text = std::process::Command::new("pdftotext").arg(&pdf).arg("-").output().unwrap();
    // Table cells wrap in print, so compare with the line breaks folded away.
    let text = String::from_utf8_lossy(&text.stdout).split_whitespace().collect::<Vec<_>>().join(" ");
    // An indicator value breaks anywhere in its narrow cell (hashes are long), so it is compared with
    // every space taken out.
    let unbroken: String = text.chars().filter(|c| !c.is_whitespace()).collect();
    assert!(
        unbroken.contains("hxxps[://]login-examp1e[.]com/sso"),
        "the defanged URL is missing from the PDF text:\n{text}"
    );
    for expected in [
        "Final incident report: SEC-42 <script>alert('x')</script>",
        "Executive summary",
        "Indicators of compromise",
        "login-examp1e[.]com TLP:GREEN",
        "Lessons learned",
        "Full timeline",
        "Evidence and chain of custody",
        "Custody of E1",
        "Time spent by person",
        "Metrics",
        "ACT-1 Enforce FIDO2 for finance",
        "ACT-2 Block new domains",
        "Verified by",
    ] {
        assert!(text.contains(expected), "{expected:?} missing from the PDF text:\n{text}");
    }
}

/// The summary says what it counts: an action being worked on but past its date is overdue, not "in
/// progress"; what is open and not yet due is named so.
#[tokio::test]
async fn the_summary_counts_open_work_by_whether_it_is_due() {
    let app = spawn_app().await;
    let incident = id(&app.create_incident(json!({"status": "resolved"})).await);
    app.create_action(&incident, json!({"due_date": "2026-01-15", "status": "in_progress"})).await;
    app.create_action(&incident, json!({"due_date": "2099-01-15", "status": "blocked"})).await;
    app.create_action(&incident, json!({"due_date": "2099-01-15"})).await;
    let markdown = report(&app, &incident, None).await.text().await.unwrap();
    assert!(
        markdown.contains("3 corrective actions were agreed: 0 done (0 on time, 0 verified), 2 open and not yet due, 1 overdue, 0 cancelled."),
        "{markdown}"
    );
    assert!(markdown.contains("| Open, not yet due | 2 |") && markdown.contains("| Overdue | 1 |"), "{markdown}");
    let json: Value = report(&app, &incident, Some("application/json")).await.json().await.unwrap();
    assert_eq!((json["metrics"]["open_not_yet_due"].as_u64(), json["metrics"]["overdue"].as_u64()), (Some(2), Some(1)));
}
