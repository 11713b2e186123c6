//! OneBot 12 WebSocket, both directions: events out, actions in (responses carry `echo`).
//!
//! * Forward: `GET /` with `Upgrade` on the HTTP listener; the guard (Host, browser, token)
//!   runs before the upgrade. Events start from the moment of connection, or after
//!   `?last_event_id=<id>` to resume; `?self_id=` narrows them to one account.
//! * Reverse: a client per `websocket_reverse` entry (`ws://` or `wss://`), reconnecting every
//!   `reconnect_interval` ms, resuming from a durable cursor so nothing is lost while it was
//!   away. It offers the subprotocol `12.wechat-http` and accepts a server that does not echo
//!   it.
//!
//! Every connection first gets `meta.connect`, then `meta.status_update`, then events (and
//! `meta.heartbeat` when enabled). OneBot 11 connections ([`Dialect::V11`]) use the same
//! machinery: `lifecycle` first, events rendered for OneBot 11, its heartbeats, its actions;
//! an `/api` connection carries no events and an `/event` one takes no actions. One task owns each socket: frames out come from a bounded
//! queue (`websocket.queue_frames`) of shared event texts; a client that leaves the queue
//! full for `websocket.send_timeout` — or does not take a frame within it — is disconnected
//! and everything it held is released. An incoming frame above `http_server.max_body_bytes`
//! closes the connection with 1009. Actions run concurrently (up to 16 per connection).

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::Request;
use axum::extract::ws::{CloseFrame as AxumClose, Message as AxumMessage, WebSocket, WebSocketUpgrade};
use axum::response::Response;
use base64::Engine as _;
use futures_util::{Sink, SinkExt, Stream, StreamExt};
use serde_json::Value;
use sha1::Digest;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{Semaphore, mpsc};
use tokio_tungstenite::tungstenite::Message as WsMessage;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame as WsClose, Role as WsRole, WebSocketConfig};
use tokio_util::sync::CancellationToken;

use crate::config::WebsocketReverse;
use crate::error::ApiError;
use crate::events::outbox::EventFilter;
use crate::gateway::Gateway;
use crate::http::{envelope, respond};

/// The subprotocol offered to reverse WebSocket servers.
pub const SUBPROTOCOL: &str = "12.wechat-http";
/// Actions of one connection running at once.
const ACTIONS_IN_FLIGHT: usize = 16;

/// What a OneBot 11 connection carries (go-cqhttp's `/`, `/api`, `/event`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// Events and actions.
    Universal,
    /// Actions only.
    Api,
    /// Events only.
    Event,
}

/// Which OneBot a connection speaks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Dialect {
    /// OneBot 12.
    V12,
    /// OneBot 11: its role, and the account it is for (a reverse connection is one per
    /// account; a forward one carries every account).
    V11 {
        /// Role.
        role: Role,
        /// The account (name), if the connection is for one.
        account: Option<String>,
    },
}

/// Where a session starts and whether its position is durable.
pub struct Start {
    /// Deliver events after this sequence.
    pub after: i64,
    /// Cursor channel name for a durable session.
    pub durable: Option<String>,
    /// Which events.
    pub filter: EventFilter,
    /// The protocol.
    pub dialect: Dialect,
}

/// The OneBot 11 numbers of the accounts a connection serves.
async fn v11_selves(gateway: &Gateway, account: Option<&str>) -> Vec<i64> {
    let mut out = Vec::new();
    for a in gateway.accounts.iter().filter(|a| account.is_none_or(|n| n == a.name)) {
        let wx = a.backend.known_wxid();
        if wx.is_empty() {
            continue;
        }
        if let Ok(n) = gateway.ob11_ids.number(&gateway.store, crate::store::IdKind::Chat, &wx).await {
            out.push(n);
        }
    }
    out
}

/// What a socket delivered.
enum Incoming {
    Text(String),
    Closed,
    Ignore,
}

