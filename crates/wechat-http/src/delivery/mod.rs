//! Delivery channels: HTTP webhooks, forward and reverse WebSocket, and the long-poll cursor of
//! `get_latest_events`. Every durable channel reads the outbox from its own cursor, and
//! reports its last success and last error here (for `get_status` and the console).

pub mod nats;
pub mod webhook;
pub mod websocket;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};

use crate::store::now;

/// Exponential backoff with jitter: attempt 1 → ~0.5 s, doubling, capped at `cap`.
pub fn backoff(attempt: u32, cap: Duration) -> Duration {
    let base = Duration::from_millis(500).saturating_mul(1u32 << attempt.saturating_sub(1).min(16));
    base.min(cap).mul_f64(rand::random_range(0.5..=1.0))
}

/// `(last success, last error with its time)`.
type Health = (Option<f64>, Option<(f64, String)>);

/// How one channel is doing.
#[derive(Debug, Default)]
pub struct ChannelStats {
    /// Cursor name.
    pub channel: String,
    /// `webhook`, `ws_reverse`, `long_poll`.
    pub kind: String,
    /// Where it delivers.
    pub target: String,
    state: Mutex<Health>,
}

impl ChannelStats {
    /// Records a delivery.
    pub fn ok(&self) {
        self.state.lock().unwrap_or_else(|p| p.into_inner()).0 = Some(now());
    }

    /// Records a failure.
    pub fn failed(&self, why: &str) {
        self.state.lock().unwrap_or_else(|p| p.into_inner()).1 = Some((now(), why.to_owned()));
    }

    /// `{channel, kind, target, last_success, last_error, last_error_at}`.
    pub fn to_json(&self) -> Value {
        let (ok, err) = self.state.lock().unwrap_or_else(|p| p.into_inner()).clone();
        json!({
            "channel": self.channel,
            "kind": self.kind,
            "target": self.target,
            "last_success": ok,
            "last_error": err.as_ref().map(|e| e.1.clone()),
            "last_error_at": err.map(|e| e.0),
        })
    }
}

/// Every channel's stats.
#[derive(Debug, Default)]
pub struct Channels(Mutex<Vec<Arc<ChannelStats>>>);

impl Channels {
    /// Registers (or finds) a channel.
    pub fn register(&self, channel: &str, kind: &str, target: &str) -> Arc<ChannelStats> {
        let mut all = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(c) = all.iter().find(|c| c.channel == channel) {
            return c.clone();
        }
        let c = Arc::new(ChannelStats {
            channel: channel.into(),
            kind: kind.into(),
            target: target.into(),
            state: Mutex::default(),
        });
        all.push(c.clone());
        c
    }

    /// Every channel.
    pub fn all(&self) -> Vec<Arc<ChannelStats>> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_and_is_capped() {
        let cap = Duration::from_secs(60);
        assert!(backoff(1, cap) <= Duration::from_millis(500));
        assert!(backoff(3, cap) >= Duration::from_secs(1) && backoff(3, cap) <= Duration::from_secs(2));
        assert!(backoff(30, cap) <= cap && backoff(30, cap) >= cap / 2);
    }
}
