//! Event outbox rows and the delivery cursors of durable channels. Bodies are stored without
//! their `id` (it is the sequence, spliced in when read), as the exact JSON text delivered.

use std::collections::HashMap;
use std::sync::Arc;

use rusqlite::{OptionalExtension, params};

use super::{Store, now};
use crate::error::ApiResult;

/// An event as stored, as JSON text ready to send (delivery never re-serialises it).
#[derive(Clone, Debug, PartialEq)]
pub struct StoredEvent {
    /// Sequence (also the event's `id`).
    pub seq: i64,
    /// `message`, `notice`, `request` or `meta`.
    pub kind: String,
    /// The account it belongs to (`None` for gateway-wide meta events).
    pub account: Option<String>,
    /// OneBot 12 body, `id` filled in.
    pub text: Arc<str>,
    /// Legacy body (falls back to `text`).
    pub legacy: Option<Arc<str>>,
}

impl StoredEvent {
    /// The body text in the legacy or the OneBot 12 format.
    pub fn text_for(&self, legacy: bool) -> &Arc<str> {
        if legacy { self.legacy.as_ref().unwrap_or(&self.text) } else { &self.text }
    }

    /// The OneBot 12 body as a JSON value.
    pub fn value(&self) -> serde_json::Value {
        serde_json::from_str(&self.text).unwrap_or(serde_json::Value::Null)
    }

    /// Approximate bytes held.
    pub fn size(&self) -> usize {
        self.text.len() + self.legacy.as_ref().map_or(0, |l| l.len()) + 64
    }
}

/// Puts `"id": "<seq>"` first into a stored object text (stored without an `id`).
pub fn with_id(seq: i64, text: &str) -> String {
    match text.strip_prefix('{') {
        Some("}") => format!("{{\"id\":\"{seq}\"}}"),
        Some(rest) => format!("{{\"id\":\"{seq}\",{rest}"),
        None => text.to_owned(),
    }
}

/// A row to insert.
#[derive(Clone, Debug)]
pub struct NewEvent {
    /// Unix seconds.
    pub time: f64,
    /// Event type.
    pub kind: String,
    /// Owning account.
    pub account: Option<String>,
    /// Body without `id`.
    pub body: String,
    /// Legacy body without `id`.
    pub legacy: Option<String>,
    /// De-duplication key.
    pub source: Option<String>,
}

/// The outbox table and the cursor table.
#[derive(Clone, Copy, Debug)]
pub struct EventRows<'a> {
    pub(super) store: &'a Store,
}

