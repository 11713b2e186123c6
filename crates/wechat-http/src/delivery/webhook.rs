//! HTTP webhooks (`http_post`): per target, in order, one request in flight, from a durable
//! cursor. 2xx = delivered; a 200 whose body (read up to 1 MiB) is a list of actions runs
//! them (quick actions, for the event's account). Anything else is retried with exponential
//! backoff and jitter; the event stays queued, so a target that is down gets its backlog, in
//! order, when it returns — also after a restart.
//!
//! Headers: `Content-Type: application/json`, `User-Agent`, `X-OneBot-Version: 12`,
//! `X-Impl: wechat-http`, `X-Self-ID` (the event's account), and with a secret
//! `Authorization: Bearer <secret>`, `X-Signature: sha1=<HMAC-SHA1 of the body>`,
//! `X-Signature-256: sha256=<HMAC-SHA256>`.
//!
//! OneBot 11 targets (`onebot11.http_post`) get OneBot 11 events, `X-Self-ID` the account's
//! number and `X-Signature: sha1=…`; their reply is a quick operation object (`reply`,
//! `auto_escape`, `at_sender`, `kick`, `approve`, `remark`).

use std::time::{Duration, Instant};

use futures_util::StreamExt;
use hmac::{Hmac, Mac};
use serde_json::Value;

use super::{ChannelStats, Cursor, Next};
use crate::config::{EventFormat, HttpPost};
use crate::events::outbox::EventFilter;
use crate::gateway::Gateway;
use crate::http::envelope::Call;
use crate::store::StoredEvent;

/// The most of a reply that is read (for quick actions); a longer reply is dropped.
pub const MAX_REPLY_BYTES: usize = 1024 * 1024;

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// `(X-Signature, X-Signature-256)` values for `body` keyed by `secret`.
pub fn signatures(secret: &str, body: &[u8]) -> (String, String) {
    let mut sha1 = Hmac::<sha1::Sha1>::new_from_slice(secret.as_bytes()).expect("any key length");
    sha1.update(body);
    let mut sha256 = Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).expect("any key length");
    sha256.update(body);
    (format!("sha1={}", hex(&sha1.finalize().into_bytes())), format!("sha256={}", hex(&sha256.finalize().into_bytes())))
}

/// The channel name of a target in the cursor table (targets narrowed to some accounts are
/// channels of their own, even at the same URL).
pub fn channel(target: &HttpPost) -> String {
    if target.accounts.is_empty() {
        format!("http_post:{}", target.url)
    } else {
        format!("http_post:{}|{}", target.url, target.accounts.join(","))
    }
}

enum Outcome {
    Delivered(Option<Quick>),
    Failed(String),
}

/// What one step did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    /// Delivered the event with this sequence.
    Delivered(i64),
    /// Moved the cursor over events this target does not take.
    Skipped(i64),
    /// Nothing pending.
    Idle,
}

/// Which OneBot a target speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dialect {
    /// OneBot 12 (or the legacy shape, per `format`).
    V12,
    /// OneBot 11.
    V11,
}

/// The cursor channel of a OneBot 11 target.
pub fn v11_channel(target: &crate::config::OneBot11HttpPost) -> String {
    if target.accounts.is_empty() {
        format!("ob11_http_post:{}", target.url)
    } else {
        format!("ob11_http_post:{}|{}", target.url, target.accounts.join(","))
    }
}

enum Quick {
    V12(Vec<Value>),
    V11(serde_json::Map<String, Value>),
}

/// One webhook target.
pub struct Webhook {
    gateway: Gateway,
    config: HttpPost,
    dialect: Dialect,
    http: reqwest::Client,
    cursor: Cursor,
    stats: std::sync::Arc<ChannelStats>,
}

