//! The durable outbox: every event is committed to SQLite with a monotonically increasing
//! sequence before any channel sees it; each durable channel (webhook target, reverse
//! WebSocket, long-poll) keeps a cursor. Appends are group-committed: a writer task takes every
//! event queued meanwhile and commits them in one transaction.
//!
//! The newest events stay in memory, shared (`Arc`) by every channel that reads them, so a
//! hundred WebSocket clients cost one copy of an event, not a hundred.
//!
//! Shared (a fleet's PostgreSQL): other nodes append too, so there is no in-memory tail (it
//! would hide their events) and a follower polls the newest sequence every
//! [`FOLLOW_EVERY`] to wake this node's readers.
//!
//! Retention: events beyond `events.retention_count` or older than `events.retention_hours`
//! are deleted; events a channel had not delivered yet are counted as dropped for it.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;
use tokio::sync::{mpsc, oneshot, watch};
use tokio_util::sync::CancellationToken;

use super::normalize::Draft;
use crate::error::{ApiError, ApiResult};
use crate::store::events::{NewEvent, with_id};
use crate::store::{Store, StoredEvent, now};

/// Largest batch committed at once.
const MAX_BATCH: usize = 1024;
/// How often a shared outbox looks for other nodes' events.
pub const FOLLOW_EVERY: Duration = Duration::from_millis(200);
/// Events kept in memory at most.
const TAIL_EVENTS: usize = 4096;
/// Bytes of events kept in memory at most.
const TAIL_BYTES: usize = 32 * 1024 * 1024;

type Pending = (Draft, Option<oneshot::Sender<ApiResult<Option<i64>>>>);

/// Which events a reader wants.
#[derive(Clone, Debug, Default)]
pub struct EventFilter {
    /// Leave out `meta` events.
    pub skip_meta: bool,
    /// Only these accounts' events (gateway-wide events always pass); `None` = all.
    pub accounts: Option<HashSet<String>>,
}

impl EventFilter {
    /// True when `e` passes.
    pub fn admits(&self, e: &StoredEvent) -> bool {
        if self.skip_meta && e.kind == "meta" {
            return false;
        }
        match (&self.accounts, &e.account) {
            (Some(set), Some(a)) => set.contains(a),
            _ => true,
        }
    }
}

/// What [`Outbox::after`] found.
#[derive(Debug, Default)]
pub struct Batch {
    /// Events that pass the filter, oldest first.
    pub events: Vec<Arc<StoredEvent>>,
    /// The sequence read up to (a cursor may move here even if nothing passed).
    pub upto: i64,
}

#[derive(Default)]
struct Tail {
    events: VecDeque<Arc<StoredEvent>>,
    bytes: usize,
}

impl Tail {
    fn push(&mut self, e: Arc<StoredEvent>) {
        self.bytes += e.size();
        self.events.push_back(e);
        while self.events.len() > TAIL_EVENTS || self.bytes > TAIL_BYTES {
            match self.events.pop_front() {
                Some(old) => self.bytes -= old.size(),
                None => break,
            }
        }
    }
}

/// The outbox.
pub struct Outbox {
    store: Store,
    tx: mpsc::Sender<Pending>,
    latest: watch::Receiver<i64>,
    tail: Arc<Mutex<Tail>>,
    dropped: Mutex<HashMap<String, i64>>,
    writer: Mutex<Option<tokio::task::JoinHandle<()>>>,
    stop: CancellationToken,
}

impl std::fmt::Debug for Outbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Outbox").field("latest", &*self.latest.borrow()).finish_non_exhaustive()
    }
}

