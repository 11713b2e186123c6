//! WeChat's own actions (`wx.` extensions): read a stored message, forward one, pat someone,
//! add, invite and remove chat-group members, accept a transfer. Sends and member changes go
//! through the account's send queue, paced like messages.

use serde_json::{Value, json};
use wcf::message::is_room_id;

use super::Params;
use crate::account::Account;
use crate::error::{ApiError, ApiResult};

/// A WeChat message id: the decimal MsgSvrID of an event, or a `message_id` `send_message`
/// returned (its first part that WeChat recorded).
async fn wechat_id(account: &Account, id: &str) -> ApiResult<u64> {
    if let Ok(n) = id.trim().parse::<u64>() {
        return Ok(n);
    }
    let parts = account.store.sent(&account.name).parts(id).await?;
    if parts.is_empty() {
        return Err(ApiError::BadParam(format!(
            "message_id {id:?} is neither a WeChat message id (digits, from an event) nor one send_message returned"
        )));
    }
    if let Some(w) = parts.iter().find_map(|p| p.wx_msg_id) {
        return Ok(w as u64);
    }
    // Sent, but WeChat's id not looked up yet: look it up now.
    let receiver = parts[0].receiver.clone();
    let to: Vec<_> = parts.into_iter().filter(|p| p.receiver == receiver).collect();
    let found = crate::send::find_in_wechat(account, &receiver, &to).await?;
    found.first().map(|(_, w)| *w as u64).ok_or_else(|| {
        ApiError::Logic(format!(
            "message {id:?} is not in WeChat's database yet (wx.get_sent_message shows where it stands); try again shortly"
        ))
    })
}

/// `wx.get_message`: the event of a stored message, rebuilt from WeChat's database.
pub(super) async fn get_message(account: &Account, p: &Params) -> ApiResult<Value> {
    let id = wechat_id(account, &p.str("message_id")?).await?;
    let m = account
        .db
        .message(&account.backend, id)
        .await?
        .ok_or_else(|| ApiError::BadParam(format!("message {id} is not in WeChat's database")))?;
    crate::account::receive::event_of(account, &m)
        .await
        .ok_or_else(|| ApiError::BadParam(format!("message {id} is a kind that makes no event")))
}

/// `wx.forward_message`.
pub(super) async fn forward_message(account: &Account, p: &Params) -> ApiResult<Value> {
    let id = wechat_id(account, &p.str("message_id")?).await?;
    let to = match (p.opt_str("user_id")?.filter(|s| !s.is_empty()), p.opt_str("group_id")?.filter(|s| !s.is_empty())) {
        (Some(u), None) => u,
        (None, Some(g)) if is_room_id(&g) => g,
        (None, Some(g)) => {
            return Err(ApiError::BadParam(format!("group_id {g:?} is not a chat-group id (…@chatroom)")));
        }
        (Some(_), Some(_)) => return Err(ApiError::BadParam("give user_id or group_id, not both".into())),
        (None, None) => return Err(ApiError::BadParam("missing receiver: give user_id or group_id".into())),
    };
    account.contacts.check_receiver(&to).await?;
    let client = &account.backend.client;
    account.queue.run(client.forward(id, &to)).await?.map_err(|e| match e {
        wcf::Error::Rejected { status: -1, .. } => {
            ApiError::BadParam(format!("WeChat cannot forward message {id}: it is not in WeChat's database"))
        }
        e => account.backend.error("forward the message", &e),
    })?;
    Ok(json!({ "message_id": id.to_string(), "receiver": to }))
}

async fn group_and_member(account: &Account, p: &Params) -> ApiResult<(String, Vec<String>)> {
    let group = p.str("group_id")?;
    if !is_room_id(&group) {
        return Err(ApiError::BadParam(format!("group_id {group:?} is not a chat-group id (…@chatroom)")));
    }
    if account.db.room_data(&account.backend, &group).await?.is_none() {
        return Err(ApiError::BadParam(format!("chat group {group:?} is not one of this account's")));
    }
    let ids: Vec<String> = match p.opt_str_list("user_ids")? {
        Some(list) => list,
        None => p.opt_str("user_id")?.into_iter().collect(),
    };
    let ids: Vec<String> = ids.into_iter().map(|s| s.trim().to_owned()).filter(|s| !s.is_empty()).collect();
    if ids.is_empty() {
        return Err(ApiError::BadParam("missing members: give user_ids (a list of wxids)".into()));
    }
    if let Some(bad) = ids.iter().find(|w| is_room_id(w) || w.contains(',')) {
        return Err(ApiError::BadParam(format!("{bad:?} is not a person's wxid")));
    }
    if ids.len() > 40 {
        return Err(ApiError::BadParam(format!("{} members at once is too many: WeChat takes at most 40", ids.len())));
    }
    Ok((group, ids))
}

/// `wx.send_pat`.
pub(super) async fn send_pat(account: &Account, p: &Params) -> ApiResult<Value> {
    let (group, ids) = group_and_member(account, p).await?;
    let [user] = ids.as_slice() else {
        return Err(ApiError::BadParam("pat one member at a time: give user_id".into()));
    };
    let client = &account.backend.client;
    account.queue.run(client.send_pat(&group, user)).await?.map_err(|e| account.backend.error("pat the member", &e))?;
    Ok(json!({ "group_id": group, "user_id": user }))
}

/// `wx.add_group_member`, `wx.invite_group_member`, `wx.delete_group_member`.
pub(super) async fn members(account: &Account, p: &Params, action: &str) -> ApiResult<Value> {
    let (group, ids) = group_and_member(account, p).await?;
    if action == "wx.delete_group_member" && ids.iter().any(|w| *w == account.backend.self_id()) {
        return Err(ApiError::BadParam("the account cannot remove itself from a chat group".into()));
    }
    let client = &account.backend.client;
    let (what, r) = match action {
        "wx.add_group_member" => {
            ("add members to the chat group", account.queue.run(client.add_room_members(&group, &ids)).await?)
        }
        "wx.invite_group_member" => {
            ("invite members to the chat group", account.queue.run(client.invite_room_members(&group, &ids)).await?)
        }
        _ => ("remove members from the chat group", account.queue.run(client.delete_room_members(&group, &ids)).await?),
    };
    r.map_err(|e| account.backend.error(what, &e))?;
    Ok(json!({ "group_id": group, "user_ids": ids }))
}

/// `wx.receive_transfer`.
pub(super) async fn receive_transfer(account: &Account, p: &Params) -> ApiResult<Value> {
    let user = p.str("user_id")?;
    let transfer_id = p.str("transfer_id")?;
    let transaction_id = p.str("transaction_id")?;
    let client = &account.backend.client;
    account.queue.run(client.receive_transfer(&user, &transfer_id, &transaction_id)).await?.map_err(|e| match e {
        wcf::Error::Rejected { status: -1, .. } => ApiError::BackendUnsupported(
            "WeChat did not accept the transfer: WeChatFerry 39.5.2 cannot accept transfers (RECV_TRANSFER always answers -1); accept it on the phone".into(),
        ),
        e => account.backend.error("accept the transfer", &e),
    })?;
    Ok(json!({ "transfer_id": transfer_id }))
}
