//! From a request's `message` to staged [`Item`]s: parsing (within `send.max_segments` and
//! `send.max_text_bytes`, checked before anything is built), then staging media where WeChat
//! can read it — once, shared by every receiver of a broadcast.

use base64::Engine as _;
use onebot::Segment;
use serde_json::{Map, Value};

use super::Item;
use crate::account::Account;
use crate::config::Send as Limits;
use crate::error::{ApiError, ApiResult};

fn too_many(n: usize, limits: &Limits) -> ApiError {
    ApiError::BadParam(format!(
        "`message` has {n} segments, more than send.max_segments ({}); split it into several messages",
        limits.max_segments
    ))
}

fn too_much_text(n: usize, limits: &Limits) -> ApiError {
    ApiError::BadSegmentData(format!(
        "the message has {n} bytes of text, more than send.max_text_bytes ({}); split it into several messages",
        limits.max_text_bytes
    ))
}

/// Parses `message` (a string, one segment object or a list of segments; with `msg_type`
/// 1/2 a string is an image path or URL, the v1 form) within the limits.
pub fn parse(message: Option<&Value>, msg_type: Option<i64>, limits: &Limits) -> ApiResult<Vec<Segment>> {
    let segs = match message {
        None => return Err(ApiError::BadParam("missing parameter `message` (a string or a list of segments)".into())),
        Some(Value::String(s)) => {
            if s.is_empty() {
                return Err(ApiError::BadParam("`message` must not be empty".into()));
            }
            match msg_type.unwrap_or(0) {
                0 => vec![Segment::text(s.clone())],
                1 | 2 => {
                    let key = if s.starts_with("http://") || s.starts_with("https://") { "url" } else { "path" };
                    let mut extra = Map::new();
                    extra.insert(key.into(), Value::String(s.clone()));
                    vec![Segment::Image { file_id: String::new(), extra }]
                }
                other => {
                    return Err(ApiError::BadParam(format!(
                        "msg_type {other} is not supported: use 0 (text) or 1/2 (image; message = host path or http(s) URL)"
                    )));
                }
            }
        }
        Some(Value::Array(items)) => {
            if items.is_empty() {
                return Err(ApiError::BadParam("`message` has no segments".into()));
            }
            // Before building anything: the count is known from the array itself.
            if items.len() > limits.max_segments {
                return Err(too_many(items.len(), limits));
            }
            items
                .iter()
                .enumerate()
                .map(|(i, v)| {
                    Segment::from_value(v).map_err(|e| ApiError::BadSegmentData(format!("message[{i}]: {e}")))
                })
                .collect::<ApiResult<_>>()?
        }
        Some(v @ Value::Object(_)) => {
            vec![Segment::from_value(v).map_err(|e| ApiError::BadSegmentData(format!("message: {e}")))?]
        }
        Some(_) => return Err(ApiError::BadParam("`message` must be a string or a list of segments".into())),
    };
    let text: usize = segs.iter().map(|s| if let Segment::Text { text } = s { text.len() } else { 0 }).sum();
    if text > limits.max_text_bytes {
        return Err(too_much_text(text, limits));
    }
    Ok(segs)
}

fn media_source<'a>(kind: &str, file_id: &'a str, extra: &'a Map<String, Value>) -> ApiResult<(&'a str, &'static str)> {
    let text = |k: &str| extra.get(k).and_then(Value::as_str).filter(|s| !s.is_empty());
    if !file_id.is_empty() {
        return Ok((file_id, "file_id"));
    }
    for key in ["url", "path", "data"] {
        if let Some(v) = text(key) {
            return Ok((v, key));
        }
    }
    Err(ApiError::BadSegmentData(format!(
        "a {kind} segment needs data.file_id, data.url, data.path (on the WeChat host) or data.data (base64)"
    )))
}

/// Stages a media segment; returns its path as WeChat sees it.
async fn stage_media(account: &Account, kind: &str, file_id: &str, extra: &Map<String, Value>) -> ApiResult<String> {
    let image = kind == "image" || kind == "wx.emoji";
    let (source, how) = media_source(kind, file_id, extra)?;
    match how {
        "url" => account.media.stage_url(source, image).await,
        "data" => {
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(source.trim())
                .map_err(|e| ApiError::BadSegmentData(format!("{kind} segment: data.data is not valid base64: {e}")))?;
            let name = extra.get("name").and_then(Value::as_str);
            account.media.stage_bytes(&bytes, name, image, &format!("the {kind} segment's data")).await
        }
        "file_id" => {
            let f = crate::files::find(account, source).await?;
            if image {
                let head = crate::fsx::read_regular_async(f.path.clone(), account.settings.media.max_upload_bytes)
                    .await
                    .map_err(|e| ApiError::Filesystem(e.to_string()))?;
                if crate::account::media::sniff_image(&head).is_none() {
                    return Err(ApiError::BadSegmentData(format!(
                        "file_id {source:?} is not an image; send it as a file segment"
                    )));
                }
            }
            Ok(account.media.paths().to_wechat(&f.path))
        }
        // A path on the WeChat host: WeChat itself checks it.
        _ => Ok(source.to_owned()),
    }
}

