//! Numeric ids for OneBot 11, whose ids are integers while WeChat's are strings: every wxid
//! and chat-group id gets an int64 (`chat`), every message id (WeChat's `MsgSvrID`, or a
//! `message_id` `send_message` returned) an int32 (`message`). Assigned once, in order, kept
//! for ever and never reused, so a bot sees the same number across restarts and crashes
//! (the number is committed before any event carrying it leaves).

use super::Store;
use super::sql::args;
use crate::error::{ApiError, ApiResult};

/// What a number stands for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum IdKind {
    /// A person or a chat group (int64).
    Chat,
    /// A message (int32).
    Message,
}

impl IdKind {
    fn name(self) -> &'static str {
        match self {
            Self::Chat => "chat",
            Self::Message => "message",
        }
    }

    /// The first number handed out (below it: never).
    pub fn first(self) -> i64 {
        match self {
            // Eight digits, like the numbers bots are used to; far below 2^53 for JavaScript.
            Self::Chat => 10_000_001,
            Self::Message => 1,
        }
    }

    /// The largest number this kind can hold.
    pub fn max(self) -> i64 {
        match self {
            Self::Chat => (1 << 53) - 1,
            Self::Message => i32::MAX as i64,
        }
    }
}

/// The id table.
#[derive(Clone, Copy, Debug)]
pub struct NumericIds<'a> {
    pub(super) store: &'a Store,
}

impl NumericIds<'_> {
    /// The numbers of `ids` (assigning new ones in order), in one transaction. On PostgreSQL
    /// the transaction takes a lock first, so nodes assigning at once never pick one number.
    pub async fn assign(&self, kind: IdKind, ids: Vec<String>) -> ApiResult<Vec<i64>> {
        self.store
            .write(move |t| {
                if t.pg() {
                    t.exec("SELECT pg_advisory_xact_lock(?1)", args![super::NUMERIC_IDS_LOCK])?;
                }
                let mut out = Vec::with_capacity(ids.len());
                let mut next: Option<i64> = None;
                for id in &ids {
                    if let Some(r) =
                        t.opt("SELECT num FROM numeric_ids WHERE kind = ?1 AND wx = ?2", args![kind.name(), id])?
                    {
                        out.push(r.get(0)?);
                        continue;
                    }
                    let n = match next {
                        Some(n) => n,
                        None => t
                            .one(
                                "SELECT COALESCE(MAX(num) + 1, ?2) FROM numeric_ids WHERE kind = ?1",
                                args![kind.name(), kind.first()],
                            )?
                            .get(0)?,
                    };
                    if n > kind.max() {
                        return Err(ApiError::Internal(format!("the {} id space is used up", kind.name())));
                    }
                    t.exec("INSERT INTO numeric_ids(kind, wx, num) VALUES (?1, ?2, ?3)", args![kind.name(), id, n])?;
                    next = Some(n + 1);
                    out.push(n);
                }
                Ok(out)
            })
            .await
    }

    /// The id a number stands for.
    pub async fn lookup(&self, kind: IdKind, num: i64) -> ApiResult<Option<String>> {
        self.store
            .read(move |t| {
                match t.opt("SELECT wx FROM numeric_ids WHERE kind = ?1 AND num = ?2", args![kind.name(), num])? {
                    Some(r) => Ok(Some(r.get(0)?)),
                    None => Ok(None),
                }
            })
            .await
    }
}
