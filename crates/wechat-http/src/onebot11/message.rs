//! Messages between OneBot 12 (what the gateway speaks inside) and OneBot 11.
//!
//! | OneBot 12 (event) | OneBot 11 | back (send) |
//! |---|---|---|
//! | `text` | `text`, WeChat's `[微笑]` emoticons as `face` | `text`; `face` → `[微笑]` |
//! | `mention` / `mention_all` | `at` (`qq` = the number / `all`) | the same |
//! | `image` | `image` (`file` = the file id, `url` a signed link) | `image` (`file`: URL, `base64://`, `file://` inside `media.readable_dirs`, or a file id) |
//! | `wx.emoji` | `image` with `sub_type` 1 | `image` |
//! | `voice` | `record` | — (WeChatFerry cannot send voice) |
//! | `video` | `video` | `video` |
//! | `file` | `file` (`name`, `size`) | `file` |
//! | `reply` | `reply` (`id` = the message number) | dropped: WeChat cannot quote through WeChatFerry |
//! | `location` | `location` (`lat`, `lon`, `title`, `content`) | — |
//! | `wx.link` | `share` (`url`, `title`, `content`, `image`) | `share` → a link card |
//! | other `wx.*` | `wx` (`type` and the fields) | `wx` → that segment; `xml` → `wx.xml` |

use base64::Engine as _;
use onebot::Segment;
use onebot::v11::{Seg, face_text, split_faces};
use serde_json::{Map, Value, json};

use crate::error::{ApiError, ApiResult};
use crate::gateway::Gateway;
use crate::store::IdKind;

fn obj(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}

fn s(v: Option<&Value>) -> String {
    match v {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Number(n)) => n.to_string(),
        _ => String::new(),
    }
}

/// A signed link to a received medium (`/files/<id>` or `/chat_image/…`).
fn media_url(gateway: &Gateway, data: &Map<String, Value>) -> String {
    let id = s(data.get("file_id"));
    if let Some(rel) = id.strip_prefix(crate::files::CHAT_IMAGE_PREFIX) {
        return crate::http::signed::link(gateway, &format!("/chat_image/{rel}"));
    }
    if id.is_empty() {
        return String::new();
    }
    crate::http::signed::link(gateway, &format!("/files/{id}"))
}

/// OneBot 12 segments of an event → OneBot 11 segments.
pub async fn to_v11(gateway: &Gateway, segs: &[Value]) -> ApiResult<Vec<Seg>> {
    let ids = &gateway.ob11_ids;
    let store = &gateway.store;
    let mut out = Vec::with_capacity(segs.len());
    for v in segs {
        let kind = v["type"].as_str().unwrap_or_default();
        let data = v["data"].as_object().cloned().unwrap_or_default();
        let media = |data: &Map<String, Value>, mut m: Map<String, Value>| {
            m.insert("file".into(), json!(s(data.get("file_id"))));
            m.insert("url".into(), json!(media_url(gateway, data)));
            if let Some(e) = data.get("wx.fetch_error") {
                m.insert("wx_fetch_error".into(), e.clone());
            }
            m
        };
        match kind {
            "text" => out.extend(split_faces(&s(data.get("text")))),
            "mention" => {
                let wx = s(data.get("user_id"));
                let n = ids.number(store, IdKind::Chat, &wx).await?;
                out.push(Seg::new("at", obj(json!({ "qq": n.to_string(), "wx_id": wx }))));
            }
            "mention_all" => out.push(Seg::new("at", obj(json!({ "qq": "all" })))),
            "image" => out.push(Seg::new("image", media(&data, Map::new()))),
            "wx.emoji" => {
                out.push(Seg::new("image", media(&data, obj(json!({ "sub_type": "1", "summary": "[动画表情]" })))))
            }
            "voice" => {
                out.push(Seg::new("record", media(&data, obj(json!({ "wx_duration": data.get("wx.duration") })))))
            }
            "video" => out.push(Seg::new("video", media(&data, Map::new()))),
            "file" => out.push(Seg::new(
                "file",
                media(&data, obj(json!({ "name": data.get("name"), "size": data.get("size") }))),
            )),
            "reply" => {
                let id = s(data.get("message_id"));
                let n = ids.number(store, IdKind::Message, &id).await?;
                out.push(Seg::new("reply", obj(json!({ "id": n.to_string(), "wx_message_id": id }))));
            }
            "location" => out.push(Seg::new(
                "location",
                obj(json!({
                    "lat": data.get("latitude"), "lon": data.get("longitude"),
                    "title": data.get("title"), "content": data.get("content"),
                })),
            )),
            "wx.link" => out.push(Seg::new(
                "share",
                obj(json!({
                    "url": data.get("url"), "title": data.get("title"),
                    "content": data.get("description"), "image": data.get("thumb_url"),
                })),
            )),
            other => {
                let mut m = data.clone();
                m.insert("type".into(), json!(other));
                out.push(Seg::new("wx", m));
            }
        }
    }
    Ok(out)
}

