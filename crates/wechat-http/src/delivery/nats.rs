//! NATS JetStream as a delivery channel: every event is published once to
//! `<subject_prefix>.<account wxid>.<type>.<detail_type>` with its `id` as `Nats-Msg-Id`, so
//! JetStream drops a re-publish inside the stream's duplicate window. The channel reads the
//! outbox from its own durable cursor like a webhook, and the cursor moves past an event only
//! once JetStream has acknowledged it (a publish ack names the stream and sequence): a
//! NATS server that is down or a stream that refuses loses nothing.
//!
//! The client is the NATS text protocol over TCP (`INFO` → `CONNECT` → `PING`/`PONG`, `SUB`
//! an inbox, `HPUB` with a reply subject, the ack arriving as `MSG`/`HMSG`), one request in
//! flight at a time; the stream is looked up (`$JS.API.STREAM.INFO.<stream>`) and created if
//! absent (`$JS.API.STREAM.CREATE.<stream>`, subjects `<prefix>.>`, file storage, 2-minute
//! duplicate window).

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader, ReadHalf, WriteHalf};
use tokio::net::TcpStream;

use super::webhook::Step;
use super::websocket::{Stream2, tls_config};
use super::{ChannelStats, Cursor, Next};
use crate::config::NatsTarget;
use crate::error::ApiResult;
use crate::events::outbox::EventFilter;
use crate::gateway::Gateway;
use crate::store::events::StoredEvent;

/// Largest control line or message accepted from the server.
const MAX_SERVER_MESSAGE: usize = 8 * 1024 * 1024;

/// The cursor name of a NATS target.
pub fn channel(target: &NatsTarget) -> String {
    format!("nats:{}:{}", target.address().unwrap_or_default(), target.stream)
}

/// A NATS subject token made from `s`: no dots, spaces, wildcards or control characters.
fn token(s: &str) -> String {
    let t: String = s
        .chars()
        .map(|c| if c == '.' || c == '*' || c == '>' || c.is_whitespace() || c.is_control() { '_' } else { c })
        .collect();
    if t.is_empty() { "_".into() } else { t }
}

/// The subject an event is published to.
pub fn subject(prefix: &str, event: &Value) -> String {
    let s = |k: &str| event.get(k).and_then(Value::as_str).unwrap_or_default();
    let wxid = event.get("self").and_then(|me| me.get("user_id")).and_then(Value::as_str).unwrap_or("gateway");
    format!("{prefix}.{}.{}.{}", token(wxid), token(s("type")), token(s("detail_type")))
}

