//! The HTTP wire (axum). Handlers only translate: bytes in, a domain call, bytes out.

mod admin;
mod callbacks;
mod em;
#[doc(hidden)]
pub mod fuzzing;
mod log;
mod ops;
mod phone;
pub mod serve;
pub mod tls;
mod ui;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::StatusCode;
use tokio::net::TcpListener;
use tokio::sync::Notify;
use tower_http::timeout::TimeoutLayer;

use crate::domain::admin::{AdminService, AdminSettings, notify};
use crate::domain::feed::{self, Feed};
use crate::domain::phone::PhoneService;
use crate::domain::pin::{self, PinKey};
use crate::domain::{Clock, EmService, Store, scheduler};
use crate::metrics::Metrics;

/// The largest request body accepted. An EM document is well under 1 KiB; a batch query of a
/// thousand names fits in 64 KiB. Past it: HTTP 413.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// How long one request may take, reading its body included. A client that trickles its body
/// (or never finishes it) gets HTTP 408 instead of holding a connection and a task forever.
pub const REQUEST_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

#[derive(Clone)]
pub(crate) struct AppState {
    pub store: Arc<dyn Store>,
    pub clock: Arc<dyn Clock>,
    pub em: Arc<EmService>,
    pub admin: Arc<AdminService>,
    pub phone: Arc<PhoneService>,
    /// `serve --public-url`: the base of the URLs phones are sent.
    pub public_url: Option<Arc<str>>,
    /// The address this server listens on (the last resort for those URLs).
    pub local: SocketAddr,
    /// Served over TLS: the `asCookie` gets the `Secure` attribute.
    pub tls: bool,
    /// Load balancers whose `X-Forwarded-For` names the real client.
    pub proxies: Arc<Vec<ipnet::IpNet>>,
    pub metrics: Arc<Metrics>,
    /// How far the outbox goes, for the dashboard's live streams.
    pub feed: Arc<Feed>,
    /// Becomes `true` when the server begins to stop: long-lived streams end, so that the
    /// requests in flight can finish.
    pub closing: tokio::sync::watch::Receiver<bool>,
}

/// The client's address: the TCP peer, unless the peer is one of our trusted proxies; then the
/// rightmost `X-Forwarded-For` entry that is not a trusted proxy (entries further left were
/// written by whoever sent the request and prove nothing).
pub(crate) fn client_ip(
    proxies: &[ipnet::IpNet],
    peer: SocketAddr,
    headers: &axum::http::HeaderMap,
) -> std::net::IpAddr {
    let peer = peer.ip().to_canonical();
    let trusted = |ip: &std::net::IpAddr| proxies.iter().any(|net| net.contains(ip));
    if !trusted(&peer) {
        return peer;
    }
    let entries: Vec<&str> = headers
        .get_all("x-forwarded-for")
        .iter()
        .map(|v| v.to_str().unwrap_or(""))
        .flat_map(|v| v.split(','))
        .collect();
    for entry in entries.into_iter().rev() {
        match entry.trim().parse::<std::net::IpAddr>() {
            Ok(ip) if trusted(&ip.to_canonical()) => continue,
            Ok(ip) => return ip.to_canonical(),
            // Written by the client, not by a proxy of ours: an address nobody trusts or
            // exempts, so the request neither passes validate_ip nor escapes the throttles.
            Err(_) => return std::net::IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED),
        }
    }
    peer
}

/// How a server is set up beyond its store, clock and address.
#[derive(Debug, Clone, Default)]
pub struct ServerOptions {
    pub admin: AdminSettings,
    /// Serve HTTPS with this PEM certificate chain and PEM private key.
    pub tls: Option<(Vec<u8>, Vec<u8>)>,
    /// PEM certificates trusted for heartbeat and event callbacks, besides the system's roots.
    pub callback_ca: Option<Vec<u8>>,
    /// Load balancers in front of this node (`serve --trusted-proxies`): requests from them are
    /// taken to come from the address their `X-Forwarded-For` names.
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// The key PINs are hashed under (`serve --secret-key-file`); every node of a database
    /// must have the same. The default, a random key, suits only tests.
    pub pin_key: PinKey,
    /// The base of the URLs sent to phones (`serve --public-url`, e.g.
    /// `https://em.example.com:8443`), when phones reach this node under another name than
    /// the one they asked for (a load balancer that rewrites `Host`).
    pub public_url: Option<String>,
    /// What one node's connections may hold (`serve --max-connections`).
    pub limits: serve::Limits,
}

impl From<AdminSettings> for ServerOptions {
    fn from(admin: AdminSettings) -> Self {
        ServerOptions {
            admin,
            ..ServerOptions::default()
        }
    }
}

