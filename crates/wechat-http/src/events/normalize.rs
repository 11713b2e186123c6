//! WeChat messages → events, in both formats: OneBot 12 and the original service's legacy shape.
//!
//! * text (1): `message` / `private` | `group`; each @-mentioned wxid in the message source
//!   becomes a leading `mention` segment (the bot's own id when the bot is mentioned, so
//!   frameworks see `to_me`), `notify@all` a `mention_all`, and the text follows with the
//!   `@name` prefixes removed;
//! * image (3): an `image` segment whose `url` is this gateway's `/chat_image/...` address;
//! * other message types: a `wx.<type>` segment carrying the raw content;
//! * friend request (37): `request` / `wx.friend_request` with everything
//!   `handle_friend_request` needs;
//! * "你已添加了…" (10000): `notice` / `friend_increase`; other system text: `notice` / `wx.system`;
//! * recall (10002 `revokemsg`): `notice` / `private_message_delete` | `group_message_delete`.
//!
//! Messages sent by the bot itself (from any device) are not reported, except recalls.

use onebot::{BotSelf, Event, Segment};
use serde_json::{Value, json};
use wcf::WxMsg;
use wcf::message::{at_list, msg_type};

/// What became of a received image.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum ImageFetch {
    /// Not an image, or not fetched.
    #[default]
    NotAttempted,
    /// Stored as `<date>/<file>`.
    Fetched(String),
    /// Could not be fetched; why.
    Failed(String),
}

/// What the normaliser needs to know besides the message.
#[derive(Clone, Debug, Default)]
pub struct Context {
    /// The bot's wxid.
    pub self_id: String,
    /// `http://host:port` prefix for `/chat_image` URLs.
    pub base_url: String,
    /// `""` or `"<account>/"`: what comes before the date in chat-image addresses.
    pub image_prefix: String,
    /// The fetched image (image messages).
    pub image: ImageFetch,
    /// Chat-group name.
    pub room_name: Option<String>,
    /// Sender's display name.
    pub sender_name: Option<String>,
    /// Whether the sender is a contact of the bot.
    pub sender_is_friend: bool,
    /// Build the legacy body too (only when a webhook target uses `format: legacy`).
    pub legacy: bool,
}

/// An event before it has a sequence number.
#[derive(Clone, Debug, PartialEq)]
pub struct Draft {
    /// OneBot 12 body (its `id` is set from the sequence when read).
    pub body: Value,
    /// Legacy body, when it differs in shape.
    pub legacy: Option<Value>,
    /// De-duplication key (`wx:<account>:<MsgSvrID>` once the account sets it), so a message
    /// recovered from the database and pushed as well becomes one event.
    pub source: Option<String>,
    /// The account the event belongs to (`None` for gateway-wide events).
    pub account: Option<String>,
}

fn base(kind: &str, detail: &str, time: f64, self_id: &str) -> Event {
    Event::new("", time, kind, detail, Some(BotSelf::wechat(self_id)))
}

/// Removes the `@name` + U+2005 prefixes WeChat puts before mentioned names.
fn strip_mentions(content: &str) -> String {
    let mut out = String::with_capacity(content.len());
    let mut rest = content;
    while let Some(at) = rest.find('@') {
        let after = &rest[at..];
        match after.find('\u{2005}') {
            Some(end) if !after[..end].contains('\n') => {
                out.push_str(&rest[..at]);
                rest = &after[end + '\u{2005}'.len_utf8()..];
            }
            _ => {
                out.push_str(&rest[..at + 1]);
                rest = &rest[at + 1..];
            }
        }
    }
    out.push_str(rest);
    out
}

fn xml_tag<'a>(xml: &'a str, tag: &str) -> Option<&'a str> {
    let open = format!("<{tag}>");
    let start = xml.find(&open)? + open.len();
    let end = xml[start..].find(&format!("</{tag}>"))? + start;
    let v = xml[start..end].trim();
    Some(v.strip_prefix("<![CDATA[").and_then(|s| s.strip_suffix("]]>")).unwrap_or(v))
}