/// Why a NATS exchange failed.
#[derive(Debug, thiserror::Error)]
pub enum NatsError {
    /// Connecting or talking failed.
    #[error("NATS connection: {0}")]
    Io(#[from] std::io::Error),
    /// The server said `-ERR`.
    #[error("NATS refused: {0}")]
    Server(String),
    /// Something the protocol does not allow.
    #[error("NATS protocol: {0}")]
    Protocol(String),
    /// No answer in time.
    #[error("NATS did not answer within {0:?}")]
    Timeout(Duration),
    /// Nothing listens on the subject (no stream takes it).
    #[error("no JetStream stream takes subject {0}")]
    NoResponders(String),
    /// JetStream answered with an error.
    #[error("JetStream: {description} (code {code}, err_code {err_code})")]
    JetStream {
        /// HTTP-like status.
        code: i64,
        /// JetStream's own code (10059 = stream not found).
        err_code: i64,
        /// What it said.
        description: String,
    },
}

/// A reply: its headers' status line (`503` for no responders) and payload.
struct Reply {
    status: Option<u16>,
    payload: Vec<u8>,
}

/// One NATS connection with a reply inbox.
pub struct NatsConn {
    reader: BufReader<ReadHalf<Stream2>>,
    writer: WriteHalf<Stream2>,
    inbox: String,
    next: u64,
    timeout: Duration,
}

impl NatsConn {
    /// Connects and authenticates (`user:password@` or `token@` in the URL).
    pub async fn connect(target: &NatsTarget, timeout: Duration) -> Result<Self, NatsError> {
        let (address, auth) = target.address_and_auth().map_err(NatsError::Protocol)?;
        let mut tcp = tokio::time::timeout(timeout, TcpStream::connect(&address))
            .await
            .map_err(|_| NatsError::Timeout(timeout))??;
        tcp.set_nodelay(true)?;
        // INFO comes in the clear; the server then waits for CONNECT (or the TLS handshake),
        // so it is read byte by byte to leave nothing buffered when TLS starts.
        let info =
            tokio::time::timeout(timeout, first_line(&mut tcp)).await.map_err(|_| NatsError::Timeout(timeout))??;
        let Some(info) = info.strip_prefix("INFO ") else {
            return Err(NatsError::Protocol(format!("expected INFO first, got {:?}", truncate(&info))));
        };
        let info: Value =
            serde_json::from_str(info).map_err(|e| NatsError::Protocol(format!("INFO is not JSON: {e}")))?;
        let server_wants_tls = info.get("tls_required").and_then(Value::as_bool) == Some(true);
        let tls = target.tls() || server_wants_tls;
        let stream = if tls {
            let config = tls_config(target.ca_file.as_deref()).map_err(NatsError::Protocol)?;
            let host = address.rsplit_once(':').map_or(address.as_str(), |(h, _)| h);
            let name =
                rustls::pki_types::ServerName::try_from(host.trim_start_matches('[').trim_end_matches(']').to_owned())
                    .map_err(|e| NatsError::Protocol(format!("{host} is not a valid TLS server name: {e}")))?;
            let tls = tokio::time::timeout(timeout, tokio_rustls::TlsConnector::from(config).connect(name, tcp))
                .await
                .map_err(|_| NatsError::Timeout(timeout))?
                .map_err(|e| NatsError::Protocol(format!("TLS: {e}")))?;
            Stream2::Tls(Box::new(tls))
        } else {
            Stream2::Plain(tcp)
        };
        let (r, w) = tokio::io::split(stream);
        let inbox = format!("_INBOX.wechat-http.{}", uuid::Uuid::new_v4().simple());
        let mut conn = Self { reader: BufReader::new(r), writer: w, inbox, next: 0, timeout };
        if info.get("headers").and_then(Value::as_bool) == Some(false) {
            return Err(NatsError::Protocol("this NATS server does not support headers (needs 2.2 or later)".into()));
        }
        let mut connect = json!({
            "verbose": false, "pedantic": false, "tls_required": tls, "lang": "rust",
            "version": env!("CARGO_PKG_VERSION"), "name": "wechat-http", "protocol": 1,
            "echo": false, "headers": true, "no_responders": true,
        });
        match auth {
            Auth::None => {}
            Auth::Token(t) => connect["auth_token"] = json!(t),
            Auth::User(u, p) => {
                connect["user"] = json!(u);
                connect["pass"] = json!(p);
            }
        }
        if let Some(path) = &target.credentials {
            let creds = super::nkey::Credentials::load(path).map_err(NatsError::Protocol)?;
            let nonce = info.get("nonce").and_then(Value::as_str).unwrap_or_default();
            connect["sig"] = json!(creds.key.sign(nonce));
            match creds.jwt {
                Some(jwt) => connect["jwt"] = json!(jwt),
                None => connect["nkey"] = json!(creds.key.public_key()),
            }
        }
        let hello = format!("CONNECT {connect}\r\nPING\r\nSUB {}.* 1\r\n", conn.inbox);
        conn.writer.write_all(hello.as_bytes()).await?;
        // The PONG proves CONNECT was accepted (an auth failure arrives as -ERR first).
        tokio::time::timeout(timeout, async {
            loop {
                let l = conn.line().await?;
                match l.as_str() {
                    "PONG" => return Ok(()),
                    "PING" => conn.writer.write_all(b"PONG\r\n").await?,
                    "+OK" => {}
                    l if l.starts_with("-ERR") => {
                        return Err(NatsError::Server(l[4..].trim().trim_matches('\'').into()));
                    }
                    l if l.starts_with("INFO ") => {}
                    other => {
                        return Err(NatsError::Protocol(format!("unexpected {:?} after CONNECT", truncate(other))));
                    }
                }
            }
        })
        .await
        .map_err(|_| NatsError::Timeout(timeout))??;
        Ok(conn)
    }

