//! Contact lists and the OneBot 12 user/group queries.

use serde_json::{Value, json};
use wcf::message::{is_official_account, is_room_id};
use wcf::proto::RpcContact;

use super::Params;
use crate::account::Account;
use crate::account::contacts::user_json;
use crate::error::{ApiError, ApiResult};
use crate::http::Data;

/// From the contact cache, rendered once per refresh.
pub(super) async fn friend_list(account: &Account) -> ApiResult<Data> {
    let me = account.backend.self_id();
    Ok(Data::Raw(account.contacts.friends_json(&me).await?))
}

pub(super) async fn group_list(account: &Account) -> ApiResult<Value> {
    let all = account.contacts.all().await?;
    let rooms = account.db.all_room_data(&account.backend).await?;
    Ok(Value::Array(
        all.iter()
            .filter(|c| is_room_id(&c.wxid))
            .map(|c| {
                json!({
                    "group_id": c.wxid,
                    "group_name": c.name,
                    "member_count": rooms.get(&c.wxid).map(|d| d.members.len()).unwrap_or(0),
                    "avatar": account.contacts.avatar(&c.wxid),
                })
            })
            .collect(),
    ))
}

pub(super) async fn gh_list(account: &Account) -> ApiResult<Value> {
    let all = account.contacts.all().await?;
    Ok(Value::Array(
        all.iter()
            .filter(|c| is_official_account(&c.wxid))
            .map(|c| json!({ "guild_id": c.wxid, "guild_name": c.name, "_code": c.code }))
            .collect(),
    ))
}

pub(super) async fn user_info(account: &Account, p: &Params) -> ApiResult<Value> {
    let id = p.str("user_id")?;
    match account.contacts.get(&id).await? {
        Some(c) if !is_room_id(&c.wxid) => Ok(user_json(&c, &account.contacts.avatar(&c.wxid))),
        _ => Err(ApiError::BadParam(format!("user_id {id:?} is not a contact of this account"))),
    }
}

async fn room(account: &Account, p: &Params) -> ApiResult<RpcContact> {
    let id = p.str("group_id")?;
    if !is_room_id(&id) {
        return Err(ApiError::BadParam(format!("group_id {id:?} is not a chat-group id (…@chatroom)")));
    }
    account
        .contacts
        .get(&id)
        .await?
        .ok_or_else(|| ApiError::BadParam(format!("chat group {id:?} is not known to this account")))
}

pub(super) async fn group_info(account: &Account, p: &Params) -> ApiResult<Value> {
    let c = room(account, p).await?;
    Ok(json!({ "group_id": c.wxid, "group_name": c.name, "avatar": account.contacts.avatar(&c.wxid) }))
}

/// Members with their names: `user_name` = the `Contact` nickname (group members who are no
/// friends have one too), `user_displayname` = the group nickname (群昵称, "" when unset).
async fn members(account: &Account, group: &str) -> ApiResult<Vec<Value>> {
    let Some(data) = account.db.room_data(&account.backend, group).await? else {
        return Err(ApiError::BadParam(format!("chat group {group:?} has no member list in WeChat's database")));
    };
    let ids: Vec<String> = data.members.iter().map(|m| m.wxid.clone()).collect();
    let names = account.db.names(&account.backend, &ids).await?;
    Ok(data
        .members
        .into_iter()
        .map(|m| {
            let nickname = names.get(&m.wxid).map(|n| n.nickname.clone()).filter(|n| !n.is_empty());
            let alias = m.name.clone().unwrap_or_default();
            json!({
                "user_id": m.wxid,
                "user_name": nickname.unwrap_or_else(|| if alias.is_empty() { m.wxid.clone() } else { alias.clone() }),
                "user_displayname": alias,
                "avatar": account.contacts.avatar(&m.wxid),
            })
        })
        .collect())
}

pub(super) async fn group_member_list(account: &Account, p: &Params) -> ApiResult<Value> {
    let c = room(account, p).await?;
    Ok(Value::Array(members(account, &c.wxid).await?))
}

pub(super) async fn group_member_info(account: &Account, p: &Params) -> ApiResult<Value> {
    let c = room(account, p).await?;
    let user = p.str("user_id")?;
    members(account, &c.wxid)
        .await?
        .into_iter()
        .find(|m| m["user_id"] == user.as_str())
        .ok_or_else(|| ApiError::BadParam(format!("{user:?} is not a member of {}", c.wxid)))
}
