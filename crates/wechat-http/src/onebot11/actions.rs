//! OneBot 11 actions, translated to the gateway's own (numeric ids ⇄ WeChat ids, v11
//! messages ⇄ segments) and answered `{status, retcode, data, message, wording, echo}`.
//!
//! The account is the one `self_id` names (a number, a wxid or an account name), else the
//! connection's, else the default one. Actions WeChat has no equivalent for answer 1404 with
//! a message saying so.

use serde_json::{Map, Value, json};

use super::message::{from_v11, to_v11};
use crate::account::Account;
use crate::actions::Params;
use crate::error::{ApiError, ApiResult};
use crate::gateway::Gateway;
use crate::http::Data;
use crate::http::envelope::Call;
use crate::store::IdKind;

/// Every action served, for `get_supported_actions`-style listings and the docs.
pub const ACTIONS: &[&str] = &[
    "send_private_msg",
    "send_group_msg",
    "send_msg",
    "delete_msg",
    "get_msg",
    "get_login_info",
    "get_stranger_info",
    "get_friend_list",
    "get_group_info",
    "get_group_list",
    "get_group_member_info",
    "get_group_member_list",
    "set_friend_add_request",
    "set_group_kick",
    "get_image",
    "get_record",
    "can_send_image",
    "can_send_record",
    "get_status",
    "get_version_info",
    "wx.forward_message",
    "wx.send_pat",
    "wx.add_group_member",
    "wx.invite_group_member",
    "wx.delete_group_member",
];

/// OneBot 11 actions of go-cqhttp that WeChat has nothing for.
const NOT_ON_WECHAT: &[&str] = &[
    "send_like",
    "set_group_ban",
    "set_group_anonymous_ban",
    "set_group_whole_ban",
    "set_group_admin",
    "set_group_anonymous",
    "set_group_card",
    "set_group_name",
    "set_group_leave",
    "set_group_special_title",
    "set_group_add_request",
    "get_cookies",
    "get_csrf_token",
    "get_credentials",
    "get_group_honor_info",
    "set_restart",
    "clean_cache",
];

/// The OneBot 11 retcode of an error.
pub fn retcode(e: &ApiError) -> i64 {
    use onebot::v11::retcode as r;
    match e.retcode() {
        10001 => r::BAD_REQUEST,
        10002 => r::UNSUPPORTED,
        10101..=10199 | 10003..=10099 => r::BAD_PARAM,
        33000..=34999 => r::PLATFORM,
        _ => r::FAILED,
    }
}

/// A failure answer.
pub fn failure(e: &ApiError, echo: Option<Value>) -> Value {
    let mut body = crate::http::respond::failure(e, None);
    let message = body["message"].clone();
    body["retcode"] = json!(retcode(e));
    body["wording"] = message;
    body["wx_retcode"] = json!(e.retcode());
    if let Some(echo) = echo {
        body["echo"] = echo;
    }
    body
}

/// A success answer.
pub fn success(data: Value, echo: Option<Value>) -> Value {
    let mut body = json!({ "status": "ok", "retcode": 0, "data": data, "message": "", "wording": "" });
    if let Some(echo) = echo {
        body["echo"] = echo;
    }
    body
}

/// What a request asked.
pub struct Request {
    /// The action.
    pub action: String,
    /// Its parameters.
    pub params: Map<String, Value>,
    /// The account of the connection (reverse WebSocket), if any.
    pub account: Option<String>,
}

async fn v12(gateway: &Gateway, account: &Account, name: &str, params: Value) -> ApiResult<Value> {
    let call = Call {
        action: Some(name.to_owned()),
        params: Params(params.as_object().cloned().unwrap_or_default()),
        echo: None,
        selector: Some(account.name.clone()),
        forwarded_by: None,
    };
    match crate::actions::dispatch(gateway, name, call).await? {
        Data::Value(v) => Ok(v),
        Data::Raw(t) => {
            serde_json::from_str(&t).map_err(|e| ApiError::Internal(format!("{name} answered bad JSON: {e}")))
        }
    }
}

