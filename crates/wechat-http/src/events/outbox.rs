//! The durable outbox: every event is committed to SQLite with a monotonically increasing
//! sequence before any channel sees it; each durable channel (webhook target, reverse
//! WebSocket, long-poll) keeps a cursor. Appends are group-committed: a writer task takes every
//! event queued meanwhile and commits them in one transaction.
//!
//! Retention: events beyond `events.retention_count` or older than `events.retention_hours`
//! are deleted; events a channel had not delivered yet are counted as dropped for it.

use std::collections::HashMap;
use std::sync::Arc;

use rusqlite::{OptionalExtension, params};
use serde_json::Value;
use tokio::sync::{mpsc, oneshot, watch};

use super::normalize::Draft;
use crate::error::{ApiError, ApiResult};
use crate::store::{Store, now};

/// Largest batch committed at once.
const MAX_BATCH: usize = 1024;

/// An event as stored, as JSON text ready to send (delivery never re-serialises it).
#[derive(Clone, Debug, PartialEq)]
pub struct StoredEvent {
    /// Sequence (also the event's `id`).
    pub seq: i64,
    /// `message`, `notice`, `request` or `meta`.
    pub kind: String,
    /// OneBot 12 body, `id` filled in.
    pub text: String,
    /// Legacy body (falls back to `text`).
    pub legacy: Option<String>,
}

impl StoredEvent {
    /// The body text in the legacy or the OneBot 12 format.
    pub fn text_for(&self, legacy: bool) -> &str {
        if legacy { self.legacy.as_deref().unwrap_or(&self.text) } else { &self.text }
    }

    /// The OneBot 12 body as a JSON value.
    pub fn value(&self) -> Value {
        serde_json::from_str(&self.text).unwrap_or(Value::Null)
    }
}

/// Puts `"id": "<seq>"` first into a stored object text (stored without an `id`).
fn with_id(seq: i64, text: &str) -> String {
    match text.strip_prefix('{') {
        Some("}") => format!("{{\"id\":\"{seq}\"}}"),
        Some(rest) => format!("{{\"id\":\"{seq}\",{rest}"),
        None => text.to_owned(),
    }
}

type Pending = (Draft, Option<oneshot::Sender<ApiResult<Option<i64>>>>);

/// The outbox.
#[derive(Debug)]
pub struct Outbox {
    store: Store,
    tx: mpsc::Sender<Pending>,
    latest: watch::Receiver<i64>,
    dropped: std::sync::Mutex<HashMap<String, i64>>,
}

