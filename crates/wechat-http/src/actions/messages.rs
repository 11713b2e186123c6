//! `send_message`: the v1 form (`send_id` + `msg_type` + string), the OneBot 12 form
//! (`user_id`/`group_id` + segments or a string), the GET form, and broadcasts to categories
//! (`group_ids`).
//!
//! Segments become as few WeChat sends as possible, in order: consecutive text, `mention` and
//! `mention_all` segments are one text send (with `aters`); each image or file is one send.

use std::collections::HashMap;

use base64::Engine as _;
use onebot::Segment;
use serde_json::{Value, json};
use wcf::message::is_room_id;

use super::Params;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use crate::store::now;

/// WeChat's separator after an @name.
const AT_SEPARATOR: char = '\u{2005}';

/// A segment with its media already staged where WeChat can read it (stored with broadcast
/// jobs, so it is serialisable).
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
#[serde(tag = "t", content = "v", rename_all = "snake_case")]
pub enum Item {
    Text(String),
    Mention(String),
    MentionAll,
    Image(String),
    File(String),
}

/// One WeChat send.
pub(crate) enum Part {
    Text { text: String, aters: Vec<String> },
    Image(String),
    File(String),
}

fn segments(p: &Params) -> ApiResult<Vec<Segment>> {
    let msg_type = p.opt_i64("msg_type")?;
    match p.get("message") {
        None => Err(ApiError::BadParam("missing parameter `message` (a string or a list of segments)".into())),
        Some(Value::String(s)) => {
            if s.is_empty() {
                return Err(ApiError::BadParam("`message` must not be empty".into()));
            }
            match msg_type.unwrap_or(0) {
                0 => Ok(vec![Segment::text(s.clone())]),
                1 | 2 => {
                    let key = if s.starts_with("http://") || s.starts_with("https://") { "url" } else { "path" };
                    let mut extra = serde_json::Map::new();
                    extra.insert(key.into(), Value::String(s.clone()));
                    Ok(vec![Segment::Image { file_id: String::new(), extra }])
                }
                other => Err(ApiError::BadParam(format!(
                    "msg_type {other} is not supported: use 0 (text) or 1/2 (image; message = host path or http(s) URL)"
                ))),
            }
        }
        Some(Value::Array(items)) => {
            if items.is_empty() {
                return Err(ApiError::BadParam("`message` has no segments".into()));
            }
            items
                .iter()
                .enumerate()
                .map(|(i, v)| {
                    Segment::from_value(v).map_err(|e| ApiError::BadSegmentData(format!("message[{i}]: {e}")))
                })
                .collect()
        }
        Some(Value::Object(_)) => Segment::from_value(p.get("message").expect("checked"))
            .map(|s| vec![s])
            .map_err(|e| ApiError::BadSegmentData(format!("message: {e}"))),
        Some(_) => Err(ApiError::BadParam("`message` must be a string or a list of segments".into())),
    }
}

fn media_source(
    kind: &str,
    file_id: &str,
    extra: &serde_json::Map<String, Value>,
) -> ApiResult<(String, &'static str)> {
    let text = |k: &str| extra.get(k).and_then(Value::as_str).filter(|s| !s.is_empty()).map(str::to_owned);
    if !file_id.is_empty() {
        return Ok((file_id.to_owned(), "file_id"));
    }
    if let Some(url) = text("url") {
        return Ok((url, "url"));
    }
    if let Some(path) = text("path") {
        return Ok((path, "path"));
    }
    if let Some(data) = text("data") {
        return Ok((data, "data"));
    }
    Err(ApiError::BadSegmentData(format!(
        "a {kind} segment needs data.url, data.path (on the WeChat host) or data.data (base64)"
    )))
}

/// Turns a segment into an item, staging media where WeChat can read it (once, shared by every
/// receiver of a broadcast).
async fn to_item(state: &AppState, seg: Segment) -> ApiResult<Item> {
    Ok(match seg {
        Segment::Text { text } => Item::Text(text),
        Segment::Mention { user_id } => Item::Mention(user_id),
        Segment::MentionAll => Item::MentionAll,
        Segment::Image { file_id, extra } => Item::Image(stage_media(state, "image", &file_id, &extra).await?),
        Segment::File { file_id, extra } => Item::File(stage_media(state, "file", &file_id, &extra).await?),
        Segment::Reply { .. } => {
            return Err(ApiError::UnsupportedSegment(
                "reply (quote) segments cannot be sent: WeChatFerry has no quote call; send the text without it".into(),
            ));
        }
        Segment::Other { kind, .. } => {
            return Err(ApiError::UnsupportedSegment(format!(
                "segment type {kind:?} is not supported; use text, mention, mention_all, image or file"
            )));
        }
    })
}

