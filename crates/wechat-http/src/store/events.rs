//! Event outbox rows and the delivery cursors of durable channels. Bodies are stored without
//! their `id` (it is the sequence, spliced in when read), as the exact JSON text delivered.

use std::collections::HashMap;
use std::sync::Arc;

use super::sql::args;
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
        self.store.read_log(|t| Ok(t.one("SELECT COALESCE(MAX(seq), 0) FROM events", &[])?.get(0)?)).await
    }

    /// Inserts a batch in one transaction; per row its sequence, or `None` when its source
    /// was already recorded. On PostgreSQL the transaction first takes the outbox lock, so
    /// sequences commit in order across nodes: a reader never sees seq N+1 before seq N.
    pub async fn insert(&self, rows: Vec<NewEvent>) -> ApiResult<Vec<Option<(i64, NewEvent)>>> {
        self.store
            .write_log(move |t| {
                if t.pg() {
                    t.exec("SELECT pg_advisory_xact_lock(?1)", args![super::OUTBOX_LOCK])?;
                }
                let mut out = Vec::with_capacity(rows.len());
                for r in rows {
                    let seq = t.opt(
                        "INSERT INTO events(time, kind, account, body, legacy, source) VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                         ON CONFLICT DO NOTHING RETURNING seq",
                        args![
                            r.time,
                            r.kind.as_str(),
                            r.account.as_deref(),
                            r.body.as_str(),
                            r.legacy.as_deref(),
                            r.source.as_deref()
                        ],
                    )?;
                    out.push(match seq {
                        Some(row) => Some((row.get(0)?, r)),
                        None => None,
                    });
                }
                Ok(out)
            })
            .await
    }

    /// Up to `limit` events after `seq`, oldest first.
    pub async fn after(&self, seq: i64, limit: usize) -> ApiResult<Vec<StoredEvent>> {
        self.store
            .read_log(move |t| {
                let rows = t.query(
                    "SELECT seq, kind, account, body, legacy FROM events WHERE seq > ?1 ORDER BY seq LIMIT ?2",
                    args![seq, limit as i64],
                )?;
                rows.iter()
                    .map(|r| {
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
                    })
                    .collect()
            })
            .await
    }

    /// The cursor of `channel`; a new channel starts at `start` (and is recorded there).
    pub async fn cursor(&self, channel: &str, start: i64) -> ApiResult<i64> {
        let channel = channel.to_owned();
        self.store
            .write_log(move |t| {
                t.exec(
                    "INSERT INTO cursors(channel, seq) VALUES (?1, ?2) ON CONFLICT(channel) DO NOTHING",
                    args![channel.as_str(), start],
                )?;
                Ok(t.one("SELECT seq FROM cursors WHERE channel = ?1", args![channel])?.get(0)?)
            })
            .await
    }

    /// Records that `channel` has delivered everything up to `seq`.
    pub async fn save_cursor(&self, channel: &str, seq: i64) -> ApiResult<()> {
        let channel = channel.to_owned();
        self.store
            .write_log(move |t| {
                let sql = if t.pg() {
                    "INSERT INTO cursors(channel, seq) VALUES (?1, ?2)
                     ON CONFLICT(channel) DO UPDATE SET seq = GREATEST(cursors.seq, excluded.seq)"
                } else {
                    "INSERT INTO cursors(channel, seq) VALUES (?1, ?2)
                     ON CONFLICT(channel) DO UPDATE SET seq = MAX(seq, excluded.seq)"
                };
                t.exec(sql, args![channel, seq])?;
                Ok(())
            })
            .await
    }

    /// Per-channel counts of events dropped by retention before delivery.
    pub async fn dropped(&self) -> ApiResult<HashMap<String, i64>> {
        self.store
            .read_log(|t| {
                let rows = t.query("SELECT channel, dropped FROM cursors WHERE dropped > 0", &[])?;
                rows.iter().map(|r| Ok((r.get(0)?, r.get(1)?))).collect()
            })
            .await
    }

    /// Every cursor: `channel → seq`.
    pub async fn cursors(&self) -> ApiResult<HashMap<String, i64>> {
        self.store
            .read_log(|t| {
                let rows = t.query("SELECT channel, seq FROM cursors", &[])?;
                rows.iter().map(|r| Ok((r.get(0)?, r.get(1)?))).collect()
            })
            .await
    }

    /// The MsgSvrID of the newest event that came from a WeChat message of `account`.
    pub async fn last_wx_source(&self, account: &str) -> ApiResult<Option<u64>> {
        let (account, prefix) = (account.to_owned(), format!("wx:{account}:"));
        self.store
            .read_log(move |t| {
                let s: Option<String> = match t.opt(
                    "SELECT source FROM events WHERE account = ?1 AND source LIKE ?2 ORDER BY seq DESC LIMIT 1",
                    args![account, format!("{prefix}%")],
                )? {
                    Some(r) => r.get(0)?,
                    None => None,
                };
                // `wx:<account>:<id>` or `wx:<account>:<id>:<n>` (several events of one message).
                Ok(s.and_then(|s| s.strip_prefix(&prefix)?.split(':').next()?.parse().ok()))
            })
            .await
    }

    /// Applies retention; returns how many events were deleted and up to which sequence.
    pub async fn trim(&self, max_count: u64, max_age_hours: u64) -> ApiResult<(usize, i64)> {
        self.store
            .write_log(move |t| {
                let latest: i64 = t.one("SELECT COALESCE(MAX(seq), 0) FROM events", &[])?.get(0)?;
                let by_count = if max_count == 0 { 0 } else { latest - max_count as i64 };
                let cutoff = now() - max_age_hours as f64 * 3600.0;
                let by_age: i64 =
                    t.one("SELECT COALESCE(MAX(seq), 0) FROM events WHERE time < ?1", args![cutoff])?.get(0)?;
                let upto = by_count.max(if max_age_hours == 0 { 0 } else { by_age });
                if upto <= 0 {
                    return Ok((0, 0));
                }
                // Channels that had not reached `upto` lose the events in between.
                let max = if t.pg() { "GREATEST" } else { "MAX" };
                t.exec(
                    &format!(
                        "UPDATE cursors SET dropped = dropped +
                            (SELECT COUNT(*) FROM events WHERE seq > cursors.seq AND seq <= ?1 AND kind != 'meta'),
                            seq = {max}(seq, ?1)
                         WHERE seq < ?1"
                    ),
                    args![upto],
                )?;
                let n = t.exec("DELETE FROM events WHERE seq <= ?1", args![upto])?;
                Ok((n as usize, upto))
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