/// Reads at most [`MAX_REPLY_BYTES`] of a reply; `None` when it is longer.
async fn read_capped(rsp: reqwest::Response) -> Result<Option<Vec<u8>>, reqwest::Error> {
    let mut body = Vec::new();
    let mut stream = rsp.bytes_stream();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk?;
        if body.len() + chunk.len() > MAX_REPLY_BYTES {
            return Ok(None);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(Some(body))
}

impl Webhook {
    /// Opens target `config` at its durable cursor.
    pub async fn open(gateway: Gateway, config: HttpPost) -> crate::error::ApiResult<Self> {
        let name = channel(&config);
        Self::open_as(gateway, config, name, Dialect::V12).await
    }

    async fn open_as(
        gateway: Gateway,
        config: HttpPost,
        name: String,
        dialect: Dialect,
    ) -> crate::error::ApiResult<Self> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(config.time_out.max(1)))
            .user_agent(concat!("wechat-http/", env!("CARGO_PKG_VERSION")))
            .no_proxy()
            .build()
            .map_err(|e| crate::error::ApiError::Internal(format!("webhook client: {e}")))?;
        let kind = if dialect == Dialect::V11 { "onebot11_webhook" } else { "webhook" };
        let stats = gateway.channels.register(&name, kind, &config.url);
        let cursor = Cursor::open(&gateway.outbox, name).await?;
        Ok(Self { gateway, config, dialect, http, cursor, stats })
    }

    /// Opens OneBot 11 target `target` at its durable cursor.
    pub async fn open_v11(gateway: Gateway, target: crate::config::OneBot11HttpPost) -> crate::error::ApiResult<Self> {
        let name = v11_channel(&target);
        let config = HttpPost {
            url: target.url,
            secret: target.secret,
            time_out: target.timeout,
            accounts: target.accounts,
            ..HttpPost::default()
        };
        Self::open_as(gateway, config, name, Dialect::V11).await
    }

    fn filter(&self) -> EventFilter {
        EventFilter { skip_meta: self.dialect == Dialect::V11, accounts: self.gateway.select(&self.config.accounts) }
    }

    async fn post(&self, body: &str, self_id: &str) -> Outcome {
        let bytes = body.as_bytes().to_vec();
        let mut req = self
            .http
            .post(&self.config.url)
            .header("Content-Type", "application/json")
            .header("X-Impl", "wechat-http")
            .header("X-Self-ID", self_id);
        let secret = self.config.secret.expose();
        match self.dialect {
            Dialect::V12 => {
                req = req.header("X-OneBot-Version", "12");
                if !secret.is_empty() {
                    let (sig1, sig256) = signatures(secret, &bytes);
                    req = req.bearer_auth(secret).header("X-Signature", sig1).header("X-Signature-256", sig256);
                }
            }
            Dialect::V11 => {
                if !secret.is_empty() {
                    req = req.header("X-Signature", signatures(secret, &bytes).0);
                }
            }
        }
        match req.body(bytes).send().await {
            Ok(rsp) if rsp.status().is_success() => {
                if rsp.status() != reqwest::StatusCode::OK {
                    return Outcome::Delivered(None);
                }
                match read_capped(rsp).await {
                    Ok(Some(b)) => Outcome::Delivered(match (self.dialect, serde_json::from_slice::<Value>(&b)) {
                        (Dialect::V12, Ok(Value::Array(list))) => Some(Quick::V12(list)),
                        (Dialect::V11, Ok(Value::Object(m))) => Some(Quick::V11(m)),
                        _ => None,
                    }),
                    Ok(None) => {
                        tracing::warn!(url = %self.config.url, "webhook reply longer than 1 MiB; ignored (the event counts as delivered)");
                        self.gateway.warnings.push(format!(
                            "webhook {} replied with more than 1 MiB; the reply was ignored",
                            self.config.url
                        ));
                        Outcome::Delivered(None)
                    }
                    // The status said delivered; a broken reply body only loses quick actions.
                    Err(e) => {
                        tracing::debug!(url = %self.config.url, error = %e, "webhook reply body unreadable");
                        Outcome::Delivered(None)
                    }
                }
            }
            Ok(rsp) => Outcome::Failed(format!("HTTP {}", rsp.status())),
            Err(e) => Outcome::Failed(e.to_string()),
        }
    }

    /// The body and `X-Self-ID` of `ev` for this target (`None`: OneBot 11 has no such event).
    async fn body_of(&self, ev: &StoredEvent) -> crate::error::ApiResult<Option<(String, String, Option<Value>)>> {
        match self.dialect {
            Dialect::V12 => Ok(Some((
                ev.text_for(self.config.format == EventFormat::Legacy).to_string(),
                self.gateway.wxid_of(ev.account.as_deref()),
                None,
            ))),
            Dialect::V11 => {
                let body: Value = serde_json::from_str(&ev.text).unwrap_or(Value::Null);
                Ok(crate::onebot11::events::render(&self.gateway, &body)
                    .await?
                    .map(|v| (v.to_string(), v["self_id"].to_string(), Some(v))))
            }
        }
    }

    /// Delivers one event, retrying until it is accepted (or the gateway stops: false).
    async fn deliver(&self, ev: &StoredEvent) -> bool {
        let (body, self_id, v11) = loop {
            match self.body_of(ev).await {
                Ok(Some(b)) => break b,
                Ok(None) => return true,
                Err(e) => {
                    tracing::warn!(url = %self.config.url, error = %e, "cannot render an event for this target; retrying");
                    tokio::select! {
                        _ = self.gateway.stop.cancelled() => return false,
                        _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                    }
                }
            }
        };
        let mut attempt = 0u32;
        loop {
            match self.post(&body, &self_id).await {
                Outcome::Delivered(quick) => {
                    if attempt > 0 {
                        tracing::info!(url = %self.config.url, "webhook target reachable again");
                    }
                    self.stats.ok();
                    match quick {
                        Some(Quick::V12(list)) => self.quick_actions(list, ev.account.as_deref()).await,
                        Some(Quick::V11(ops)) => {
                            if let Some(event) = &v11 {
                                crate::onebot11::actions::quick(&self.gateway, event, ops, ev.account.as_deref()).await;
                            }
                        }
                        None => {}
                    }
                    return true;
                }
                Outcome::Failed(why) => {
                    attempt += 1;
                    self.stats.failed(&why);
                    let cap = if attempt > self.config.max_retries {
                        Duration::from_secs(60)
                    } else {
                        Duration::from_secs(5)
                    };
                    let wait = super::backoff(attempt, cap);
                    if attempt == 1 || attempt == self.config.max_retries + 1 || attempt.is_multiple_of(50) {
                        tracing::warn!(url = %self.config.url, seq = ev.seq, attempt, %why, retry_in = ?wait, "webhook delivery failed; the event stays queued");
                    }
                    tokio::select! {
                        _ = self.gateway.stop.cancelled() => return false,
                        _ = tokio::time::sleep(wait) => {}
                    }
                }
            }
        }
    }

    async fn quick_actions(&self, list: Vec<Value>, account: Option<&str>) {
        for item in list {
            let item = match item {
                Value::Object(m) => Value::Object(m),
                _ => continue,
            };
            let mut call = match crate::http::envelope::parse(Some(item), false) {
                Ok(c) => c,
                Err((e, _)) => {
                    tracing::warn!(error = %e, "unreadable quick action in a webhook reply");
                    continue;
                }
            };
            let Some(name) = call.action.clone() else { continue };
            if call.selector.is_none() {
                call.selector = account.map(str::to_owned);
            }
            if let Err(e) =
                crate::actions::dispatch(&self.gateway, &name, Call { action: Some(name.clone()), ..call }).await
            {
                tracing::warn!(action = name, error = %e, "quick action from a webhook reply failed");
            }
        }
    }

    /// Delivers the next pending event (retrying until it is accepted), or says there is none.
    pub async fn step(&mut self) -> crate::error::ApiResult<Step> {
        let ev = match self.cursor.next(&self.gateway.outbox, &self.filter()).await? {
            Next::Event(ev) => ev,
            Next::Skipped(at) => return Ok(Step::Skipped(at)),
            Next::Idle => return Ok(Step::Idle),
        };
        if !self.deliver(&ev).await {
            self.cursor.retry(ev);
            return Ok(Step::Idle);
        }
        self.cursor.delivered(&self.gateway.outbox, ev.seq).await;
        Ok(Step::Delivered(ev.seq))
    }

    async fn heartbeat(&self) {
        let beats: Vec<(String, String)> = match self.dialect {
            Dialect::V12 => {
                let hb = crate::events::heartbeat_event(&self.gateway, self.config.format == EventFormat::Legacy);
                vec![(hb.to_string(), self.gateway.wxid_of(None))]
            }
            Dialect::V11 => {
                let mut v = Vec::new();
                for a in self.gateway.accounts.iter() {
                    let wx = a.backend.known_wxid();
                    if let Ok(n) =
                        self.gateway.ob11_ids.number(&self.gateway.store, crate::store::IdKind::Chat, &wx).await
                        && n != 0
                    {
                        v.push((crate::onebot11::events::heartbeat(&self.gateway, n).to_string(), n.to_string()));
                    }
                }
                v
            }
        };
        for (hb, self_id) in beats {
            if let Outcome::Failed(why) = self.post(&hb, &self_id).await {
                tracing::debug!(url = %self.config.url, %why, "heartbeat not delivered");
            }
        }
    }

    /// Steps until the gateway stops, sending heartbeats while idle.
    pub async fn run(mut self) {
        let mut watch = self.gateway.outbox.watch();
        let heartbeat =
            self.gateway.config.enable_heart_beat.then(|| Duration::from_secs(self.gateway.config.heart_beat_interval));
        let mut last_beat = Instant::now();
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
            let until_beat = heartbeat.map(|h| h.saturating_sub(last_beat.elapsed()));
            tokio::select! {
                r = watch.changed() => if r.is_err() { return },
                _ = tokio::time::sleep(until_beat.unwrap_or(Duration::from_secs(3600))) => {}
                _ = self.gateway.stop.cancelled() => {}
            }
            if let Some(h) = heartbeat
                && last_beat.elapsed() >= h
            {
                self.heartbeat().await;
                last_beat = Instant::now();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_match_known_vectors() {
        // RFC 2202 / RFC 4231 test case 2: key "Jefe".
        let (s1, s256) = signatures("Jefe", b"what do ya want for nothing?");
        assert_eq!(s1, "sha1=effcdf6ae5eb2fa2d27416d5f184df9c259a7c79");
        assert_eq!(s256, "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
    }
}