async fn stage_media(
    state: &AppState,
    kind: &str,
    file_id: &str,
    extra: &serde_json::Map<String, Value>,
) -> ApiResult<String> {
    let image = kind == "image";
    let (source, how) = media_source(kind, file_id, extra)?;
    match how {
        "url" => state.media.stage_url(&source, image).await,
        "data" => {
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(source.trim())
                .map_err(|e| ApiError::BadSegmentData(format!("{kind} segment: data.data is not valid base64: {e}")))?;
            let name = extra.get("name").and_then(Value::as_str);
            state.media.stage_bytes(&bytes, name, image, &format!("the {kind} segment's data")).await
        }
        "file_id" => {
            let f = crate::files::find(state, &source).await?;
            if image && crate::media::sniff_image(&tokio::fs::read(&f.path).await.unwrap_or_default()).is_none() {
                return Err(ApiError::BadSegmentData(format!(
                    "file_id {source:?} is not an image; send it as a file segment"
                )));
            }
            Ok(state.media.paths().to_wechat(&f.path))
        }
        // A path on the WeChat host: WeChat itself checks it.
        _ => Ok(source),
    }
}

/// Builds the sends for one receiver.
pub(crate) async fn plan(state: &AppState, items: &[Item], receiver: &str) -> ApiResult<Vec<Part>> {
    let group = is_room_id(receiver);
    let mut names: Option<HashMap<String, String>> = None;
    let mut parts = Vec::new();
    let mut text = String::new();
    let mut aters: Vec<String> = Vec::new();
    let flush = |text: &mut String, aters: &mut Vec<String>, parts: &mut Vec<Part>| {
        if !text.is_empty() {
            parts.push(Part::Text { text: std::mem::take(text), aters: std::mem::take(aters) });
        }
    };
    for item in items {
        match item {
            Item::Text(t) => text.push_str(t),
            Item::Mention(user) => {
                if group && names.is_none() {
                    let members = state.contacts.room_members(receiver).await?;
                    names = Some(members.into_iter().map(|m| (m.wxid, m.display_name)).collect());
                }
                let name = names
                    .as_ref()
                    .and_then(|n| n.get(user).cloned())
                    .filter(|n| !n.is_empty())
                    .or_else(|| state.contacts.peek(user).map(|c| c.name).filter(|n| !n.is_empty()))
                    .unwrap_or_else(|| user.clone());
                text.push('@');
                text.push_str(&name);
                text.push(AT_SEPARATOR);
                if group && !aters.contains(user) {
                    aters.push(user.clone());
                }
            }
            Item::MentionAll => {
                if !group {
                    return Err(ApiError::BadSegmentData(format!(
                        "mention_all only works in a chat group, and {receiver} is not one"
                    )));
                }
                text.push_str("@所有人");
                text.push(AT_SEPARATOR);
                if !aters.iter().any(|a| a == "notify@all") {
                    aters.push("notify@all".into());
                }
            }
            Item::Image(path) => {
                flush(&mut text, &mut aters, &mut parts);
                parts.push(Part::Image(path.clone()));
            }
            Item::File(path) => {
                flush(&mut text, &mut aters, &mut parts);
                parts.push(Part::File(path.clone()));
            }
        }
    }
    flush(&mut text, &mut aters, &mut parts);
    if parts.is_empty() {
        return Err(ApiError::BadParam("the message is empty".into()));
    }
    Ok(parts)
}