/// Builds the event(s) for one WeChat message; `None` when it produces none.
pub fn normalize(m: &WxMsg, ctx: &Context) -> Option<Draft> {
    let time = m.ts as f64;
    let source = Some(format!("wx:{}", m.id));
    match m.r#type {
        msg_type::FRIEND_REQUEST => {
            let r = wcf::friend_request::FriendRequest::parse(&m.content).ok()?;
            let e = base("request", "wx.friend_request", time, &ctx.self_id)
                .with("user_id", r.wxid.clone())
                .with("message", r.greeting.clone())
                .with("flag", r.v4.clone())
                .with("wx.ticket_v3", r.v3.clone())
                .with("wx.scene", r.scene)
                .with("wx.display_name", r.nickname.clone())
                .with("comment", r.greeting.clone())
                .with("display_name", r.nickname.clone());
            let legacy = json!({
                "time": time, "type": "request", "detail_type": "friend", "sub_type": "",
                "user_id": r.wxid, "comment": r.greeting, "flag": r.v4, "display_name": r.nickname,
                "_ticket_v3": r.v3, "_scene": r.scene,
            });
            Some(Draft { body: to_value(e), legacy: ctx.legacy.then_some(legacy), source, account: None })
        }
        msg_type::SYSTEM => {
            let e = if let Some(name) = m.content.strip_prefix("你已添加了") {
                let name = name.split('，').next().unwrap_or_default();
                base("notice", "friend_increase", time, &ctx.self_id)
                    .with("user_id", m.sender.clone())
                    .with("wx.display_name", name)
            } else {
                let mut e = base("notice", "wx.system", time, &ctx.self_id).with("message", m.content.clone());
                if m.is_group {
                    e = e.with("group_id", m.roomid.clone());
                }
                e
            };
            Some(Draft { body: to_value(e), legacy: None, source, account: None })
        }
        msg_type::SYS_XML if m.content.contains("revokemsg") => {
            let recalled = xml_tag(&m.content, "newmsgid").unwrap_or_default().to_owned();
            let session = xml_tag(&m.content, "session").map(str::to_owned).unwrap_or_else(|| m.roomid.clone());
            let e = if m.is_group || wcf::message::is_room_id(&session) {
                base("notice", "group_message_delete", time, &ctx.self_id)
                    .with("group_id", session)
                    .with("message_id", recalled)
                    .with("user_id", m.sender.clone())
                    .with("operator_id", m.sender.clone())
            } else {
                let user = if m.is_self { ctx.self_id.clone() } else { session };
                base("notice", "private_message_delete", time, &ctx.self_id)
                    .with("message_id", recalled)
                    .with("user_id", user)
            };
            Some(Draft { body: to_value(e), legacy: None, source, account: None })
        }
        _ if m.is_self => None,
        msg_type::MOMENTS => None,
        _ => Some(message(m, ctx, time, source)),
    }
}

fn to_value(e: Event) -> Value {
    serde_json::to_value(e).unwrap_or(Value::Null)
}

fn message(m: &WxMsg, ctx: &Context, time: f64, source: Option<String>) -> Draft {
    let ats: Vec<String> = if m.is_group { at_list(&m.xml) } else { Vec::new() };
    let mut segs = Vec::new();
    for w in &ats {
        segs.push(if w == "notify@all" { Segment::MentionAll } else { Segment::mention(w.clone()) });
    }
    let fetched = match &ctx.image {
        ImageFetch::Fetched(rel) => Some(format!("{}{rel}", ctx.image_prefix)),
        _ => None,
    };
    let image_url = fetched.as_ref().map(|rel| format!("{}/chat_image/{rel}", ctx.base_url));
    match m.r#type {
        msg_type::TEXT => {
            let text = if ats.is_empty() { m.content.clone() } else { strip_mentions(&m.content) };
            if !text.is_empty() || segs.is_empty() {
                segs.push(Segment::text(text));
            }
        }
        msg_type::IMAGE => {
            let mut extra = serde_json::Map::new();
            if let Some(url) = &image_url {
                extra.insert("url".into(), Value::String(url.clone()));
            }
            if let ImageFetch::Failed(why) = &ctx.image {
                extra.insert("wx.fetch_error".into(), Value::String(why.clone()));
            }
            let file_id = fetched.as_ref().map(|r| format!("chat_image/{r}")).unwrap_or_default();
            segs.push(Segment::Image { file_id, extra });
        }
        other => {
            let mut data = serde_json::Map::new();
            data.insert("type".into(), json!(other));
            data.insert("content".into(), Value::String(m.content.clone()));
            segs.push(Segment::Other { kind: format!("wx.{}", type_name(other)), data });
        }
    }
    let alt = match m.r#type {
        msg_type::TEXT => m.content.clone(),
        msg_type::IMAGE => "[image]".into(),
        other => format!("[{}]", type_name(other)),
    };
    let detail = if m.is_group { "group" } else { "private" };
    let mut e = base("message", detail, time, &ctx.self_id)
        .with("message_id", m.id.to_string())
        .with("user_id", m.sender.clone())
        .with("message", serde_json::to_value(&segs).unwrap_or_default())
        .with("alt_message", alt)
        .with("wx.raw_type", m.r#type)
        .with("wx.sender_name", ctx.sender_name.clone().unwrap_or_default());
    if m.is_group {
        e = e.with("group_id", m.roomid.clone()).with("wx.room_name", ctx.room_name.clone().unwrap_or_default());
    }
    if !ctx.legacy {
        return Draft { body: to_value(e), legacy: None, source, account: None };
    }
    let at_names: Vec<String> = ats.iter().filter(|w| *w != "notify@all").cloned().collect();
    let legacy_item = json!({
        "msg_type": m.r#type,
        "chat_img_url": image_url.clone().unwrap_or_default(),
        "content": m.content,
        "msg_id": m.id.to_string(),
        "wx_id": m.sender,
        "room_id": if m.is_group { m.roomid.clone() } else { String::new() },
        "group_name": ctx.room_name.clone().unwrap_or_default(),
        "sender_name": ctx.sender_name.clone().unwrap_or_default(),
        "group_at_name_list": at_names,
        "group_at_wx_id_list": ats,
        "is_at": wcf::message::is_at(m, &ctx.self_id),
        "is_group": m.is_group,
        "is_friend": ctx.sender_is_friend,
        "is_my_self": m.is_self,
        "is_system": false,
    });
    let legacy = json!({
        "time": time, "type": "message", "detail_type": detail, "sub_type": "",
        "self_id": ctx.self_id, "message": [legacy_item],
    });
    Draft { body: to_value(e), legacy: Some(legacy), source, account: None }
}

