//! WeChat messages → events, in both formats: OneBot 12 and the original service's legacy
//! shape. One message can make several events (a join naming three people: three notices).
//!
//! The mapping follows `wechat-messages.md` §7: standard segments and notices first, `wx.`
//! extensions where OneBot 12 has none. The account resolves what needs WeChat (media, who a
//! display name is) into the [`Context`] first; this module only maps.
//!
//! | WeChat | event | segment / fields |
//! |---|---|---|
//! | 1 text | message | `mention`, `mention_all`, `text` |
//! | 3 image | message | `image` |
//! | 34 voice | message | `voice` (MP3, `wx.duration` s) |
//! | 43, 62 video | message | `video` (`wx.thumb_file_id`, `wx.duration`) |
//! | 49/6 file | message | `file` (`name`, `size`, `wx.md5`) |
//! | 47 sticker, 49/8 | message | `wx.emoji` |
//! | 48 location | message | `location` |
//! | 49/57 quote | message | `reply` + `text` |
//! | 49/1,3,4,5… link | message | `wx.link` |
//! | 42 card | message | `wx.card` |
//! | 49/33,36 | message | `wx.mini_program` |
//! | 49/50,51,63,88 | message | `wx.channels` |
//! | 49/19,40 | message | `wx.chat_history` |
//! | anything else | message | `wx.unknown` (raw fields) |
//! | 49/74 | notice | `wx.file_uploading` |
//! | 49/62, 10002 pat, 10000 "拍了拍" | notice | `wx.pat` |
//! | 49/87, 10002 announcement | notice | `wx.group_announcement` |
//! | 49/2000 | notice | `wx.transfer` |
//! | 49/2001, 10000 "收到红包" | notice | `wx.red_packet` |
//! | 10000 joins, 10002 template | notice | `group_member_increase` (`join` / `invite`) |
//! | 10000 kicks, silent leaves | notice | `group_member_decrease` (`kick` / `leave`) |
//! | 10000 rename | notice | `wx.group_name_change` |
//! | 10000 "你已添加了…" / "开启了朋友验证" | notice | `friend_increase` / `friend_decrease` |
//! | 10002 revokemsg, 10000 "撤回了一条消息" | notice | `private_message_delete` / `group_message_delete` |
//! | 37 | request | `wx.friend_request` |
//! | other 10000 / 10002 | notice | `wx.system` |
//! | 51 status sync | – | dropped (a client signal) |
//!
//! Messages sent by the bot itself (from another device) are not reported, except recalls.

use onebot::{BotSelf, Event, Segment};
use serde_json::{Map, Value, json};
use wcf::WxMsg;
use wcf::content::{AppDetail, Content};
use wcf::message::{at_list, msg_type};
use wcf::system::{SysMsg, SystemText};

use crate::config::MediaKind;

/// What became of a received image.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum ImageFetch {
    /// Not an image, or not fetched (yet).
    #[default]
    NotAttempted,
    /// Stored as `<date>/<file>`.
    Fetched(String),
    /// Could not be fetched; why.
    Failed(String),
}

/// What became of another received medium.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MediaState {
    /// Fetched: `get_file` serves it at once.
    Ready,
    /// Left for the first `get_file`.
    Later,
    /// Fetching failed; why (`get_file` tries again).
    Failed(String),
}

/// A member change resolved by the account.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MemberChange {
    /// Joined (`true`) or left.
    pub increase: bool,
    /// `join`, `invite`, `leave` or `kick`.
    pub sub_type: &'static str,
    /// wxid ("" when the name fits nobody).
    pub user_id: String,
    /// The display name WeChat used.
    pub name: String,
    /// Who did it ("" when unknown; the member for joins by QR code and leaves).
    pub operator_id: String,
}

