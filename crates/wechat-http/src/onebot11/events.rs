//! OneBot 12 events (as the outbox stores them) → OneBot 11 events, with numeric ids. Every
//! id a OneBot 11 event carries is committed to the id table before the event is sent.
//!
//! | OneBot 12 | OneBot 11 |
//! |---|---|
//! | `message` private / group | `message` `private`/`friend`, `group`/`normal`, with `sender` |
//! | `group_member_increase` (`join`, `invite`) | `notice` `group_increase` (`approve`, `invite`) |
//! | `group_member_decrease` (`leave`, `kick`) | `notice` `group_decrease` (`leave`, `kick`, `kick_me`) |
//! | `friend_increase` | `notice` `friend_add` |
//! | `group_message_delete` / `private_message_delete` | `notice` `group_recall` / `friend_recall` |
//! | `wx.pat` | `notice` `notify` / `poke` (`user_id` = who patted, `target_id` = who was patted) |
//! | other notices (`friend_decrease`, `wx.*`) | `notice` with `notice_type` = the OneBot 12 `detail_type` |
//! | `wx.friend_request` | `request` `friend` (`flag` for `set_friend_add_request`) |
//! | `meta` | not forwarded: OneBot 11 channels send their own `lifecycle` and `heartbeat` |
//!
//! Every event also carries the WeChat ids (`wx_id`, `group_wx_id`, `self_wx_id`, …) so bots
//! can show them.

use serde_json::{Map, Value, json};

use super::message::to_v11;
use crate::config::MessageFormat;
use crate::error::ApiResult;
use crate::gateway::Gateway;
use crate::store::IdKind;

fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        _ => String::new(),
    }
}