fn type_name(t: u32) -> &'static str {
    match t {
        msg_type::VOICE => "voice",
        msg_type::CARD => "card",
        msg_type::VIDEO => "video",
        msg_type::EMOJI => "emoji",
        msg_type::LOCATION => "location",
        msg_type::APP => "app",
        62 => "short_video",
        _ => "other",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx() -> Context {
        Context {
            self_id: "wxid_bot".into(),
            base_url: "http://127.0.0.1:10614".into(),
            room_name: Some("Team".into()),
            sender_name: Some("Alice".into()),
            sender_is_friend: true,
            legacy: true,
            ..Default::default()
        }
    }

    fn group_text(content: &str, ats: &str) -> WxMsg {
        WxMsg {
            is_group: true,
            id: 42,
            r#type: 1,
            ts: 1_700_000_000,
            roomid: "1@chatroom".into(),
            sender: "wxid_alice".into(),
            content: content.into(),
            xml: format!("<msgsource><atuserlist>{ats}</atuserlist></msgsource>"),
            ..Default::default()
        }
    }

    #[test]
    fn group_mention_of_the_bot_leads_the_message() {
        let d = normalize(&group_text("@Demo Bot\u{2005}hello", "wxid_bot"), &ctx()).unwrap();
        let b = &d.body;
        assert_eq!(
            (b["type"].as_str(), b["detail_type"].as_str(), b["sub_type"].as_str()),
            (Some("message"), Some("group"), Some(""))
        );
        assert_eq!(
            b["message"],
            json!([{"type": "mention", "data": {"user_id": "wxid_bot"}}, {"type": "text", "data": {"text": "hello"}}])
        );
        assert_eq!(b["message_id"], "42");
        assert_eq!(b["group_id"], "1@chatroom");
        assert_eq!(b["alt_message"], "@Demo Bot\u{2005}hello");
        assert_eq!(b["self"], json!({"platform": "wechat", "user_id": "wxid_bot"}));
        assert_eq!(b["wx.room_name"], "Team");
        assert_eq!(d.source.as_deref(), Some("wx:42"));
        let legacy = &d.legacy.unwrap()["message"][0];
        assert_eq!(
            (legacy["is_at"].as_bool(), legacy["group_at_wx_id_list"].clone()),
            (Some(true), json!(["wxid_bot"]))
        );
    }

    #[test]
    fn at_all_and_plain_private_text() {
        let d = normalize(&group_text("@所有人\u{2005}meeting", "notify@all"), &ctx()).unwrap();
        assert_eq!(
            d.body["message"],
            json!([{"type": "mention_all", "data": {}}, {"type": "text", "data": {"text": "meeting"}}])
        );
        let p = WxMsg {
            id: 7,
            r#type: 1,
            sender: "wxid_bob".into(),
            roomid: "wxid_bob".into(),
            content: "a@b.c hi".into(),
            ..Default::default()
        };
        let d = normalize(&p, &ctx()).unwrap();
        assert_eq!(d.body["detail_type"], "private");
        assert_eq!(d.body["message"], json!([{"type": "text", "data": {"text": "a@b.c hi"}}]));
        assert!(d.body.get("group_id").is_none());
    }

    #[test]
    fn images_point_at_chat_image() {
        let m = WxMsg { id: 9, r#type: 3, sender: "wxid_bob".into(), roomid: "wxid_bob".into(), ..Default::default() };
        let c = Context { image: ImageFetch::Fetched("2026-11-29/abc.png".into()), ..ctx() };
        let d = normalize(&m, &c).unwrap();
        assert_eq!(
            d.body["message"],
            json!([{"type": "image", "data": {"file_id": "chat_image/2026-11-29/abc.png", "url": "http://127.0.0.1:10614/chat_image/2026-11-29/abc.png"}}])
        );
        assert_eq!(
            d.legacy.unwrap()["message"][0]["chat_img_url"],
            "http://127.0.0.1:10614/chat_image/2026-11-29/abc.png"
        );
        let c = Context { image: ImageFetch::Failed("WeChat could not download it".into()), ..ctx() };
        let d = normalize(&m, &c).unwrap();
        assert_eq!(
            d.body["message"],
            json!([{"type": "image", "data": {"file_id": "", "wx.fetch_error": "WeChat could not download it"}}]),
            "the event still arrives, saying why there is no image"
        );
    }

    #[test]
    fn friend_request_carries_what_handle_friend_request_needs() {
        let r = wcf::friend_request::FriendRequest {
            v3: "v3_a@stranger".into(),
            v4: "v4_b@stranger".into(),
            scene: 14,
            wxid: "wxid_new".into(),
            nickname: "New".into(),
            greeting: "hi".into(),
        };
        let m = WxMsg {
            id: 5,
            r#type: 37,
            sender: "fmessage".into(),
            roomid: "fmessage".into(),
            content: r.to_xml(),
            ..Default::default()
        };
        let d = normalize(&m, &ctx()).unwrap();
        let b = &d.body;
        assert_eq!((b["type"].as_str(), b["detail_type"].as_str()), (Some("request"), Some("wx.friend_request")));
        assert_eq!(
            (b["flag"].as_str(), b["wx.ticket_v3"].as_str(), b["wx.scene"].as_i64()),
            (Some("v4_b@stranger"), Some("v3_a@stranger"), Some(14))
        );
        assert_eq!(
            (b["user_id"].as_str(), b["message"].as_str(), b["comment"].as_str()),
            (Some("wxid_new"), Some("hi"), Some("hi"))
        );
        let l = d.legacy.unwrap();
        assert_eq!(
            (l["_ticket_v3"].as_str(), l["_scene"].as_i64(), l["display_name"].as_str()),
            (Some("v3_a@stranger"), Some(14), Some("New"))
        );
    }

    #[test]
    fn notices_and_skips() {
        let added = WxMsg {
            id: 1,
            r#type: 10000,
            sender: "wxid_new".into(),
            roomid: "wxid_new".into(),
            content: "你已添加了New，现在可以开始聊天了。".into(),
            ..Default::default()
        };
        let d = normalize(&added, &ctx()).unwrap();
        assert_eq!(
            (d.body["detail_type"].as_str(), d.body["user_id"].as_str()),
            (Some("friend_increase"), Some("wxid_new"))
        );
        let recall = WxMsg {
            id: 2,
            r#type: 10002,
            is_group: true,
            roomid: "1@chatroom".into(),
            sender: "wxid_alice".into(),
            content: "<sysmsg type=\"revokemsg\"><revokemsg><session>1@chatroom</session><newmsgid>99</newmsgid></revokemsg></sysmsg>".into(),
            ..Default::default()
        };
        let d = normalize(&recall, &ctx()).unwrap();
        assert_eq!(
            (d.body["detail_type"].as_str(), d.body["message_id"].as_str()),
            (Some("group_message_delete"), Some("99"))
        );
        let mine = WxMsg { is_self: true, r#type: 1, content: "x".into(), ..Default::default() };
        assert!(normalize(&mine, &ctx()).is_none(), "own messages are not reported");
        let voice =
            WxMsg { id: 3, r#type: 34, sender: "wxid_bob".into(), content: "<msg/>".into(), ..Default::default() };
        let d = normalize(&voice, &ctx()).unwrap();
        assert_eq!(d.body["message"][0]["type"], "wx.voice");
        assert_eq!(d.body["alt_message"], "[voice]");
    }

    #[test]
    fn strip_keeps_emails_and_plain_at() {
        assert_eq!(strip_mentions("@A\u{2005}@B C\u{2005}x"), "x");
        assert_eq!(strip_mentions("@A\nB\u{2005}x"), "@A\nB\u{2005}x");
        assert_eq!(strip_mentions("mail a@b.com"), "mail a@b.com");
        assert_eq!(strip_mentions("@A\u{2005}"), "");
    }
}