/// What the normaliser needs to know besides the message.
#[derive(Clone, Debug, Default)]
pub struct Context {
    /// The bot's wxid.
    pub self_id: String,
    /// The account's name (received-media ids carry it).
    pub account: String,
    /// `http://host:port` prefix for `/chat_image` URLs.
    pub base_url: String,
    /// `""` or `"<account>/"`: what comes before the date in chat-image addresses.
    pub image_prefix: String,
    /// The fetched image (image messages).
    pub image: ImageFetch,
    /// Other media of the message, by kind.
    pub media: Vec<(MediaKind, MediaState)>,
    /// Chat-group name.
    pub room_name: Option<String>,
    /// Sender's display name.
    pub sender_name: Option<String>,
    /// Whether the sender is a contact of the bot.
    pub sender_is_friend: bool,
    /// Build the legacy body too (only when a webhook target uses `format: legacy`).
    pub legacy: bool,
    /// Member changes a system message reports, resolved to wxids.
    pub members: Vec<MemberChange>,
    /// Who acted (patter, renamer, recaller), resolved ("" unknown).
    pub actor: Option<String>,
    /// Who a pat was for, resolved.
    pub target: Option<String>,
    /// Names for `${wxid}` placeholders of pat templates.
    pub names: std::collections::HashMap<String, String>,
}

impl Context {
    fn media_state(&self, kind: MediaKind) -> &MediaState {
        self.media.iter().find(|(k, _)| *k == kind).map(|(_, s)| s).unwrap_or(&MediaState::Later)
    }

    /// `file_id` (and `wx.fetch_error`) of a received medium.
    fn media_fields(&self, kind: MediaKind, id: u64, data: &mut Map<String, Value>) {
        data.insert("file_id".into(), json!(crate::account::received::file_id(&self.account, kind, id)));
        if let MediaState::Failed(why) = self.media_state(kind) {
            data.insert("wx.fetch_error".into(), json!(why));
        }
    }
}