impl Outbox {
    /// Opens the outbox on `store` and starts its writer (which stops when `stop` fires, after
    /// committing what was queued); `shared` when other nodes append to the same store.
    pub async fn open(store: Store, shared: bool) -> ApiResult<Arc<Self>> {
        let max = store.events().latest().await?;
        let (latest_tx, latest) = watch::channel(max);
        let latest_tx = Arc::new(latest_tx);
        let (tx, rx) = mpsc::channel(8192);
        let tail: Arc<Mutex<Tail>> = Arc::default();
        let stop = CancellationToken::new();
        let keep_tail = !shared;
        let writer =
            tokio::spawn(writer(store.clone(), rx, latest_tx.clone(), keep_tail.then(|| tail.clone()), stop.clone()));
        if shared {
            tokio::spawn(follow(store.clone(), latest_tx, stop.clone()));
        }
        let outbox = Arc::new(Self {
            store,
            tx,
            latest,
            tail,
            dropped: Mutex::default(),
            writer: Mutex::new(Some(writer)),
            stop,
        });
        outbox.refresh_dropped().await?;
        Ok(outbox)
    }

    /// Commits an event; `Some(seq)`, or `None` when its source was already recorded.
    pub async fn append(&self, draft: Draft) -> ApiResult<Option<i64>> {
        let (done, wait) = oneshot::channel();
        self.tx.send((draft, Some(done))).await.map_err(|_| ApiError::Internal("the outbox writer stopped".into()))?;
        wait.await.map_err(|_| ApiError::Internal("the outbox writer stopped".into()))?
    }

    /// Queues an event for the next group commit without waiting for it (order is kept).
    /// For events that can be rebuilt if the process dies first (WeChat messages are in
    /// WeChat's database and are recovered on restart).
    pub async fn submit(&self, draft: Draft) -> ApiResult<()> {
        self.tx.send((draft, None)).await.map_err(|_| ApiError::Internal("the outbox writer stopped".into()))
    }

    /// Commits what is queued and stops the writer (waits at most `within`).
    pub async fn close(&self, within: Duration) {
        self.stop.cancel();
        let handle = self.writer.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(h) = handle
            && tokio::time::timeout(within, h).await.is_err()
        {
            tracing::warn!("the outbox writer did not finish in time");
        }
    }

    /// The newest sequence.
    pub fn latest(&self) -> i64 {
        *self.latest.borrow()
    }

    /// A watch that changes whenever events are committed.
    pub fn watch(&self) -> watch::Receiver<i64> {
        self.latest.clone()
    }

    /// Up to `limit` events after `seq` that pass `filter`, oldest first: from memory when
    /// they are still there, else from the database.
    pub async fn after(&self, seq: i64, limit: usize, filter: &EventFilter) -> ApiResult<Batch> {
        let latest = self.latest();
        if seq >= latest {
            return Ok(Batch { events: Vec::new(), upto: seq });
        }
        {
            let tail = self.tail.lock().unwrap_or_else(|p| p.into_inner());
            if tail.events.front().is_some_and(|f| f.seq <= seq + 1) {
                let mut batch = Batch { events: Vec::new(), upto: seq };
                // Sequences increase along the tail: start right after `seq`.
                let from = tail.events.partition_point(|e| e.seq <= seq);
                for e in tail.events.range(from..) {
                    batch.upto = e.seq;
                    if filter.admits(e) {
                        batch.events.push(e.clone());
                        if batch.events.len() >= limit {
                            break;
                        }
                    }
                }
                return Ok(batch);
            }
        }
        let rows = self.store.events().after(seq, limit.max(1)).await?;
        let mut batch = Batch { events: Vec::new(), upto: rows.last().map_or(seq, |r| r.seq) };
        batch.events = rows.into_iter().filter(|e| filter.admits(e)).map(Arc::new).collect();
        Ok(batch)
    }

    /// The cursor of `channel`; a new channel starts at `start` (and is recorded there).
    pub async fn cursor(&self, channel: &str, start: i64) -> ApiResult<i64> {
        self.store.events().cursor(channel, start).await
    }

    /// Records that `channel` has delivered everything up to `seq`.
    pub async fn save_cursor(&self, channel: &str, seq: i64) -> ApiResult<()> {
        self.store.events().save_cursor(channel, seq).await
    }

    /// Every cursor (`channel → seq`), for backlogs in the console.
    pub async fn cursors(&self) -> ApiResult<HashMap<String, i64>> {
        self.store.events().cursors().await
    }

