//! The send path every outgoing message takes: one at a time, with a random pause in
//! `[answer_delay_rand_min, answer_delay_rand_max]` before each WeChat send (anti-ban pacing).

use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

/// Serialises sends and paces them.
#[derive(Debug)]
pub struct Pacer {
    lock: tokio::sync::Mutex<()>,
    min: f64,
    max: f64,
    waiting: AtomicUsize,
}

impl Pacer {
    /// Pauses uniformly in `[min, max]` seconds before each send.
    pub fn new(min: f64, max: f64) -> Self {
        if max <= 0.0 {
            tracing::warn!(
                "answer_delay_rand_min/max are 0: sends are not paced, which risks the account being limited"
            );
        }
        Self { lock: tokio::sync::Mutex::new(()), min, max, waiting: AtomicUsize::new(0) }
    }

    /// Sends queued or in progress.
    pub fn depth(&self) -> usize {
        self.waiting.load(Ordering::SeqCst)
    }

    /// Runs one send in turn, after the pause.
    pub async fn run<T>(&self, send: impl Future<Output = T>) -> T {
        self.waiting.fetch_add(1, Ordering::SeqCst);
        let _counted = Counted(&self.waiting);
        let _turn = self.lock.lock().await;
        let pause = if self.max > 0.0 { rand::random_range(self.min..=self.max) } else { 0.0 };
        if pause > 0.0 {
            tokio::time::sleep(Duration::from_secs_f64(pause)).await;
        }
        send.await
    }
}

/// Decrements the queue depth when a send finishes or is abandoned.
struct Counted<'a>(&'a AtomicUsize);

impl Drop for Counted<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}
