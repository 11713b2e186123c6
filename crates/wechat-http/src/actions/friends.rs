//! `handle_friend_request`.

use serde_json::{Value, json};

use super::Params;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use crate::store::FriendRequestRow;

pub(super) async fn handle(state: &AppState, p: &Params) -> ApiResult<Value> {
    let flag = p.str("flag")?;
    let approve = p.opt_bool("approve")?.unwrap_or(true);
    let remark = p.opt_str("remark")?;
    let known = state.store.friend_request(flag.clone()).await?;
    let ticket_v3 = match (p.opt_str("ticket_v3")?.filter(|s| !s.is_empty()), &known) {
        (Some(v3), _) => v3,
        (None, Some(k)) => k.ticket_v3.clone(),
        (None, None) => {
            return Err(ApiError::BadParam(format!(
                "unknown friend request flag {flag:?}: pass `ticket_v3` and `scene` from the request event"
            )));
        }
    };
    let scene = match (p.opt_i64("scene")?, &known) {
        (Some(s), _) => i32::try_from(s).map_err(|_| ApiError::BadParam("`scene` is out of range".into()))?,
        (None, Some(k)) => k.scene,
        (None, None) => return Err(ApiError::BadParam("missing parameter `scene` (from the request event)".into())),
    };
    if let Some(k) = &known
        && k.state != "pending"
    {
        return Err(ApiError::BadParam(format!("this friend request was already {}", k.state)));
    }
    let row = known.clone().unwrap_or(FriendRequestRow {
        flag: flag.clone(),
        ticket_v3: ticket_v3.clone(),
        scene,
        user_id: String::new(),
        nickname: String::new(),
        greeting: String::new(),
        state: "pending".into(),
    });
    if approve {
        state
            .backend
            .client
            .accept_friend(&ticket_v3, &flag, scene)
            .await
            .map_err(|e| state.backend.error("accept the friend request", &e))?;
        state.store.finish_friend_request(row, "approved", remark).await?;
        let _ = state.contacts.refresh().await;
    } else {
        // WeChat has no "reject": the request is recorded as rejected and left unanswered.
        state.store.finish_friend_request(row, "rejected", remark).await?;
    }
    Ok(json!({}))
}
