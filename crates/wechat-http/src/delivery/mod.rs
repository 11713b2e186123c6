//! Delivery channels: HTTP webhooks, forward and reverse WebSocket, and the long-poll cursor of
//! `get_latest_events`. Every durable channel reads the outbox from its own cursor, and
//! reports its last success and last error here (for `get_status` and the console).

pub mod nats;
pub mod nkey;
pub mod webhook;
pub mod websocket;

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::error::ApiResult;
use crate::events::outbox::{EventFilter, Outbox};
use crate::store::events::StoredEvent;
use crate::store::now;

/// How often a moving cursor is written back (at-least-once: after a crash, at most this much
/// delivery is repeated).
pub const CURSOR_SAVE_EVERY: Duration = Duration::from_millis(200);

/// What [`Cursor::next`] found.
pub enum Next {
    /// The next event to deliver.
    Event(Arc<StoredEvent>),
    /// The cursor moved over events this channel does not take (to this sequence).
    Skipped(i64),
    /// Nothing new.
    Idle,
}

/// A durable channel's place in the outbox (webhook targets, NATS targets): the events it
/// took but has not delivered yet, and its cursor, written back at most every
/// [`CURSOR_SAVE_EVERY`] (and whenever it goes idle).
pub struct Cursor {
    name: String,
    at: i64,
    saved: i64,
    saved_at: Instant,
    pending: VecDeque<Arc<StoredEvent>>,
}

impl Cursor {
    /// The stored cursor of channel `name` (a new channel starts at the newest event).
    pub async fn open(outbox: &Outbox, name: String) -> ApiResult<Self> {
        let at = outbox.cursor(&name, outbox.latest()).await?;
        Ok(Self { name, at, saved: at, saved_at: Instant::now(), pending: VecDeque::new() })
    }

    /// The channel's name in the cursor table.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Saves where this node got to, then waits until it runs the channel (a fleet's
    /// channel lease) and picks up the stored cursor, which another node may have moved.
    /// False when the gateway stops first.
    pub async fn wait_for_lease(&mut self, gateway: &crate::gateway::Gateway) -> bool {
        self.save(&gateway.outbox, true).await;
        if !gateway.wait_for_channel(&self.name).await {
            return false;
        }
        loop {
            match gateway.outbox.cursor(&self.name, gateway.outbox.latest()).await {
                Ok(at) => {
                    tracing::info!(channel = %self.name, at, "resuming the channel from the shared cursor");
                    (self.at, self.saved, self.saved_at) = (at, at, Instant::now());
                    self.pending.clear();
                    return true;
                }
                Err(e) => {
                    tracing::warn!(channel = %self.name, error = %e, "cannot read the channel's cursor");
                    tokio::select! {
                        _ = gateway.stop.cancelled() => return false,
                        _ = tokio::time::sleep(std::time::Duration::from_secs(1)) => {}
                    }
                }
            }
        }
    }

    /// The next event past the cursor that `filter` admits.
    pub async fn next(&mut self, outbox: &Outbox, filter: &EventFilter) -> ApiResult<Next> {
        if self.pending.is_empty() {
            let batch = outbox.after(self.at, 256, filter).await?;
            if batch.events.is_empty() {
                if batch.upto > self.at {
                    self.at = batch.upto;
                    self.save(outbox, false).await;
                    return Ok(Next::Skipped(self.at));
                }
                self.save(outbox, true).await;
                return Ok(Next::Idle);
            }
            self.pending.extend(batch.events);
        }
        Ok(self.pending.pop_front().map_or(Next::Idle, Next::Event))
    }

    /// Puts an event that could not be delivered back in front, for the next attempt.
    pub fn retry(&mut self, event: Arc<StoredEvent>) {
        self.pending.push_front(event);
    }

    /// Moves the cursor past a delivered event.
    pub async fn delivered(&mut self, outbox: &Outbox, seq: i64) {
        self.at = seq;
        self.save(outbox, false).await;
    }

    /// Writes the cursor back if it moved (now if `force`, else at most every
    /// [`CURSOR_SAVE_EVERY`]).
    pub async fn save(&mut self, outbox: &Outbox, force: bool) {
        if self.saved != self.at && (force || self.saved_at.elapsed() >= CURSOR_SAVE_EVERY) {
            if outbox.save_cursor(&self.name, self.at).await.is_ok() {
                self.saved = self.at;
            }
            self.saved_at = Instant::now();
        }
    }
}

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