    async fn line(&mut self) -> Result<String, NatsError> {
        let mut buf = Vec::new();
        let n = (&mut self.reader).take(MAX_SERVER_MESSAGE as u64).read_until(b'\n', &mut buf).await?;
        if n == 0 {
            return Err(NatsError::Io(std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "the server closed")));
        }
        if !buf.ends_with(b"\n") {
            return Err(NatsError::Protocol("a control line longer than 8 MiB".into()));
        }
        let s = String::from_utf8_lossy(&buf);
        Ok(s.trim_end_matches(['\r', '\n']).to_owned())
    }

    async fn payload(&mut self, len: usize) -> Result<Vec<u8>, NatsError> {
        if len > MAX_SERVER_MESSAGE {
            return Err(NatsError::Protocol(format!("a {len}-byte message is above the 8 MiB limit")));
        }
        let mut buf = vec![0u8; len + 2];
        self.reader.read_exact(&mut buf).await?;
        buf.truncate(len);
        Ok(buf)
    }

    /// Sends `payload` (with `headers`) to `subject` and waits for the reply.
    pub async fn request(
        &mut self,
        subject: &str,
        headers: &[(&str, &str)],
        payload: &[u8],
    ) -> Result<Vec<u8>, NatsError> {
        self.next += 1;
        let reply_to = format!("{}.{}", self.inbox, self.next);
        let mut out = Vec::with_capacity(payload.len() + 128);
        if headers.is_empty() {
            out.extend_from_slice(format!("PUB {subject} {reply_to} {}\r\n", payload.len()).as_bytes());
        } else {
            let mut h = String::from("NATS/1.0\r\n");
            for (k, v) in headers {
                h.push_str(&format!("{k}: {v}\r\n"));
            }
            h.push_str("\r\n");
            out.extend_from_slice(
                format!("HPUB {subject} {reply_to} {} {}\r\n", h.len(), h.len() + payload.len()).as_bytes(),
            );
            out.extend_from_slice(h.as_bytes());
        }
        out.extend_from_slice(payload);
        out.extend_from_slice(b"\r\n");
        self.writer.write_all(&out).await?;
        let timeout = self.timeout;
        let reply =
            tokio::time::timeout(timeout, self.reply(&reply_to)).await.map_err(|_| NatsError::Timeout(timeout))??;
        if reply.status == Some(503) && reply.payload.is_empty() {
            return Err(NatsError::NoResponders(subject.to_owned()));
        }
        Ok(reply.payload)
    }

    /// Reads until the reply to `reply_to` (answering PINGs, skipping stale replies).
    async fn reply(&mut self, reply_to: &str) -> Result<Reply, NatsError> {
        loop {
            let l = self.line().await?;
            let mut parts = l.split_whitespace();
            match parts.next().unwrap_or_default().to_ascii_uppercase().as_str() {
                "PING" => self.writer.write_all(b"PONG\r\n").await?,
                "PONG" | "+OK" | "INFO" => {}
                "-ERR" => return Err(NatsError::Server(l[4..].trim().trim_matches('\'').into())),
                "MSG" => {
                    // MSG <subject> <sid> [reply-to] <#bytes>
                    let fields: Vec<&str> = parts.collect();
                    let len = parse_len(fields.last().copied())?;
                    let payload = self.payload(len).await?;
                    if fields.first() == Some(&reply_to) {
                        return Ok(Reply { status: None, payload });
                    }
                }
                "HMSG" => {
                    // HMSG <subject> <sid> [reply-to] <#header bytes> <#total bytes>
                    let fields: Vec<&str> = parts.collect();
                    if fields.len() < 4 {
                        return Err(NatsError::Protocol(format!("malformed {:?}", truncate(&l))));
                    }
                    let header_len = parse_len(fields.get(fields.len() - 2).copied())?;
                    let total = parse_len(fields.last().copied())?;
                    if header_len > total {
                        return Err(NatsError::Protocol(format!("malformed {:?}", truncate(&l))));
                    }
                    let mut all = self.payload(total).await?;
                    let payload = all.split_off(header_len);
                    let head = String::from_utf8_lossy(&all);
                    let status =
                        head.lines().next().and_then(|v| v.split_whitespace().nth(1)).and_then(|c| c.parse().ok());
                    if fields.first() == Some(&reply_to) {
                        return Ok(Reply { status, payload });
                    }
                }
                _ => return Err(NatsError::Protocol(format!("unexpected {:?}", truncate(&l)))),
            }
        }
    }