/// An event before it has a sequence number.
#[derive(Clone, Debug, PartialEq)]
pub struct Draft {
    /// OneBot 12 body (its `id` is set from the sequence when read).
    pub body: Value,
    /// Legacy body, when it differs in shape.
    pub legacy: Option<Value>,
    /// De-duplication key (`wx:<account>:<MsgSvrID>[:<n>]` once the account sets it), so a
    /// message recovered from the database and pushed as well becomes one event.
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

fn to_value(e: Event) -> Value {
    serde_json::to_value(e).unwrap_or(Value::Null)
}

fn notice(e: Event, source: Option<String>) -> Draft {
    Draft { body: to_value(e), legacy: None, source, account: None }
}

/// Builds the events for one WeChat message (none for own messages and status syncs).
pub fn normalize(m: &WxMsg, ctx: &Context) -> Vec<Draft> {
    let time = m.ts as f64;
    let source = Some(format!("wx:{}", m.id));
    let n = |e: Event| vec![notice(e, source.clone())];
    let group = |e: Event| if m.is_group { e.with("group_id", m.roomid.clone()) } else { e };
    match m.r#type {
        msg_type::FRIEND_REQUEST => {
            let Ok(r) = wcf::friend_request::FriendRequest::parse(&m.content) else { return Vec::new() };
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
            vec![Draft { body: to_value(e), legacy: ctx.legacy.then_some(legacy), source, account: None }]
        }
        msg_type::SYSTEM => system_text(m, ctx, time, source),
        msg_type::SYS_XML => match wcf::system::parse_sysmsg(&m.content) {
            Some(SysMsg::Revoke { session, recalled, text }) => {
                let session = if session.is_empty() { m.roomid.clone() } else { session };
                let operator = if m.is_self { ctx.self_id.clone() } else { m.sender.clone() };
                let e = if m.is_group || wcf::message::is_room_id(&session) {
                    base("notice", "group_message_delete", time, &ctx.self_id)
                        .with("sub_type", "recall")
                        .with("group_id", session)
                        .with("message_id", recalled.to_string())
                        .with("user_id", operator.clone())
                        .with("operator_id", operator)
                } else {
                    let user = if m.is_self { ctx.self_id.clone() } else { session };
                    base("notice", "private_message_delete", time, &ctx.self_id)
                        .with("message_id", recalled.to_string())
                        .with("user_id", user)
                };
                n(e.with("wx.text", text))
            }
            Some(SysMsg::Pat(p)) => n(pat(m, ctx, time, &p.from, &p.patted, &p.template)),
            Some(SysMsg::Template { text, .. }) if !ctx.members.is_empty() => {
                member_notices(m, ctx, time, source, &text)
            }
            Some(SysMsg::Announcement { text }) => n(group(
                base("notice", "wx.group_announcement", time, &ctx.self_id)
                    .with("operator_id", ctx.actor.clone().unwrap_or_default())
                    .with("text", text),
            )),
            Some(SysMsg::Template { text, kind, .. }) => n(group(
                base("notice", "wx.system", time, &ctx.self_id)
                    .with("message", text)
                    .with("wx.sysmsg_type", format!("sysmsgtemplate/{kind}"))
                    .with("wx.content", m.content.clone()),
            )),
            Some(SysMsg::Other { kind }) => n(group(
                base("notice", "wx.system", time, &ctx.self_id)
                    .with("message", String::new())
                    .with("wx.sysmsg_type", kind)
                    .with("wx.content", m.content.clone()),
            )),
            None => vec![message(m, ctx, time, source, None)],
        },
        _ if m.is_self => Vec::new(),
        msg_type::MOMENTS | msg_type::STATUS_NOTIFY => Vec::new(),
        msg_type::APP => match wcf::content::parse(m.r#type, &m.content) {
            Content::App(a) => match &a.detail {
                AppDetail::File(f) if f.uploading => n(group(
                    base("notice", "wx.file_uploading", time, &ctx.self_id)
                        .with("user_id", m.sender.clone())
                        .with("message_id", m.id.to_string())
                        .with("name", f.name.clone())
                        .with("size", f.size)
                        .with("wx.md5", f.md5.clone()),
                )),
                AppDetail::Pat(p) => n(pat(m, ctx, time, &p.from, &p.patted, &p.template)),
                AppDetail::Announcement(text) => n(group(
                    base("notice", "wx.group_announcement", time, &ctx.self_id)
                        .with("operator_id", m.sender.clone())
                        .with("text", text.clone()),
                )),
                AppDetail::Transfer(t) => n(group(
                    base("notice", "wx.transfer", time, &ctx.self_id)
                        .with("user_id", if t.payer.is_empty() { m.sender.clone() } else { t.payer.clone() })
                        .with("message_id", m.id.to_string())
                        .with("amount", t.amount.clone())
                        .with("memo", t.memo.clone())
                        .with("transfer_id", t.transfer_id.clone())
                        .with("transaction_id", t.transaction_id.clone())
                        .with("wx.paysubtype", t.paysubtype)
                        .with("wx.receiver_id", t.receiver.clone()),
                )),
                AppDetail::RedPacket => n(group(
                    base("notice", "wx.red_packet", time, &ctx.self_id)
                        .with("user_id", m.sender.clone())
                        .with("message_id", m.id.to_string())
                        .with("text", if a.description.is_empty() { a.title.clone() } else { a.description.clone() }),
                )),
                _ => vec![message(m, ctx, time, source, Some(Content::App(a)))],
            },
            other => vec![message(m, ctx, time, source, Some(other))],
        },
        _ => vec![message(m, ctx, time, source, None)],
    }
}

fn pat(m: &WxMsg, ctx: &Context, time: f64, from: &str, patted: &str, template: &str) -> Event {
    let text = wcf::system::render_pat(template, |w| ctx.names.get(w).cloned().unwrap_or_else(|| w.to_owned()));
    let chat = m.is_group.then(|| m.roomid.clone());
    let mut e = base("notice", "wx.pat", time, &ctx.self_id)
        .with("user_id", patted.to_owned())
        .with("operator_id", from.to_owned())
        .with("wx.text", text);
    if let Some(room) = chat {
        e = e.with("group_id", room);
    }
    e
}

