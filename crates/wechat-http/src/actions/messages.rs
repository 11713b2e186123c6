//! `send_message`: the v1 form (`send_id` + `msg_type` + string), the OneBot 12 form
//! (`user_id`/`group_id` + segments or a string), the GET form, and broadcasts to categories
//! (`group_ids`) or explicit `receivers`. The work is the send engine's ([`crate::send`]).

use std::collections::HashSet;
use std::sync::Arc;

use serde_json::{Value, json};
use wcf::message::is_room_id;

use super::Params;
use crate::account::Account;
use crate::error::{ApiError, ApiResult};
use crate::send;
use crate::store::now;

/// The single receiver of a non-broadcast send.
fn receiver(p: &Params) -> ApiResult<String> {
    let detail = p.str_any(&["detail_type", "message_type"])?;
    let (id, want_group) = match detail.as_deref() {
        Some("private") => (p.str_any(&["user_id", "send_id"])?, Some(false)),
        Some("group") => (p.str_any(&["group_id", "send_id"])?, Some(true)),
        Some(other) => {
            return Err(ApiError::BadParam(format!("detail_type {other:?} is not supported: use private or group")));
        }
        None => (p.str_any(&["send_id", "user_id", "group_id"])?, None),
    };
    let id = id.map(|s| s.trim().to_owned()).filter(|s| !s.is_empty()).ok_or_else(|| {
        ApiError::BadParam("missing receiver: give user_id (private), group_id (group) or send_id".into())
    })?;
    match want_group {
        Some(true) if !is_room_id(&id) => {
            Err(ApiError::BadParam(format!("{id:?} is not a chat-group id (…@chatroom) but detail_type is group")))
        }
        Some(false) if is_room_id(&id) => {
            Err(ApiError::BadParam(format!("{id:?} is a chat group but detail_type is private")))
        }
        _ => Ok(id),
    }
}

/// Who a broadcast goes to.
enum Target {
    Categories(Vec<String>),
    Receivers(Vec<String>),
}

pub(super) async fn send_message(account: &Arc<Account>, p: &Params) -> ApiResult<Value> {
    let segs = send::stage::parse(p.get("message"), p.opt_i64("msg_type")?, &account.config.send)?;
    let broadcast = match (p.opt_str_list("group_ids")?, p.opt_str_list("receivers")?) {
        (Some(_), Some(_)) => return Err(ApiError::BadParam("give `group_ids` or `receivers`, not both".into())),
        (Some(ids), None) => Some(Target::Categories(ids)),
        (None, Some(list)) => Some(Target::Receivers(list)),
        (None, None) => None,
    };
    let message_id = uuid::Uuid::new_v4().simple().to_string();
    let Some(target) = broadcast else {
        let receiver = receiver(p)?;
        account.contacts.check_receiver(&receiver).await?;
        let items = send::stage::stage(account, segs).await?;
        send::send_to(account, &message_id, &receiver, &items).await?;
        return Ok(json!({ "time": now(), "message_id": message_id }));
    };
    let receivers: Vec<String> = match target {
        Target::Categories(ids) => {
            if ids.is_empty() {
                return Err(ApiError::BadParam("`group_ids` is empty: list at least one category id".into()));
            }
            let members = account.store.categories(&account.name).distinct_members(&ids).await?;
            if members.is_empty() {
                return Err(ApiError::BadParam("the categories in `group_ids` have no members".into()));
            }
            members.into_iter().map(|m| m.id).collect()
        }
        Target::Receivers(list) => {
            let mut seen = HashSet::new();
            let list: Vec<String> = list
                .into_iter()
                .map(|r| r.trim().to_owned())
                .filter(|r| !r.is_empty() && seen.insert(r.clone()))
                .collect();
            if list.is_empty() {
                return Err(ApiError::BadParam("`receivers` is empty: list at least one wxid or …@chatroom".into()));
            }
            for r in &list {
                account.contacts.check_receiver(r).await?;
            }
            list
        }
    };
    let items = send::stage::stage(account, segs).await?;
    let job = send::jobs::create(account, &message_id, &items, receivers).await?;
    let handle = send::jobs::spawn(account.clone(), job.clone());
    if p.opt_bool("async")?.unwrap_or(false) {
        return Ok(json!({ "time": now(), "message_id": message_id, "job_id": job }));
    }
    // The seed's behaviour: answer when the broadcast is finished. The job runs in its own
    // task, so a client that hangs up does not stop it.
    let _ = handle.await;
    let status = send::jobs::status(account, &job).await?;
    let failed = status["failed"].clone();
    let sent = status["sent"].as_u64().unwrap_or(0);
    if sent == 0 && failed.as_array().is_some_and(|f| !f.is_empty()) {
        return Err(ApiError::WeChatRefused(format!(
            "the broadcast failed for all {} receivers; first error: {}",
            status["total"],
            failed[0]["message"].as_str().unwrap_or_default()
        )));
    }
    Ok(
        json!({ "time": now(), "message_id": message_id, "job_id": job, "sent": sent, "failed": failed, "state": status["state"] }),
    )
}