    /// A JetStream API call: the JSON answer, or its `error` as [`NatsError::JetStream`].
    pub async fn api(&mut self, subject: &str, body: &Value) -> Result<Value, NatsError> {
        let raw = self.request(subject, &[], body.to_string().as_bytes()).await.map_err(|e| match e {
            NatsError::NoResponders(_) => {
                NatsError::Protocol("JetStream is not enabled on this NATS server (start it with -js)".into())
            }
            other => other,
        })?;
        let v: Value = serde_json::from_slice(&raw)
            .map_err(|e| NatsError::Protocol(format!("JetStream answered non-JSON: {e}")))?;
        jetstream_error(&v)?;
        Ok(v)
    }

    /// Makes sure `stream` exists and takes `<prefix>.>`; creates it if absent.
    pub async fn ensure_stream(&mut self, stream: &str, prefix: &str) -> Result<(), NatsError> {
        match self.api(&format!("$JS.API.STREAM.INFO.{stream}"), &json!({})).await {
            Ok(info) => {
                let subjects = info["config"]["subjects"].as_array().cloned().unwrap_or_default();
                let wanted = format!("{prefix}.>");
                if !subjects.iter().any(|s| s.as_str() == Some(wanted.as_str())) {
                    tracing::warn!(stream, %wanted, "the JetStream stream exists but does not list our subjects; publishes may be refused");
                }
                Ok(())
            }
            Err(NatsError::JetStream { err_code: 10059, .. }) => {
                let config = json!({
                    "name": stream, "subjects": [format!("{prefix}.>")], "retention": "limits",
                    "storage": "file", "discard": "old", "num_replicas": 1,
                    "duplicate_window": 120_000_000_000u64,
                });
                self.api(&format!("$JS.API.STREAM.CREATE.{stream}"), &config).await?;
                tracing::info!(stream, "created the JetStream stream");
                Ok(())
            }
            Err(e) => Err(e),
        }
    }

    /// Publishes one event and waits for JetStream's ack: `(stream sequence, duplicate)`.
    pub async fn publish(&mut self, subject: &str, msg_id: &str, body: &[u8]) -> Result<(u64, bool), NatsError> {
        let raw = self.request(subject, &[("Nats-Msg-Id", msg_id)], body).await?;
        let ack: Value = serde_json::from_slice(&raw)
            .map_err(|e| NatsError::Protocol(format!("the publish ack is not JSON: {e}")))?;
        jetstream_error(&ack)?;
        let seq =
            ack["seq"].as_u64().ok_or_else(|| NatsError::Protocol(format!("a publish ack without seq: {ack}")))?;
        Ok((seq, ack["duplicate"].as_bool().unwrap_or(false)))
    }
}

/// The server's first line (INFO), read without buffering past it.
async fn first_line(tcp: &mut TcpStream) -> Result<String, NatsError> {
    let mut line = Vec::new();
    let mut byte = [0u8; 1];
    loop {
        if tcp.read(&mut byte).await? == 0 {
            return Err(NatsError::Io(std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "the server closed")));
        }
        if byte[0] == b'\n' {
            break;
        }
        line.push(byte[0]);
        if line.len() > 64 * 1024 {
            return Err(NatsError::Protocol("an INFO line longer than 64 KiB".into()));
        }
    }
    Ok(String::from_utf8_lossy(&line).trim_end_matches('\r').to_owned())
}

