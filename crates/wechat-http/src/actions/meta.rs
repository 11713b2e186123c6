//! OneBot 12 meta actions; [`status`] is also the payload of `meta.status_update` events.

use serde_json::{Value, json};

use crate::error::ApiResult;
use crate::state::AppState;

pub(super) fn version() -> Value {
    json!({ "impl": "wechat-http", "version": env!("CARGO_PKG_VERSION"), "onebot_version": "12" })
}

pub(super) fn supported_actions() -> Value {
    Value::Array(super::ACTIONS.iter().map(|a| Value::String(a.name.into())).collect())
}

/// `get_status` data (also the `status` of `meta.status_update` events).
pub fn status(state: &AppState) -> Value {
    let online = state.backend.state() == wcf::ConnectionState::Connected;
    let me = state.backend.self_id();
    json!({
        "good": online,
        "bots": [{ "self": { "platform": "wechat", "user_id": me }, "online": online }],
        "wx.backend": state.backend.state_name(),
        "wx.send_queue": state.pacer.depth(),
        "wx.latest_event": state.outbox.latest(),
        "wx.dropped": state.outbox.dropped(),
    })
}

pub(super) async fn self_info(state: &AppState) -> ApiResult<Value> {
    let me = state.backend.me().await?;
    Ok(json!({ "user_id": me.wxid, "user_name": me.name, "user_displayname": "" }))
}