/// A WeChat send that was made: `(kind, content)` for the sent-message log.
pub(crate) type SentPart = (&'static str, String);

/// Sends the parts to one receiver, each paced. On failure, the parts already sent are
/// returned with the error so they can still be recorded.
pub(crate) async fn deliver(
    state: &AppState,
    receiver: &str,
    parts: Vec<Part>,
) -> Result<Vec<SentPart>, (Vec<SentPart>, ApiError)> {
    let mut done = Vec::new();
    for part in parts {
        let client = &state.backend.client;
        let (kind, content, result) = match part {
            Part::Text { text, aters } => {
                let r = state.pacer.run(client.send_text(&text, receiver, &aters)).await;
                ("text", text, r.and_then(|r| r.map_err(|e| state.backend.error("send the text", &e))))
            }
            Part::Image(path) => {
                let r = state.pacer.run(client.send_image(&path, receiver)).await;
                let what = format!("send the image {path} (a path on the WeChat host)");
                ("image", path, r.and_then(|r| r.map_err(|e| state.backend.error(&what, &e))))
            }
            Part::File(path) => {
                let r = state.pacer.run(client.send_file(&path, receiver)).await;
                let what = format!("send the file {path} (a path on the WeChat host)");
                ("file", path, r.and_then(|r| r.map_err(|e| state.backend.error(&what, &e))))
            }
        };
        match result {
            Ok(()) => done.push((kind, content)),
            Err(e) => return Err((done, e)),
        }
    }
    Ok(done)
}

/// Records sends in the sent-message log, parts numbered from `first_part`.
async fn record(
    state: &AppState,
    message_id: &str,
    receiver: &str,
    first_part: i64,
    sent: Vec<SentPart>,
) -> ApiResult<()> {
    for (i, (kind, content)) in sent.into_iter().enumerate() {
        state
            .store
            .record_sent(message_id.to_owned(), first_part + i as i64, receiver.to_owned(), kind, content)
            .await?;
    }
    Ok(())
}

/// The single receiver of a non-broadcast send.
fn receiver(p: &Params) -> ApiResult<String> {
    let detail = p.str_any(&["detail_type", "message_type"])?;
    let (id, want_group) = match detail.as_deref() {
        Some("private") => (p.str_any(&["user_id", "send_id"])?, Some(false)),
        Some("group") => (p.str_any(&["group_id", "send_id"])?, Some(true)),
        Some(other) => {
            return Err(ApiError::BadParam(format!("detail_type {other:?} is not supported: use private or group")));
        }
        None => (p.str_any(&["send_id", "user_id", "group_id"])?, None),
    };
    let id = id.map(|s| s.trim().to_owned()).filter(|s| !s.is_empty()).ok_or_else(|| {
        ApiError::BadParam("missing receiver: give user_id (private), group_id (group) or send_id".into())
    })?;
    match want_group {
        Some(true) if !is_room_id(&id) => {
            Err(ApiError::BadParam(format!("{id:?} is not a chat-group id (…@chatroom) but detail_type is group")))
        }
        Some(false) if is_room_id(&id) => {
            Err(ApiError::BadParam(format!("{id:?} is a chat group but detail_type is private")))
        }
        _ => Ok(id),
    }
}

pub(super) async fn send_message(state: &AppState, p: &Params) -> ApiResult<Value> {
    let segs = segments(p)?;
    let broadcast = match (p.opt_str_list("group_ids")?, p.opt_str_list("receivers")?) {
        (Some(_), Some(_)) => return Err(ApiError::BadParam("give `group_ids` or `receivers`, not both".into())),
        (Some(ids), None) => Some(Target::Categories(ids)),
        (None, Some(list)) => Some(Target::Receivers(list)),
        (None, None) => None,
    };
    let single = if broadcast.is_none() { Some(receiver(p)?) } else { None };
    let mut items = Vec::with_capacity(segs.len());
    for seg in segs {
        items.push(to_item(state, seg).await?);
    }
    let message_id = uuid::Uuid::new_v4().simple().to_string();
    if let Some(receiver) = single {
        let parts = plan(state, &items, &receiver).await?;
        return match deliver(state, &receiver, parts).await {
            Ok(sent) => {
                record(state, &message_id, &receiver, 0, sent).await?;
                Ok(json!({ "time": now(), "message_id": message_id }))
            }
            Err((sent, e)) => {
                record(state, &message_id, &receiver, 0, sent).await?;
                Err(e)
            }
        };
    }
    let receivers = match broadcast.expect("broadcast") {
        Target::Categories(ids) => {
            if ids.is_empty() {
                return Err(ApiError::BadParam("`group_ids` is empty: list at least one category id".into()));
            }
            let members = state.categories.distinct_members(&ids).await?;
            if members.is_empty() {
                return Err(ApiError::BadParam("the categories in `group_ids` have no members".into()));
            }
            members.into_iter().map(|m| m.id).collect()
        }
        Target::Receivers(list) => {
            let mut seen = std::collections::HashSet::new();
            let list: Vec<String> = list
                .into_iter()
                .map(|r| r.trim().to_owned())
                .filter(|r| !r.is_empty() && seen.insert(r.clone()))
                .collect();
            if list.is_empty() {
                return Err(ApiError::BadParam("`receivers` is empty: list at least one wxid or …@chatroom".into()));
            }
            list
        }
    };
    let job = crate::jobs::create(state, &message_id, &items, receivers).await?;
    let handle = crate::jobs::spawn(state.clone(), job.clone());
    if p.opt_bool("async")?.unwrap_or(false) {
        return Ok(json!({ "time": now(), "message_id": message_id, "job_id": job }));
    }
    // The seed's behaviour: answer when the broadcast is finished. The job runs in its own
    // task, so a client that hangs up does not stop it.
    let _ = handle.await;
    let status = crate::jobs::status(state, &job).await?;
    let failed = status["failed"].clone();
    let sent = status["sent"].as_u64().unwrap_or(0);
    if sent == 0 && failed.as_array().is_some_and(|f| !f.is_empty()) {
        return Err(ApiError::WeChatRefused(format!(
            "the broadcast failed for all {} receivers; first error: {}",
            status["total"],
            failed[0]["message"].as_str().unwrap_or_default()
        )));
    }
    Ok(json!({ "time": now(), "message_id": message_id, "job_id": job, "sent": sent, "failed": failed }))
}

/// Who a broadcast goes to.
enum Target {
    Categories(Vec<String>),
    Receivers(Vec<String>),
}
