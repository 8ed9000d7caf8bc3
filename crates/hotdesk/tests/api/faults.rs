//! The database goes away and comes back: a TCP proxy that this test runs between the server
//! and PostgreSQL stops passing traffic (a network partition: sockets stay open, bytes go
//! nowhere), then lets it through again.

use std::sync::Arc;
use std::time::Duration;

use hotdesk::domain::{Clock, ManualClock, directory};
use hotdesk::http::{Application, ServerOptions};
use hotdesk::store::testing::{POSTGRES_ENV, scratch_postgres};
use hotdesk::store::{self, StoreOptions};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

use crate::helpers::*;

/// Forwards 127.0.0.1:<port> to the database while up; while down, holds every connection
/// open and silent. Coming back up closes the held connections, as a network that recovers
/// after the peers gave up would.
struct Proxy {
    addr: std::net::SocketAddr,
    up: watch::Sender<bool>,
}

impl Proxy {
    async fn start(target: String) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (up, watch) = watch::channel(true);
        tokio::spawn(async move {
            loop {
                let Ok((client, _)) = listener.accept().await else {
                    continue;
                };
                let mut watch = watch.clone();
                let target = target.clone();
                tokio::spawn(async move {
                    // A connection made while down is held until the network comes back.
                    let up_now = *watch.borrow_and_update();
                    if !up_now {
                        until(&mut watch, true).await;
                        return;
                    }
                    let Ok(mut server) = TcpStream::connect(&target).await else {
                        return;
                    };
                    let mut client = client;
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut client, &mut server) => {}
                        _ = until(&mut watch, false) => {
                            // Partitioned: keep both sockets, pass nothing, until it heals.
                            until(&mut watch, true).await;
                        }
                    }
                });
            }
        });
        Proxy { addr, up }
    }

    fn set_up(&self, up: bool) {
        self.up.send_replace(up);
    }
}

/// Wait until the network is (`true`) or is not up.
async fn until(watch: &mut watch::Receiver<bool>, up: bool) {
    // The guard `wait_for` answers must not live across an await: drop it at once.
    let _ = watch.wait_for(|now| *now == up).await.is_ok();
}

#[tokio::test(flavor = "multi_thread")]
async fn while_the_database_is_unreachable_em_answers_6_and_recovers_without_a_restart() {
    let Some(schema) = scratch_postgres() else {
        return;
    };
    let base = std::env::var(POSTGRES_ENV).unwrap();
    let target = base
        .split('@')
        .nth(1)
        .and_then(|rest| rest.split('/').next())
        .expect("a host:port in the test database URL")
        .to_string();
    let proxy = Proxy::start(target.clone()).await;
    let url = schema.url.replacen(&target, &proxy.addr.to_string(), 1);
    // Load the directory directly, then serve through the proxy with a short deadline.
    let clock = ManualClock::new(T0);
    let options = ServerOptions::default();
    {
        let setup = store::open(&schema.url).await.unwrap();
        let demo = directory::parse("demo", directory::DEMO).unwrap();
        directory::import(&setup, &clock, &options.pin_key, "demo", demo, "test")
            .await
            .unwrap();
    }
    let store = store::open_with(
        &url,
        StoreOptions {
            timeout: Duration::from_secs(2),
        },
    )
    .await
    .unwrap();
    let server = Application::build(
        store,
        Arc::new(clock.clone()) as Arc<dyn Clock>,
        "127.0.0.1:0",
        options,
    )
    .await
    .unwrap();
    let base = format!("http://{}", server.local_addr());
    tokio::spawn(server.run_until(std::future::pending()));
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    let em = |xml: String| {
        let client = client.clone();
        let base = base.clone();
        async move { post_em(&client, &base, &xml).await }
    };
    let health = || {
        let client = client.clone();
        let base = base.clone();
        async move {
            client
                .get(format!("{base}/healthz"))
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };

    assert_eq!(
        em(login_xml("SEP003094C25B15", "john", "")).await,
        success()
    );
    assert_eq!(health().await, 200);

    let admin_login = || {
        client
            .post(format!("{base}/nbi/login"))
            .body("<loginRequest><username>admin</username><password>change-me</password></loginRequest>")
            .send()
    };
    let opened = admin_login().await.unwrap();
    let cookie = opened.headers()["set-cookie"].to_str().unwrap()[..73].to_string();

    proxy.set_up(false);
    // Answers, not hangs: code 6 once the 2 s database deadline passes.
    assert_eq!(
        em(login_xml("SEP402CF4915265", "em", "")).await,
        failure(6, "Database Error")
    );
    assert!(
        em(device_query("SEP003094C25B15"))
            .await
            .contains("<error code=\"6\">"),
    );
    assert_eq!(health().await, 503);
    let admin = admin_login().await.unwrap().text().await.unwrap();
    assert!(admin.contains("<code>1</code>"), "{admin}");
    // A live session that cannot be checked: retry later (503), not "log in again" (401).
    let ping = client
        .post(format!("{base}/nbi/ping"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(ping.status(), 503);
    assert!(
        ping.text()
            .await
            .unwrap()
            .contains("<baseError><code>1</code>")
    );

    proxy.set_up(true);
    assert_eq!(em(login_xml("SEP402CF4915265", "em", "")).await, success());
    assert_eq!(health().await, 200);
    let ping = client
        .post(format!("{base}/nbi/ping"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(ping.status(), 200, "the session outlived the outage");
    // Nothing acknowledged before the partition was lost.
    assert!(
        em(device_query("SEP003094C25B15"))
            .await
            .contains("<userID>john</userID>")
    );
}
