//! The sent-message log: every WeChat message the gateway sends, one row per part (a text, an
//! image, a file…), numbered per receiver. The intent is recorded before the send (`pending`),
//! the outcome after: `sent`, `failed`, or `unknown` when WeChatFerry did not answer in time
//! (reconciled later against WeChat's own database). WeChat's `MsgSvrID` is filled in once
//! known, so `delete_message` can recall the very message.

use rusqlite::{Connection, OptionalExtension, params};

use super::{Store, now};
use crate::error::ApiResult;

/// Where a part stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SentState {
    /// Recorded, not (yet) handed to WeChat.
    Pending,
    /// WeChat accepted it.
    Sent,
    /// WeChatFerry did not answer in time: it may have been sent.
    Unknown,
    /// WeChat refused it, or it was never sent.
    Failed,
}

impl SentState {
    /// The stored word.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Sent => "sent",
            Self::Unknown => "unknown",
            Self::Failed => "failed",
        }
    }

    fn parse(s: &str) -> Self {
        match s {
            "sent" => Self::Sent,
            "unknown" => Self::Unknown,
            "failed" => Self::Failed,
            _ => Self::Pending,
        }
    }
}

/// One part as stored.
#[derive(Clone, Debug, PartialEq)]
pub struct SentPart {
    /// Row id.
    pub id: i64,
    /// The gateway's message id.
    pub message_id: String,
    /// Receiver wxid or room id.
    pub receiver: String,
    /// Part number (per receiver, from 1).
    pub part: i64,
    /// `text`, `image`, `file`, …
    pub kind: String,
    /// The text, or the path sent.
    pub content: String,
    /// Outcome.
    pub state: SentState,
    /// When the intent was recorded, unix seconds.
    pub sent_at: f64,
    /// WeChat's MsgSvrID, once known.
    pub wx_msg_id: Option<i64>,
    /// Why it failed.
    pub error: Option<String>,
}

/// The sent log of one account.
#[derive(Clone, Copy, Debug)]
pub struct SentLog<'a> {
    pub(super) store: &'a Store,
    pub(super) account: &'a str,
}

const COLUMNS: &str = "id, message_id, receiver, part, kind, content, state, sent_at, wx_msg_id, error";

fn row(r: &rusqlite::Row<'_>) -> rusqlite::Result<SentPart> {
    Ok(SentPart {
        id: r.get(0)?,
        message_id: r.get(1)?,
        receiver: r.get(2)?,
        part: r.get(3)?,
        kind: r.get(4)?,
        content: r.get(5)?,
        state: SentState::parse(&r.get::<_, String>(6)?),
        sent_at: r.get(7)?,
        wx_msg_id: r.get(8)?,
        error: r.get(9)?,
    })
}

/// Records pending parts (numbered after the receiver's last part of this message) inside a
/// caller's transaction; returns their row ids in order.
pub(super) fn insert_pending(
    c: &Connection,
    account: &str,
    message_id: &str,
    receiver: &str,
    parts: &[(String, String)],
) -> rusqlite::Result<Vec<i64>> {
    let last: i64 = c.query_row(
        "SELECT COALESCE(MAX(part), 0) FROM sent_messages WHERE message_id = ?1 AND receiver = ?2",
        [message_id, receiver],
        |r| r.get(0),
    )?;
    let mut stmt = c.prepare_cached(
        "INSERT INTO sent_messages(account, message_id, receiver, part, kind, content, state, sent_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'pending', ?7)",
    )?;
    let at = now();
    let mut ids = Vec::with_capacity(parts.len());
    for (i, (kind, content)) in parts.iter().enumerate() {
        stmt.execute(params![account, message_id, receiver, last + 1 + i as i64, kind, content, at])?;
        ids.push(c.last_insert_rowid());
    }
    Ok(ids)
}

/// Sets the outcome of parts inside a caller's transaction.
pub(super) fn mark_all(c: &Connection, outcomes: &[(i64, SentState, Option<String>)]) -> rusqlite::Result<()> {
    let mut stmt = c.prepare_cached("UPDATE sent_messages SET state = ?2, error = ?3 WHERE id = ?1")?;
    for (id, state, error) in outcomes {
        stmt.execute(params![id, state.as_str(), error])?;
    }
    Ok(())
}