impl Outbox {
    /// Opens the outbox on `store` and starts its writer.
    pub async fn open(store: Store) -> ApiResult<Arc<Self>> {
        let max: i64 =
            store.run_log(|c| Ok(c.query_row("SELECT COALESCE(MAX(seq), 0) FROM events", [], |r| r.get(0))?)).await?;
        let (latest_tx, latest) = watch::channel(max);
        let (tx, rx) = mpsc::channel(8192);
        tokio::spawn(writer(store.clone(), rx, latest_tx));
        let outbox = Arc::new(Self { store, tx, latest, dropped: Default::default() });
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

    /// The newest sequence.
    pub fn latest(&self) -> i64 {
        *self.latest.borrow()
    }

    /// A watch that changes whenever events are committed.
    pub fn watch(&self) -> watch::Receiver<i64> {
        self.latest.clone()
    }

    /// Up to `limit` events after `seq`, oldest first (`meta` events skipped if `skip_meta`).
    pub async fn after(&self, seq: i64, limit: usize, skip_meta: bool) -> ApiResult<Vec<StoredEvent>> {
        self.store
            .run_log(move |c| {
                let sql = if skip_meta {
                    "SELECT seq, kind, body, legacy FROM events WHERE seq > ?1 AND kind != 'meta' ORDER BY seq LIMIT ?2"
                } else {
                    "SELECT seq, kind, body, legacy FROM events WHERE seq > ?1 ORDER BY seq LIMIT ?2"
                };
                let mut stmt = c.prepare_cached(sql)?;
                let rows = stmt.query_map(params![seq, limit as i64], |r| {
                    let seq: i64 = r.get(0)?;
                    let body: String = r.get(2)?;
                    let legacy: Option<String> = r.get(3)?;
                    Ok((seq, r.get::<_, String>(1)?, body, legacy))
                })?;
                let mut out = Vec::new();
                for row in rows {
                    let (seq, kind, body, legacy) = row?;
                    out.push(StoredEvent {
                        seq,
                        kind,
                        text: with_id(seq, &body),
                        legacy: legacy.as_deref().map(|l| with_id(seq, l)),
                    });
                }
                Ok(out)
            })
            .await
    }

    /// The cursor of `channel`; a new channel starts at `start` (and is recorded there).
    pub async fn cursor(&self, channel: &str, start: i64) -> ApiResult<i64> {
        let channel = channel.to_owned();
        self.store
            .run_log(move |c| {
                if let Some(seq) =
                    c.query_row("SELECT seq FROM cursors WHERE channel = ?1", [&channel], |r| r.get(0)).optional()?
                {
                    return Ok(seq);
                }
                c.execute("INSERT INTO cursors(channel, seq) VALUES (?1, ?2)", params![channel, start])?;
                Ok(start)
            })
            .await
    }

    /// Records that `channel` has delivered everything up to `seq`.
    pub async fn save_cursor(&self, channel: &str, seq: i64) -> ApiResult<()> {
        let channel = channel.to_owned();
        self.store
            .run_log(move |c| {
                c.execute(
                    "INSERT INTO cursors(channel, seq) VALUES (?1, ?2)
                     ON CONFLICT(channel) DO UPDATE SET seq = MAX(seq, excluded.seq)",
                    params![channel, seq],
                )?;
                Ok(())
            })
            .await
    }

    /// Reloads the per-channel counts of events dropped by retention before delivery.
    pub async fn refresh_dropped(&self) -> ApiResult<()> {
        let counts: HashMap<String, i64> = self
            .store
            .run_log(|c| {
                let mut stmt = c.prepare_cached("SELECT channel, dropped FROM cursors WHERE dropped > 0")?;
                let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
                Ok(rows.collect::<Result<_, _>>()?)
            })
            .await?;
        *self.dropped.lock().unwrap_or_else(|p| p.into_inner()) = counts;
        Ok(())
    }

    /// Events dropped by retention before each channel delivered them (as of the last
    /// retention pass).
    pub fn dropped(&self) -> HashMap<String, i64> {
        self.dropped.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// The wx message id of the newest event that came from a WeChat message.
    pub async fn last_wx_source(&self) -> ApiResult<Option<u64>> {
        self.store
            .run_log(|c| {
                let s: Option<String> = c
                    .query_row(
                        "SELECT source FROM events WHERE source LIKE 'wx:%' ORDER BY seq DESC LIMIT 1",
                        [],
                        |r| r.get(0),
                    )
                    .optional()?;
                Ok(s.and_then(|s| s.strip_prefix("wx:")?.parse().ok()))
            })
            .await
    }

    /// Applies retention; returns how many events were deleted.
    pub async fn trim(&self, max_count: u64, max_age_hours: u64) -> ApiResult<usize> {
        let removed = self.delete_old(max_count, max_age_hours).await?;
        if removed > 0 {
            self.refresh_dropped().await?;
        }
        Ok(removed)
    }

    async fn delete_old(&self, max_count: u64, max_age_hours: u64) -> ApiResult<usize> {
        self.store
            .run_log(move |c| {
                let tx = c.transaction()?;
                let latest: i64 = tx.query_row("SELECT COALESCE(MAX(seq), 0) FROM events", [], |r| r.get(0))?;
                let by_count = if max_count == 0 { 0 } else { latest - max_count as i64 };
                let cutoff = now() - max_age_hours as f64 * 3600.0;
                let by_age: i64 =
                    tx.query_row("SELECT COALESCE(MAX(seq), 0) FROM events WHERE time < ?1", [cutoff], |r| r.get(0))?;
                let upto = by_count.max(if max_age_hours == 0 { 0 } else { by_age });
                if upto <= 0 {
                    return Ok(0);
                }
                // Channels that had not reached `upto` lose the events in between.
                tx.execute(
                    "UPDATE cursors SET dropped = dropped +
                        (SELECT COUNT(*) FROM events WHERE seq > cursors.seq AND seq <= ?1 AND kind != 'meta'),
                        seq = MAX(seq, ?1)
                     WHERE seq < ?1",
                    [upto],
                )?;
                let n = tx.execute("DELETE FROM events WHERE seq <= ?1", [upto])?;
                tx.commit()?;
                Ok(n)
            })
            .await
    }
}

async fn writer(store: Store, mut rx: mpsc::Receiver<Pending>, latest: watch::Sender<i64>) {
    while let Some(first) = rx.recv().await {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(p) => batch.push(p),
                Err(_) => break,
            }
        }
        // Stored without `id`: it is the sequence, spliced in when read. The drafts are moved
        // out of the batch (no copies); the reply channels stay.
        let without_id = |mut v: Value| {
            if let Value::Object(m) = &mut v {
                m.remove("id");
            }
            v
        };
        let mut replies = Vec::with_capacity(batch.len());
        let drafts: Vec<(Value, Option<Value>, Option<String>)> = batch
            .into_iter()
            .map(|(d, done)| {
                replies.push(done);
                (without_id(d.body), d.legacy.map(without_id), d.source)
            })
            .collect();
        let result = store
            .run_log(move |c| {
                let tx = c.transaction()?;
                let mut seqs = Vec::with_capacity(drafts.len());
                {
                    let mut stmt = tx.prepare_cached(
                        "INSERT OR IGNORE INTO events(time, kind, body, legacy, source) VALUES (?1, ?2, ?3, ?4, ?5)",
                    )?;
                    for (body, legacy, source) in &drafts {
                        let kind = body.get("type").and_then(Value::as_str).unwrap_or("meta").to_owned();
                        let time = body.get("time").and_then(Value::as_f64).unwrap_or_else(now);
                        let n = stmt.execute(params![
                            time,
                            kind,
                            body.to_string(),
                            legacy.as_ref().map(Value::to_string),
                            source
                        ])?;
                        seqs.push((n == 1).then(|| tx.last_insert_rowid()));
                    }
                }
                tx.commit()?;
                Ok(seqs)
            })
            .await;
        match result {
            Ok(seqs) => {
                if let Some(max) = seqs.iter().flatten().max() {
                    latest.send_replace(*max);
                }
                for (done, seq) in replies.into_iter().zip(seqs) {
                    if let Some(done) = done {
                        let _ = done.send(Ok(seq));
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_spliced_into_stored_text() {
        assert_eq!(with_id(7, r#"{"a":1}"#), r#"{"id":"7","a":1}"#);
        assert_eq!(with_id(7, "{}"), r#"{"id":"7"}"#);
        let v: Value = serde_json::from_str(&with_id(42, r#"{"type":"message","x":{"id":"inner"}}"#)).unwrap();
        assert_eq!((v["id"].as_str(), v["x"]["id"].as_str()), (Some("42"), Some("inner")));
    }
}
