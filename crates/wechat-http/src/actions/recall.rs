//! `delete_message`: recall a message this gateway sent. Our `message_id` is mapped to WeChat's
//! `MsgSvrID` through `MSG<n>.db` (receiver, `IsSender = 1`, time window, content), then
//! `REVOKE_MSG` is called for every WeChat message it consisted of.

use rusqlite::params;
use serde_json::{Value, json};

use super::Params;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

struct Part {
    part: i64,
    receiver: String,
    kind: String,
    content: String,
    sent_at: f64,
    wx_msg_id: Option<i64>,
}

/// Finds WeChat's id of one part among the account's own messages to that receiver.
async fn find_wx_id(state: &AppState, message_id: &str, p: &Part) -> ApiResult<Option<i64>> {
    let db = crate::bridge::msg_db(state).await;
    let sql = format!(
        "SELECT MsgSvrID, Type, StrContent FROM MSG WHERE StrTalker = '{}' AND IsSender = 1 AND CreateTime >= {} AND CreateTime <= {} ORDER BY localId",
        p.receiver.replace('\'', "''"),
        p.sent_at.floor() as i64 - 2,
        p.sent_at.ceil() as i64 + 60
    );
    let rows = state
        .backend
        .client
        .query(&db, &sql)
        .await
        .map_err(|e| state.backend.error("look the message up in WeChat's database", &e))?;
    let taken: Vec<i64> = {
        let receiver = p.receiver.clone();
        state
            .store
            .run_log(move |c| {
                let mut stmt = c.prepare_cached(
                    "SELECT wx_msg_id FROM sent_messages WHERE receiver = ?1 AND wx_msg_id IS NOT NULL",
                )?;
                let ids = stmt.query_map([receiver], |r| r.get(0))?.collect::<Result<_, _>>()?;
                Ok(ids)
            })
            .await?
    };
    let found = rows.iter().find_map(|r| {
        let id = r.get("MsgSvrID")?.as_i64()?;
        let t = r.get("Type")?.as_i64()?;
        let content = r.get("StrContent").and_then(|v| v.as_text()).unwrap_or_default();
        let same = match p.kind.as_str() {
            "text" => t == 1 && content == p.content,
            "image" => t == 3,
            _ => t == 49,
        };
        (same && !taken.contains(&id)).then_some(id)
    });
    if let Some(id) = found {
        let (mid, part) = (message_id.to_owned(), p.part);
        state
            .store
            .run_log(move |c| {
                c.execute(
                    "UPDATE sent_messages SET wx_msg_id = ?3 WHERE message_id = ?1 AND part = ?2",
                    params![mid, part, id],
                )?;
                Ok(())
            })
            .await?;
    }
    Ok(found)
}

pub(super) async fn delete_message(state: &AppState, p: &Params) -> ApiResult<Value> {
    let message_id = p.str("message_id")?;
    let mid = message_id.clone();
    let parts: Vec<Part> = state
        .store
        .run_log(move |c| {
            let mut stmt = c.prepare_cached(
                "SELECT part, receiver, kind, content, sent_at, wx_msg_id FROM sent_messages WHERE message_id = ?1 ORDER BY part",
            )?;
            let rows = stmt.query_map([mid], |r| {
                Ok(Part {
                    part: r.get(0)?,
                    receiver: r.get(1)?,
                    kind: r.get(2)?,
                    content: r.get(3)?,
                    sent_at: r.get(4)?,
                    wx_msg_id: r.get(5)?,
                })
            })?;
            Ok(rows.collect::<Result<_, _>>()?)
        })
        .await?;
    if parts.is_empty() {
        return Err(ApiError::BadParam(format!(
            "message_id {message_id:?} is not a message this gateway sent (use the message_id send_message returned)"
        )));
    }
    let mut recalled = 0;
    for part in &parts {
        let id = match part.wx_msg_id {
            Some(id) => id,
            None => find_wx_id(state, &message_id, part).await?.ok_or_else(|| {
                ApiError::Logic(format!(
                    "WeChat has not recorded message {message_id} (to {}) yet, so its WeChat id is unknown; try again in a moment",
                    part.receiver
                ))
            })?,
        };
        state.backend.client.revoke(id as u64).await.map_err(|e| {
            state.backend.error("recall the message (WeChat allows this for about 2 minutes after sending)", &e)
        })?;
        recalled += 1;
    }
    Ok(json!({ "recalled": recalled }))
}
