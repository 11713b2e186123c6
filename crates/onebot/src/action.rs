//! Action requests and responses.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::retcode;

/// The bot an action or event is about: `{platform, user_id}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BotSelf {
    /// Always `wechat` here.
    pub platform: String,
    /// The bot's wxid.
    pub user_id: String,
}

impl BotSelf {
    /// `{platform: "wechat", user_id}`.
    pub fn wechat(user_id: impl Into<String>) -> Self {
        Self { platform: "wechat".into(), user_id: user_id.into() }
    }
}

/// An action request.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Action {
    /// Action name.
    pub action: String,
    /// Parameters (an object).
    #[serde(default)]
    pub params: Map<String, Value>,
    /// Echoed back unchanged in the response.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub echo: Option<Value>,
    /// The bot the action is for.
    #[serde(default, rename = "self", skip_serializing_if = "Option::is_none")]
    pub bot_self: Option<BotSelf>,
}

/// `ok` or `failed`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// retcode 0.
    Ok,
    /// Any other retcode.
    Failed,
}

/// An action response.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Resp {
    /// `ok` or `failed`.
    pub status: Status,
    /// 0 or an error code from [`crate::retcode`].
    pub retcode: i64,
    /// Result data (`null` on failure).
    pub data: Value,
    /// What went wrong, in plain words ("" on success).
    pub message: String,
    /// The request's `echo`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub echo: Option<Value>,
}

impl Resp {
    /// A success carrying `data`.
    pub fn ok(data: Value) -> Self {
        Self { status: Status::Ok, retcode: retcode::OK, data, message: String::new(), echo: None }
    }

    /// A failure.
    pub fn failed(retcode: i64, message: impl Into<String>) -> Self {
        Self { status: Status::Failed, retcode, data: Value::Null, message: message.into(), echo: None }
    }

    /// 10001.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::failed(retcode::BAD_REQUEST, message)
    }

    /// 10002.
    pub fn unsupported_action(message: impl Into<String>) -> Self {
        Self::failed(retcode::UNSUPPORTED_ACTION, message)
    }

    /// 10003.
    pub fn bad_param(message: impl Into<String>) -> Self {
        Self::failed(retcode::BAD_PARAM, message)
    }

    /// 10005.
    pub fn unsupported_segment(message: impl Into<String>) -> Self {
        Self::failed(retcode::UNSUPPORTED_SEGMENT, message)
    }

    /// 20002.
    pub fn internal(message: impl Into<String>) -> Self {
        Self::failed(retcode::INTERNAL_HANDLER_ERROR, message)
    }

    /// Sets `echo`.
    pub fn with_echo(mut self, echo: Option<Value>) -> Self {
        self.echo = echo;
        self
    }
}
