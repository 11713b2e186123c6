//! The nine category (分组) actions.

use serde_json::{Value, json};

use super::Params;
use crate::categories::Category;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

/// `group_id`, or the category named `group_name`.
async fn resolve(state: &AppState, p: &Params) -> ApiResult<Category> {
    if let Some(id) = p.opt_str("group_id")?.filter(|s| !s.trim().is_empty()) {
        return state.categories.by_id(id.trim()).await?.ok_or_else(|| {
            ApiError::BadParam(format!("category (group_id) {id:?} not found; list them with get_groups"))
        });
    }
    if let Some(name) = p.opt_str("group_name")?.filter(|s| !s.trim().is_empty()) {
        return state
            .categories
            .by_name(&name)
            .await?
            .ok_or_else(|| ApiError::BadParam(format!("no category named {name:?}; list them with get_groups")));
    }
    Err(ApiError::BadParam("give `group_id` or `group_name`".into()))
}

pub(super) async fn id_by_name(state: &AppState, p: &Params) -> ApiResult<Value> {
    let name = p.str("group_name")?;
    match state.categories.by_name(&name).await? {
        Some(c) => Ok(json!({ "group_id": c.id })),
        None => Err(ApiError::BadParam(format!("no category named {name:?}; list them with get_groups"))),
    }
}

pub(super) async fn create(state: &AppState, p: &Params) -> ApiResult<Value> {
    let c = state.categories.create(&p.str("group_name")?).await?;
    Ok(json!({ "id": c.id, "name": c.name }))
}

pub(super) async fn delete(state: &AppState, p: &Params) -> ApiResult<Value> {
    let c = resolve(state, p).await?;
    state.categories.delete(&c.id).await?;
    Ok(json!({}))
}

pub(super) async fn rename(state: &AppState, p: &Params) -> ApiResult<Value> {
    let id = p.str("group_id")?;
    state.categories.rename(id.trim(), &p.str("new_name")?).await?;
    Ok(json!({}))
}

pub(super) async fn list(state: &AppState) -> ApiResult<Value> {
    Ok(serde_json::to_value(state.categories.list().await?).unwrap_or_default())
}

pub(super) async fn add_member(state: &AppState, p: &Params) -> ApiResult<Value> {
    let id = p.str("group_id")?;
    let member = p.str("member_id")?.trim().to_owned();
    // Check the category first, so a bad id is reported before the member is looked up.
    if state.categories.by_id(id.trim()).await?.is_none() {
        return Err(ApiError::BadParam(format!("category (group_id) {id:?} not found; list them with get_groups")));
    }
    let kind = state.contacts.member_type(&member).await?;
    state.categories.add_member(id.trim(), &member, kind).await?;
    Ok(json!({}))
}

pub(super) async fn remove_member(state: &AppState, p: &Params) -> ApiResult<Value> {
    let id = p.str("group_id")?;
    state.categories.remove_member(id.trim(), p.str("member_id")?.trim()).await?;
    Ok(json!({}))
}

pub(super) async fn members(state: &AppState, p: &Params) -> ApiResult<Value> {
    let c = resolve(state, p).await?;
    Ok(serde_json::to_value(state.categories.members(&c.id).await?).unwrap_or_default())
}

pub(super) async fn member_groups(state: &AppState, p: &Params) -> ApiResult<Value> {
    let member = p.str("member_id")?;
    Ok(serde_json::to_value(state.categories.of_member(member.trim()).await?).unwrap_or_default())
}