impl EventRows<'_> {
    /// The newest sequence (0 when empty).
    pub async fn latest(&self) -> ApiResult<i64> {
        self.store.read_log(|c| Ok(c.query_row("SELECT COALESCE(MAX(seq), 0) FROM events", [], |r| r.get(0))?)).await
    }

    /// Inserts a batch in one transaction; per row its sequence, or `None` when its source
    /// was already recorded.
    pub async fn insert(&self, rows: Vec<NewEvent>) -> ApiResult<Vec<Option<(i64, NewEvent)>>> {
        self.store
            .write_log(move |c| {
                let tx = c.transaction()?;
                let mut out = Vec::with_capacity(rows.len());
                {
                    let mut stmt = tx.prepare_cached(
                        "INSERT OR IGNORE INTO events(time, kind, account, body, legacy, source) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                    )?;
                    for r in rows {
                        let n = stmt.execute(params![r.time, r.kind, r.account, r.body, r.legacy, r.source])?;
                        out.push((n == 1).then(|| (tx.last_insert_rowid(), r)));
                    }
                }
                tx.commit()?;
                Ok(out)
            })
            .await
    }

    /// Up to `limit` events after `seq`, oldest first.
    pub async fn after(&self, seq: i64, limit: usize) -> ApiResult<Vec<StoredEvent>> {
        self.store
            .read_log(move |c| {
                let mut stmt = c.prepare_cached(
                    "SELECT seq, kind, account, body, legacy FROM events WHERE seq > ?1 ORDER BY seq LIMIT ?2",
                )?;
                let rows = stmt.query_map(params![seq, limit as i64], |r| {
                    let seq: i64 = r.get(0)?;
                    let body: String = r.get(3)?;
                    let legacy: Option<String> = r.get(4)?;
                    Ok(StoredEvent {
                        seq,
                        kind: r.get(1)?,
                        account: r.get(2)?,
                        text: Arc::from(with_id(seq, &body)),
                        legacy: legacy.map(|l| Arc::from(with_id(seq, &l))),
                    })
                })?;
                Ok(rows.collect::<Result<_, _>>()?)
            })
            .await
    }

    /// The cursor of `channel`; a new channel starts at `start` (and is recorded there).
    pub async fn cursor(&self, channel: &str, start: i64) -> ApiResult<i64> {
        let channel = channel.to_owned();
        self.store
            .write_log(move |c| {
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
            .write_log(move |c| {
                c.execute(
                    "INSERT INTO cursors(channel, seq) VALUES (?1, ?2)
                     ON CONFLICT(channel) DO UPDATE SET seq = MAX(seq, excluded.seq)",
                    params![channel, seq],
                )?;
                Ok(())
            })
            .await
    }

    /// Per-channel counts of events dropped by retention before delivery.
    pub async fn dropped(&self) -> ApiResult<HashMap<String, i64>> {
        self.store
            .read_log(|c| {
                let mut stmt = c.prepare_cached("SELECT channel, dropped FROM cursors WHERE dropped > 0")?;
                let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
                Ok(rows.collect::<Result<_, _>>()?)
            })
            .await
    }

    /// Every cursor: `channel → seq`.
    pub async fn cursors(&self) -> ApiResult<HashMap<String, i64>> {
        self.store
            .read_log(|c| {
                let mut stmt = c.prepare_cached("SELECT channel, seq FROM cursors")?;
                let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
                Ok(rows.collect::<Result<_, _>>()?)
            })
            .await
    }

    /// The MsgSvrID of the newest event that came from a WeChat message of `account`.
    pub async fn last_wx_source(&self, account: &str) -> ApiResult<Option<u64>> {
        let (account, prefix) = (account.to_owned(), format!("wx:{account}:"));
        self.store
            .read_log(move |c| {
                let s: Option<String> = c
                    .query_row(
                        "SELECT source FROM events WHERE account = ?1 AND source LIKE ?2 ORDER BY seq DESC LIMIT 1",
                        params![account, format!("{prefix}%")],
                        |r| r.get(0),
                    )
                    .optional()?;
                // `wx:<account>:<id>` or `wx:<account>:<id>:<n>` (several events of one message).
                Ok(s.and_then(|s| s.strip_prefix(&prefix)?.split(':').next()?.parse().ok()))
            })
            .await
    }

    /// Applies retention; returns how many events were deleted and up to which sequence.
    pub async fn trim(&self, max_count: u64, max_age_hours: u64) -> ApiResult<(usize, i64)> {
        self.store
            .write_log(move |c| {
                let tx = c.transaction()?;
                let latest: i64 = tx.query_row("SELECT COALESCE(MAX(seq), 0) FROM events", [], |r| r.get(0))?;
                let by_count = if max_count == 0 { 0 } else { latest - max_count as i64 };
                let cutoff = now() - max_age_hours as f64 * 3600.0;
                let by_age: i64 =
                    tx.query_row("SELECT COALESCE(MAX(seq), 0) FROM events WHERE time < ?1", [cutoff], |r| r.get(0))?;
                let upto = by_count.max(if max_age_hours == 0 { 0 } else { by_age });
                if upto <= 0 {
                    return Ok((0, 0));
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
                Ok((n, upto))
            })
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_spliced_into_stored_text() {
        assert_eq!(with_id(7, r#"{"a":1}"#), r#"{"id":"7","a":1}"#);
        assert_eq!(with_id(7, "{}"), r#"{"id":"7"}"#);
        let v: serde_json::Value =
            serde_json::from_str(&with_id(42, r#"{"type":"message","x":{"id":"inner"}}"#)).unwrap();
        assert_eq!((v["id"].as_str(), v["x"]["id"].as_str()), (Some("42"), Some("inner")));
    }
}