impl SentLog<'_> {
    /// Records the intent to send `parts` (`(kind, content)`) of `message_id` to `receiver`.
    pub async fn intend(&self, message_id: &str, receiver: &str, parts: Vec<(String, String)>) -> ApiResult<Vec<i64>> {
        let (account, message_id, receiver) = (self.account.to_owned(), message_id.to_owned(), receiver.to_owned());
        self.store
            .write_log(move |c| {
                let tx = c.transaction()?;
                let ids = insert_pending(&tx, &account, &message_id, &receiver, &parts)?;
                tx.commit()?;
                Ok(ids)
            })
            .await
    }

    /// Sets the outcome of parts.
    pub async fn mark(&self, outcomes: Vec<(i64, SentState, Option<String>)>) -> ApiResult<()> {
        if outcomes.is_empty() {
            return Ok(());
        }
        self.store
            .write_log(move |c| {
                let tx = c.transaction()?;
                mark_all(&tx, &outcomes)?;
                tx.commit()?;
                Ok(())
            })
            .await
    }

    /// Records WeChat's id of a part (which also proves it was sent).
    pub async fn set_wx_id(&self, id: i64, wx_msg_id: i64) -> ApiResult<()> {
        self.store
            .write_log(move |c| {
                c.execute(
                    "UPDATE sent_messages SET wx_msg_id = ?2, state = 'sent', error = NULL WHERE id = ?1",
                    params![id, wx_msg_id],
                )?;
                Ok(())
            })
            .await
    }

    /// Every part of a message, in order.
    pub async fn parts(&self, message_id: &str) -> ApiResult<Vec<SentPart>> {
        let (account, message_id) = (self.account.to_owned(), message_id.to_owned());
        self.store
            .read_log(move |c| {
                let mut stmt = c.prepare_cached(&format!(
                    "SELECT {COLUMNS} FROM sent_messages WHERE account = ?1 AND message_id = ?2 ORDER BY receiver, part"
                ))?;
                let rows = stmt.query_map([account, message_id], row)?;
                Ok(rows.collect::<Result<_, _>>()?)
            })
            .await
    }

    /// Parts of `message_id` to `receiver` in one of `states`, in order.
    pub async fn parts_to(&self, message_id: &str, receiver: &str) -> ApiResult<Vec<SentPart>> {
        let (account, message_id, receiver) = (self.account.to_owned(), message_id.to_owned(), receiver.to_owned());
        self.store
            .read_log(move |c| {
                let mut stmt = c.prepare_cached(&format!(
                    "SELECT {COLUMNS} FROM sent_messages WHERE account = ?1 AND message_id = ?2 AND receiver = ?3 ORDER BY part"
                ))?;
                let rows = stmt.query_map([account, message_id, receiver], row)?;
                Ok(rows.collect::<Result<_, _>>()?)
            })
            .await
    }

    /// Parts whose outcome is `unknown`, oldest first (at most `limit`).
    pub async fn unknown(&self, limit: usize) -> ApiResult<Vec<SentPart>> {
        let account = self.account.to_owned();
        self.store
            .read_log(move |c| {
                let mut stmt = c.prepare_cached(&format!(
                    "SELECT {COLUMNS} FROM sent_messages WHERE account = ?1 AND state = 'unknown' ORDER BY id LIMIT ?2"
                ))?;
                let rows = stmt.query_map(params![account, limit as i64], row)?;
                Ok(rows.collect::<Result<_, _>>()?)
            })
            .await
    }

    /// WeChat ids already matched to parts sent to `receiver` since `since`.
    pub async fn taken_wx_ids(&self, receiver: &str, since: f64) -> ApiResult<std::collections::HashSet<i64>> {
        let (account, receiver) = (self.account.to_owned(), receiver.to_owned());
        self.store
            .read_log(move |c| {
                let mut stmt = c.prepare_cached(
                    "SELECT wx_msg_id FROM sent_messages
                     WHERE account = ?1 AND receiver = ?2 AND wx_msg_id IS NOT NULL AND sent_at >= ?3",
                )?;
                let ids = stmt.query_map(params![account, receiver, since], |r| r.get(0))?;
                Ok(ids.collect::<Result<_, _>>()?)
            })
            .await
    }

    /// One part by row id.
    pub async fn get(&self, id: i64) -> ApiResult<Option<SentPart>> {
        self.store
            .read_log(move |c| {
                Ok(c.query_row(&format!("SELECT {COLUMNS} FROM sent_messages WHERE id = ?1"), [id], row).optional()?)
            })
            .await
    }

    /// After a restart: parts left `pending` by a send the process died in (outside broadcast
    /// jobs, which check their own) may have reached WeChat, so they become `unknown`.
    pub async fn pending_to_unknown(&self) -> ApiResult<usize> {
        let account = self.account.to_owned();
        self.store
            .write_log(move |c| {
                Ok(c.execute(
                    "UPDATE sent_messages SET state = 'unknown' WHERE account = ?1 AND state = 'pending'
                     AND message_id NOT IN (SELECT message_id FROM send_jobs WHERE state IN ('running', 'waiting_backend'))",
                    [account],
                )?)
            })
            .await
    }

    /// Gives up on `unknown` parts recorded before `before`: WeChat has no record of them.
    pub async fn unknown_to_failed(&self, before: f64) -> ApiResult<usize> {
        let account = self.account.to_owned();
        self.store
            .write_log(move |c| {
                Ok(c.execute(
                    "UPDATE sent_messages SET state = 'failed', error = 'WeChat has no record of this message'
                     WHERE account = ?1 AND state = 'unknown' AND sent_at < ?2",
                    params![account, before],
                )?)
            })
            .await
    }

    /// Deletes rows older than `before` (unix seconds) of every account; returns how many.
    pub async fn trim(&self, before: f64) -> ApiResult<usize> {
        self.store.write_log(move |c| Ok(c.execute("DELETE FROM sent_messages WHERE sent_at < ?1", [before])?)).await
    }
}