fn system_text(m: &WxMsg, ctx: &Context, time: f64, source: Option<String>) -> Vec<Draft> {
    let group = |e: Event| if m.is_group { e.with("group_id", m.roomid.clone()) } else { e };
    let peer = if m.is_group { m.sender.clone() } else { m.roomid.clone() };
    let one = |e: Event| vec![notice(e, source.clone())];
    match wcf::system::parse_text(&m.content) {
        SystemText::FriendAdded { name } => one(base("notice", "friend_increase", time, &ctx.self_id)
            .with("user_id", peer)
            .with("wx.display_name", name)),
        SystemText::FriendGone { name } => one(base("notice", "friend_decrease", time, &ctx.self_id)
            .with("user_id", peer)
            .with("wx.display_name", name)),
        SystemText::Invited { .. }
        | SystemText::InvitedMe { .. }
        | SystemText::JoinedByQr { .. }
        | SystemText::Removed { .. }
        | SystemText::RemovedMe { .. }
            if m.is_group =>
        {
            member_notices(m, ctx, time, source, &m.content)
        }
        SystemText::Renamed { name, .. } if m.is_group => {
            one(base("notice", "wx.group_name_change", time, &ctx.self_id)
                .with("group_id", m.roomid.clone())
                .with("operator_id", ctx.actor.clone().unwrap_or_default())
                .with("name", name))
        }
        SystemText::Pat { .. } => {
            let mut e = base("notice", "wx.pat", time, &ctx.self_id)
                .with("user_id", ctx.target.clone().unwrap_or_default())
                .with("operator_id", ctx.actor.clone().unwrap_or_default())
                .with("wx.text", m.content.clone());
            if m.is_group {
                e = e.with("group_id", m.roomid.clone());
            }
            one(e)
        }
        SystemText::RedPacket => one(group(
            base("notice", "wx.red_packet", time, &ctx.self_id)
                .with("user_id", if m.is_group { String::new() } else { peer })
                .with("message_id", m.id.to_string())
                .with("text", m.content.clone()),
        )),
        SystemText::Recalled { .. } => {
            // WeChat 3.9.12's recall: a system text re-using the recalled message's id.
            let operator = ctx.actor.clone().unwrap_or_default();
            let e = if m.is_group {
                base("notice", "group_message_delete", time, &ctx.self_id)
                    .with("sub_type", "recall")
                    .with("group_id", m.roomid.clone())
                    .with("message_id", m.id.to_string())
                    .with("user_id", operator.clone())
                    .with("operator_id", operator)
            } else {
                base("notice", "private_message_delete", time, &ctx.self_id)
                    .with("message_id", m.id.to_string())
                    .with("user_id", if operator.is_empty() { m.roomid.clone() } else { operator })
            };
            vec![notice(e.with("wx.text", m.content.clone()), Some(format!("wx:{}:recall", m.id)))]
        }
        _ => one(group(base("notice", "wx.system", time, &ctx.self_id).with("message", m.content.clone()))),
    }
}

fn member_notices(m: &WxMsg, ctx: &Context, time: f64, source: Option<String>, text: &str) -> Vec<Draft> {
    ctx.members
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let detail = if c.increase { "group_member_increase" } else { "group_member_decrease" };
            let e = base("notice", detail, time, &ctx.self_id)
                .with("sub_type", c.sub_type)
                .with("group_id", m.roomid.clone())
                .with("user_id", c.user_id.clone())
                .with("operator_id", c.operator_id.clone())
                .with("wx.display_name", c.name.clone())
                .with("wx.text", text.to_owned());
            let src = if i == 0 { source.clone() } else { source.as_ref().map(|s| format!("{s}:{i}")) };
            notice(e, src)
        })
        .collect()
}