fn get<'a>(p: &'a Map<String, Value>, key: &str) -> ApiResult<&'a Value> {
    p.get(key).filter(|v| !v.is_null()).ok_or_else(|| ApiError::BadParam(format!("missing parameter `{key}`")))
}

fn flag(p: &Map<String, Value>, key: &str, default: bool) -> bool {
    match p.get(key) {
        Some(Value::Bool(b)) => *b,
        Some(Value::String(s)) => matches!(s.as_str(), "true" | "1" | "yes"),
        Some(Value::Number(n)) => n.as_i64() != Some(0),
        _ => default,
    }
}

fn sex(gender: &Value) -> &'static str {
    match gender.as_i64() {
        Some(1) => "male",
        Some(2) => "female",
        _ => "unknown",
    }
}

/// Runs one action.
pub async fn run(gateway: &Gateway, req: Request) -> ApiResult<Value> {
    let p = &req.params;
    let name = req.action.as_str();
    if NOT_ON_WECHAT.contains(&name) {
        return Err(ApiError::UnsupportedAction(format!("{name} has no equivalent on WeChat; it is not supported")));
    }
    if !ACTIONS.contains(&name) {
        return Err(ApiError::UnsupportedAction(format!(
            "unknown OneBot 11 action {name:?}; the supported ones are listed in the README"
        )));
    }
    let selector = match p.get("self_id") {
        Some(v @ (Value::Number(_) | Value::String(_))) => {
            let wx = gateway.ob11_ids.chat_param(&gateway.store, "self_id", v).await?;
            Some(wx)
        }
        _ => req.account.clone(),
    };
    let account = gateway.route(selector.as_deref())?.clone();
    let a = account.as_ref();
    let ids = &gateway.ob11_ids;
    let store = &gateway.store;
    let chat_of = |key: &'static str| async move { ids.chat_param(store, key, get(p, key)?).await };
    let num = |wx: String| async move { ids.number(store, IdKind::Chat, &wx).await };
    Ok(match name {
        "send_private_msg" | "send_group_msg" | "send_msg" => {
            let group = match name {
                "send_group_msg" => true,
                "send_private_msg" => false,
                _ => match p.get("message_type").and_then(Value::as_str) {
                    Some("group") => true,
                    Some("private") => false,
                    Some(other) => {
                        return Err(ApiError::BadParam(format!("message_type {other:?}: use private or group")));
                    }
                    None => p.get("group_id").is_some_and(|v| !v.is_null()),
                },
            };
            let to = if group { chat_of("group_id").await? } else { chat_of("user_id").await? };
            let segs = onebot::v11::parse_message(get(p, "message")?, flag(p, "auto_escape", false))
                .map_err(ApiError::BadSegmentData)?;
            let message = from_v11(gateway, a, segs).await?;
            let r = v12(
                gateway,
                a,
                "send_message",
                json!({ "detail_type": if group { "group" } else { "private" }, "user_id": if group { Value::Null } else { json!(to) },
                        "group_id": if group { json!(to) } else { Value::Null }, "message": message }),
            )
            .await?;
            let id = ids.number(store, IdKind::Message, r["message_id"].as_str().unwrap_or_default()).await?;
            json!({ "message_id": id })
        }
        "delete_msg" => {
            let id = ids.message_param(store, "message_id", get(p, "message_id")?).await?;
            if id.parse::<u64>().is_ok() {
                return Err(ApiError::BadParam(
                    "WeChat recalls only messages this gateway sent: message_id must be one send_msg returned".into(),
                ));
            }
            v12(gateway, a, "delete_message", json!({ "message_id": id })).await?;
            Value::Null
        }
        "get_msg" => {
            let id = ids.message_param(store, "message_id", get(p, "message_id")?).await?;
            let ev = v12(gateway, a, "wx.get_message", json!({ "message_id": id })).await?;
            let mut ev = ev;
            if ev["self"].is_null() {
                ev["self"] = json!({ "platform": "wechat", "user_id": a.backend.self_id() });
            }
            let rendered = super::events::render(gateway, &ev).await?.unwrap_or(Value::Null);
            let segs = to_v11(gateway, ev["message"].as_array().map(Vec::as_slice).unwrap_or_default()).await?;
            json!({
                "time": rendered["time"], "message_type": rendered["message_type"],
                "message_id": rendered["message_id"], "real_id": rendered["message_id"],
                "sender": rendered["sender"], "message": Value::Array(segs.iter().map(|s| s.to_value()).collect()),
                "raw_message": rendered["raw_message"], "wx_message_id": id,
            })
        }
        "get_login_info" => {
            let me = v12(gateway, a, "get_self_info", json!({})).await?;
            let wx = me["user_id"].as_str().unwrap_or_default().to_owned();
            json!({ "user_id": num(wx.clone()).await?, "nickname": me["user_name"], "wx_id": wx })
        }
        "get_stranger_info" => {
            let wx = chat_of("user_id").await?;
            let u = v12(gateway, a, "get_user_info", json!({ "user_id": wx })).await?;
            json!({
                "user_id": num(wx.clone()).await?, "nickname": u["user_name"], "remark": u["user_remark"],
                "sex": sex(&u["_gender"]), "age": 0, "avatar": u["avatar"], "wx_id": wx,
            })
        }
        "get_friend_list" => {
            let list = v12(gateway, a, "get_friend_list", json!({})).await?;
            let mut out = Vec::new();
            for u in list.as_array().cloned().unwrap_or_default() {
                let wx = u["user_id"].as_str().unwrap_or_default().to_owned();
                out.push(json!({ "user_id": num(wx.clone()).await?, "nickname": u["user_name"], "remark": u["user_remark"], "wx_id": wx }));
            }
            Value::Array(out)
        }
        "get_group_info" | "get_group_list" => {
            let groups = v12(gateway, a, "get_group_list", json!({})).await?;
            let want = if name == "get_group_info" { Some(chat_of("group_id").await?) } else { None };
            let mut out = Vec::new();
            for g in groups.as_array().cloned().unwrap_or_default() {
                let wx = g["group_id"].as_str().unwrap_or_default().to_owned();
                if want.as_ref().is_some_and(|w| *w != wx) {
                    continue;
                }
                out.push(json!({
                    "group_id": num(wx.clone()).await?, "group_name": g["group_name"], "member_count": g["member_count"],
                    "max_member_count": 500, "avatar": g["avatar"], "wx_id": wx,
                }));
            }
            match want {
                Some(w) => out
                    .pop()
                    .ok_or_else(|| ApiError::BadParam(format!("chat group {w:?} is not one of this account's")))?,
                None => Value::Array(out),
            }
        }
        "get_group_member_info" | "get_group_member_list" => {
            let group = chat_of("group_id").await?;
            let gnum = num(group.clone()).await?;
            let member = |m: Value| async move {
                let wx = m["user_id"].as_str().unwrap_or_default().to_owned();
                Ok::<_, ApiError>(json!({
                    "group_id": gnum, "user_id": num(wx.clone()).await?, "nickname": m["user_name"],
                    "card": m["user_displayname"], "sex": "unknown", "age": 0, "area": "", "join_time": 0,
                    "last_sent_time": 0, "level": "", "role": "member", "unfriendly": false, "title": "",
                    "title_expire_time": 0, "card_changeable": false, "avatar": m["avatar"], "wx_id": wx,
                }))
            };
            if name == "get_group_member_info" {
                let user = chat_of("user_id").await?;
                member(v12(gateway, a, "get_group_member_info", json!({ "group_id": group, "user_id": user })).await?)
                    .await?
            } else {
                let list = v12(gateway, a, "get_group_member_list", json!({ "group_id": group })).await?;
                let mut out = Vec::new();
                for m in list.as_array().cloned().unwrap_or_default() {
                    out.push(member(m).await?);
                }
                Value::Array(out)
            }
        }
        "set_friend_add_request" => {
            let flag_v = get(p, "flag")?.clone();
            let mut q = json!({ "flag": flag_v, "approve": flag(p, "approve", true) });
            if let Some(r) = p.get("remark").filter(|v| v.is_string()) {
                q["remark"] = r.clone();
            }
            v12(gateway, a, "handle_friend_request", q).await?;
            Value::Null
        }
        "set_group_kick" => {
            let (group, user) = (chat_of("group_id").await?, chat_of("user_id").await?);
            v12(gateway, a, "wx.delete_group_member", json!({ "group_id": group, "user_ids": [user] })).await?;
            Value::Null
        }
        "get_image" | "get_record" => {
            let file = get(p, "file")?.as_str().unwrap_or_default().to_owned();
            if name == "get_record" && p.get("out_format").and_then(Value::as_str).is_some_and(|f| f != "mp3") {
                return Err(ApiError::BadParam("voice messages are MP3: out_format must be mp3 (or left out)".into()));
            }
            let f = v12(gateway, a, "get_file", json!({ "file_id": file, "type": "path" })).await?;
            json!({ "file": f["path"], "name": f["name"], "size": f["size"] })
        }
        "can_send_image" => json!({ "yes": true }),
        "can_send_record" => json!({ "yes": false }),
        "get_status" => {
            let s = gateway.status();
            json!({ "online": a.backend.online(), "good": s["good"], "wx_status": s })
        }
        "get_version_info" => json!({
            "app_name": "wechat-http", "app_version": env!("CARGO_PKG_VERSION"), "protocol_version": "v11",
            "onebot_version": "11",
        }),
        "wx.forward_message" => {
            let id = ids.message_param(store, "message_id", get(p, "message_id")?).await?;
            let mut q = json!({ "message_id": id });
            if p.get("group_id").is_some_and(|v| !v.is_null()) {
                q["group_id"] = json!(chat_of("group_id").await?);
            } else {
                q["user_id"] = json!(chat_of("user_id").await?);
            }
            v12(gateway, a, name, q).await?;
            Value::Null
        }
        "wx.send_pat" => {
            let (group, user) = (chat_of("group_id").await?, chat_of("user_id").await?);
            v12(gateway, a, name, json!({ "group_id": group, "user_id": user })).await?;
            Value::Null
        }
        _ => {
            // wx.add_group_member, wx.invite_group_member, wx.delete_group_member
            let group = chat_of("group_id").await?;
            let list = get(p, "user_ids")?
                .as_array()
                .cloned()
                .ok_or_else(|| ApiError::BadParam("`user_ids` must be a list".into()))?;
            let mut users = Vec::new();
            for u in &list {
                users.push(ids.chat_param(store, "user_ids[]", u).await?);
            }
            v12(gateway, a, name, json!({ "group_id": group, "user_ids": users })).await?;
            Value::Null
        }
    })
}