fn parse_len(s: Option<&str>) -> Result<usize, NatsError> {
    s.and_then(|n| n.parse().ok()).ok_or_else(|| NatsError::Protocol(format!("bad length {s:?}")))
}

fn truncate(s: &str) -> String {
    s.chars().take(120).collect()
}

fn jetstream_error(v: &Value) -> Result<(), NatsError> {
    match v.get("error") {
        Some(e) if !e.is_null() => Err(NatsError::JetStream {
            code: e["code"].as_i64().unwrap_or(0),
            err_code: e["err_code"].as_i64().unwrap_or(0),
            description: e["description"].as_str().unwrap_or_default().to_owned(),
        }),
        _ => Ok(()),
    }
}

/// Credentials taken from the URL.
#[derive(Debug, PartialEq, Eq)]
pub enum Auth {
    /// None.
    None,
    /// `nats://<token>@host`.
    Token(String),
    /// `nats://<user>:<password>@host`.
    User(String, String),
}

/// One NATS target being delivered to.
pub struct NatsChannel {
    gateway: Gateway,
    target: NatsTarget,
    conn: Option<NatsConn>,
    cursor: Cursor,
    failures: u32,
    stats: Arc<ChannelStats>,
}

impl NatsChannel {
    /// Opens `target` at its durable cursor (a new target starts at the newest event).
    pub async fn open(gateway: Gateway, target: NatsTarget) -> ApiResult<Self> {
        if let Some(path) = &target.credentials {
            // A missing or broken credentials file stops start-up rather than fail every publish.
            super::nkey::Credentials::load(path).map_err(|e| crate::error::ApiError::BadParam(format!("nats: {e}")))?;
        }
        let name = channel(&target);
        let shown = format!("{} stream {}", target.address().unwrap_or_default(), target.stream);
        let stats = gateway.channels.register(&name, "nats", &shown);
        let cursor = Cursor::open(&gateway.outbox, name).await?;
        Ok(Self { gateway, target, conn: None, cursor, failures: 0, stats })
    }

    fn filter(&self) -> EventFilter {
        EventFilter { skip_meta: false, accounts: self.gateway.select(&self.target.accounts) }
    }

    async fn connection(&mut self) -> Result<&mut NatsConn, NatsError> {
        if self.conn.is_none() {
            let timeout = Duration::from_secs(self.target.ack_timeout.max(1));
            let mut conn = NatsConn::connect(&self.target, timeout).await?;
            conn.ensure_stream(&self.target.stream, &self.target.subject_prefix).await?;
            tracing::info!(target = %self.stats.target, "publishing events to NATS JetStream");
            self.conn = Some(conn);
        }
        Ok(self.conn.as_mut().expect("just connected"))
    }

    async fn publish(&mut self, ev: &StoredEvent) -> Result<(), NatsError> {
        let subject = subject(&self.target.subject_prefix, &ev.value());
        let id = ev.seq.to_string();
        let body = ev.text.clone();
        let conn = self.connection().await?;
        let (seq, duplicate) = conn.publish(&subject, &id, body.as_bytes()).await?;
        tracing::trace!(%subject, seq, duplicate, "published");
        Ok(())
    }

