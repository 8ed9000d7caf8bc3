//! The admin API calling its clients back: heartbeats and the event service, received by an
//! HTTPS listener on loopback whose self-signed certificate the server trusts through
//! `ServerOptions::callback_ca` (`serve --callback-ca`).

use std::sync::Arc;
use std::sync::atomic::{AtomicU16, Ordering};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use hotdesk::http::ServerOptions;
use hotdesk::http::tls::{TlsListener, server_config};
use tokio::sync::mpsc;

use crate::helpers::*;
use crate::nbi_session::{call, login_body};

/// One POST the receiver got.
#[derive(Debug)]
struct Received {
    path: String,
    cookie: Option<String>,
    body: String,
}

/// A client's callback endpoint: HTTPS on 127.0.0.1, answering with `status`.
struct Receiver {
    base: String,
    cert_pem: String,
    status: Arc<AtomicU16>,
    got: mpsc::UnboundedReceiver<Received>,
}

#[derive(Clone)]
struct ReceiverState {
    status: Arc<AtomicU16>,
    tx: mpsc::UnboundedSender<Received>,
}

async fn receive(
    State(state): State<ReceiverState>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    let cookie = headers
        .get("cookie")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let _ = state.tx.send(Received {
        path: uri.path().to_string(),
        cookie,
        body: String::from_utf8_lossy(&body).into_owned(),
    });
    if uri.path().starts_with("/broken") {
        return StatusCode::INTERNAL_SERVER_ERROR;
    }
    // A receiver that takes its time: deliveries from two servers would overlap here.
    if uri.path().starts_with("/slow") {
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
    StatusCode::from_u16(state.status.load(Ordering::SeqCst)).unwrap()
}

async fn receiver() -> Receiver {
    let cert = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_string()]).unwrap();
    let cert_pem = cert.cert.pem();
    let config = server_config(
        cert_pem.as_bytes(),
        cert.signing_key.serialize_pem().as_bytes(),
    )
    .unwrap();
    let tcp = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let listener = TlsListener::new(tcp, config).unwrap();
    let base = format!(
        "https://{}",
        axum::serve::Listener::local_addr(&listener).unwrap()
    );
    let status = Arc::new(AtomicU16::new(200));
    let (tx, got) = mpsc::unbounded_channel();
    let router = Router::new().fallback(receive).with_state(ReceiverState {
        status: status.clone(),
        tx,
    });
    tokio::spawn(async move { axum::serve(listener, router).await });
    Receiver {
        base,
        cert_pem,
        status,
        got,
    }
}

impl Receiver {
    /// The next POST whose body holds `root`, waiting at most 10 s of real time (the server
    /// posts within a poll interval of the clock making the call due).
    async fn next(&mut self, root: &str) -> Received {
        for _ in 0..100 {
            let got = tokio::time::timeout(Duration::from_secs(10), self.got.recv())
                .await
                .unwrap_or_else(|_| panic!("no {root} arrived"))
                .unwrap();
            if got.body.contains(&format!("<{root}>")) {
                return got;
            }
        }
        panic!("no {root} among 100 posts");
    }
}

async fn app_trusting(receiver: &Receiver) -> TestApp {
    spawn_app_with_options(
        "",
        ServerOptions {
            callback_ca: Some(receiver.cert_pem.as_bytes().to_vec()),
            ..ServerOptions::default()
        },
    )
    .await
}

async fn heartbeat_login(app: &TestApp, url: &str) -> String {
    let extra =
        format!("<heartbeatRequested>true</heartbeatRequested><callbackUrl>{url}</callbackUrl>");
    let answer = call(
        app,
        "/nbi/login",
        None,
        &login_body("admin", "change-me", &extra),
    )
    .await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    answer.cookie()
}

