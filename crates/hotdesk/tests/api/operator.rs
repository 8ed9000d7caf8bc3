//! What the operator sees: `/metrics`, the logs.

use std::time::Duration;

use crate::configservice::{method, session};
use crate::helpers::*;
use crate::nbi_session::{call, login_body};

/// The metrics as a scraper gets them.
async fn scrape(app: &TestApp) -> String {
    let response = app
        .client
        .get(format!("{}/metrics", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/openmetrics-text"),
    );
    response.text().await.unwrap()
}

/// The value of one series, `name{labels}` exactly as exposed; 0 when it is not there yet
/// (a labelled counter appears at its first event).
fn value(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
        .map_or(0.0, |v| v.parse().unwrap())
}

/// Scrape until `series` has reached `want` (the outbox counters move when the feed has read
/// the event, a poll later): bounded.
async fn scrape_until(app: &TestApp, series: &str, want: f64) -> String {
    for _ in 0..100 {
        let text = scrape(app).await;
        if value(&text, series) >= want {
            return text;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{series} never reached {want}:\n{}", scrape(app).await);
}

#[tokio::test]
async fn each_metric_moves_when_its_event_happens() {
    let app = spawn_app().await;
    let before = scrape(&app).await;
    for name in [
        "hotdesk_logged_in",
        "hotdesk_pending_deadlines",
        "hotdesk_admin_sessions",
        "hotdesk_event_backlog",
        "hotdesk_busy_total",
        "hotdesk_auto_logouts_total",
        "hotdesk_pin_lockouts_total",
        "hotdesk_argon2_runs_total",
        "hotdesk_em_writes_in_flight",
    ] {
        assert!(
            before.lines().any(|l| l.starts_with(&format!("{name} "))),
            "{name} is missing:\n{before}"
        );
    }
    assert_eq!(value(&before, "hotdesk_logged_in"), 0.0);

    // A login for 30 minutes: logged in, one deadline, counted under code 0, timed.
    let login = "<exclusiveDuration><time>30</time></exclusiveDuration>";
    assert_eq!(
        app.em(&login_xml("SEP003094C25B15", "john", login)).await,
        success()
    );
    let text = scrape(&app).await;
    assert_eq!(value(&text, "hotdesk_logged_in"), 1.0);
    assert_eq!(value(&text, "hotdesk_pending_deadlines"), 1.0);
    assert_eq!(
        value(
            &text,
            r#"hotdesk_em_requests_total{operation="login",code="0"}"#
        ),
        1.0
    );
    assert_eq!(
        value(
            &text,
            r#"hotdesk_em_request_duration_seconds_count{operation="login"}"#
        ),
        1.0
    );
    assert!(value(&text, "hotdesk_argon2_runs_total") >= 1.0);
    // Group commit is SQLite's one writer; PostgreSQL commits each transaction itself.
    let one_writer = app.db_url.starts_with("sqlite");
    assert_eq!(
        text.contains("hotdesk_store_batches_total "),
        one_writer,
        "{text}"
    );
    if one_writer {
        assert!(
            value(&text, "hotdesk_store_batches_total")
                > value(&before, "hotdesk_store_batches_total")
        );
    }

    // A refusal counts under its code: here, a device that does not exist.
    let refused = app.em(&login_xml("SEPNOSUCH", "john", "")).await;
    let code = refused
        .split("code=\"")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .expect("a failure")
        .to_string();
    let text = scrape(&app).await;
    assert_eq!(
        value(
            &text,
            &format!(r#"hotdesk_em_requests_total{{operation="login",code="{code}"}}"#)
        ),
        1.0,
        "{refused}"
    );
    assert_eq!(value(&text, "hotdesk_logged_in"), 1.0);

    // The deadline passes: the scheduler ends the login, the outbox counts an auto-logout.
    app.clock.advance(Duration::from_secs(31 * 60));
    let text = scrape_until(&app, "hotdesk_auto_logouts_total", 1.0).await;
    assert_eq!(value(&text, "hotdesk_logged_in"), 0.0);
    assert_eq!(value(&text, "hotdesk_pending_deadlines"), 0.0);

    // An admin session, and an admin method counted by name.
    let cookie = session(&app, "admin", "change-me").await;
    assert_eq!(method(&app, &cookie, "listUsers", "").await.code(), None);
    let text = scrape(&app).await;
    assert_eq!(value(&text, "hotdesk_admin_sessions"), 1.0);
    assert_eq!(
        value(
            &text,
            r#"hotdesk_admin_requests_total{method="listUsers",code="0"}"#
        ),
        1.0
    );

    // A phone's requests, and a PIN locked after too many wrong ones.
    let phone = |pin: &'static str| {
        let app = &app;
        async move {
            app.client
                .get(format!("{}/emapp/EMAppServlet", app.base))
                .query(&[
                    ("device", "SEP003094C25B15"),
                    ("action", "login"),
                    ("userid", "one"),
                    ("pin", pin),
                ])
                .send()
                .await
                .unwrap()
                .text()
                .await
                .unwrap()
        }
    };
    for _ in 0..hotdesk::domain::pin::MAX_WRONG_PINS {
        phone("99999").await;
    }
    let text = scrape_until(&app, "hotdesk_pin_lockouts_total", 1.0).await;
    assert!(
        value(&text, r#"hotdesk_phone_requests_total{code="201"}"#) >= 1.0,
        "{text}"
    );
}

#[tokio::test]
async fn code_26_counts_as_busy() {
    let app = spawn_app().await;
    app.import("[policy]\nmax_concurrent_requests = 0\n").await;
    let answer = app.em(&login_xml("SEP003094C25B15", "john", "")).await;
    assert!(answer.contains("code=\"26\""), "{answer}");
    let text = scrape(&app).await;
    assert_eq!(value(&text, "hotdesk_busy_total"), 1.0);
    assert_eq!(
        value(
            &text,
            r#"hotdesk_em_requests_total{operation="login",code="26"}"#
        ),
        1.0
    );
}

/// A subscriber whose receiver is down has every event since its cursor in the backlog.
#[tokio::test]
async fn the_event_backlog_is_what_the_slowest_subscriber_has_not_been_sent() {
    let app = spawn_app().await;
    let extra = "<heartbeatRequested>true</heartbeatRequested>\
                 <callbackUrl>https://127.0.0.1:9/events</callbackUrl>";
    let login = call(
        &app,
        "/nbi/login",
        None,
        &login_body("admin", "change-me", extra),
    )
    .await;
    assert_eq!(login.status, 200, "{}", login.body);
    let cookie = login.cookie();
    let subscribe = "<eventSubscriptionRequest><protVersion>1.0</protVersion><reqId>s</reqId>\
                     <op>add</op><afterSeq>0</afterSeq></eventSubscriptionRequest>";
    let added = call(
        &app,
        "/nbi/eventservice/eventSubscription",
        Some(&cookie),
        subscribe,
    )
    .await;
    assert_eq!(added.code(), None, "{}", added.body);
    assert_eq!(
        app.em(&login_xml("SEP003094C25B15", "john", "")).await,
        success()
    );
    let newest = app.events().await.last().unwrap().seq;
    let text = scrape(&app).await;
    assert_eq!(value(&text, "hotdesk_event_backlog"), newest as f64);
}

/// Every string a JSON log line holds, however deep.
fn strings(value: &serde_json::Value, out: &mut Vec<String>) {
    match value {
        serde_json::Value::String(s) => out.push(s.clone()),
        serde_json::Value::Array(items) => items.iter().for_each(|v| strings(v, out)),
        serde_json::Value::Object(map) => {
            for (k, v) in map {
                out.push(k.clone());
                strings(v, out);
            }
        }
        _ => {}
    }
}

#[tokio::test]
async fn json_logs_carry_the_request_id_and_never_a_secret() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("h.db").display());
    let server =
        crate::process::start_logging(&db, T0.0, &["--demo", "--log-format", "json"], "info");
    let em = server
        .client
        .post(servlet(&server.base))
        .header("x-request-id", "lb-42")
        .form(&[("xml", login_xml("SEP003094C25B15", "john", ""))])
        .send()
        .await
        .unwrap();
    assert_eq!(em.headers()["x-request-id"], "lb-42");
    assert!(em.text().await.unwrap().contains("<success/>"));
    // An id that could forge a line is replaced by one of ours.
    let forged = server
        .client
        .get(format!("{}/healthz", server.base))
        .header("x-request-id", "x\" level=ERROR")
        .send()
        .await
        .unwrap();
    let ours = forged.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(!ours.contains('"'), "{ours}");
    for pin in ["54321", "12345"] {
        server
            .client
            .get(format!("{}/emapp/EMAppServlet", server.base))
            .query(&[
                ("device", "SEP402CF4915265"),
                ("action", "login"),
                ("userid", "one"),
                ("pin", pin),
            ])
            .send()
            .await
            .unwrap();
    }
    let admin = server
        .client
        .post(format!("{}/nbi/login", server.base))
        .body(login_body("admin", "change-me", ""))
        .send()
        .await
        .unwrap();
    assert_eq!(admin.status(), 200);
    let log = server.terminate_and_read_log();

    let lines: Vec<serde_json::Value> = log
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    let requests: Vec<&serde_json::Value> = lines
        .iter()
        .filter(|l| l["fields"]["message"] == "request")
        .collect();
    assert_eq!(requests.len(), 5, "one line per request:\n{log}");
    let em = requests
        .iter()
        .find(|l| l["span"]["path"] == "/emservice/EMServiceServlet")
        .unwrap();
    let span = &em["span"];
    assert_eq!(span["id"], "lb-42");
    assert_eq!(span["operation"], "login");
    assert_eq!(span["app"], "appid");
    assert_eq!(span["device"], "SEP003094C25B15");
    assert_eq!(span["user"], "john");
    assert_eq!(span["code"], 0);
    assert_eq!(em["fields"]["status"], 200);
    assert!(em["fields"]["ms"].as_f64().is_some());
    assert!(requests.iter().any(|l| l["span"]["id"] == ours.as_str()));
    let phone: Vec<_> = requests
        .iter()
        .filter(|l| l["span"]["path"] == "/emapp/EMAppServlet")
        .collect();
    assert_eq!(phone[0]["span"]["code"], 201, "{}", phone[0]);
    assert_eq!(phone[1]["span"]["code"], 0, "{}", phone[1]);
    assert_eq!(phone[1]["span"]["user"], "one");
    for line in &requests {
        assert!(line["span"]["id"].as_str().is_some_and(|id| !id.is_empty()));
    }
    let mut all = Vec::new();
    for line in &lines {
        strings(line, &mut all);
    }
    for secret in ["apppasswd", "change-me", "54321", "12345"] {
        assert!(
            !all.iter().any(|s| s.contains(secret)),
            "{secret} is in the log:\n{log}"
        );
    }
}

#[tokio::test]
async fn text_logs_to_a_file_have_no_colour_codes() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("h.db").display());
    let server = crate::process::start_logging(&db, T0.0, &["--demo"], "info");
    assert_eq!(
        server.em(&login_xml("SEP003094C25B15", "john", "")).await,
        success()
    );
    let log = server.terminate_and_read_log();
    assert!(log.contains("operation=\"login\""), "{log}");
    assert!(!log.contains('\u{1b}'), "{log:?}");
}