/// Seconds from milliseconds, to the millisecond.
fn seconds(ms: u64) -> f64 {
    ms as f64 / 1000.0
}

fn seg(kind: &str, data: Map<String, Value>) -> Segment {
    match kind {
        "image" | "file" => {
            let mut extra = data;
            let file_id = match extra.remove("file_id") {
                Some(Value::String(s)) => s,
                _ => String::new(),
            };
            if kind == "image" { Segment::Image { file_id, extra } } else { Segment::File { file_id, extra } }
        }
        _ => Segment::Other { kind: kind.to_owned(), data },
    }
}

macro_rules! obj {
    ($($k:expr => $v:expr),* $(,)?) => {{
        let mut m = Map::new();
        $( m.insert($k.to_owned(), json!($v)); )*
        m
    }};
}

/// The segments (and plain rendering) of a message kind (`content` when already read).
fn segments(m: &WxMsg, ctx: &Context, content: Option<Content>) -> (Vec<Segment>, String) {
    let content = content.unwrap_or_else(|| wcf::content::parse(m.r#type, &m.content));
    match (m.r#type, content) {
        (msg_type::TEXT, _) => unreachable!("text is handled by the caller"),
        (msg_type::IMAGE, _) => {
            let mut data = Map::new();
            match &ctx.image {
                ImageFetch::Fetched(rel) => {
                    let rel = format!("{}{rel}", ctx.image_prefix);
                    data.insert("url".into(), json!(format!("{}/chat_image/{rel}", ctx.base_url)));
                    data.insert("file_id".into(), json!(format!("chat_image/{rel}")));
                }
                ImageFetch::Failed(why) => {
                    ctx.media_fields(MediaKind::Image, m.id, &mut data);
                    data.insert("wx.fetch_error".into(), json!(why));
                }
                ImageFetch::NotAttempted => ctx.media_fields(MediaKind::Image, m.id, &mut data),
            }
            (vec![seg("image", data)], "[图片]".into())
        }
        (msg_type::VOICE, c) => {
            let v = match c {
                Content::Voice(v) => v,
                _ => Default::default(),
            };
            let mut data = obj! { "wx.duration" => seconds(v.duration_ms) };
            if let Some(t) = &v.transcript {
                data.insert("wx.transcript".into(), json!(t));
            }
            ctx.media_fields(MediaKind::Voice, m.id, &mut data);
            let secs = v.duration_ms.div_ceil(1000).max(1);
            (vec![seg("voice", data)], format!("[语音 {secs}s]"))
        }
        (msg_type::VIDEO | msg_type::SHORT_VIDEO, c) => {
            let v = match c {
                Content::Video(v) => v,
                _ => Default::default(),
            };
            let mut data = obj! {
                "wx.duration" => v.seconds,
                "wx.size" => v.length,
                "wx.thumb_file_id" => crate::account::received::file_id(&ctx.account, MediaKind::VideoThumb, m.id),
            };
            ctx.media_fields(MediaKind::Video, m.id, &mut data);
            (vec![seg("video", data)], format!("[视频 {}s]", v.seconds))
        }
        (msg_type::EMOJI, c) => {
            let e = match c {
                Content::Emoji(e) => e,
                _ => Default::default(),
            };
            let mut data = obj! { "url" => e.url, "md5" => e.md5, "width" => e.width, "height" => e.height };
            if let Some((t, v)) = e.game {
                data.insert("wx.game".into(), json!({ "type": t, "value": v }));
            }
            ctx.media_fields(MediaKind::Emoji, m.id, &mut data);
            (vec![seg("wx.emoji", data)], "[动画表情]".into())
        }
        (msg_type::LOCATION, Content::Location(l)) => {
            let title =
                if l.poiname.is_empty() || l.poiname == "[位置]" { l.label.clone() } else { l.poiname.clone() };
            let alt = format!("[位置 {title}]");
            let data = obj! {
                "latitude" => l.latitude, "longitude" => l.longitude, "title" => title, "content" => l.label,
                "wx.scale" => l.scale,
            };
            (vec![seg("location", data)], alt)
        }
        (msg_type::CARD, Content::Card(c)) => {
            let alt = format!("[名片 {}]", c.nickname);
            let data = obj! {
                "user_id" => c.username, "nickname" => c.nickname, "alias" => c.alias, "avatar" => c.head_url,
                "province" => c.province, "city" => c.city, "gender" => c.sex, "ticket" => c.ticket,
            };
            (vec![seg("wx.card", data)], alt)
        }
        (msg_type::APP, Content::App(a)) => app_segments(m, ctx, a),
        (other, _) => {
            let mut data = obj! { "type" => other, "content" => m.content.clone() };
            for (k, v) in [("xml", &m.xml), ("thumb", &m.thumb), ("extra", &m.extra)] {
                if !v.is_empty() {
                    data.insert(k.into(), json!(v));
                }
            }
            let alt = match other {
                msg_type::VOIP => "[语音/视频通话]".to_owned(),
                _ => format!("[消息 {other}]"),
            };
            (vec![seg("wx.unknown", data)], alt)
        }
    }
}

fn app_segments(m: &WxMsg, ctx: &Context, a: wcf::content::App) -> (Vec<Segment>, String) {
    match a.detail {
        AppDetail::File(f) => {
            let mut data = obj! { "name" => f.name.clone(), "size" => f.size, "wx.md5" => f.md5 };
            if let Some(prev) = f.overwrite_id {
                data.insert("wx.overwrite_message_id".into(), json!(prev.to_string()));
            }
            ctx.media_fields(MediaKind::File, m.id, &mut data);
            (vec![seg("file", data)], format!("[文件 {}]", f.name))
        }
        AppDetail::Quote(r) => {
            let reply = Segment::Reply {
                message_id: r.svr_id.to_string(),
                user_id: (!r.sender.is_empty()).then(|| r.sender.clone()),
            };
            let alt = format!("[引用 {}: {}] {}", r.display_name, r.text, a.title);
            let mut segs = vec![reply];
            if !a.title.is_empty() {
                segs.push(Segment::text(a.title));
            }
            (segs, alt)
        }
        AppDetail::Gif { md5 } => {
            let mut data = obj! { "md5" => md5 };
            if !m.extra.is_empty() {
                ctx.media_fields(MediaKind::File, m.id, &mut data);
            }
            (vec![seg("wx.emoji", data)], "[动画表情]".into())
        }
        AppDetail::ChatHistory(items) => {
            let list: Vec<Value> = items
                .iter()
                .map(|i| json!({ "user_name": i.name, "time": i.time, "text": i.text, "type": i.datatype }))
                .collect();
            let alt = format!("[聊天记录 {}]", a.title);
            (
                vec![seg(
                    "wx.chat_history",
                    obj! { "title" => a.title, "description" => a.description, "items" => list },
                )],
                alt,
            )
        }
        AppDetail::MiniProgram(p) => {
            let alt = format!("[小程序 {}]", a.title);
            let data = obj! {
                "title" => a.title, "appid" => p.appid, "username" => p.username, "pagepath" => p.pagepath,
                "url" => a.url, "thumb_url" => a.thumb_url, "icon_url" => p.icon_url, "source_name" => a.source_name,
            };
            (vec![seg("wx.mini_program", data)], alt)
        }
        AppDetail::Channels(c) => {
            let alt = format!("[视频号 {}]", c.nickname);
            let data = obj! {
                "nickname" => c.nickname, "description" => c.description, "url" => c.url, "cover_url" => c.cover_url,
                "thumb_url" => c.thumb_url, "duration" => c.seconds, "object_id" => c.object_id,
                "nonce_id" => c.nonce_id, "live" => c.live, "wx.app_type" => a.subtype,
            };
            (vec![seg("wx.channels", data)], alt)
        }
        // Notices never get here; a link-like card is the default.
        _ => {
            let alt = format!("[链接 {}]", a.title);
            let data = obj! {
                "title" => a.title, "description" => a.description, "url" => a.url, "thumb_url" => a.thumb_url,
                "source_name" => a.source_name, "source_id" => a.source_username, "app_name" => a.app_name,
                "wx.app_type" => a.subtype,
            };
            (vec![seg("wx.link", data)], alt)
        }
    }
}

fn message(m: &WxMsg, ctx: &Context, time: f64, source: Option<String>, content: Option<Content>) -> Draft {
    let ats: Vec<String> = if m.is_group { at_list(&m.xml) } else { Vec::new() };
    let mut segs = Vec::new();
    for w in &ats {
        segs.push(if w == "notify@all" { Segment::MentionAll } else { Segment::mention(w.clone()) });
    }
    let alt = if m.r#type == msg_type::TEXT {
        let text = if ats.is_empty() { m.content.clone() } else { strip_mentions(&m.content) };
        if !text.is_empty() || segs.is_empty() {
            segs.push(Segment::text(text));
        }
        m.content.clone()
    } else {
        let (more, alt) = segments(m, ctx, content);
        segs.extend(more);
        alt
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
    let image_url = match &ctx.image {
        ImageFetch::Fetched(rel) => format!("{}/chat_image/{}{rel}", ctx.base_url, ctx.image_prefix),
        _ => String::new(),
    };
    let at_names: Vec<String> = ats.iter().filter(|w| *w != "notify@all").cloned().collect();
    let legacy_item = json!({
        "msg_type": m.r#type,
        "chat_img_url": image_url,
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

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx() -> Context {
        Context {
            self_id: "wxid_bot".into(),
            account: "default".into(),
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

    fn one(m: &WxMsg, c: &Context) -> Draft {
        let mut v = normalize(m, c);
        assert_eq!(v.len(), 1, "{v:?}");
        v.remove(0)
    }

    #[test]
    fn group_mention_of_the_bot_leads_the_message() {
        let d = one(&group_text("@Demo Bot\u{2005}hello", "wxid_bot"), &ctx());
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
        let d = one(&group_text("@所有人\u{2005}meeting", "notify@all"), &ctx());
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
        let d = one(&p, &ctx());
        assert_eq!(d.body["detail_type"], "private");
        assert_eq!(d.body["message"], json!([{"type": "text", "data": {"text": "a@b.c hi"}}]));
        assert!(d.body.get("group_id").is_none());
    }

    #[test]
    fn images_point_at_chat_image_or_say_why_not() {
        let m = WxMsg { id: 9, r#type: 3, sender: "wxid_bob".into(), roomid: "wxid_bob".into(), ..Default::default() };
        let c = Context { image: ImageFetch::Fetched("2026-11-29/abc.png".into()), ..ctx() };
        let d = one(&m, &c);
        assert_eq!(
            d.body["message"],
            json!([{"type": "image", "data": {"file_id": "chat_image/2026-11-29/abc.png", "url": "http://127.0.0.1:10614/chat_image/2026-11-29/abc.png"}}])
        );
        assert_eq!(
            d.legacy.unwrap()["message"][0]["chat_img_url"],
            "http://127.0.0.1:10614/chat_image/2026-11-29/abc.png"
        );
        let c = Context { image: ImageFetch::Failed("WeChat could not download it".into()), ..ctx() };
        let d = one(&m, &c);
        assert_eq!(
            d.body["message"],
            json!([{"type": "image", "data": {"file_id": "wx-default-image-9", "wx.fetch_error": "WeChat could not download it"}}]),
            "the event still arrives, saying why, with an id get_file retries"
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
        let d = one(&m, &ctx());
        let b = &d.body;
        assert_eq!((b["type"].as_str(), b["detail_type"].as_str()), (Some("request"), Some("wx.friend_request")));
        assert_eq!(
            (b["flag"].as_str(), b["wx.ticket_v3"].as_str(), b["wx.scene"].as_i64()),
            (Some("v4_b@stranger"), Some("v3_a@stranger"), Some(14))
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
        let d = one(&added, &ctx());
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
        let d = one(&recall, &ctx());
        assert_eq!(
            (d.body["detail_type"].as_str(), d.body["message_id"].as_str()),
            (Some("group_message_delete"), Some("99"))
        );
        let mine = WxMsg { is_self: true, r#type: 1, content: "x".into(), ..Default::default() };
        assert!(normalize(&mine, &ctx()).is_empty(), "own messages are not reported");
        let sync = WxMsg { r#type: 51, content: "<msg><op id='5'/></msg>".into(), ..Default::default() };
        assert!(normalize(&sync, &ctx()).is_empty(), "status syncs are client signals");
        let odd =
            WxMsg { id: 3, r#type: 9999, sender: "wxid_bob".into(), content: "<x/>".into(), ..Default::default() };
        let d = one(&odd, &ctx());
        assert_eq!(d.body["message"][0], json!({"type": "wx.unknown", "data": {"type": 9999, "content": "<x/>"}}));
        assert_eq!(d.body["alt_message"], "[消息 9999]");
    }

    #[test]
    fn a_recall_in_the_3_9_12_form_does_not_collide_with_the_recalled_message() {
        let m = WxMsg {
            id: 77,
            r#type: 10000,
            sender: "wxid_bob".into(),
            roomid: "wxid_bob".into(),
            content: "\"Bob\" 撤回了一条消息".into(),
            ..Default::default()
        };
        let d = one(&m, &Context { actor: Some("wxid_bob".into()), ..ctx() });
        assert_eq!(d.body["detail_type"], "private_message_delete");
        assert_eq!(d.body["message_id"], "77");
        assert_eq!(d.source.as_deref(), Some("wx:77:recall"));
    }

    #[test]
    fn member_changes_become_one_notice_each() {
        let m = WxMsg {
            id: 8,
            r#type: 10000,
            is_group: true,
            roomid: "1@chatroom".into(),
            sender: "wxid_alice".into(),
            content: "\"Alice\"邀请\"B、C\"加入了群聊".into(),
            ..Default::default()
        };
        let change = |u: &str, n: &str| MemberChange {
            increase: true,
            sub_type: "invite",
            user_id: u.into(),
            name: n.into(),
            operator_id: "wxid_alice".into(),
        };
        let c = Context { members: vec![change("wxid_b", "B"), change("", "C")], ..ctx() };
        let v = normalize(&m, &c);
        assert_eq!(v.len(), 2);
        assert_eq!(v[0].body["detail_type"], "group_member_increase");
        assert_eq!(
            (v[0].body["user_id"].as_str(), v[0].body["operator_id"].as_str()),
            (Some("wxid_b"), Some("wxid_alice"))
        );
        assert_eq!((v[1].body["user_id"].as_str(), v[1].body["wx.display_name"].as_str()), (Some(""), Some("C")));
        assert_eq!((v[0].source.as_deref(), v[1].source.as_deref()), (Some("wx:8"), Some("wx:8:1")));
    }

    #[test]
    fn strip_keeps_emails_and_plain_at() {
        assert_eq!(strip_mentions("@A\u{2005}@B C\u{2005}x"), "x");
        assert_eq!(strip_mentions("@A\nB\u{2005}x"), "@A\nB\u{2005}x");
        assert_eq!(strip_mentions("mail a@b.com"), "mail a@b.com");
        assert_eq!(strip_mentions("@A\u{2005}"), "");
    }
}
