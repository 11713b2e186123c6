//! The sent-message log: every WeChat message the gateway sends, one row per part (a text, an
//! image, a file…), numbered per receiver. The intent is recorded before the send (`pending`),
//! the outcome after: `sent`, `failed`, or `unknown` when WeChatFerry did not answer in time
//! (reconciled later against WeChat's own database). WeChat's `MsgSvrID` is filled in once
//! known, so `delete_message` can recall the very message.

use super::sql::{DbError, Row, Tx, Value, args};
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

fn row(r: &Row) -> Result<SentPart, DbError> {
    Ok(SentPart {
        id: r.get(0)?,
        message_id: r.get(1)?,
        receiver: r.get(2)?,
        part: r.get(3)?,
        kind: r.get(4)?,
        content: r.get(5)?,
        state: SentState::parse(&r.get::<String>(6)?),
        sent_at: r.get(7)?,
        wx_msg_id: r.get(8)?,
        error: r.get(9)?,
    })
}

fn rows(t: &mut Tx<'_>, sql: &str, params: &[Value]) -> Result<Vec<SentPart>, DbError> {
    t.query(sql, params)?.iter().map(row).collect()
}

/// Records pending parts (numbered after the receiver's last part of this message) inside a
/// caller's transaction; returns their row ids in order.
pub(super) fn insert_pending(
    t: &mut Tx<'_>,
    account: &str,
    message_id: &str,
    receiver: &str,
    parts: &[(String, String)],
) -> Result<Vec<i64>, DbError> {
    let last: i64 = t
        .one(
            "SELECT COALESCE(MAX(part), 0) FROM sent_messages WHERE message_id = ?1 AND receiver = ?2",
            args![message_id, receiver],
        )?
        .get(0)?;
    let at = now();
    let mut ids = Vec::with_capacity(parts.len());
    for (i, (kind, content)) in parts.iter().enumerate() {
        let id = t
            .one(
                "INSERT INTO sent_messages(account, message_id, receiver, part, kind, content, state, sent_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'pending', ?7) RETURNING id",
                args![account, message_id, receiver, last + 1 + i as i64, kind, content, at],
            )?
            .get(0)?;
        ids.push(id);
    }
    Ok(ids)
}

/// Sets the outcome of parts inside a caller's transaction.
pub(super) fn mark_all(t: &mut Tx<'_>, outcomes: &[(i64, SentState, Option<String>)]) -> Result<(), DbError> {
    for (id, state, error) in outcomes {
        t.exec(
            "UPDATE sent_messages SET state = ?2, error = ?3 WHERE id = ?1",
            args![*id, state.as_str(), error.as_deref()],
        )?;
    }
    Ok(())
}

