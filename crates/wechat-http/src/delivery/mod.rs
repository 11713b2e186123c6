//! Delivery channels: HTTP webhooks, forward and reverse WebSocket, and the long-poll cursor of
//! `get_latest_events`. Every durable channel reads the outbox from its own cursor.

pub mod webhook;
pub mod websocket;

use std::time::Duration;

/// Exponential backoff with jitter: attempt 1 → ~0.5 s, doubling, capped at `cap`.
pub fn backoff(attempt: u32, cap: Duration) -> Duration {
    let base = Duration::from_millis(500).saturating_mul(1u32 << attempt.saturating_sub(1).min(16));
    base.min(cap).mul_f64(rand::random_range(0.5..=1.0))
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
