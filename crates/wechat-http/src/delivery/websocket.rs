//! OneBot 12 WebSocket, both directions: events out, actions in (responses carry `echo`).
//!
//! * Forward: `GET /` with `Upgrade` on the HTTP listener; auth happens before the upgrade.
//!   Events start from the moment of connection, or after `?last_event_id=<id>` to resume.
//! * Reverse: a client per `websocket_reverse` entry, reconnecting every `reconnect_interval`
//!   ms, resuming from a durable cursor so nothing is lost while it was away. It offers the
//!   subprotocol `12.wechat-http` and accepts a server that does not echo it.
//!
//! Every connection first gets `meta.connect`, then `meta.status_update`, then events (and
//! `meta.heartbeat` when enabled). Outgoing frames go through a bounded queue: a client that
//! does not take a frame within 10 s is disconnected (it can resume from the outbox), so a slow
//! consumer never makes memory grow.

use std::time::{Duration, Instant};

use axum::extract::ws::{Message as AxumMessage, WebSocket};
use base64::Engine as _;
use futures_util::{SinkExt, StreamExt};
use onebot::Resp;
use serde_json::Value;
use sha1::Digest;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, watch};
use tokio_tungstenite::tungstenite::Message as WsMessage;
use tokio_tungstenite::tungstenite::protocol::Role;

use crate::actions::{self, Params};
use crate::config::WebsocketReverse;
use crate::state::AppState;

/// Frames queued for one client at most.
const OUT_QUEUE: usize = 256;
/// How long a client may take to accept a frame.
const SEND_TIMEOUT: Duration = Duration::from_secs(10);
/// The subprotocol offered to reverse WebSocket servers.
pub const SUBPROTOCOL: &str = "12.wechat-http";

/// Where a session starts and whether its position is durable.
pub struct Start {
    /// Deliver events after this sequence.
    pub after: i64,
    /// Cursor channel name for a durable session.
    pub durable: Option<String>,
}

/// Runs the OneBot logic of one connection over text channels until the peer goes away.
async fn session(
    state: AppState,
    start: Start,
    mut incoming: mpsc::Receiver<String>,
    out: mpsc::Sender<String>,
    mut gone: watch::Receiver<bool>,
) {
    let send = |text: String| {
        let out = out.clone();
        async move { matches!(tokio::time::timeout(SEND_TIMEOUT, out.send(text)).await, Ok(Ok(()))) }
    };
    if !send(crate::events::connect_event().to_string()).await {
        return;
    }
    let mut status = crate::events::status_update(&state).body;
    if let Value::Object(m) = &mut status {
        m.insert("id".into(), Value::String(uuid::Uuid::new_v4().to_string()));
    }
    if !send(status.to_string()).await {
        return;
    }
    // Actions in, responses out.
    let actions_state = state.clone();
    let actions_out = out.clone();
    let actions = tokio::spawn(async move {
        while let Some(text) = incoming.recv().await {
            let rsp = handle_action(&actions_state, &text).await;
            if tokio::time::timeout(SEND_TIMEOUT, actions_out.send(rsp.to_string())).await.is_err() {
                break;
            }
        }
    });
    let outbox = state.outbox.clone();
    let mut cursor = start.after;
    let mut watch = outbox.watch();
    let heartbeat = state.config.enable_heart_beat.then(|| Duration::from_secs(state.config.heart_beat_interval));
    let mut last_beat = Instant::now();
    let mut saved_at = Instant::now();
    'run: loop {
        let batch = match outbox.after(cursor, 256, false).await {
            Ok(b) => b,
            Err(e) => {
                tracing::error!(error = %e, "cannot read the outbox");
                break;
            }
        };
        for ev in &batch {
            if !send(ev.text.clone()).await {
                tracing::warn!("WebSocket client too slow or gone; disconnecting (it can resume with last_event_id)");
                break 'run;
            }
            cursor = ev.seq;
        }
        if let Some(ch) = &start.durable
            && (!batch.is_empty() && saved_at.elapsed() > Duration::from_millis(200) || batch.is_empty())
        {
            let _ = outbox.save_cursor(ch, cursor).await;
            saved_at = Instant::now();
        }
        if !batch.is_empty() {
            continue;
        }
        let until_beat = heartbeat.map(|h| h.saturating_sub(last_beat.elapsed())).unwrap_or(Duration::from_secs(3600));
        tokio::select! {
            r = watch.changed() => if r.is_err() { break },
            _ = tokio::time::sleep(until_beat) => {}
            _ = gone.changed() => break,
        }
        if let Some(h) = heartbeat
            && last_beat.elapsed() >= h
        {
            if !send(crate::events::heartbeat_event(&state, false).to_string()).await {
                break;
            }
            last_beat = Instant::now();
        }
    }
    if let Some(ch) = &start.durable {
        let _ = outbox.save_cursor(ch, cursor).await;
    }
    actions.abort();
}

/// One action frame → its response (always a response, even for garbage).
async fn handle_action(state: &AppState, text: &str) -> Value {
    let parsed: Result<Value, _> = serde_json::from_str(text);
    let Ok(Value::Object(mut obj)) = parsed else {
        return serde_json::to_value(Resp::bad_request("an action frame must be a JSON object {action, params, echo}"))
            .unwrap_or_default();
    };
    let echo = obj.remove("echo");
    let name = match obj.remove("action") {
        Some(Value::String(s)) => s,
        _ => {
            return serde_json::to_value(Resp::bad_request("missing `action`").with_echo(echo)).unwrap_or_default();
        }
    };
    let params = match obj.remove("params") {
        None | Some(Value::Null) => Params::default(),
        Some(Value::Object(m)) => Params(m),
        Some(_) => {
            return serde_json::to_value(Resp::bad_request("`params` must be an object").with_echo(echo))
                .unwrap_or_default();
        }
    };
    let rsp = match actions::dispatch(state, &name, &params).await {
        Ok(data) => Resp::ok(data),
        Err(e) => Resp::failed(e.retcode(), e.public_message()),
    };
    serde_json::to_value(rsp.with_echo(echo)).unwrap_or_default()
}

