//! `delete_message`: recall a message this gateway sent, every WeChat message it consisted
//! of. Parts whose `MsgSvrID` is not known yet are matched in WeChat's database (receiver,
//! `IsSender = 1`, time window, type, text), then `REVOKE_MSG` is called for each.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::find_in_wechat;
use crate::account::Account;
use crate::error::{ApiError, ApiResult};
use crate::store::{SentPart, SentState};

/// Recalls every part of `message_id`; returns `{recalled}`.
pub async fn delete_message(account: &Account, message_id: &str) -> ApiResult<Value> {
    let parts = account.store.sent(&account.name).parts(message_id).await?;
    let parts: Vec<SentPart> = parts.into_iter().filter(|p| p.state != SentState::Failed).collect();
    if parts.is_empty() {
        return Err(ApiError::BadParam(format!(
            "message_id {message_id:?} is not a message this gateway sent (use the message_id send_message returned)"
        )));
    }
    let mut ids: BTreeMap<i64, i64> = parts.iter().filter_map(|p| Some((p.id, p.wx_msg_id?))).collect();
    let mut missing: BTreeMap<String, Vec<SentPart>> = BTreeMap::new();
    for p in parts.iter().filter(|p| p.wx_msg_id.is_none()) {
        missing.entry(p.receiver.clone()).or_default().push(p.clone());
    }
    for (receiver, list) in &missing {
        ids.extend(find_in_wechat(account, receiver, list).await?);
        if let Some(p) = list.iter().find(|p| !ids.contains_key(&p.id)) {
            return Err(ApiError::Logic(format!(
                "WeChat has not recorded message {message_id} (to {}) yet, so its WeChat id is unknown; try again in a moment",
                p.receiver
            )));
        }
    }
    let mut recalled = 0;
    for p in &parts {
        let id = ids[&p.id];
        account.backend.client.revoke(id as u64).await.map_err(|e| {
            account.backend.error("recall the message (WeChat allows this for about 2 minutes after sending)", &e)
        })?;
        recalled += 1;
    }
    Ok(json!({ "recalled": recalled }))
}
