//! The HTTP/1.1 server under the router, with the limits a long-running desktop service needs:
//!
//! * at most `http_server.max_connections` open connections; at the limit the connection
//!   idle the longest (no request in flight, not a WebSocket) is closed to make room, so a
//!   flood of idle sockets never keeps a real client out;
//! * a connection that sends no complete request head within `header_read_timeout`, or sits
//!   idle between requests longer than `keep_alive_timeout`, is closed;
//! * on shutdown, idle connections close at once and busy ones get a moment to finish.
//!
//! Upgraded (WebSocket) connections count against the limit for as long as they live.

use std::collections::HashMap;
use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tower_service::Service as _;

/// How long busy connections may finish after shutdown starts.
const DRAIN: Duration = Duration::from_secs(3);
/// The kernel send buffer of every connection. Without a fixed size Linux grows it to 4 MiB,
/// and a client that stops reading could swallow megabytes before anyone notices.
const SEND_BUFFER: usize = 256 * 1024;

/// Limits of the server.
#[derive(Clone, Debug)]
pub struct Limits {
    /// Open connections at most.
    pub max_connections: usize,
    /// Until the first request head is complete.
    pub header_read_timeout: Duration,
    /// Idle time between requests.
    pub keep_alive_timeout: Duration,
}

/// One open connection.
#[derive(Debug)]
struct Conn {
    in_flight: AtomicUsize,
    served: AtomicU64,
    upgraded: AtomicBool,
    idle_since: Mutex<Instant>,
    close: CancellationToken,
}

impl Conn {
    fn idle_for(&self) -> Option<Duration> {
        (self.in_flight.load(Ordering::SeqCst) == 0 && !self.upgraded.load(Ordering::SeqCst))
            .then(|| self.idle_since.lock().unwrap_or_else(|p| p.into_inner()).elapsed())
    }
}

/// Open connections.
#[derive(Debug, Default)]
struct Registry {
    next: AtomicU64,
    conns: Mutex<HashMap<u64, Arc<Conn>>>,
}

impl Registry {
    fn len(&self) -> usize {
        self.conns.lock().unwrap_or_else(|p| p.into_inner()).len()
    }

    /// Closes the connection idle the longest; false when none is idle.
    fn evict_idlest(&self) -> bool {
        let conns = self.conns.lock().unwrap_or_else(|p| p.into_inner());
        let idlest = conns.values().filter_map(|c| Some((c.idle_for()?, c))).max_by_key(|(d, _)| *d);
        match idlest {
            Some((_, c)) => {
                c.close.cancel();
                true
            }
            None => false,
        }
    }
}

/// Keeps a connection's slot taken while the connection (or its WebSocket) lives.
#[derive(Debug)]
pub struct Slot {
    id: u64,
    conn: Arc<Conn>,
    registry: Arc<Registry>,
}

impl Slot {
    /// Resolves when the server wants this connection closed (eviction or shutdown).
    pub async fn closing(&self) {
        self.conn.close.cancelled().await
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.registry.conns.lock().unwrap_or_else(|p| p.into_inner()).remove(&self.id);
    }
}

/// The request extension through which an upgraded connection keeps its slot.
#[derive(Clone, Debug)]
pub struct ConnSlot(pub Arc<Slot>);

#[derive(Clone)]
struct Svc {
    router: Router,
    slot: Arc<Slot>,
}

impl hyper::service::Service<hyper::Request<Incoming>> for Svc {
    type Response = axum::response::Response;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Infallible>> + Send>>;