/// The OneBot 11 event of a OneBot 12 event body; `None` for events OneBot 11 does not carry.
pub async fn render(gateway: &Gateway, ev: &Value) -> ApiResult<Option<Value>> {
    let ids = &gateway.ob11_ids;
    let store = &gateway.store;
    let kind = ev["type"].as_str().unwrap_or_default();
    if kind == "meta" {
        return Ok(None);
    }
    let self_wx = text(&ev["self"]["user_id"]);
    let chat = |w: String| async move { ids.number(store, IdKind::Chat, &w).await };
    let self_id = chat(self_wx.clone()).await?;
    let mut out = Map::new();
    out.insert("time".into(), json!(ev["time"].as_f64().unwrap_or(0.0) as i64));
    out.insert("self_id".into(), json!(self_id));
    out.insert("self_wx_id".into(), json!(self_wx));
    let detail = ev["detail_type"].as_str().unwrap_or_default();
    let user_wx = text(&ev["user_id"]);
    let group_wx = text(&ev["group_id"]);
    let put_user = |out: &mut Map<String, Value>, key: &str, n: i64, wx: &str| {
        out.insert(key.into(), json!(n));
        out.insert(format!("{}wx_id", key.trim_end_matches("id")), json!(wx));
    };
    match kind {
        "message" => {
            let user = chat(user_wx.clone()).await?;
            let msg = ids.number(store, IdKind::Message, &text(&ev["message_id"])).await?;
            let segs = to_v11(gateway, ev["message"].as_array().map(Vec::as_slice).unwrap_or_default()).await?;
            let raw = onebot::v11::to_cq(&segs);
            out.insert("post_type".into(), json!("message"));
            out.insert("message_id".into(), json!(msg));
            out.insert("wx_message_id".into(), ev["message_id"].clone());
            put_user(&mut out, "user_id", user, &user_wx);
            let message = match gateway.config.onebot11.message_format {
                MessageFormat::Array => Value::Array(segs.iter().map(|s| s.to_value()).collect()),
                MessageFormat::String => Value::String(raw.clone()),
            };
            out.insert("message".into(), message);
            out.insert("raw_message".into(), json!(raw));
            out.insert("font".into(), json!(0));
            let nickname = ev["wx.sender_name"].as_str().unwrap_or_default();
            let mut sender =
                json!({ "user_id": user, "nickname": nickname, "sex": "unknown", "age": 0, "wx_id": user_wx });
            if detail == "group" {
                let group = chat(group_wx.clone()).await?;
                out.insert("message_type".into(), json!("group"));
                out.insert("sub_type".into(), json!("normal"));
                put_user(&mut out, "group_id", group, &group_wx);
                out.insert("anonymous".into(), Value::Null);
                sender["card"] = json!("");
                sender["role"] = json!("member");
            } else {
                out.insert("message_type".into(), json!("private"));
                out.insert("sub_type".into(), json!("friend"));
            }
            out.insert("sender".into(), sender);
        }
        "request" => {
            let user = chat(user_wx.clone()).await?;
            out.insert("post_type".into(), json!("request"));
            out.insert("request_type".into(), json!("friend"));
            put_user(&mut out, "user_id", user, &user_wx);
            out.insert("comment".into(), ev["message"].clone());
            out.insert("flag".into(), ev["flag"].clone());
            out.insert("wx_display_name".into(), ev["wx.display_name"].clone());
        }
        "notice" => {
            out.insert("post_type".into(), json!("notice"));
            let operator_wx = text(&ev["operator_id"]);
            let user = chat(user_wx.clone()).await?;
            let operator = chat(operator_wx.clone()).await?;
            let group = chat(group_wx.clone()).await?;
            let (notice_type, sub_type) = match detail {
                "group_member_increase" => {
                    ("group_increase", if ev["sub_type"] == "invite" { "invite" } else { "approve" })
                }
                "group_member_decrease" => (
                    "group_decrease",
                    match ev["sub_type"].as_str() {
                        Some("kick") if user_wx == self_wx => "kick_me",
                        Some("kick") => "kick",
                        _ => "leave",
                    },
                ),
                "friend_increase" => ("friend_add", ""),
                "group_message_delete" => ("group_recall", ""),
                "private_message_delete" => ("friend_recall", ""),
                "wx.pat" => ("notify", "poke"),
                other => (other, ""),
            };
            out.insert("notice_type".into(), json!(notice_type));
            if !sub_type.is_empty() {
                out.insert("sub_type".into(), json!(sub_type));
            }
            if !group_wx.is_empty() {
                put_user(&mut out, "group_id", group, &group_wx);
            }
            if notice_type == "notify" {
                // OneBot 11's poke: user_id pokes target_id.
                put_user(&mut out, "user_id", operator, &operator_wx);
                put_user(&mut out, "target_id", user, &user_wx);
            } else {
                if !user_wx.is_empty() || ev.get("user_id").is_some() {
                    put_user(&mut out, "user_id", user, &user_wx);
                }
                if !operator_wx.is_empty() {
                    put_user(&mut out, "operator_id", operator, &operator_wx);
                }
            }
            if let Some(m) = ev.get("message_id").filter(|v| !v.is_null()) {
                let n = ids.number(store, IdKind::Message, &text(m)).await?;
                out.insert("message_id".into(), json!(n));
                out.insert("wx_message_id".into(), m.clone());
            }
            // Everything else the OneBot 12 event says, WeChat's names kept.
            if let Value::Object(o) = ev {
                for (k, v) in o {
                    let plain = k.replace('.', "_");
                    if ![
                        "id",
                        "time",
                        "type",
                        "detail_type",
                        "sub_type",
                        "self",
                        "user_id",
                        "group_id",
                        "operator_id",
                        "message_id",
                    ]
                    .contains(&k.as_str())
                        && !out.contains_key(&plain)
                    {
                        out.insert(plain, v.clone());
                    }
                }
            }
        }
        _ => return Ok(None),
    }
    Ok(Some(Value::Object(out)))
}

/// `meta_event` / `lifecycle` / `connect` for the account `self_id`.
pub fn lifecycle(self_id: i64) -> Value {
    json!({
        "time": crate::store::now() as i64, "self_id": self_id, "post_type": "meta_event",
        "meta_event_type": "lifecycle", "sub_type": "connect",
    })
}

/// `meta_event` / `heartbeat` for the account `self_id`.
pub fn heartbeat(gateway: &Gateway, self_id: i64) -> Value {
    let s = gateway.status();
    json!({
        "time": crate::store::now() as i64, "self_id": self_id, "post_type": "meta_event",
        "meta_event_type": "heartbeat",
        "status": { "online": s["good"].as_bool().unwrap_or(false), "good": s["good"].as_bool().unwrap_or(false) },
        "interval": gateway.config.heart_beat_interval * 1000,
    })
}
