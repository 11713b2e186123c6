//! Contact lists and the OneBot 12 user/group queries.

use serde_json::{Value, json};
use wcf::message::{is_friend_id, is_official_account, is_room_id};
use wcf::proto::RpcContact;

use super::Params;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

fn display(c: &RpcContact) -> &str {
    if c.remark.is_empty() { &c.name } else { &c.remark }
}

fn user(c: &RpcContact) -> Value {
    json!({
        "user_id": c.wxid,
        "user_name": c.name,
        "user_displayname": display(c),
        "user_remark": c.remark,
        "nickname": c.name,
        "remark": c.remark,
        "_code": c.code,
        "_gender": c.gender,
    })
}

pub(super) async fn friend_list(state: &AppState) -> ApiResult<Value> {
    let me = state.backend.self_id();
    let all = state.contacts.all().await?;
    Ok(Value::Array(all.iter().filter(|c| is_friend_id(&c.wxid) && c.wxid != me).map(user).collect()))
}

/// Member counts of every chat group, from `ChatRoom.RoomData`.
async fn member_counts(state: &AppState) -> ApiResult<std::collections::HashMap<String, usize>> {
    let rows = state
        .backend
        .client
        .query("MicroMsg.db", "SELECT ChatRoomName, RoomData FROM ChatRoom")
        .await
        .map_err(|e| state.backend.error("read chat groups", &e))?;
    Ok(rows
        .iter()
        .filter_map(|r| {
            let room = r.get("ChatRoomName")?.as_text()?;
            let data = wcf::room::decode_room_data(r.get("RoomData")?.as_bytes()?).ok()?;
            Some((room, data.members.len()))
        })
        .collect())
}

pub(super) async fn group_list(state: &AppState) -> ApiResult<Value> {
    let all = state.contacts.all().await?;
    let counts = member_counts(state).await?;
    Ok(Value::Array(
        all.iter()
            .filter(|c| is_room_id(&c.wxid))
            .map(|c| {
                json!({
                    "group_id": c.wxid,
                    "group_name": c.name,
                    "member_count": counts.get(&c.wxid).copied().unwrap_or(0),
                    "avatar": "",
                })
            })
            .collect(),
    ))
}

pub(super) async fn gh_list(state: &AppState) -> ApiResult<Value> {
    let all = state.contacts.all().await?;
    Ok(Value::Array(
        all.iter()
            .filter(|c| is_official_account(&c.wxid))
            .map(|c| json!({ "guild_id": c.wxid, "guild_name": c.name, "_code": c.code }))
            .collect(),
    ))
}

pub(super) async fn user_info(state: &AppState, p: &Params) -> ApiResult<Value> {
    let id = p.str("user_id")?;
    match state.contacts.get(&id).await? {
        Some(c) if !is_room_id(&c.wxid) => Ok(user(&c)),
        _ => Err(ApiError::BadParam(format!("user_id {id:?} is not a contact of this account"))),
    }
}

async fn room(state: &AppState, p: &Params) -> ApiResult<RpcContact> {
    let id = p.str("group_id")?;
    if !is_room_id(&id) {
        return Err(ApiError::BadParam(format!("group_id {id:?} is not a chat-group id (…@chatroom)")));
    }
    state
        .contacts
        .get(&id)
        .await?
        .ok_or_else(|| ApiError::BadParam(format!("chat group {id:?} is not known to this account")))
}

pub(super) async fn group_info(state: &AppState, p: &Params) -> ApiResult<Value> {
    let c = room(state, p).await?;
    Ok(json!({ "group_id": c.wxid, "group_name": c.name }))
}

async fn members(state: &AppState, group: &str) -> ApiResult<Vec<Value>> {
    let list = state.contacts.room_members(group).await?;
    Ok(list
        .into_iter()
        .map(|m| {
            let name = state.contacts.peek(&m.wxid).map(|c| c.name).filter(|n| !n.is_empty());
            json!({
                "user_id": m.wxid,
                "user_name": name.unwrap_or_else(|| m.display_name.clone()),
                "user_displayname": m.display_name,
            })
        })
        .collect())
}

pub(super) async fn group_member_list(state: &AppState, p: &Params) -> ApiResult<Value> {
    let c = room(state, p).await?;
    Ok(Value::Array(members(state, &c.wxid).await?))
}

pub(super) async fn group_member_info(state: &AppState, p: &Params) -> ApiResult<Value> {
    let c = room(state, p).await?;
    let user = p.str("user_id")?;
    members(state, &c.wxid)
        .await?
        .into_iter()
        .find(|m| m["user_id"] == user.as_str())
        .ok_or_else(|| ApiError::BadParam(format!("{user:?} is not a member of {}", c.wxid)))
}
