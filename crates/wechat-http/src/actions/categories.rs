//! The nine category (分组) actions.

use serde_json::{Value, json};

use super::Params;
use crate::account::Account;
use crate::error::{ApiError, ApiResult};
use crate::store::Category;

/// `group_id`, or the category named `group_name`.
async fn resolve(account: &Account, p: &Params) -> ApiResult<Category> {
    let cats = account.store.categories(&account.name);
    if let Some(id) = p.opt_str("group_id")?.filter(|s| !s.trim().is_empty()) {
        return cats.by_id(id.trim()).await?.ok_or_else(|| {
            ApiError::BadParam(format!("category (group_id) {id:?} not found; list them with get_groups"))
        });
    }
    if let Some(name) = p.opt_str("group_name")?.filter(|s| !s.trim().is_empty()) {
        return cats
            .by_name(&name)
            .await?
            .ok_or_else(|| ApiError::BadParam(format!("no category named {name:?}; list them with get_groups")));
    }
    Err(ApiError::BadParam("give `group_id` or `group_name`".into()))
}

pub(super) async fn id_by_name(account: &Account, p: &Params) -> ApiResult<Value> {
    let name = p.str("group_name")?;
    match account.store.categories(&account.name).by_name(&name).await? {
        Some(c) => Ok(json!({ "group_id": c.id })),
        None => Err(ApiError::BadParam(format!("no category named {name:?}; list them with get_groups"))),
    }
}

pub(super) async fn create(account: &Account, p: &Params) -> ApiResult<Value> {
    let c = account.store.categories(&account.name).create(&p.str("group_name")?).await?;
    Ok(json!({ "id": c.id, "name": c.name }))
}

pub(super) async fn delete(account: &Account, p: &Params) -> ApiResult<Value> {
    let c = resolve(account, p).await?;
    account.store.categories(&account.name).delete(&c.id).await?;
    Ok(json!({}))
}

pub(super) async fn rename(account: &Account, p: &Params) -> ApiResult<Value> {
    let id = p.str("group_id")?;
    account.store.categories(&account.name).rename(id.trim(), &p.str("new_name")?).await?;
    Ok(json!({}))
}

pub(super) async fn list(account: &Account) -> ApiResult<Value> {
    Ok(serde_json::to_value(account.store.categories(&account.name).list().await?).unwrap_or_default())
}

pub(super) async fn add_member(account: &Account, p: &Params) -> ApiResult<Value> {
    let id = p.str("group_id")?;
    let member = p.str("member_id")?.trim().to_owned();
    let cats = account.store.categories(&account.name);
    // Check the category first, so a bad id is reported before the member is looked up.
    if cats.by_id(id.trim()).await?.is_none() {
        return Err(ApiError::BadParam(format!("category (group_id) {id:?} not found; list them with get_groups")));
    }
    let kind = account.contacts.member_type(&member).await?;
    cats.add_member(id.trim(), &member, kind).await?;
    Ok(json!({}))
}

pub(super) async fn remove_member(account: &Account, p: &Params) -> ApiResult<Value> {
    let id = p.str("group_id")?;
    account.store.categories(&account.name).remove_member(id.trim(), p.str("member_id")?.trim()).await?;
    Ok(json!({}))
}

pub(super) async fn members(account: &Account, p: &Params) -> ApiResult<Value> {
    let c = resolve(account, p).await?;
    Ok(serde_json::to_value(account.store.categories(&account.name).members(&c.id).await?).unwrap_or_default())
}

pub(super) async fn member_groups(account: &Account, p: &Params) -> ApiResult<Value> {
    let member = p.str("member_id")?;
    Ok(serde_json::to_value(account.store.categories(&account.name).of_member(member.trim()).await?)
        .unwrap_or_default())
}