/// Where an outgoing `image`/`video`/`file` comes from: its `file` (or `url`).
async fn media_source(account: &crate::account::Account, kind: &str, seg: &Seg) -> ApiResult<Map<String, Value>> {
    let file = seg.field("url").filter(|u| !u.is_empty()).or_else(|| seg.field("file")).unwrap_or_default();
    let file = file.trim().to_owned();
    if file.is_empty() {
        return Err(ApiError::BadSegmentData(format!(
            "a {kind} segment needs `file` (a URL, base64://…, file://… or a file id)"
        )));
    }
    let mut m = Map::new();
    if file.starts_with("http://") || file.starts_with("https://") {
        m.insert("url".into(), json!(file));
    } else if let Some(b64) = file.strip_prefix("base64://") {
        m.insert("data".into(), json!(b64));
    } else if let Some(path) = file.strip_prefix("file://") {
        // A file on the gateway machine: the same rule as upload_file {type: path}.
        let path = path.strip_prefix("localhost").unwrap_or(path);
        let bytes = crate::files::read_local(account, path).await?;
        m.insert("data".into(), json!(base64::engine::general_purpose::STANDARD.encode(bytes)));
        if let Some(name) = std::path::Path::new(path).file_name() {
            m.insert("name".into(), json!(name.to_string_lossy()));
        }
    } else {
        m.insert("file_id".into(), json!(file));
    }
    if let Some(name) = seg.field("name") {
        m.insert("name".into(), json!(name));
    }
    Ok(m)
}

/// OneBot 11 segments to send → OneBot 12 segments.
pub async fn from_v11(gateway: &Gateway, account: &crate::account::Account, segs: Vec<Seg>) -> ApiResult<Vec<Segment>> {
    let mut out = Vec::with_capacity(segs.len());
    for seg in segs {
        match seg.kind.as_str() {
            "text" => out.push(Segment::text(seg.field("text").unwrap_or_default())),
            "face" => {
                let id = seg.field("id").unwrap_or_default();
                let text = face_text(&id).ok_or_else(|| {
                    ApiError::BadSegmentData(format!(
                        "face id {id:?} is not one of WeChat's emoticons (0–{})",
                        onebot::v11::WECHAT_FACES.len() - 1
                    ))
                })?;
                out.push(Segment::text(text));
            }
            "at" => match seg.field("qq").as_deref() {
                Some("all") => out.push(Segment::MentionAll),
                Some(q) => {
                    let wx = gateway.ob11_ids.chat_param(&gateway.store, "at.qq", &json!(q)).await?;
                    out.push(Segment::mention(wx));
                }
                None => return Err(ApiError::BadSegmentData("an at segment needs `qq`".into())),
            },
            "image" | "video" | "file" => {
                let data = media_source(account, &seg.kind, &seg).await?;
                out.push(match seg.kind.as_str() {
                    "image" => {
                        let mut extra = data;
                        let file_id =
                            extra.remove("file_id").and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default();
                        Segment::Image { file_id, extra }
                    }
                    "file" => {
                        let mut extra = data;
                        let file_id =
                            extra.remove("file_id").and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default();
                        Segment::File { file_id, extra }
                    }
                    _ => Segment::Other { kind: "video".into(), data },
                });
            }
            // WeChat cannot quote through WeChatFerry; frameworks add replies on their own, so
            // the rest of the message is sent without it.
            "reply" => {}
            "share" => out.push(Segment::Other {
                kind: "wx.link".into(),
                data: obj(json!({
                    "url": seg.field("url").unwrap_or_default(),
                    "title": seg.field("title").unwrap_or_default(),
                    "description": seg.field("content").unwrap_or_default(),
                    "thumb_url": seg.field("image").unwrap_or_default(),
                })),
            }),
            "xml" => out.push(Segment::Other {
                kind: "wx.xml".into(),
                data: obj(json!({ "xml": seg.field("data").unwrap_or_default(), "type": 33 })),
            }),
            "wx" => {
                let mut data = seg.data.clone();
                let kind = data.remove("type").and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default();
                if !kind.starts_with("wx.") && !matches!(kind.as_str(), "video" | "file" | "image") {
                    return Err(ApiError::BadSegmentData(format!(
                        "a wx segment's `type` must be a wx.… kind, not {kind:?}"
                    )));
                }
                out.push(Segment::Other { kind, data });
            }
            "record" => {
                return Err(ApiError::UnsupportedSegment(
                    "record segments cannot be sent: WeChatFerry has no call to send voice messages; send the audio as a file segment".into(),
                ));
            }
            other => {
                return Err(ApiError::UnsupportedSegment(format!(
                    "segment type {other:?} cannot be sent to WeChat; use text, face, at, image, video, file, share, xml or wx"
                )));
            }
        }
    }
    if out.is_empty() {
        return Err(ApiError::BadParam("the message is empty".into()));
    }
    Ok(out)
}