    /// Reloads the per-channel counts of events dropped by retention before delivery.
    pub async fn refresh_dropped(&self) -> ApiResult<()> {
        let counts = self.store.events().dropped().await?;
        *self.dropped.lock().unwrap_or_else(|p| p.into_inner()) = counts;
        Ok(())
    }

    /// Events dropped by retention before each channel delivered them (as of the last
    /// retention pass).
    pub fn dropped(&self) -> HashMap<String, i64> {
        self.dropped.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Applies retention; returns how many events were deleted.
    pub async fn trim(&self, max_count: u64, max_age_hours: u64) -> ApiResult<usize> {
        let (removed, upto) = self.store.events().trim(max_count, max_age_hours).await?;
        if removed > 0 {
            {
                let mut tail = self.tail.lock().unwrap_or_else(|p| p.into_inner());
                while tail.events.front().is_some_and(|e| e.seq <= upto) {
                    if let Some(old) = tail.events.pop_front() {
                        tail.bytes -= old.size();
                    }
                }
            }
            self.refresh_dropped().await?;
        }
        Ok(removed)
    }
}

fn to_row(d: Draft) -> NewEvent {
    let without_id = |mut v: Value| {
        if let Value::Object(m) = &mut v {
            m.remove("id");
        }
        v
    };
    let body = without_id(d.body);
    let kind = body.get("type").and_then(Value::as_str).unwrap_or("meta").to_owned();
    let time = body.get("time").and_then(Value::as_f64).unwrap_or_else(now);
    NewEvent {
        time,
        kind,
        account: d.account,
        body: body.to_string(),
        legacy: d.legacy.map(|l| without_id(l).to_string()),
        source: d.source,
    }
}

/// Raises `latest` to `seq` (never lowers it).
fn raise(latest: &watch::Sender<i64>, seq: i64) {
    latest.send_if_modified(|v| {
        let higher = seq > *v;
        if higher {
            *v = seq;
        }
        higher
    });
}

/// A shared outbox's follower: wakes readers when other nodes commit events.
async fn follow(store: Store, latest: Arc<watch::Sender<i64>>, stop: CancellationToken) {
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(FOLLOW_EVERY) => {}
        }
        if let Ok(seq) = store.events().latest().await {
            raise(&latest, seq);
        }
    }
}

async fn writer(
    store: Store,
    mut rx: mpsc::Receiver<Pending>,
    latest: Arc<watch::Sender<i64>>,
    tail: Option<Arc<Mutex<Tail>>>,
    stop: CancellationToken,
) {
    loop {
        let first = tokio::select! {
            biased;
            m = rx.recv() => match m { Some(m) => m, None => return },
            _ = stop.cancelled() => {
                // Commit what is already queued, then stop.
                match rx.try_recv() {
                    Ok(m) => m,
                    Err(_) => return,
                }
            }
        };
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(p) => batch.push(p),
                Err(_) => break,
            }
        }
        let mut replies = Vec::with_capacity(batch.len());
        let rows: Vec<NewEvent> = batch
            .into_iter()
            .map(|(d, done)| {
                replies.push(done);
                to_row(d)
            })
            .collect();
        match store.events().insert(rows).await {
            Ok(inserted) => {
                let max = inserted.iter().flatten().map(|(seq, _)| *seq).max();
                if let Some(tail) = &tail {
                    let mut t = tail.lock().unwrap_or_else(|p| p.into_inner());
                    for (seq, r) in inserted.iter().flatten() {
                        t.push(Arc::new(StoredEvent {
                            seq: *seq,
                            kind: r.kind.clone(),
                            account: r.account.clone(),
                            text: Arc::from(with_id(*seq, &r.body)),
                            legacy: r.legacy.as_ref().map(|l| Arc::from(with_id(*seq, l))),
                        }));
                    }
                }
                if let Some(max) = max {
                    raise(&latest, max);
                }
                for (done, row) in replies.into_iter().zip(inserted) {
                    if let Some(done) = done {
                        let _ = done.send(Ok(row.map(|(seq, _)| seq)));
                    }
                }
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot commit events");
                for done in replies.into_iter().flatten() {
                    let _ = done.send(Err(ApiError::Database(e.to_string())));
                }
            }
        }
    }
}