/// One request (HTTP or a WebSocket frame) → its answer body. `<action>_async` runs the
/// action in the background and answers `async` at once.
pub async fn answer(gateway: &Gateway, mut req: Request, echo: Option<Value>) -> Value {
    if let Some(base) = req.action.strip_suffix("_async").map(str::to_owned)
        && ACTIONS.contains(&base.as_str())
    {
        req.action = base;
        let g = gateway.clone();
        tokio::spawn(async move {
            if let Err(e) = run(&g, req).await {
                tracing::warn!(error = %e, "an _async OneBot 11 action failed");
            }
        });
        let mut body = success(Value::Null, echo);
        body["status"] = json!("async");
        body["retcode"] = json!(onebot::v11::retcode::ASYNC);
        return body;
    }
    match run(gateway, req).await {
        Ok(data) => success(data, echo),
        Err(e) => failure(&e, echo),
    }
}

/// A OneBot 11 webhook reply's quick operation for `event` (already rendered for OneBot 11):
/// `reply` (+ `auto_escape`, and `at_sender` in groups, default true), `kick` in groups,
/// `approve` (+ `remark`) for friend requests. `delete` and `ban` have no WeChat equivalent and
/// are ignored with a log line.
pub async fn quick(gateway: &Gateway, event: &Value, ops: Map<String, Value>, account: Option<&str>) {
    let account = account.map(str::to_owned);
    let mut calls: Vec<(&str, Map<String, Value>)> = Vec::new();
    let mut p = Map::new();
    match event["post_type"].as_str() {
        Some("message") => {
            if let Some(reply) = ops.get("reply").filter(|v| !v.is_null()) {
                let group = event["message_type"] == "group";
                let mut message =
                    onebot::v11::parse_message(reply, flag(&ops, "auto_escape", false)).unwrap_or_default();
                if group && flag(&ops, "at_sender", true) {
                    let mut at = Map::new();
                    at.insert("qq".into(), event["user_id"].to_string().into());
                    message.insert(0, onebot::v11::Seg::new("at", at));
                    message.insert(1, onebot::v11::Seg::text(" "));
                }
                p.insert("message".into(), Value::Array(message.iter().map(|s| s.to_value()).collect()));
                if group {
                    p.insert("group_id".into(), event["group_id"].clone());
                    calls.push(("send_group_msg", p.clone()));
                } else {
                    p.insert("user_id".into(), event["user_id"].clone());
                    calls.push(("send_private_msg", p.clone()));
                }
            }
            if flag(&ops, "kick", false) && event["message_type"] == "group" {
                let mut k = Map::new();
                k.insert("group_id".into(), event["group_id"].clone());
                k.insert("user_id".into(), event["user_id"].clone());
                calls.push(("set_group_kick", k));
            }
            for ignored in ["delete", "ban"] {
                if flag(&ops, ignored, false) {
                    tracing::info!(
                        op = ignored,
                        "a OneBot 11 quick operation WeChat has no equivalent for was ignored"
                    );
                }
            }
        }
        Some("request") if ops.contains_key("approve") => {
            p.insert("flag".into(), event["flag"].clone());
            p.insert("approve".into(), Value::Bool(flag(&ops, "approve", true)));
            if let Some(r) = ops.get("remark") {
                p.insert("remark".into(), r.clone());
            }
            calls.push(("set_friend_add_request", p));
        }
        _ => {}
    }
    for (action, params) in calls {
        let req = Request { action: action.to_owned(), params, account: account.clone() };
        if let Err(e) = run(gateway, req).await {
            tracing::warn!(action, error = %e, "a OneBot 11 quick operation failed");
        }
    }
}

/// A WebSocket frame `{action, params, echo}` → the answer text.
pub async fn frame(gateway: &Gateway, text: &str, account: Option<&str>) -> String {
    let v = match crate::http::json::parse(text.as_bytes()) {
        Ok(Value::Object(m)) => m,
        Ok(_) | Err(_) => {
            return failure(
                &ApiError::BadRequest("an action frame must be a JSON object {action, params, echo}".into()),
                None,
            )
            .to_string();
        }
    };
    let echo = v.get("echo").cloned();
    let Some(action) = v.get("action").and_then(Value::as_str).map(str::to_owned) else {
        return failure(&ApiError::BadRequest("missing `action`".into()), echo).to_string();
    };
    let params = match v.get("params") {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(m)) => m.clone(),
        Some(_) => return failure(&ApiError::BadRequest("`params` must be an object".into()), echo).to_string(),
    };
    answer(gateway, Request { action, params, account: account.map(str::to_owned) }, echo).await.to_string()
}