/// Serves a forward WebSocket connection (already authenticated and upgraded).
pub async fn forward(state: AppState, socket: WebSocket, after: i64) {
    let (mut sink, mut stream) = socket.split();
    let (in_tx, in_rx) = mpsc::channel::<String>(64);
    let (out_tx, mut out_rx) = mpsc::channel::<String>(OUT_QUEUE);
    let (gone_tx, gone) = watch::channel(false);
    let writer = tokio::spawn(async move {
        while let Some(text) = out_rx.recv().await {
            if sink.send(AxumMessage::Text(text.into())).await.is_err() {
                break;
            }
        }
        let _ = sink.close().await;
    });
    let reader = tokio::spawn(async move {
        while let Some(Ok(msg)) = stream.next().await {
            let text = match msg {
                AxumMessage::Text(t) => t.to_string(),
                AxumMessage::Close(_) => break,
                _ => continue,
            };
            if in_tx.send(text).await.is_err() {
                break;
            }
        }
        let _ = gone_tx.send(true);
    });
    session(state, Start { after, durable: None }, in_rx, out_tx, gone).await;
    reader.abort();
    let _ = writer.await;
}

/// The channel name of a reverse target in the cursor table.
pub fn reverse_channel(target: &WebsocketReverse) -> String {
    format!("ws_reverse:{}", target.url)
}

/// Connects to a reverse WebSocket server. The handshake is done here so that a server which
/// does not echo the offered subprotocol is still accepted.
async fn connect(
    target: &WebsocketReverse,
    self_id: &str,
) -> Result<tokio_tungstenite::WebSocketStream<TcpStream>, String> {
    let rest = target
        .url
        .strip_prefix("ws://")
        .ok_or("only ws:// URLs are supported (put a TLS terminator in front for wss)")?;
    let (hostport, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let mut tcp = TcpStream::connect(hostport).await.map_err(|e| e.to_string())?;
    tcp.set_nodelay(true).ok();
    let key = base64::engine::general_purpose::STANDARD.encode(rand::random::<[u8; 16]>());
    let mut req = format!(
        "GET {path} HTTP/1.1\r\nHost: {hostport}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: {SUBPROTOCOL}\r\n\
         X-Self-ID: {self_id}\r\nX-Client-Role: Universal\r\nX-Impl: wechat-http\r\nX-OneBot-Version: 12\r\n\
         User-Agent: wechat-http/{}\r\n",
        env!("CARGO_PKG_VERSION")
    );
    if !target.access_token.is_empty() {
        req.push_str(&format!("Authorization: Bearer {}\r\n", target.access_token.expose()));
    }
    req.push_str("\r\n");
    tcp.write_all(req.as_bytes()).await.map_err(|e| e.to_string())?;
    // Read the response head byte by byte so no frame that follows it is swallowed.
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if head.len() > 16 * 1024 {
            return Err("handshake response too long".into());
        }
        let n = tokio::time::timeout(Duration::from_secs(10), tcp.read(&mut byte))
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
    Ok(tokio_tungstenite::WebSocketStream::from_raw_socket(tcp, Role::Client, None).await)
}

/// Runs one reverse WebSocket target for ever.
pub async fn reverse(state: AppState, target: WebsocketReverse) {
    let channel = reverse_channel(&target);
    let interval = Duration::from_millis(target.reconnect_interval.max(100));
    let mut failures = 0u32;
    loop {
        let me = state.backend.self_id();
        match connect(&target, &me).await {
            Ok(ws) => {
                failures = 0;
                tracing::info!(url = %target.url, "reverse WebSocket connected");
                let after = match state.outbox.cursor(&channel, state.outbox.latest()).await {
                    Ok(c) => c,
                    Err(e) => {
                        tracing::error!(error = %e, "cannot read a reverse WebSocket cursor");
                        tokio::time::sleep(interval).await;
                        continue;
                    }
                };
                let (mut sink, mut stream) = ws.split();
                let (in_tx, in_rx) = mpsc::channel::<String>(64);
                let (out_tx, mut out_rx) = mpsc::channel::<String>(OUT_QUEUE);
                let (gone_tx, gone) = watch::channel(false);
                let writer = tokio::spawn(async move {
                    while let Some(text) = out_rx.recv().await {
                        if sink.send(WsMessage::Text(text.into())).await.is_err() {
                            break;
                        }
                    }
                    let _ = sink.close().await;
                });
                let reader = tokio::spawn(async move {
                    while let Some(Ok(msg)) = stream.next().await {
                        let text = match msg {
                            WsMessage::Text(t) => t.to_string(),
                            WsMessage::Close(_) => break,
                            _ => continue,
                        };
                        if in_tx.send(text).await.is_err() {
                            break;
                        }
                    }
                    let _ = gone_tx.send(true);
                });
                session(state.clone(), Start { after, durable: Some(channel.clone()) }, in_rx, out_tx, gone).await;
                reader.abort();
                let _ = writer.await;
                tracing::warn!(url = %target.url, "reverse WebSocket disconnected; reconnecting");
            }
            Err(why) => {
                failures += 1;
                if failures == 1 || failures.is_multiple_of(20) {
                    tracing::warn!(url = %target.url, %why, retry_in = ?interval, "reverse WebSocket connection failed");
                }
            }
        }
        tokio::time::sleep(interval).await;
    }
}