/// The segment types `send_message` takes.
pub const SENDABLE: &str = "text, mention, mention_all, image, file, video, wx.emoji, wx.link and wx.xml";

fn field(kind: &str, data: &Map<String, Value>, key: &str, required: bool) -> ApiResult<String> {
    match data.get(key) {
        Some(Value::String(s)) if !(required && s.trim().is_empty()) => Ok(s.clone()),
        None | Some(Value::Null) if !required => Ok(String::new()),
        Some(Value::String(_)) | None | Some(Value::Null) => {
            Err(ApiError::BadSegmentData(format!("a {kind} segment needs a non-empty string data.{key}")))
        }
        Some(_) => Err(ApiError::BadSegmentData(format!("data.{key} of a {kind} segment must be a string"))),
    }
}

/// Turns segments into items, staging media.
pub async fn stage(account: &Account, segs: Vec<Segment>) -> ApiResult<Vec<Item>> {
    let mut items = Vec::with_capacity(segs.len());
    for seg in segs {
        items.push(match seg {
            Segment::Text { text } => Item::Text(text),
            Segment::Mention { user_id } => Item::Mention(user_id),
            Segment::MentionAll => Item::MentionAll,
            Segment::Image { file_id, extra } => Item::Image(stage_media(account, "image", &file_id, &extra).await?),
            Segment::File { file_id, extra } => Item::File(stage_media(account, "file", &file_id, &extra).await?),
            Segment::Reply { .. } => {
                return Err(ApiError::UnsupportedSegment(
                    "reply (quote) segments cannot be sent: WeChatFerry has no quote call; send the text without it"
                        .into(),
                ));
            }
            Segment::Other { kind, data } => match kind.as_str() {
                "video" => {
                    let file_id = field("video", &data, "file_id", false)?;
                    Item::Video(stage_media(account, "video", &file_id, &data).await?)
                }
                "wx.emoji" => {
                    let file_id = field("wx.emoji", &data, "file_id", false)?;
                    Item::Emoji(stage_media(account, "wx.emoji", &file_id, &data).await?)
                }
                "wx.link" => {
                    let url = field("wx.link", &data, "url", true)?;
                    if !(url.starts_with("http://") || url.starts_with("https://")) {
                        return Err(ApiError::BadSegmentData(format!("data.url of a wx.link segment must be an http(s) URL, not {url:?}")));
                    }
                    Item::Link(super::plan::Link {
                        title: field("wx.link", &data, "title", true)?,
                        description: field("wx.link", &data, "description", false)?,
                        url,
                        thumb_url: field("wx.link", &data, "thumb_url", false)?,
                        source: field("wx.link", &data, "source", false)?,
                        account: field("wx.link", &data, "account", false)?,
                    })
                }
                "wx.xml" => {
                    let xml = field("wx.xml", &data, "xml", true)?;
                    let kind = match data.get("type") {
                        Some(Value::Number(n)) => n.as_i64().and_then(|v| i32::try_from(v).ok()),
                        None => Some(0x21),
                        _ => None,
                    }
                    .ok_or_else(|| ApiError::BadSegmentData("data.type of a wx.xml segment must be an integer (the XML's type, e.g. 33 for a mini program)".into()))?;
                    if wcf::xml::parse(&xml).is_none() {
                        return Err(ApiError::BadSegmentData("data.xml of a wx.xml segment is not XML".into()));
                    }
                    Item::Xml { kind, xml }
                }
                "voice" | "audio" => {
                    return Err(ApiError::UnsupportedSegment(format!(
                        "{kind} segments cannot be sent: WeChatFerry has no call to send voice messages; send the audio as a file segment"
                    )));
                }
                "location" => {
                    return Err(ApiError::UnsupportedSegment(
                        "location segments cannot be sent: WeChatFerry has no call to send a location; send a wx.link or text instead".into(),
                    ));
                }
                _ => {
                    return Err(ApiError::UnsupportedSegment(format!(
                        "segment type {kind:?} is not supported; use {SENDABLE}"
                    )));
                }
            },
        });
    }
    Ok(items)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn limits_are_checked_before_parsing() {
        let limits = Limits { max_segments: 3, max_text_bytes: 10, ..Limits::default() };
        let many = Value::Array(vec![json!("not even a segment"); 10_000]);
        let e = parse(Some(&many), None, &limits).unwrap_err();
        assert!(matches!(e, ApiError::BadParam(_)) && e.to_string().contains("send.max_segments"), "{e}");
        let long = json!("x".repeat(11));
        let e = parse(Some(&long), None, &limits).unwrap_err();
        assert!(matches!(e, ApiError::BadSegmentData(_)) && e.to_string().contains("send.max_text_bytes"), "{e}");
        let ok = json!([{"type": "text", "data": {"text": "hello"}}, {"type": "mention_all", "data": {}}]);
        assert_eq!(parse(Some(&ok), None, &limits).unwrap().len(), 2);
        assert!(parse(Some(&json!("x")), Some(7), &limits).unwrap_err().to_string().contains("msg_type 7"));
        assert!(matches!(parse(Some(&json!([])), None, &limits), Err(ApiError::BadParam(_))));
        assert!(matches!(parse(Some(&json!([{"type": "text"}])), None, &limits), Err(ApiError::BadSegmentData(_))));
    }
}
