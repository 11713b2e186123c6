//! HTTP webhooks (`http_post`): per target, in order, one request in flight, from a durable
//! cursor. 2xx = delivered; a 200 whose body is a list of actions runs them (quick actions).
//! Anything else is retried with exponential backoff and jitter; the event stays queued, so a
//! target that is down gets its backlog, in order, when it returns — also after a restart.
//!
//! Headers: `Content-Type: application/json`, `User-Agent`, `X-OneBot-Version: 12`,
//! `X-Impl: wechat-http`, `X-Self-ID`, and with a secret `Authorization: Bearer <secret>`,
//! `X-Signature: sha1=<HMAC-SHA1 of the body>`, `X-Signature-256: sha256=<HMAC-SHA256>`.

use std::time::{Duration, Instant};

use hmac::{Hmac, Mac};
use serde_json::Value;

use crate::actions::{self, Params};
use crate::config::{EventFormat, HttpPost};
use crate::events::outbox::StoredEvent;
use crate::state::AppState;

/// How often a moving cursor is written back (at-least-once: after a crash, at most this much
/// may be delivered again).
const CURSOR_SAVE_EVERY: Duration = Duration::from_millis(200);

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

/// The channel name of a target in the cursor table.
pub fn channel(target: &HttpPost) -> String {
    format!("http_post:{}", target.url)
}

enum Outcome {
    Delivered(Option<Value>),
    Failed(String),
}

struct Target {
    state: AppState,
    config: HttpPost,
    http: reqwest::Client,
}

impl Target {
    async fn post(&self, body: &str) -> Outcome {
        let bytes = body.as_bytes().to_vec();
        let me = self.state.backend.self_id();
        let mut req = self
            .http
            .post(&self.config.url)
            .header("Content-Type", "application/json")
            .header("X-OneBot-Version", "12")
            .header("X-Impl", "wechat-http")
            .header("X-Self-ID", me);
        let secret = self.config.secret.expose();
        if !secret.is_empty() {
            let (sig1, sig256) = signatures(secret, &bytes);
            req = req.bearer_auth(secret).header("X-Signature", sig1).header("X-Signature-256", sig256);
        }
        match req.body(bytes).send().await {
            Ok(rsp) if rsp.status().is_success() => {
                let quick = if rsp.status() == reqwest::StatusCode::OK {
                    rsp.bytes()
                        .await
                        .ok()
                        .and_then(|b| serde_json::from_slice::<Value>(&b).ok())
                        .filter(Value::is_array)
                } else {
                    None
                };
                Outcome::Delivered(quick)
            }
            Ok(rsp) => Outcome::Failed(format!("HTTP {}", rsp.status())),
            Err(e) => Outcome::Failed(e.to_string()),
        }
    }

    /// Delivers one event, retrying until it is accepted.
    async fn deliver(&self, ev: &StoredEvent) {
        let body = ev.text_for(self.config.format == EventFormat::Legacy);
        let mut attempt = 0u32;
        loop {
            match self.post(body).await {
                Outcome::Delivered(quick) => {
                    if attempt > 0 {
                        tracing::info!(url = %self.config.url, "webhook target reachable again");
                    }
                    if let Some(Value::Array(list)) = quick {
                        self.quick_actions(list).await;
                    }
                    return;
                }
                Outcome::Failed(why) => {
                    attempt += 1;
                    let cap = if attempt > self.config.max_retries {
                        Duration::from_secs(60)
                    } else {
                        Duration::from_secs(5)
                    };
                    let wait = super::backoff(attempt, cap);
                    if attempt == 1 || attempt == self.config.max_retries + 1 || attempt.is_multiple_of(50) {
                        tracing::warn!(url = %self.config.url, seq = ev.seq, attempt, %why, retry_in = ?wait, "webhook delivery failed; the event stays queued");
                    }
                    tokio::time::sleep(wait).await;
                }
            }
        }
    }

    async fn quick_actions(&self, list: Vec<Value>) {
        for item in list {
            let Some(name) = item.get("action").and_then(Value::as_str) else { continue };
            let params = Params(item.get("params").and_then(Value::as_object).cloned().unwrap_or_default());
            if let Err(e) = actions::dispatch(&self.state, name, &params).await {
                tracing::warn!(action = name, error = %e, "quick action from a webhook reply failed");
            }
        }
    }

    async fn heartbeat(&self) {
        let hb = crate::events::heartbeat_event(&self.state, self.config.format == EventFormat::Legacy);
        if let Outcome::Failed(why) = self.post(&hb.to_string()).await {
            tracing::debug!(url = %self.config.url, %why, "heartbeat not delivered");
        }
    }
}

/// Runs one target for ever.
pub async fn run(state: AppState, config: HttpPost) {
    let http = match reqwest::Client::builder()
        .timeout(Duration::from_secs(config.time_out.max(1)))
        .user_agent(concat!("wechat-http/", env!("CARGO_PKG_VERSION")))
        .build()
    {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(url = %config.url, error = %e, "cannot build the webhook client");
            return;
        }
    };
    let name = channel(&config);
    let outbox = state.outbox.clone();
    let mut cursor = loop {
        match outbox.cursor(&name, outbox.latest()).await {
            Ok(c) => break c,
            Err(e) => {
                tracing::error!(error = %e, "cannot read a webhook cursor; retrying");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    };
    let target = Target { state: state.clone(), config, http };
    let mut watch = outbox.watch();
    let heartbeat = state.config.enable_heart_beat.then(|| Duration::from_secs(state.config.heart_beat_interval));
    let mut last_beat = Instant::now();
    let mut saved = cursor;
    let mut saved_at = Instant::now();
    loop {
        let batch = match outbox.after(cursor, 256, false).await {
            Ok(b) => b,
            Err(e) => {
                tracing::error!(error = %e, "cannot read the outbox");
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        };
        for ev in &batch {
            target.deliver(ev).await;
            cursor = ev.seq;
            if saved_at.elapsed() >= CURSOR_SAVE_EVERY {
                if outbox.save_cursor(&name, cursor).await.is_ok() {
                    saved = cursor;
                }
                saved_at = Instant::now();
            }
        }
        if !batch.is_empty() {
            continue;
        }
        if saved != cursor && outbox.save_cursor(&name, cursor).await.is_ok() {
            saved = cursor;
            saved_at = Instant::now();
        }
        // Idle: wait for new events or the next heartbeat.
        let until_beat = heartbeat.map(|h| h.saturating_sub(last_beat.elapsed()));
        tokio::select! {
            r = watch.changed() => if r.is_err() { return },
            _ = tokio::time::sleep(until_beat.unwrap_or(Duration::from_secs(3600))) => {}
        }
        if let Some(h) = heartbeat
            && last_beat.elapsed() >= h
        {
            target.heartbeat().await;
            last_beat = Instant::now();
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