/// A bound, ready server (zero2prod's `Application`): build it on port 0 in tests.
pub struct Application {
    listener: TcpListener,
    tls: Option<Arc<rustls::ServerConfig>>,
    router: Router,
    /// The auto-logout scheduler and the admin API's notifier, each with its stop signal.
    tasks: Vec<(tokio::task::JoinHandle<()>, Arc<Notify>)>,
    /// Passes the store's news of other nodes' logins to the scheduler.
    forwarder: Option<tokio::task::JoinHandle<()>>,
    /// Tells the long-lived streams that the server stops.
    closing: tokio::sync::watch::Sender<bool>,
    limits: serve::Limits,
}

impl Application {
    /// Bind `listen`, end the logins that fell due while we were down, start the auto-logout
    /// scheduler. The server answers once [`Application::run_until`] runs.
    pub async fn build(
        store: Arc<dyn Store>,
        clock: Arc<dyn Clock>,
        listen: &str,
        options: impl Into<ServerOptions>,
    ) -> anyhow::Result<Self> {
        let options = options.into();
        let tls = match &options.tls {
            Some((cert, key)) => Some(tls::server_config(cert, key)?),
            None => None,
        };
        let callbacks = Arc::new(callbacks::HttpsCallbacks::new(
            options.callback_ca.as_deref(),
        )?);
        pin::bind_key(store.as_ref(), &options.pin_key).await?;
        let ended = scheduler::expire_now(store.as_ref(), clock.as_ref()).await?;
        if !ended.is_empty() {
            tracing::info!(
                count = ended.len(),
                "logged out logins whose deadline passed while the service was down"
            );
        }
        let listener = TcpListener::bind(listen)
            .await
            .with_context(|| format!("cannot listen on {listen}"))?;
        let wake = Arc::new(scheduler::Deadlines::default());
        let scheduler_stop = Arc::new(Notify::new());
        let em = Arc::new(EmService::new(store.clone(), clock.clone(), wake.clone()));
        let admin = Arc::new(AdminService::new(
            store.clone(),
            clock.clone(),
            options.admin,
            options.pin_key.clone(),
        ));
        let phone = Arc::new(PhoneService::new(
            store.clone(),
            clock.clone(),
            em.clone(),
            options.pin_key.clone(),
        ));
        // Logins made by other nodes of a shared database wake this node's scheduler too.
        let forwarder = store.login_changes().map(|changes| {
            let wake = wake.clone();
            tokio::spawn(async move {
                loop {
                    changes.notified().await;
                    wake.changed();
                }
            })
        });
        let scheduler = tokio::spawn(scheduler::run(
            store.clone(),
            clock.clone(),
            wake,
            scheduler_stop.clone(),
        ));
        let notifier_stop = Arc::new(Notify::new());
        let notifier = tokio::spawn(notify::run(admin.clone(), callbacks, notifier_stop.clone()));
        let metrics = Arc::new(Metrics::new(em.clone(), store.clone()));
        let feed = Arc::new(Feed::default());
        let feed_stop = Arc::new(Notify::new());
        let closing = tokio::sync::watch::Sender::new(false);
        let observer = {
            let metrics = metrics.clone();
            Box::new(move |e: &crate::domain::Event| metrics.observe(e))
        };
        let follower = tokio::spawn(feed::run(
            store.clone(),
            feed.clone(),
            observer,
            feed_stop.clone(),
        ));
        let local = listener.local_addr()?;
        let state = AppState {
            store,
            clock,
            em,
            admin,
            phone,
            public_url: options
                .public_url
                .as_deref()
                .map(|u| Arc::from(u.trim_end_matches('/'))),
            local,
            tls: tls.is_some(),
            proxies: Arc::new(options.trusted_proxies.clone()),
            metrics,
            feed,
            closing: closing.subscribe(),
        };
        let router = Router::new()
            .merge(em::routes())
            .merge(phone::routes())
            .merge(admin::routes())
            .merge(ops::routes())
            .merge(ui::routes())
            .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
            .layer(TimeoutLayer::with_status_code(
                StatusCode::REQUEST_TIMEOUT,
                REQUEST_TIMEOUT,
            ));
        let router = log::layer(router).with_state(state);
        Ok(Application {
            listener,
            tls,
            router,
            tasks: vec![
                (scheduler, scheduler_stop),
                (notifier, notifier_stop),
                (follower, feed_stop),
            ],
            forwarder,
            closing,
            limits: options.limits,
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .expect("a bound listener has an address")
    }

    /// Serve until `shutdown` completes, then finish the requests in flight and stop.
    pub async fn run_until(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let closing = self.closing.clone();
        let shutdown = async move {
            shutdown.await;
            closing.send_replace(true);
        };
        match self.tls {
            Some(config) => {
                let listener = tls::TlsListener::new(self.listener, config)?;
                serve::serve(listener, self.router, self.limits, shutdown).await;
            }
            None => serve::serve(self.listener, self.router, self.limits, shutdown).await,
        }
        if let Some(forwarder) = self.forwarder {
            forwarder.abort();
        }
        for (task, stop) in self.tasks {
            stop.notify_one();
            let _ = task.await;
        }
        Ok(())
    }
}

/// Completes on SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
    tracing::info!("shutting down: finishing requests in flight");
}