impl SentLog<'_> {
    /// Records the intent to send `parts` (`(kind, content)`) of `message_id` to `receiver`.
    pub async fn intend(&self, message_id: &str, receiver: &str, parts: Vec<(String, String)>) -> ApiResult<Vec<i64>> {
        let (account, message_id, receiver) = (self.account.to_owned(), message_id.to_owned(), receiver.to_owned());
        self.store.write_log(move |t| Ok(insert_pending(t, &account, &message_id, &receiver, &parts)?)).await
    }

    /// Sets the outcome of parts.
    pub async fn mark(&self, outcomes: Vec<(i64, SentState, Option<String>)>) -> ApiResult<()> {
        if outcomes.is_empty() {
            return Ok(());
        }
        self.store.write_log(move |t| Ok(mark_all(t, &outcomes)?)).await
    }

    /// Records WeChat's id of a part (which also proves it was sent).
    pub async fn set_wx_id(&self, id: i64, wx_msg_id: i64) -> ApiResult<()> {
        self.store
            .write_log(move |t| {
                t.exec(
                    "UPDATE sent_messages SET wx_msg_id = ?2, state = 'sent', error = NULL WHERE id = ?1",
                    args![id, wx_msg_id],
                )?;
                Ok(())
            })
            .await
    }

    /// Every part of a message, in order.
    pub async fn parts(&self, message_id: &str) -> ApiResult<Vec<SentPart>> {
        let (account, message_id) = (self.account.to_owned(), message_id.to_owned());
        self.store
            .read_log(move |t| {
                Ok(rows(
                    t,
                    &format!(
                        "SELECT {COLUMNS} FROM sent_messages WHERE account = ?1 AND message_id = ?2 ORDER BY receiver, part"
                    ),
                    args![account, message_id],
                )?)
            })
            .await
    }

    /// Parts of `message_id` to `receiver` in one of `states`, in order.
    pub async fn parts_to(&self, message_id: &str, receiver: &str) -> ApiResult<Vec<SentPart>> {
        let (account, message_id, receiver) = (self.account.to_owned(), message_id.to_owned(), receiver.to_owned());
        self.store
            .read_log(move |t| {
                Ok(rows(
                    t,
                    &format!(
                        "SELECT {COLUMNS} FROM sent_messages WHERE account = ?1 AND message_id = ?2 AND receiver = ?3 ORDER BY part"
                    ),
                    args![account, message_id, receiver],
                )?)
            })
            .await
    }

    /// Parts whose outcome is `unknown`, oldest first (at most `limit`).
    pub async fn unknown(&self, limit: usize) -> ApiResult<Vec<SentPart>> {
        let account = self.account.to_owned();
        self.store
            .read_log(move |t| {
                Ok(rows(
                    t,
                    &format!(
                        "SELECT {COLUMNS} FROM sent_messages WHERE account = ?1 AND state = 'unknown' ORDER BY id LIMIT ?2"
                    ),
                    args![account, limit as i64],
                )?)
            })
            .await
    }

    /// WeChat ids already matched to parts sent to `receiver` since `since`.
    pub async fn taken_wx_ids(&self, receiver: &str, since: f64) -> ApiResult<std::collections::HashSet<i64>> {
        let (account, receiver) = (self.account.to_owned(), receiver.to_owned());
        self.store
            .read_log(move |t| {
                let ids = t.query(
                    "SELECT wx_msg_id FROM sent_messages
                     WHERE account = ?1 AND receiver = ?2 AND wx_msg_id IS NOT NULL AND sent_at >= ?3",
                    args![account, receiver, since],
                )?;
                Ok(ids.iter().map(|r| r.get(0)).collect::<Result<_, _>>()?)
            })
            .await
    }

    /// One part by row id.
    pub async fn get(&self, id: i64) -> ApiResult<Option<SentPart>> {
        self.store
            .read_log(move |t| {
                Ok(rows(t, &format!("SELECT {COLUMNS} FROM sent_messages WHERE id = ?1"), args![id])?
                    .into_iter()
                    .next())
            })
            .await
    }

    /// After a restart: parts left `pending` by a send the process died in (outside broadcast
    /// jobs, which check their own) may have reached WeChat, so they become `unknown`.
    pub async fn pending_to_unknown(&self) -> ApiResult<usize> {
        let account = self.account.to_owned();
        self.store
            .write_log(move |t| {
                Ok(t.exec(
                    "UPDATE sent_messages SET state = 'unknown' WHERE account = ?1 AND state = 'pending'
                     AND message_id NOT IN (SELECT message_id FROM send_jobs WHERE state IN ('running', 'waiting_backend'))",
                    args![account],
                )? as usize)
            })
            .await
    }

    /// Gives up on `unknown` parts recorded before `before`: WeChat has no record of them.
    pub async fn unknown_to_failed(&self, before: f64) -> ApiResult<usize> {
        let account = self.account.to_owned();
        self.store
            .write_log(move |t| {
                Ok(t.exec(
                    "UPDATE sent_messages SET state = 'failed', error = 'WeChat has no record of this message'
                     WHERE account = ?1 AND state = 'unknown' AND sent_at < ?2",
                    args![account, before],
                )? as usize)
            })
            .await
    }

    /// Deletes rows older than `before` (unix seconds) of every account; returns how many.
    pub async fn trim(&self, before: f64) -> ApiResult<usize> {
        self.store
            .write_log(move |t| Ok(t.exec("DELETE FROM sent_messages WHERE sent_at < ?1", args![before])? as usize))
            .await
    }
}
