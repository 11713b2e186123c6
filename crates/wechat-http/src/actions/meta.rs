//! OneBot 12 meta actions; the status itself is [`crate::gateway::Gateway::status`].

use serde_json::{Value, json};

use crate::account::Account;
use crate::error::ApiResult;

pub(super) fn version() -> Value {
    json!({ "impl": "wechat-http", "version": env!("CARGO_PKG_VERSION"), "onebot_version": "12" })
}

pub(super) fn supported_actions() -> Value {
    Value::Array(super::ACTIONS.iter().map(|a| Value::String(a.name.into())).collect())
}

pub(super) async fn self_info(account: &Account) -> ApiResult<Value> {
    let me = account.backend.me().await?;
    Ok(json!({ "user_id": me.wxid, "user_name": me.name, "user_displayname": "" }))
}