/// Wait (bounded) until the store shows the session's deadline at `expected`: the server
/// extends it right after the receiver's answer arrives, which the test cannot observe.
async fn wait_for_deadline(app: &TestApp, cookie: &str, expected: hotdesk::domain::Timestamp) {
    use sha2::Digest;
    let hash: String = sha2::Sha256::digest(cookie.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    for _ in 0..200 {
        let session = hotdesk::domain::run_read(app.store.as_ref(), {
            let hash = hash.clone();
            move |r| r.session(&hash)
        })
        .await
        .unwrap();
        if session.is_some_and(|s| s.expires_at == expected) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("the session's deadline never became {expected:?}");
}

#[tokio::test]
async fn a_successful_heartbeat_resets_the_timer_and_a_failed_one_does_not() {
    let mut receiver = receiver().await;
    let app = app_trusting(&receiver).await;
    let good = heartbeat_login(&app, &format!("{}/hb", receiver.base)).await;
    let failing = heartbeat_login(&app, &format!("{}/broken", receiver.base)).await;

    // Half the 15-minute timeout later, each session gets its heartbeat with its own cookie.
    app.clock.advance(Duration::from_secs(7 * 60 + 30));
    let mut seen = Vec::new();
    for _ in 0..2 {
        // `/broken` answers 500 (see `receive`).
        let hb = receiver.next("heartbeatCallbackRequest").await;
        assert!(
            hb.body.starts_with(
                "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<heartbeatCallbackRequest><protVersion>1.0</protVersion><reqId>1</reqId>"
            ),
            "{}",
            hb.body
        );
        seen.push((hb.path, hb.cookie));
    }
    seen.sort();
    assert_eq!(
        seen,
        vec![
            ("/broken".to_string(), Some(format!("asCookie={failing}"))),
            ("/hb".to_string(), Some(format!("asCookie={good}"))),
        ]
    );
    let extended = T0.plus(Duration::from_secs((7 * 60 + 30) + 15 * 60));
    wait_for_deadline(&app, &good, extended).await;

    // Past the first deadline (T0 + 15 min): only the session whose heartbeat succeeded lives.
    app.clock.advance(Duration::from_secs(8 * 60));
    let ping = |cookie: String| {
        let app = &app;
        async move { call(app, "/nbi/ping", Some(&cookie), "").await }
    };
    assert_eq!(ping(good.clone()).await.status, 200);
    let dead = ping(failing).await;
    assert_eq!((dead.status, dead.code()), (401, Some(5)));
}

#[tokio::test]
async fn events_arrive_in_order_and_again_after_the_receiver_was_down() {
    let mut receiver = receiver().await;
    let app = app_trusting(&receiver).await;
    let cookie = heartbeat_login(&app, &format!("{}/events", receiver.base)).await;
    let subscribe = |op: &str| {
        format!(
            "<eventSubscriptionRequest><protVersion>1.0</protVersion><reqId>s</reqId>\
             <op>{op}</op></eventSubscriptionRequest>"
        )
    };
    let path = "/nbi/eventservice/eventSubscription";
    let added = call(&app, path, Some(&cookie), &subscribe("add")).await;
    assert_eq!(added.code(), None, "{}", added.body);
    assert!(added.body.contains("<afterSeq>"), "{}", added.body);
    let again = call(&app, path, Some(&cookie), &subscribe("add")).await;
    assert_eq!(again.code(), Some(4001));

    // login, logout, login: three events, posted one by one in order.
    assert_eq!(
        app.em(&login_xml("SEP003094C25B15", "john", "")).await,
        success()
    );
    assert_eq!(app.em(&logout_xml("SEP003094C25B15")).await, success());
    assert_eq!(
        app.em(&login_xml("SEP003094C25B15", "em", "")).await,
        success()
    );
    let mut seqs = Vec::new();
    for (kind, user) in [("login", "john"), ("logout", "john"), ("login", "em")] {
        let got = receiver.next("eventCallbackRequest").await;
        assert_eq!(got.path, "/events");
        assert!(
            got.body.contains(&format!("<kind>{kind}</kind>"))
                && got.body.contains(&format!("<user>{user}</user>")),
            "expected {kind} of {user}: {}",
            got.body
        );
        seqs.push(seq_of(&got.body));
    }
    assert!(seqs.windows(2).all(|w| w[0] < w[1]), "{seqs:?}");

    // The receiver goes down: the next event is tried and fails, nothing after it is skipped.
    receiver.status.store(503, Ordering::SeqCst);
    assert_eq!(app.em(&logout_xml("SEP003094C25B15")).await, success());
    let failed = receiver.next("eventCallbackRequest").await;
    let first_missed = seq_of(&failed.body);
    assert_eq!(
        app.em(&login_xml("SEP402CF4915265", "john", "")).await,
        success()
    );
    // Back up; after the backoff (on the clock) delivery resumes at the event that failed.
    receiver.status.store(200, Ordering::SeqCst);
    app.clock.advance(Duration::from_secs(60));
    let mut resumed = Vec::new();
    for _ in 0..20 {
        if resumed.len() == 2 {
            break;
        }
        let got = receiver.next("eventCallbackRequest").await;
        let seq = seq_of(&got.body);
        if resumed.is_empty() && seq == first_missed && got.body.contains("<kind>logout</kind>") {
            resumed.push(seq);
        } else if !resumed.is_empty() {
            assert!(got.body.contains("<kind>login</kind>"), "{}", got.body);
            resumed.push(seq);
        }
    }
    assert_eq!(resumed.len(), 2, "{resumed:?}");
    assert!(
        resumed[0] > seqs[2] && resumed[1] > resumed[0],
        "{resumed:?}"
    );

    // Unsubscribe, then there is nothing to unsubscribe.
    assert_eq!(
        call(&app, path, Some(&cookie), &subscribe("delete"))
            .await
            .code(),
        None
    );
    assert_eq!(
        call(&app, path, Some(&cookie), &subscribe("delete"))
            .await
            .code(),
        Some(1001)
    );
}

#[tokio::test]
async fn subscriptions_need_a_callback_url_and_speak_csm_names() {
    let app = spawn_app().await;
    let plain = call(
        &app,
        "/nbi/login",
        None,
        &login_body("admin", "change-me", ""),
    )
    .await;
    let cookie = plain.cookie();
    let csm = "<eventSubRequest><protVersion>1.0</protVersion><reqId>c</reqId><op>add</op>\
               <subscriptionId>7</subscriptionId></eventSubRequest>";
    let answer = call(
        &app,
        "/nbi/eventservice/eventSubscription",
        Some(&cookie),
        csm,
    )
    .await;
    assert!(
        answer.body.contains("<eventSubResponse>") && answer.code() == Some(11),
        "{}",
        answer.body
    );
    let info = call(&app, "/nbi/eventservice/GetServiceInfo", Some(&cookie), "").await;
    assert!(
        info.body
            .contains("<serviceName>eventservice</serviceName>"),
        "{}",
        info.body
    );
}

fn seq_of(body: &str) -> i64 {
    let start = body.find("<seq>").expect("a seq") + 5;
    body[start..].split('<').next().unwrap().parse().unwrap()
}

#[tokio::test]
async fn over_tls_the_cookie_is_secure() {
    let app = spawn_app_with_options("", tls_options()).await;
    assert!(app.base.starts_with("https://"), "{}", app.base);
    let answer = call(
        &app,
        "/nbi/login",
        None,
        &login_body("admin", "change-me", ""),
    )
    .await;
    assert_eq!(
        answer
            .set_cookie
            .as_deref()
            .map(|c| c.split("; ").skip(1).collect::<Vec<_>>()),
        Some(vec!["HttpOnly", "SameSite=Strict", "Secure", "Path=/"])
    );
    // The EM API is served over the same TLS listener.
    assert_eq!(
        app.em(&login_xml("SEP003094C25B15", "john", "")).await,
        success()
    );
}

/// Two servers over one database both run an event deliverer: the lease lets one at a time
/// post, so the subscriber gets every event once, in order, whichever server made it.
#[tokio::test(flavor = "multi_thread")]
async fn with_two_servers_each_event_arrives_once_and_in_order() {
    let mut receiver = receiver().await;
    let app = app_trusting(&receiver).await;
    let second = app.another_server().await;
    let cookie = heartbeat_login(&app, &format!("{}/slow-events", receiver.base)).await;
    let added = call(
        &app,
        "/nbi/eventservice/eventSubscription",
        Some(&cookie),
        "<eventSubscriptionRequest><op>add</op></eventSubscriptionRequest>",
    )
    .await;
    assert_eq!(added.code(), None, "{}", added.body);

    // Alternate servers: log john in and out three times.
    for round in 0..3 {
        let base = if round % 2 == 0 { &app.base } else { &second };
        assert_eq!(
            post_em(&app.client, base, &login_xml("SEP003094C25B15", "john", "")).await,
            success()
        );
        assert_eq!(
            post_em(&app.client, base, &logout_xml("SEP003094C25B15")).await,
            success()
        );
    }
    // One more event, so that a duplicate of any of the six would arrive before it.
    assert_eq!(
        app.em(&login_xml("SEP402CF4915265", "em", "")).await,
        success()
    );
    let mut got = Vec::new();
    for _ in 0..7 {
        let post = receiver.next("eventCallbackRequest").await;
        let kind = if post.body.contains("<kind>login</kind>") {
            "login"
        } else {
            "logout"
        };
        got.push((seq_of(&post.body), kind));
    }
    let first = got[0].0;
    assert_eq!(
        got,
        (0..7)
            .map(|i| (first + i, if i % 2 == 0 { "login" } else { "logout" }))
            .collect::<Vec<_>>()
    );
}
