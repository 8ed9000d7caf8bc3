//! Connections: the accept loop, the limits on what one connection may hold, and the graceful
//! stop. hyper serves each connection (HTTP/1.1); what is ours is the policy around it.
//!
//! - **Open connections** are capped ([`Limits::max_connections`]): past the cap a new
//!   connection gets `503 Service Unavailable` with `Retry-After` and is closed, while the
//!   connections already open go on being served. A flood fills the cap, and the answer says
//!   what happened. (Over TLS the cap is checked once a handshake is done: handshakes in
//!   progress are bounded by their own timeout, not by the cap.)
//! - **A request's head** (request line and headers) may be at most [`MAX_HEAD_BYTES`] and
//!   [`MAX_HEADERS`] lines: past either, `431 Request Header Fields Too Large`.
//! - **Its arrival** may take at most [`HEAD_TIMEOUT`], counted from when the connection waits
//!   for it (so an idle keep-alive connection is closed after that long too): a client that
//!   trickles its headers holds a slot for that long and no longer. The body's time is the
//!   router's `REQUEST_TIMEOUT`.
//! - **The stop** lets the requests in flight finish, for at most [`STOP_GRACE`].

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::Semaphore;
use tower::{Layer, ServiceExt};

/// The largest request head accepted: an EM document sent as a GET query fits (a body is at
/// most 64 KiB, `MAX_BODY_BYTES`, and a short one is what a GET carries).
pub const MAX_HEAD_BYTES: usize = 64 * 1024;

/// The most header lines a request may have.
pub const MAX_HEADERS: usize = 64;

/// How long a client has to send a request's head, from when the connection waits for one.
pub const HEAD_TIMEOUT: Duration = Duration::from_secs(30);

/// How long the requests in flight have to finish once the server begins to stop.
pub const STOP_GRACE: Duration = Duration::from_secs(30);

/// Open connections a node holds by default (`serve --max-connections`). Each costs a task and
/// its buffers (a few KiB idle) and a file descriptor: the process's descriptor limit must be
/// above it.
pub const DEFAULT_MAX_CONNECTIONS: usize = 4096;

/// What the accept loop enforces.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub max_connections: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_connections: DEFAULT_MAX_CONNECTIONS,
        }
    }
}

/// What a connection past the cap is told before it is closed.
const FULL: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\n\
    content-type: text/plain; charset=utf-8\r\n\
    retry-after: 1\r\n\
    connection: close\r\n\
    content-length: 38\r\n\
    \r\n\
    too many open connections; retry soon\n";

/// How long a refused connection may take to be told: it is not worth more.
const REFUSAL_TIMEOUT: Duration = Duration::from_secs(2);

/// Refused connections being told at once; past it a refused connection is closed untold, so
/// that a flood cannot hold a descriptor per refusal.
const MAX_REFUSALS: usize = 64;

/// Serve `router` on the connections `listener` hands out until `stop` completes; then stop
/// accepting, let the requests in flight finish (for at most [`STOP_GRACE`]) and return.
pub async fn serve<L>(
    mut listener: L,
    router: Router,
    limits: Limits,
    stop: impl Future<Output = ()> + Send,
) where
    L: axum::serve::Listener<Addr = SocketAddr>,
{
    let open = Arc::new(Semaphore::new(limits.max_connections));
    let refusing = Arc::new(Semaphore::new(MAX_REFUSALS));
    let graceful = GracefulShutdown::new();
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(HEAD_TIMEOUT)
        .max_header_size(MAX_HEAD_BYTES)
        .max_headers(MAX_HEADERS);
    let mut stop = std::pin::pin!(stop);
    loop {
        let (io, peer) = tokio::select! {
            conn = listener.accept() => conn,
            () = &mut stop => break,
        };
        let Ok(slot) = open.clone().try_acquire_owned() else {
            tracing::warn!(%peer, max = limits.max_connections, "connection refused: too many open");
            if let Ok(telling) = refusing.clone().try_acquire_owned() {
                tokio::spawn(async move {
                    refuse(io).await;
                    drop(telling);
                });
            }
            continue;
        };
        // Handlers read the peer as `ConnectInfo`, whatever the transport.
        let service = axum::Extension(ConnectInfo(peer))
            .layer(router.clone())
            .map_request(|req: hyper::Request<hyper::body::Incoming>| {
                req.map(axum::body::Body::new)
            });
        let conn = http.serve_connection(TokioIo::new(io), TowerToHyperService::new(service));
        let conn = graceful.watch(conn);
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                tracing::debug!(%peer, error = %e, "connection ended with an error");
            }
            drop(slot);
        });
    }
    drop(listener);
    tokio::select! {
        () = graceful.shutdown() => {}
        () = tokio::time::sleep(STOP_GRACE) => {
            tracing::warn!(grace = ?STOP_GRACE, "requests still in flight at the stop were cut off");
        }
    }
}

/// Tell a connection past the cap so, then close it. What it sent is read (and dropped) for a
/// moment first: closing a socket with unread data resets it, and the client would see a reset
/// instead of the answer.
async fn refuse<Io: AsyncRead + AsyncWrite + Unpin>(mut io: Io) {
    let tell = async {
        io.write_all(FULL).await?;
        io.flush().await?;
        io.shutdown().await?;
        let mut sink = [0u8; 4096];
        for _ in 0..16 {
            if io.read(&mut sink).await? == 0 {
                break;
            }
        }
        Ok::<_, std::io::Error>(())
    };
    let _ = tokio::time::timeout(REFUSAL_TIMEOUT, tell).await;
}
