//! The send queue of one account, which every outgoing message goes through (HTTP,
//! WebSocket, quick actions, broadcasts): one send at a time, in arrival order, each after a random pause in
//! `[answer_delay_rand_min, answer_delay_rand_max]`, and within the optional rolling limits
//! `send.max_per_minute` / `send.max_per_hour` (anti-ban pacing). A send that cannot start
//! within `send.queue_timeout` fails with retcode 36001 and sends nothing.

use std::collections::VecDeque;
use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use crate::config::AccountEntry;
use crate::error::{ApiError, ApiResult};

/// Serialises sends and paces them.
#[derive(Debug)]
pub struct Pacer {
    turn: tokio::sync::Mutex<Window>,
    min: f64,
    max: f64,
    per_minute: u32,
    per_hour: u32,
    queue_timeout: Duration,
    waiting: AtomicUsize,
}

/// Start times of recent sends (for the rolling limits).
#[derive(Debug, Default)]
struct Window {
    starts: VecDeque<Instant>,
}

impl Window {
    /// How long until one more send fits both limits. Only the newest `max(limits)` starts
    /// matter, so no more are kept; with no limits nothing is kept.
    fn wait_needed(&mut self, now: Instant, per_minute: u32, per_hour: u32) -> Duration {
        let keep = per_minute.max(per_hour) as usize;
        while self.starts.len() > keep {
            self.starts.pop_front();
        }
        let mut wait = Duration::ZERO;
        for (limit, span) in
            [(per_minute as usize, Duration::from_secs(60)), (per_hour as usize, Duration::from_secs(3600))]
        {
            if limit == 0 || self.starts.len() < limit {
                continue;
            }
            // The limit-th newest send must have left the span.
            let age = now.duration_since(self.starts[self.starts.len() - limit]);
            if age < span {
                wait = wait.max(span - age);
            }
        }
        wait
    }

    fn record(&mut self, at: Instant, per_minute: u32, per_hour: u32) {
        if per_minute.max(per_hour) > 0 {
            self.starts.push_back(at);
        }
    }
}

impl Pacer {
    /// The queue of an account.
    pub fn new(config: &AccountEntry) -> Self {
        Self {
            turn: tokio::sync::Mutex::new(Window::default()),
            min: config.answer_delay_rand_min,
            max: config.answer_delay_rand_max,
            per_minute: config.send.max_per_minute,
            per_hour: config.send.max_per_hour,
            queue_timeout: Duration::from_secs(config.send.queue_timeout),
            waiting: AtomicUsize::new(0),
        }
    }

    /// Sends queued or in progress.
    pub fn depth(&self) -> usize {
        self.waiting.load(Ordering::SeqCst)
    }

    /// Runs one send in turn: waits for its turn and the limits (at most `send.queue_timeout`),
    /// pauses, sends.
    pub async fn run<T>(&self, send: impl Future<Output = T>) -> ApiResult<T> {
        self.waiting.fetch_add(1, Ordering::SeqCst);
        let _counted = Counted(&self.waiting);
        let deadline = tokio::time::Instant::now() + self.queue_timeout;
        let too_long = || {
            ApiError::Timeout(format!(
                "the send queue is busy: this send could not start within send.queue_timeout ({} s); nothing was sent",
                self.queue_timeout.as_secs()
            ))
        };
        let mut window = tokio::time::timeout_at(deadline, self.turn.lock()).await.map_err(|_| too_long())?;
        let wait = window.wait_needed(Instant::now(), self.per_minute, self.per_hour);
        if tokio::time::Instant::now() + wait > deadline {
            return Err(too_long());
        }
        if !wait.is_zero() {
            // (A zero sleep would still wait for the next timer tick.)
            tokio::time::sleep(wait).await;
        }
        let pause = if self.max > 0.0 { rand::random_range(self.min..=self.max) } else { 0.0 };
        if pause > 0.0 {
            tokio::time::sleep(Duration::from_secs_f64(pause)).await;
        }
        window.record(Instant::now(), self.per_minute, self.per_hour);
        Ok(send.await)
    }
}

/// Decrements the queue depth when a send finishes or is abandoned.
struct Counted<'a>(&'a AtomicUsize);

impl Drop for Counted<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rolling_limits() {
        let t0 = Instant::now();
        let fresh = || {
            let mut w = Window::default();
            for i in 0..3 {
                w.starts.push_back(t0 + Duration::from_secs(i));
            }
            w
        };
        let now = t0 + Duration::from_secs(10);
        assert_eq!(fresh().wait_needed(now, 4, 0), Duration::ZERO);
        assert_eq!(
            fresh().wait_needed(now, 3, 0),
            Duration::from_secs(50),
            "the first of 3 leaves the minute at t0+60"
        );
        assert_eq!(fresh().wait_needed(now, 2, 0), Duration::from_secs(51));
        assert_eq!(fresh().wait_needed(now, 0, 3), Duration::from_secs(3590));
        assert_eq!(fresh().wait_needed(now, 0, 0), Duration::ZERO);
        let mut w = fresh();
        assert_eq!(w.wait_needed(t0 + Duration::from_secs(4000), 1, 1), Duration::ZERO, "old sends expire");
        assert_eq!(w.starts.len(), 1, "only the newest max(limits) starts are kept");
        let mut none = Window::default();
        none.record(t0, 0, 0);
        assert!(none.starts.is_empty(), "nothing is recorded without limits");
    }
}