/// The two WebSocket message types (axum's for forward, tungstenite's for reverse).
trait Frame: Sized {
    fn text(s: &str) -> Self;
    fn close(code: u16, reason: &'static str) -> Self;
    fn classify(self) -> Incoming;
}

impl Frame for AxumMessage {
    fn text(s: &str) -> Self {
        AxumMessage::Text(s.into())
    }
    fn close(code: u16, reason: &'static str) -> Self {
        AxumMessage::Close(Some(AxumClose { code, reason: reason.into() }))
    }
    fn classify(self) -> Incoming {
        match self {
            AxumMessage::Text(t) => Incoming::Text(t.to_string()),
            AxumMessage::Close(_) => Incoming::Closed,
            _ => Incoming::Ignore,
        }
    }
}

impl Frame for WsMessage {
    fn text(s: &str) -> Self {
        WsMessage::Text(s.into())
    }
    fn close(code: u16, reason: &'static str) -> Self {
        WsMessage::Close(Some(WsClose { code: code.into(), reason: reason.into() }))
    }
    fn classify(self) -> Incoming {
        match self {
            WsMessage::Text(t) => Incoming::Text(t.to_string()),
            WsMessage::Close(_) => Incoming::Closed,
            _ => Incoming::Ignore,
        }
    }
}

/// True when `e` says an incoming message exceeded the size limit.
fn too_large(e: &(dyn std::error::Error + 'static)) -> bool {
    use tokio_tungstenite::tungstenite::Error as T;
    let mut cur = Some(e);
    while let Some(err) = cur {
        if let Some(T::Capacity(_)) = err.downcast_ref::<T>() {
            return true;
        }
        cur = err.source();
    }
    false
}

/// Owns a socket: writes queued frames (each within `write_timeout`), hands text frames in,
/// closes with 1009 on an oversized frame. Ends (and cancels `done`) when either side does.
async fn pump<S, M, E>(
    socket: S,
    mut out: mpsc::Receiver<Arc<str>>,
    incoming: mpsc::Sender<String>,
    done: CancellationToken,
    write_timeout: Duration,
) where
    S: Stream<Item = Result<M, E>> + Sink<M> + Unpin,
    M: Frame,
    E: std::error::Error + 'static,
{
    let (mut sink, mut stream) = socket.split();
    loop {
        tokio::select! {
            _ = done.cancelled() => break,
            frame = out.recv() => match frame {
                None => break,
                Some(text) => match tokio::time::timeout(write_timeout, sink.send(M::text(&text))).await {
                    Ok(Ok(())) => {}
                    _ => {
                        tracing::warn!("WebSocket client does not take frames; disconnecting (it can resume with last_event_id)");
                        break;
                    }
                },
            },
            msg = stream.next() => match msg {
                None => break,
                Some(Err(e)) => {
                    if too_large(&e) {
                        tracing::warn!("WebSocket frame above http_server.max_body_bytes; closing with 1009");
                        let close = sink.send(M::close(1009, "message too big: see http_server.max_body_bytes"));
                        let _ = tokio::time::timeout(Duration::from_secs(1), close).await;
                    }
                    break;
                }
                Some(Ok(m)) => match m.classify() {
                    Incoming::Text(t) => {
                        tokio::select! {
                            _ = done.cancelled() => break,
                            r = incoming.send(t) => if r.is_err() { break },
                        }
                    }
                    Incoming::Closed => break,
                    Incoming::Ignore => {}
                },
            },
        }
    }
    done.cancel();
    let _ = tokio::time::timeout(Duration::from_secs(1), sink.close()).await;
}

/// One action frame → its response (always a response, even for garbage), routed to the
/// account its `self` names, else `default`.
async fn handle_action(gateway: &Gateway, text: &str) -> String {
    let parsed = match crate::http::json::parse(text.as_bytes()) {
        Ok(v) => v,
        Err(e) => {
            return respond::failure(
                &ApiError::BadRequest(format!("an action frame must be a JSON object {{action, params, echo}}: {e}")),
                None,
            )
            .to_string();
        }
    };
    let call = match envelope::parse(Some(parsed), false) {
        Ok(c) => c,
        Err((e, echo)) => return respond::failure(&e, echo).to_string(),
    };
    let echo = call.echo.clone();
    let Some(name) = call.action.clone() else {
        return respond::failure(&ApiError::BadRequest("missing `action`".into()), echo).to_string();
    };
    match crate::actions::dispatch(gateway, &name, call).await {
        Ok(data) => respond::ok_text(&data, echo.as_ref()),
        Err(e) => respond::failure(&e, echo).to_string(),
    }
}

/// Runs the OneBot 12 logic of one connection until the peer goes away or is too slow.
async fn session(
    gateway: Gateway,
    start: Start,
    incoming: mpsc::Receiver<String>,
    out: mpsc::Sender<Arc<str>>,
    done: CancellationToken,
) {
    let send_timeout = Duration::from_secs(gateway.config.websocket.send_timeout);
    let send = |text: Arc<str>| {
        let out = out.clone();
        async move { matches!(tokio::time::timeout(send_timeout, out.send(text)).await, Ok(Ok(()))) }
    };
    if !send(Arc::from(crate::events::connect_event().to_string())).await {
        done.cancel();
        return;
    }
    let mut status = crate::events::status_update(&gateway).body;
    if let Value::Object(m) = &mut status {
        m.insert("id".into(), Value::String(uuid::Uuid::new_v4().to_string()));
    }
    if !send(Arc::from(status.to_string())).await {
        done.cancel();
        return;
    }
    common_session(gateway, start, incoming, out, done, send_timeout).await;
}

/// Runs the OneBot 11 logic of one connection.
async fn v11_session(
    gateway: Gateway,
    start: Start,
    incoming: mpsc::Receiver<String>,
    out: mpsc::Sender<Arc<str>>,
    done: CancellationToken,
) {
    let Dialect::V11 { role, account } = start.dialect.clone() else { return };
    let send_timeout = Duration::from_secs(gateway.config.websocket.send_timeout);
    if role != Role::Api {
        for n in v11_selves(&gateway, account.as_deref()).await {
            let life = crate::onebot11::events::lifecycle(n).to_string();
            if !matches!(tokio::time::timeout(send_timeout, out.send(Arc::from(life))).await, Ok(Ok(()))) {
                done.cancel();
                return;
            }
        }
    }
    common_session(gateway, start, incoming, out, done, send_timeout).await;
}

/// The part both dialects share: actions in, events out, heartbeats, the cursor.
async fn common_session(
    gateway: Gateway,
    start: Start,
    mut incoming: mpsc::Receiver<String>,
    out: mpsc::Sender<Arc<str>>,
    done: CancellationToken,
    send_timeout: Duration,
) {
    let send = |text: Arc<str>| {
        let out = out.clone();
        async move { matches!(tokio::time::timeout(send_timeout, out.send(text)).await, Ok(Ok(()))) }
    };
    let dialect = start.dialect.clone();
    // Actions in, responses out.
    let (actions_gateway, actions_out, actions_done) = (gateway.clone(), out.clone(), done.clone());
    let actions_dialect = dialect.clone();
    let actions = tokio::spawn(async move {
        let permits = Arc::new(Semaphore::new(ACTIONS_IN_FLIGHT));
        loop {
            let text = tokio::select! {
                _ = actions_done.cancelled() => break,
                t = incoming.recv() => match t { Some(t) => t, None => break },
            };
            let Ok(permit) = permits.clone().acquire_owned().await else { break };
            let (g, o, d) = (actions_gateway.clone(), actions_out.clone(), actions_done.clone());
            let dialect = actions_dialect.clone();
            tokio::spawn(async move {
                let rsp = match &dialect {
                    Dialect::V12 => handle_action(&g, &text).await,
                    Dialect::V11 { role: Role::Event, .. } => {
                        drop(permit);
                        return;
                    }
                    Dialect::V11 { account, .. } => {
                        crate::onebot11::actions::frame(&g, &text, account.as_deref()).await
                    }
                };
                if !matches!(tokio::time::timeout(send_timeout, o.send(Arc::from(rsp))).await, Ok(Ok(()))) {
                    d.cancel();
                }
                drop(permit);
            });
        }
    });
    let outbox = gateway.outbox.clone();
    let mut cursor = start.after;
    let mut watch = outbox.watch();
    let heartbeat = gateway.config.enable_heart_beat.then(|| Duration::from_secs(gateway.config.heart_beat_interval));
    let mut last_beat = Instant::now();
    let mut saved_at = Instant::now();
    'run: loop {
        let batch = match outbox.after(cursor, 256, &start.filter).await {
            Ok(b) => b,
            Err(e) => {
                tracing::error!(error = %e, "cannot read the outbox");
                break;
            }
        };
        for ev in &batch.events {
            let text = match &dialect {
                Dialect::V12 => Some(ev.text.clone()),
                Dialect::V11 { role: Role::Api, .. } => None,
                Dialect::V11 { .. } => {
                    let body: Value = serde_json::from_str(&ev.text).unwrap_or(Value::Null);
                    match crate::onebot11::events::render(&gateway, &body).await {
                        Ok(r) => r.map(|v| Arc::from(v.to_string())),
                        Err(e) => {
                            tracing::error!(error = %e, "cannot give an event its OneBot 11 ids; the connection resumes it later");
                            break 'run;
                        }
                    }
                }
            };
            if let Some(text) = text
                && !send(text).await
            {
                tracing::warn!("WebSocket client too slow or gone; disconnecting (it can resume with last_event_id)");
                break 'run;
            }
            cursor = ev.seq;
        }
        let moved = batch.upto > cursor;
        cursor = cursor.max(batch.upto);
        let idle = batch.events.is_empty() && !moved;
        if let Some(ch) = &start.durable
            && (idle || saved_at.elapsed() > Duration::from_millis(200))
        {
            let _ = outbox.save_cursor(ch, cursor).await;
            saved_at = Instant::now();
        }
        if !idle {
            continue;
        }
        let until_beat = heartbeat.map(|h| h.saturating_sub(last_beat.elapsed())).unwrap_or(Duration::from_secs(3600));
        tokio::select! {
            r = watch.changed() => if r.is_err() { break },
            _ = tokio::time::sleep(until_beat) => {}
            _ = done.cancelled() => break,
            _ = gateway.stop.cancelled() => break,
        }
        if let Some(h) = heartbeat
            && last_beat.elapsed() >= h
        {
            let beats: Vec<String> = match &dialect {
                Dialect::V12 => vec![crate::events::heartbeat_event(&gateway, false).to_string()],
                Dialect::V11 { role: Role::Api, .. } => Vec::new(),
                Dialect::V11 { account, .. } => v11_selves(&gateway, account.as_deref())
                    .await
                    .into_iter()
                    .map(|n| crate::onebot11::events::heartbeat(&gateway, n).to_string())
                    .collect(),
            };
            for b in beats {
                if !send(Arc::from(b)).await {
                    break 'run;
                }
            }
            last_beat = Instant::now();
        }
    }
    if let Some(ch) = &start.durable {
        let _ = outbox.save_cursor(ch, cursor).await;
    }
    done.cancel();
    actions.abort();
}

/// Runs a session over `socket` until either ends.
async fn connection<S, M, E>(gateway: Gateway, socket: S, start: Start)
where
    S: Stream<Item = Result<M, E>> + Sink<M> + Unpin + Send + 'static,
    M: Frame + Send + 'static,
    E: std::error::Error + Send + 'static,
{
    let (in_tx, in_rx) = mpsc::channel::<String>(64);
    let (out_tx, out_rx) = mpsc::channel::<Arc<str>>(gateway.config.websocket.queue_frames);
    let done = CancellationToken::new();
    let write_timeout = Duration::from_secs(gateway.config.websocket.send_timeout);
    let pumping = tokio::spawn(pump(socket, out_rx, in_tx, done.clone(), write_timeout));
    match start.dialect {
        Dialect::V12 => session(gateway, start, in_rx, out_tx, done.clone()).await,
        Dialect::V11 { .. } => v11_session(gateway, start, in_rx, out_tx, done.clone()).await,
    }
    done.cancel();
    let _ = pumping.await;
}

/// Accepts a forward WebSocket (`GET /` with `Upgrade`; the guard already ran).
pub fn accept_forward(gateway: Gateway, upgrade: WebSocketUpgrade, req: Request) -> Response {
    let refuse = |e: ApiError| respond::error_response(e, None);
    if !gateway.config.websocket.enabled {
        return refuse(ApiError::MethodNotAllowed {
            message: "the forward WebSocket is off (websocket.enabled): POST actions to / instead".into(),
            allow: "POST",
        });
    }
    let query = match crate::http::guard::query_pairs(req.uri().query().unwrap_or_default()) {
        Ok(q) => q,
        Err(e) => return refuse(e),
    };
    let get = |k: &str| query.iter().find(|(key, _)| key == k).map(|(_, v)| v.as_str());
    let after = match get("last_event_id").map(|v| v.parse::<i64>()) {
        None => gateway.outbox.latest(),
        Some(Ok(n)) if n >= 0 => n,
        Some(_) => return refuse(ApiError::BadParam("`last_event_id` must be an event id (a number)".into())),
    };
    let filter = match get("self_id").filter(|s| !s.is_empty()) {
        None => EventFilter::default(),
        Some(sel) => match gateway.route(Some(sel)) {
            Ok(a) => EventFilter { skip_meta: false, accounts: Some([a.name.clone()].into()) },
            Err(e) => return refuse(e),
        },
    };
    let slot = req.extensions().get::<crate::http::server::ConnSlot>().cloned();
    let max = gateway.config.http_server.max_body_bytes;
    upgrade
        .max_message_size(max)
        .max_frame_size(max)
        .write_buffer_size(64 * 1024)
        .max_write_buffer_size(max.max(1024 * 1024) * 2)
        .on_failed_upgrade(|e| tracing::debug!(error = %e, "WebSocket upgrade failed"))
        .on_upgrade(move |socket: WebSocket| async move {
            let _slot = slot;
            let _counted = Counted::new(gateway.clone());
            connection(gateway, socket, Start { after, durable: None, filter, dialect: Dialect::V12 }).await;
        })
}

/// Accepts a OneBot 11 forward WebSocket (`/onebot/v11/ws`, `…/ws/api`, `…/ws/event`): every
/// account's events from the moment of connection (`?self_id=` narrows them to one).
pub fn accept_forward_v11(gateway: Gateway, upgrade: WebSocketUpgrade, req: Request, role: Role) -> Response {
    let refuse = |e: ApiError| respond::error_response(e, None);
    let query = match crate::http::guard::query_pairs(req.uri().query().unwrap_or_default()) {
        Ok(q) => q,
        Err(e) => return refuse(e),
    };
    let account = match query.iter().find(|(k, _)| k == "self_id").map(|(_, v)| v.clone()).filter(|s| !s.is_empty()) {
        None => None,
        Some(sel) => match gateway.route(Some(&sel)) {
            Ok(a) => Some(a.name.clone()),
            Err(e) => return refuse(e),
        },
    };
    let filter = EventFilter { skip_meta: true, accounts: account.clone().map(|a| [a].into()) };
    let after = gateway.outbox.latest();
    let slot = req.extensions().get::<crate::http::server::ConnSlot>().cloned();
    let max = gateway.config.http_server.max_body_bytes;
    upgrade
        .max_message_size(max)
        .max_frame_size(max)
        .write_buffer_size(64 * 1024)
        .max_write_buffer_size(max.max(1024 * 1024) * 2)
        .on_failed_upgrade(|e| tracing::debug!(error = %e, "WebSocket upgrade failed"))
        .on_upgrade(move |socket: WebSocket| async move {
            let _slot = slot;
            let _counted = Counted::new(gateway.clone());
            let dialect = Dialect::V11 { role, account };
            connection(gateway, socket, Start { after, durable: None, filter, dialect }).await;
        })
}

/// Counts a forward WebSocket client while it is connected.
struct Counted(Gateway);

impl Counted {
    fn new(gateway: Gateway) -> Self {
        gateway.websocket_clients.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        Self(gateway)
    }
}

impl Drop for Counted {
    fn drop(&mut self) {
        self.0.websocket_clients.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
    }
}

/// The channel name of a reverse target in the cursor table.
pub fn reverse_channel(target: &WebsocketReverse) -> String {
    if target.accounts.is_empty() {
        format!("ws_reverse:{}", target.url)
    } else {
        format!("ws_reverse:{}|{}", target.url, target.accounts.join(","))
    }
}

/// A plain or TLS connection (reverse WebSocket, NATS).
pub(crate) enum Stream2 {
    Plain(TcpStream),
    Tls(Box<tokio_rustls::client::TlsStream<TcpStream>>),
}

impl AsyncRead for Stream2 {
    fn poll_read(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        match self.get_mut() {
            Self::Plain(s) => std::pin::Pin::new(s).poll_read(cx, buf),
            Self::Tls(s) => std::pin::Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Stream2 {
    fn poll_write(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        match self.get_mut() {
            Self::Plain(s) => std::pin::Pin::new(s).poll_write(cx, buf),
            Self::Tls(s) => std::pin::Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        match self.get_mut() {
            Self::Plain(s) => std::pin::Pin::new(s).poll_flush(cx),
            Self::Tls(s) => std::pin::Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        match self.get_mut() {
            Self::Plain(s) => std::pin::Pin::new(s).poll_shutdown(cx),
            Self::Tls(s) => std::pin::Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}

/// The TLS settings for `wss://` (and `tls://` NATS): the system's roots plus `ca_file`.
pub(crate) fn tls_config(ca_file: Option<&std::path::Path>) -> Result<Arc<rustls::ClientConfig>, String> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut extra: Vec<CertificateDer<'static>> = Vec::new();
    if let Some(ca) = ca_file {
        for cert in CertificateDer::pem_file_iter(ca).map_err(|e| format!("ca_file {}: {e}", ca.display()))? {
            extra.push(cert.map_err(|e| format!("ca_file {}: {e}", ca.display()))?);
        }
        if extra.is_empty() {
            return Err(format!("ca_file {} holds no certificate", ca.display()));
        }
    }
    let verifier = rustls_platform_verifier::Verifier::new_with_extra_roots(extra, provider.clone())
        .map_err(|e| format!("cannot set up TLS verification: {e}"))?;
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(verifier))
        .with_no_client_auth();
    Ok(Arc::new(config))
}

/// Connects to a reverse WebSocket server. The handshake is done here so that a server which
/// does not echo the offered subprotocol is still accepted.
async fn connect(
    target: &WebsocketReverse,
    self_id: &str,
    max_message: usize,
    v11: bool,
) -> Result<tokio_tungstenite::WebSocketStream<Stream2>, String> {
    let (tls, rest) = match (target.url.strip_prefix("ws://"), target.url.strip_prefix("wss://")) {
        (Some(r), _) => (false, r),
        (_, Some(r)) => (true, r),
        _ => return Err("the URL must start with ws:// or wss://".into()),
    };
    let (hostport, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let host = hostport.rsplit_once(':').map_or(hostport, |(h, p)| if p.parse::<u16>().is_ok() { h } else { hostport });
    let addr = if hostport.rsplit_once(':').is_some_and(|(_, p)| p.parse::<u16>().is_ok()) {
        hostport.to_owned()
    } else {
        format!("{hostport}:{}", if tls { 443 } else { 80 })
    };
    let tcp = tokio::time::timeout(Duration::from_secs(10), TcpStream::connect(&addr))
        .await
        .map_err(|_| "no TCP connection within 10 s".to_owned())?
        .map_err(|e| e.to_string())?;
    tcp.set_nodelay(true).ok();
    let mut stream = if tls {
        let config = tls_config(target.ca_file.as_deref())?;
        let name =
            rustls::pki_types::ServerName::try_from(host.trim_start_matches('[').trim_end_matches(']').to_owned())
                .map_err(|e| format!("{host} is not a valid server name: {e}"))?;
        let tls =
            tokio::time::timeout(Duration::from_secs(10), tokio_rustls::TlsConnector::from(config).connect(name, tcp))
                .await
                .map_err(|_| "no TLS handshake within 10 s".to_owned())?
                .map_err(|e| format!("TLS: {e}"))?;
        Stream2::Tls(Box::new(tls))
    } else {
        Stream2::Plain(tcp)
    };
    let key = base64::engine::general_purpose::STANDARD.encode(rand::random::<[u8; 16]>());
    // OneBot 11 (go-cqhttp's reverse WebSocket) offers no subprotocol.
    let protocol =
        if v11 { String::new() } else { format!("Sec-WebSocket-Protocol: {SUBPROTOCOL}\r\nX-OneBot-Version: 12\r\n") };
    let mut req = format!(
        "GET {path} HTTP/1.1\r\nHost: {hostport}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n{protocol}\
         X-Self-ID: {self_id}\r\nX-Client-Role: Universal\r\nX-Impl: wechat-http\r\n\
         User-Agent: wechat-http/{}\r\n",
        env!("CARGO_PKG_VERSION")
    );
    if !target.access_token.is_empty() {
        req.push_str(&format!("Authorization: Bearer {}\r\n", target.access_token.expose()));
    }
    req.push_str("\r\n");
    stream.write_all(req.as_bytes()).await.map_err(|e| e.to_string())?;
    // Read the response head byte by byte so no frame that follows it is swallowed.
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if head.len() > 16 * 1024 {
            return Err("handshake response too long".into());
        }
        let n = tokio::time::timeout(Duration::from_secs(10), stream.read(&mut byte))
            .await
            .map_err(|_| "no handshake response within 10 s".to_owned())?
            .map_err(|e| e.to_string())?;
        if n == 0 {
            return Err("connection closed during the handshake".into());
        }
        head.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&head);
    let status = head.lines().next().unwrap_or_default();
    if status.split_whitespace().nth(1).is_none_or(|c| c != "101") {
        return Err(format!("server answered {status:?} (a wrong access_token gives 401/403)"));
    }
    let accept = head
        .lines()
        .find_map(|l| {
            l.split_once(':')
                .filter(|(k, _)| k.trim().eq_ignore_ascii_case("sec-websocket-accept"))
                .map(|(_, v)| v.trim().to_owned())
        })
        .ok_or("no Sec-WebSocket-Accept in the handshake response")?;
    let mut sha = sha1::Sha1::new();
    sha.update(key.as_bytes());
    sha.update(b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11");
    if accept != base64::engine::general_purpose::STANDARD.encode(sha.finalize()) {
        return Err("wrong Sec-WebSocket-Accept in the handshake response".into());
    }
    let config = WebSocketConfig::default().max_message_size(Some(max_message)).max_frame_size(Some(max_message));
    Ok(tokio_tungstenite::WebSocketStream::from_raw_socket(stream, WsRole::Client, Some(config)).await)
}

/// Runs one reverse WebSocket target until the gateway stops.
pub async fn reverse(gateway: Gateway, target: WebsocketReverse) {
    reverse_loop(gateway, target, None).await
}

/// The channel name of a OneBot 11 reverse target for one account.
pub fn v11_reverse_channel(target: &WebsocketReverse, account: &str) -> String {
    format!("ob11_ws_reverse:{}|{account}", target.url)
}

/// Runs one OneBot 11 reverse WebSocket target for one account (go-cqhttp connects once per
/// account, `X-Self-ID` its number) until the gateway stops.
pub async fn reverse_v11(gateway: Gateway, target: WebsocketReverse, account: String) {
    reverse_loop(gateway, target, Some(account)).await
}

/// The reconnect loop both reverse flavours share: OneBot 12 (`v11_account` `None`: one
/// connection for the target's accounts) or OneBot 11 for one account.
async fn reverse_loop(gateway: Gateway, target: WebsocketReverse, v11_account: Option<String>) {
    let (channel, kind, what) = match &v11_account {
        None => (reverse_channel(&target), "ws_reverse", "reverse WebSocket"),
        Some(account) => (v11_reverse_channel(&target, account), "onebot11_ws_reverse", "OneBot 11 reverse WebSocket"),
    };
    let account = v11_account.as_deref().unwrap_or_default();
    let stats = gateway.channels.register(&channel, kind, &target.url);
    let interval = Duration::from_millis(target.reconnect_interval.max(100));
    let mut failures = 0u32;
    loop {
        if gateway.stop.is_cancelled() || !gateway.wait_for_channel(&channel).await {
            return;
        }
        let (self_id, filter, dialect) = match &v11_account {
            None => {
                let filter = EventFilter { skip_meta: false, accounts: gateway.select(&target.accounts) };
                let self_id = gateway
                    .accounts
                    .iter()
                    .find(|a| filter.accounts.as_ref().is_none_or(|s| s.contains(&a.name)))
                    .map(|a| a.backend.known_wxid())
                    .unwrap_or_default();
                (self_id, filter, Dialect::V12)
            }
            Some(account) => {
                // The account's number needs its wxid: wait until WeChat has told it.
                let Some(number) = v11_selves(&gateway, Some(account)).await.first().copied() else {
                    tokio::select! {
                        _ = gateway.stop.cancelled() => return,
                        _ = tokio::time::sleep(Duration::from_millis(200)) => continue,
                    }
                };
                let filter = EventFilter { skip_meta: true, accounts: Some([account.clone()].into()) };
                (number.to_string(), filter, Dialect::V11 { role: Role::Universal, account: Some(account.clone()) })
            }
        };
        let connected = tokio::select! {
            _ = gateway.stop.cancelled() => return,
            c = connect(&target, &self_id, gateway.config.http_server.max_body_bytes, v11_account.is_some()) => c,
        };
        match connected {
            Ok(ws) => {
                failures = 0;
                stats.ok();
                tracing::info!(url = %target.url, %account, "{what} connected");
                match gateway.outbox.cursor(&channel, gateway.outbox.latest()).await {
                    Ok(after) => {
                        let start = Start { after, durable: Some(channel.clone()), filter, dialect };
                        tokio::select! {
                            _ = connection(gateway.clone(), ws, start) => {
                                tracing::warn!(url = %target.url, %account, "{what} disconnected; reconnecting");
                            }
                            _ = gateway.channel_lost(&channel) => {
                                tracing::warn!(url = %target.url, %account, "another node runs the {what} now; disconnected here");
                            }
                        }
                    }
                    Err(e) => tracing::error!(error = %e, "cannot read a reverse WebSocket cursor"),
                }
            }
            Err(why) => {
                failures += 1;
                stats.failed(&why);
                if failures == 1 || failures.is_multiple_of(20) {
                    tracing::warn!(url = %target.url, %why, retry_in = ?interval, "{what} connection failed");
                }
            }
        }
        tokio::select! {
            _ = gateway.stop.cancelled() => return,
            _ = tokio::time::sleep(interval) => {}
        }
    }
}
