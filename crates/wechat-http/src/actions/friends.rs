//! `handle_friend_request`. The request is claimed first, so of two racing answers (say an
//! approve and a reject) exactly one goes through; the other gets 10003.

use serde_json::{Value, json};

use super::Params;
use crate::account::Account;
use crate::error::{ApiError, ApiResult};
use crate::store::FriendRequestRow;

pub(super) async fn handle(account: &Account, p: &Params) -> ApiResult<Value> {
    let flag = p.str("flag")?;
    let approve = p.opt_bool("approve")?.unwrap_or(true);
    let remark = p.opt_str("remark")?;
    let requests = account.store.friend_requests(&account.name);
    let known = requests.get(&flag).await?;
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
    let row = known.unwrap_or(FriendRequestRow {
        flag: flag.clone(),
        ticket_v3: ticket_v3.clone(),
        scene,
        user_id: String::new(),
        nickname: String::new(),
        greeting: String::new(),
        state: "pending".into(),
    });
    requests.claim(row).await?;
    if !approve {
        // WeChat has no "reject": the request is recorded as rejected and left unanswered.
        requests.settle(&flag, "rejected", remark).await?;
        return Ok(json!({}));
    }
    match account.backend.client.accept_friend(&ticket_v3, &flag, scene).await {
        Ok(()) => {
            requests.settle(&flag, "approved", remark).await?;
            let _ = account.contacts.refresh().await;
            Ok(json!({}))
        }
        Err(e) => {
            requests.release(&flag).await?;
            Err(account.backend.error("accept the friend request", &e))
        }
    }
}