    /// Publishes the next pending event (once acknowledged), or says there is none.
    pub async fn step(&mut self) -> ApiResult<Step> {
        let ev = match self.cursor.next(&self.gateway.outbox, &self.filter()).await? {
            Next::Event(ev) => ev,
            Next::Skipped(at) => return Ok(Step::Skipped(at)),
            Next::Idle => return Ok(Step::Idle),
        };
        match self.publish(&ev).await {
            Ok(()) => {
                self.failures = 0;
                self.stats.ok();
                self.cursor.delivered(&self.gateway.outbox, ev.seq).await;
                Ok(Step::Delivered(ev.seq))
            }
            Err(e) => {
                self.failures += 1;
                if self.failures == 1 || self.failures.is_multiple_of(20) {
                    tracing::warn!(target = %self.stats.target, error = %e, "NATS publish failed; the event stays queued");
                }
                self.stats.failed(&e.to_string());
                self.conn = None;
                self.cursor.retry(ev);
                Ok(Step::Idle)
            }
        }
    }

    /// Steps until the gateway stops, backing off while NATS is away.
    pub async fn run(mut self) {
        let mut watch = self.gateway.outbox.watch();
        loop {
            if self.gateway.stop.is_cancelled() {
                self.cursor.save(&self.gateway.outbox, true).await;
                return;
            }
            if !self.gateway.holds_channel(self.cursor.name()) {
                let gateway = self.gateway.clone();
                if !self.cursor.wait_for_lease(&gateway).await {
                    return;
                }
                continue;
            }
            match self.step().await {
                Ok(Step::Delivered(_) | Step::Skipped(_)) => continue,
                Ok(Step::Idle) => {}
                Err(e) => {
                    tracing::error!(error = %e, "cannot read the outbox");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    continue;
                }
            }
            if self.failures > 0 {
                let wait = super::backoff(self.failures, Duration::from_secs(30));
                tokio::select! {
                    _ = tokio::time::sleep(wait) => {}
                    _ = self.gateway.stop.cancelled() => {}
                }
                continue;
            }
            tokio::select! {
                r = watch.changed() => if r.is_err() { return },
                _ = self.gateway.stop.cancelled() => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::net::TcpListener;

    /// A scripted NATS server for one connection: sends INFO, then answers each client line
    /// through `answer` (which sees the line and any payload after it).
    async fn fake_server(
        answer: impl Fn(&str, &[u8]) -> Vec<u8> + Send + 'static,
    ) -> (NatsTarget, tokio::task::JoinHandle<Vec<String>>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let task = tokio::spawn(async move {
            let (tcp, _) = listener.accept().await.unwrap();
            let (r, mut w) = tcp.into_split();
            let mut r = BufReader::new(r);
            w.write_all(b"INFO {\"server_id\":\"fake\",\"headers\":true,\"max_payload\":1048576}\r\n").await.unwrap();
            let mut seen = Vec::new();
            loop {
                let mut line = String::new();
                if r.read_line(&mut line).await.unwrap_or(0) == 0 {
                    return seen;
                }
                let line = line.trim_end().to_owned();
                let total = match line.split_whitespace().next() {
                    Some("PUB") | Some("HPUB") => line.split_whitespace().last().and_then(|n| n.parse::<usize>().ok()),
                    _ => None,
                };
                let mut payload = Vec::new();
                if let Some(n) = total {
                    payload = vec![0u8; n + 2];
                    r.read_exact(&mut payload).await.unwrap();
                    payload.truncate(n);
                }
                let out = answer(&line, &payload);
                seen.push(line);
                if !out.is_empty() {
                    w.write_all(&out).await.unwrap();
                }
            }
        });
        let target = NatsTarget { url: format!("nats://u:p@127.0.0.1:{port}"), ..NatsTarget::default() };
        (target, task)
    }

    fn reply_subject(line: &str) -> String {
        line.split_whitespace().nth(2).unwrap().to_owned()
    }

    #[tokio::test]
    async fn acks_arrive_past_pings_and_stale_replies() {
        let (target, server) = fake_server(|line, _| {
            if line.starts_with("CONNECT") {
                assert!(
                    line.contains("\"user\":\"u\"")
                        && line.contains("\"pass\":\"p\"")
                        && line.contains("\"headers\":true")
                );
                return Vec::new();
            }
            if line == "PING" {
                return b"PONG\r\n".to_vec();
            }
            if line.starts_with("HPUB") {
                let reply = reply_subject(line);
                let ack = r#"{"stream":"WECHAT","seq":7}"#;
                // A PING and a reply to some older request come first; both must be handled.
                return format!("PING\r\nMSG {reply}x 1 2\r\n{{}}\r\nMSG {reply} 1 {}\r\n{ack}\r\n", ack.len())
                    .into_bytes();
            }
            Vec::new()
        })
        .await;
        let mut conn = NatsConn::connect(&target, Duration::from_secs(5)).await.unwrap();
        assert_eq!(conn.publish("wechat.wxid_bot.message.private", "42", b"{}").await.unwrap(), (7, false));
        drop(conn);
        let seen = server.await.unwrap();
        let hpub = seen.iter().find(|l| l.starts_with("HPUB")).unwrap();
        assert!(hpub.starts_with("HPUB wechat.wxid_bot.message.private _INBOX.wechat-http."), "{hpub}");
        assert!(seen.iter().any(|l| l == "PONG"), "the server's PING was answered: {seen:?}");
    }

    #[tokio::test]
    async fn refusals_become_clear_errors() {
        // Authorization refused at CONNECT.
        let (target, _server) =
            fake_server(
                |line, _| {
                    if line == "PING" { b"-ERR 'Authorization Violation'\r\n".to_vec() } else { Vec::new() }
                },
            )
            .await;
        let e = NatsConn::connect(&target, Duration::from_secs(5)).await.err().unwrap();
        assert!(matches!(&e, NatsError::Server(m) if m == "Authorization Violation"), "{e}");

        // No stream takes the subject: the 503 no-responders status.
        let (target, _server) = fake_server(|line, _| {
            if line == "PING" {
                b"PONG\r\n".to_vec()
            } else if line.starts_with("HPUB") {
                format!("HMSG {} 1 16 16\r\nNATS/1.0 503\r\n\r\n\r\n", reply_subject(line)).into_bytes()
            } else {
                Vec::new()
            }
        })
        .await;
        let mut conn = NatsConn::connect(&target, Duration::from_secs(5)).await.unwrap();
        let e = conn.publish("wx.a.b.c", "1", b"{}").await.unwrap_err();
        assert!(matches!(e, NatsError::NoResponders(ref s) if s == "wx.a.b.c"), "{e}");

        // JetStream's own error, and an ack that never comes.
        let (mut target, _server) = fake_server(|line, _| {
            if line == "PING" {
                b"PONG\r\n".to_vec()
            } else if line.starts_with("HPUB") && line.contains(" wx.err.") {
                let body = r#"{"error":{"code":503,"err_code":10077,"description":"maximum messages exceeded"}}"#;
                format!("MSG {} 1 {}\r\n{body}\r\n", reply_subject(line), body.len()).into_bytes()
            } else {
                Vec::new()
            }
        })
        .await;
        target.ack_timeout = 1;
        let mut conn = NatsConn::connect(&target, Duration::from_millis(500)).await.unwrap();
        let e = conn.publish("wx.err.message.private", "1", b"{}").await.unwrap_err();
        assert!(matches!(e, NatsError::JetStream { err_code: 10077, .. }), "{e}");
        assert!(e.to_string().contains("maximum messages exceeded"));
        let e = conn.publish("wx.silent.message.private", "2", b"{}").await.unwrap_err();
        assert!(matches!(e, NatsError::Timeout(_)), "{e}");
    }

    #[test]
    fn subjects_name_account_type_and_detail() {
        let e =
            json!({"type": "message", "detail_type": "private", "self": {"platform": "wechat", "user_id": "wxid_bot"}});
        assert_eq!(subject("wechat", &e), "wechat.wxid_bot.message.private");
        let meta = json!({"type": "meta", "detail_type": "status_update"});
        assert_eq!(subject("wx", &meta), "wx.gateway.meta.status_update");
        let odd = json!({"type": "notice", "detail_type": "", "self": {"user_id": "a.b c*>"}});
        assert_eq!(subject("wx", &odd), "wx.a_b_c__.notice._");
    }
}