    fn call(&self, req: hyper::Request<Incoming>) -> Self::Future {
        let mut req = req.map(Body::new);
        req.extensions_mut().insert(ConnSlot(self.slot.clone()));
        let conn = self.slot.conn.clone();
        conn.in_flight.fetch_add(1, Ordering::SeqCst);
        let mut router = self.router.clone();
        Box::pin(async move {
            let rsp = router.call(req).await;
            if rsp.as_ref().is_ok_and(|r| r.status() == axum::http::StatusCode::SWITCHING_PROTOCOLS) {
                conn.upgraded.store(true, Ordering::SeqCst);
            }
            *conn.idle_since.lock().unwrap_or_else(|p| p.into_inner()) = Instant::now();
            conn.served.fetch_add(1, Ordering::SeqCst);
            conn.in_flight.fetch_sub(1, Ordering::SeqCst);
            rsp
        })
    }
}

/// Resolves when `conn` should be closed: idle too long, evicted, or shut down while idle.
async fn watchdog(conn: &Conn, limits: &Limits, stop: &CancellationToken) {
    let mut tick = tokio::time::interval(Duration::from_millis(250));
    loop {
        tokio::select! {
            _ = conn.close.cancelled() => return,
            _ = tick.tick() => {}
        }
        let Some(idle) = conn.idle_for() else { continue };
        let limit = if stop.is_cancelled() {
            Duration::ZERO
        } else if conn.served.load(Ordering::SeqCst) == 0 {
            limits.header_read_timeout
        } else {
            limits.keep_alive_timeout
        };
        if idle >= limit {
            return;
        }
    }
}

async fn handle(tcp: tokio::net::TcpStream, slot: Arc<Slot>, router: Router, limits: Limits, stop: CancellationToken) {
    let _ = tcp.set_nodelay(true);
    let _ = socket2::SockRef::from(&tcp).set_send_buffer_size(SEND_BUFFER);
    let conn = slot.conn.clone();
    let svc = Svc { router, slot: slot.clone() };
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout.max(limits.keep_alive_timeout))
        .keep_alive(true);
    let serving = builder.serve_connection(TokioIo::new(tcp), svc).with_upgrades();
    tokio::pin!(serving);
    let mut draining = false;
    loop {
        tokio::select! {
            r = &mut serving => {
                if let Err(e) = r {
                    tracing::debug!(error = %e, "HTTP connection ended with an error");
                }
                return;
            }
            _ = watchdog(&conn, &limits, &stop), if !draining => {
                // Idle too long, evicted, or shutting down: dropping the connection closes it.
                if stop.is_cancelled() && conn.in_flight.load(Ordering::SeqCst) > 0 {
                    serving.as_mut().graceful_shutdown();
                    draining = true;
                    continue;
                }
                return;
            }
            _ = tokio::time::sleep(DRAIN), if draining => return,
            _ = stop.cancelled(), if !draining => {
                serving.as_mut().graceful_shutdown();
                draining = true;
            }
        }
    }
}

/// Serves `router` on `listener` until `stop`; the future ends when the listener is closed
/// (connections still open finish on their own tasks, within [`DRAIN`]).
pub async fn serve(listener: TcpListener, router: Router, limits: Limits, stop: CancellationToken) {
    let registry = Arc::new(Registry::default());
    loop {
        let (tcp, peer) = tokio::select! {
            _ = stop.cancelled() => return,
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Out of file descriptors and similar: wait a little rather than spin.
                    tracing::warn!(error = %e, "cannot accept a connection");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        if registry.len() >= limits.max_connections && !registry.evict_idlest() {
            tracing::warn!(%peer, max = limits.max_connections, "too many busy connections; refusing one (http_server.max_connections)");
            drop(tcp);
            continue;
        }
        let id = registry.next.fetch_add(1, Ordering::SeqCst);
        let conn = Arc::new(Conn {
            in_flight: AtomicUsize::new(0),
            served: AtomicU64::new(0),
            upgraded: AtomicBool::new(false),
            idle_since: Mutex::new(Instant::now()),
            close: CancellationToken::new(),
        });
        registry.conns.lock().unwrap_or_else(|p| p.into_inner()).insert(id, conn.clone());
        let slot = Arc::new(Slot { id, conn, registry: registry.clone() });
        tokio::spawn(handle(tcp, slot, router.clone(), limits.clone(), stop.clone()));
    }
}
