//! Inbound messages of every kind, built the way WeChat 3.9 stores and pushes them
//! (`shared/docs/wechat-messages.md`): the pushed `WxMsg` (`content`, `xml`, `thumb`,
//! `extra`) and the `MSG` row (type-49 XML lz4-compressed in `CompressContent` with
//! `StrContent` empty, the group sender in `BytesExtra`), the media files (thumbnails written
//! at once, full files held "on the CDN" until `DOWNLOAD_ATTACH`, voice in `MediaMSG0.db`), and
//! the room changes joins, leaves, kicks and renames make.
//!
//! Choices where the sources disagree (each other form is available through `form` or `raw`):
//! pats and joins arrive as the type-10000 texts the WeChatFerry bots read; a group `<sysmsg>`
//! (10002) keeps its `room:\n` prefix, as a 3.9 hook capture shows; a file arrives as one
//! complete type-6 message (`uploading_notice` sends the type-74 notice first); a voluntary
//! leave, and a kick by someone else, push nothing (WeChat tells other members nothing).

use std::path::{Path, PathBuf};

use base64::Engine as _;
use serde::Deserialize;
use serde_json::{Map, Value, json};
use wcf::dat_image::{self, ImageFormat};
use wcf::message::msg_type as T;
use wcf::proto::{WxMsg, room_data};
use wcf::xml::escape;

use crate::db::NewMsg;
use crate::wechat::{ControlError, DEFAULT_PNG, WeChat, hex_id, new_svr_id, now_ms, path_text};

/// A short MP3 (ID3 header and one frame header): what `GET_AUDIO_MSG` returns by default.
pub const DEFAULT_MP3: &[u8] =
    &[0x49, 0x44, 0x33, 0x04, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xFF, 0xFB, 0x90, 0x64, 0x00, 0x00, 0x00, 0x00];
/// An MP4 `ftyp` box: the default video body.
pub const DEFAULT_MP4: &[u8] = &[
    0x00, 0x00, 0x00, 0x18, b'f', b't', b'y', b'p', b'i', b's', b'o', b'm', 0x00, 0x00, 0x02, 0x00, b'i', b's', b'o',
    b'm', b'm', b'p', b'4', b'1',
];
/// A JPEG header: the default video cover.
pub const DEFAULT_JPEG: &[u8] = &[
    0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x10, b'J', b'F', b'I', b'F', 0x00, 0x01, 0x01, 0x00, 0x00, 0x01, 0x00, 0x01, 0x00,
    0x00, 0xFF, 0xD9,
];
/// A 1×1 GIF: the default sticker.
pub const DEFAULT_GIF: &[u8] = &[
    0x47, 0x49, 0x46, 0x38, 0x39, 0x61, 0x01, 0x00, 0x01, 0x00, 0x80, 0x00, 0x00, 0x00, 0x00, 0x00, 0xFF, 0xFF, 0xFF,
    0x21, 0xF9, 0x04, 0x01, 0x00, 0x00, 0x00, 0x00, 0x2C, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x01, 0x00, 0x00, 0x02,
    0x02, 0x44, 0x01, 0x00, 0x3B,
];

/// Every `type` `POST /messages` takes.
pub const KINDS: &[&str] = &[
    "text",
    "image",
    "voice",
    "video",
    "file",
    "emoji",
    "location",
    "link",
    "quote",
    "card",
    "mini_program",
    "channels",
    "chat_history",
    "transfer",
    "red_packet",
    "pat",
    "join",
    "invite",
    "leave",
    "kick",
    "rename",
    "announcement",
    "system",
];

/// A person joining or being removed (`join`, `invite`, `kick`).
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MemberSpec {
    /// wxid.
    pub wxid: String,
    /// Nickname (for newcomers: stored in `Contact` as a chat-room contact, not a friend).
    #[serde(default)]
    pub nickname: Option<String>,
    /// Group nickname (群昵称) in `RoomData`.
    #[serde(default)]
    pub alias: Option<String>,
}

/// One line of a forwarded chat history.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HistoryLine {
    /// Who said it.
    pub name: String,
    /// What they said.
    pub text: String,
    /// When (`YYYY-MM-DD HH:MM:SS`; now when omitted).
    #[serde(default)]
    pub time: Option<String>,
}

/// A message given field by field (`POST /messages` with `raw`): pushed exactly as given.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawMessage {
    /// WeChat type (1, 3, 34, 49, 10000, …).
    #[serde(rename = "type")]
    pub msg_type: u32,
    /// `content`, taken as given (for type 49 also stored compressed, `StrContent` empty).
    pub content: String,
    /// `xml` (msgsource).
    #[serde(default)]
    pub xml: Option<String>,
    /// `extra` path; relative paths are under the account folder.
    #[serde(default)]
    pub extra: Option<String>,
    /// `thumb` path; relative paths are under the account folder.
    #[serde(default)]
    pub thumb: Option<String>,
    /// `sender`.
    pub sender: String,
    /// `roomid` (defaults to the sender for private messages).
    #[serde(default)]
    pub roomid: Option<String>,
    /// `is_group` (defaults to whether `roomid` is a room).
    #[serde(default)]
    pub is_group: Option<bool>,
    /// `is_self`.
    #[serde(default)]
    pub is_self: bool,
    /// MsgSvrID to use (a fresh one when omitted; WeChat 3.9.12 re-pushes a recalled id).
    #[serde(default)]
    pub id: Option<String>,
    /// `MSG.SubType` (for type 49 read from `<appmsg><type>` when omitted).
    #[serde(default)]
    pub sub_type: Option<i64>,
    /// Files, path → base64. The file at `thumb` is written at once; the one at `extra` (or,
    /// for videos, next to `thumb` as `.mp4`) waits "on the CDN" for `DOWNLOAD_ATTACH`; others
    /// are written at once. Relative paths are under the account folder.
    #[serde(default)]
    pub files: Map<String, Value>,
    /// SILK/MP3 bytes for `GET_AUDIO_MSG` (base64), stored in `MediaMSG0.db`.
    #[serde(default)]
    pub audio_base64: Option<String>,
}

/// An inbound message to inject (`POST /messages`). Which fields a `type` uses is in the
/// emulator README.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InboundMessage {
    /// Sender wxid (for member changes: who did it).
    #[serde(default)]
    pub from: String,
    /// Chat group, for a group message.
    #[serde(default)]
    pub room: Option<String>,
    /// One of [`KINDS`] (default `text`).
    #[serde(default, rename = "type")]
    pub kind: Option<String>,
    /// Text (`text`, `quote`, `system`, `announcement`).
    #[serde(default)]
    pub text: Option<String>,
    /// Image bytes (PNG, JPEG or GIF), base64; a 1×1 PNG when omitted.
    #[serde(default)]
    pub image_base64: Option<String>,
    /// Voice: the audio `GET_AUDIO_MSG` returns (as the `.mp3`), base64.
    #[serde(default)]
    pub audio_base64: Option<String>,
    /// Voice and video length in milliseconds.
    #[serde(default)]
    pub duration_ms: Option<u64>,
    /// Voice: WeChat's speech-to-text.
    #[serde(default)]
    pub transcript: Option<String>,
    /// Video bytes (MP4), base64.
    #[serde(default)]
    pub video_base64: Option<String>,
    /// Video cover (JPEG), base64.
    #[serde(default)]
    pub thumb_base64: Option<String>,
    /// File bytes, base64.
    #[serde(default)]
    pub file_base64: Option<String>,
    /// Sticker bytes (GIF or PNG), base64; served at `GET /cdn/emoji/<md5>`.
    #[serde(default)]
    pub emoji_base64: Option<String>,
    /// File name (`file`); new group name (`rename`).
    #[serde(default)]
    pub name: Option<String>,
    /// `file`: push the type-74 "uploading" notice first.
    #[serde(default)]
    pub uploading_notice: bool,
    /// Location.
    #[serde(default)]
    pub latitude: Option<f64>,
    /// Location.
    #[serde(default)]
    pub longitude: Option<f64>,
    /// Location address.
    #[serde(default)]
    pub label: Option<String>,
    /// Location place name.
    #[serde(default)]
    pub poiname: Option<String>,
    /// Link, mini program, chat history: title.
    #[serde(default)]
    pub title: Option<String>,
    /// Link, channels: description.
    #[serde(default)]
    pub description: Option<String>,
    /// Link, channels: URL.
    #[serde(default)]
    pub url: Option<String>,
    /// Link, mini program, channels: thumbnail / cover URL.
    #[serde(default)]
    pub thumb_url: Option<String>,
    /// Link, mini program: who made it (`sourcedisplayname`).
    #[serde(default)]
    pub source_name: Option<String>,
    /// Link: the appmsg type (5 by default; 3 music, 4 app link…).
    #[serde(default)]
    pub app_type: Option<u32>,
    /// Mini program: `weappinfo/appid`.
    #[serde(default)]
    pub appid: Option<String>,
    /// Mini program: `weappinfo/username` (`gh_…@app`).
    #[serde(default)]
    pub app_username: Option<String>,
    /// Mini program: page path.
    #[serde(default)]
    pub pagepath: Option<String>,
    /// Quote: the quoted message's id.
    #[serde(default)]
    pub quoted_id: Option<String>,
    /// Card: the person shared (a wxid).
    #[serde(default)]
    pub card_user: Option<String>,
    /// Card, channels: nickname.
    #[serde(default)]
    pub nickname: Option<String>,
    /// Chat history lines.
    #[serde(default)]
    pub items: Vec<HistoryLine>,
    /// Transfer amount (`50.00`).
    #[serde(default)]
    pub amount: Option<String>,
    /// Transfer memo.
    #[serde(default)]
    pub memo: Option<String>,
    /// Pat: who is patted (default: this account).
    #[serde(default)]
    pub patted: Option<String>,
    /// Join, invite, kick: who.
    #[serde(default)]
    pub members: Vec<MemberSpec>,
    /// Join, invite: the names the system text uses instead of the members' nicknames.
    #[serde(default)]
    pub names: Vec<String>,
    /// Another of WeChat's forms: `sysmsg` (pat, join, invite, announcement as 10002),
    /// `appmsg` (pat as 49/62, red packet as 49/2001).
    #[serde(default)]
    pub form: Option<String>,
    /// Members @-mentioned (group text only).
    #[serde(default)]
    pub at: Vec<String>,
    /// @all (group text only).
    #[serde(default)]
    pub at_all: bool,
    /// Media WeChat can no longer download (expired on the CDN): only the thumbnail exists,
    /// and `DOWNLOAD_ATTACH` answers -1.
    #[serde(default)]
    pub unavailable: bool,
    /// Every field given (`type` is ignored then).
    #[serde(default)]
    pub raw: Option<RawMessage>,
}

/// What an injection did (`POST /messages` answers it).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Injected {
    /// MsgSvrID of the (last) message pushed; `None` when WeChat shows nothing (a leave).
    pub id: Option<u64>,
    /// Every MsgSvrID pushed, in order.
    pub ids: Vec<u64>,
    /// Kind-specific values (a transfer's ids).
    pub extra: Map<String, Value>,
}

impl Injected {
    /// The answer body.
    pub fn to_json(&self) -> Value {
        let mut m = self.extra.clone();
        m.insert("id".into(), self.id.map(|i| Value::String(i.to_string())).unwrap_or(Value::Null));
        m.insert("ids".into(), json!(self.ids.iter().map(u64::to_string).collect::<Vec<_>>()));
        Value::Object(m)
    }
}

/// A message on its way: row and push, plus the attachment held on the CDN.
pub(crate) struct Built {
    pub(crate) row: NewMsg,
    pub(crate) msg: WxMsg,
    /// `(target path, bytes)` that `DOWNLOAD_ATTACH` places.
    pub(crate) pending: Option<(PathBuf, Vec<u8>)>,
    /// Bytes for `MediaMSG0.db` (voice).
    pub(crate) audio: Option<Vec<u8>>,
}

fn invalid<T>(s: impl Into<String>) -> Result<T, ControlError> {
    Err(ControlError::Invalid(s.into()))
}

fn b64(field: &str, v: &Option<String>, default: &[u8]) -> Result<Vec<u8>, ControlError> {
    match v {
        Some(s) => base64::engine::general_purpose::STANDARD
            .decode(s.trim())
            .map_err(|e| ControlError::Invalid(format!("`{field}` is not valid base64: {e}"))),
        None => Ok(default.to_vec()),
    }
}

fn month() -> String {
    let now = time::OffsetDateTime::now_utc();
    format!("{:04}-{:02}", now.year(), u8::from(now.month()))
}

fn md5ish(bytes: &[u8], salt: u64) -> String {
    // Not MD5: a stable 32-hex digest, as long as WeChat's.
    format!("{:016x}{:016x}", crate::wechat::fnv(bytes), salt)
}

/// The `<appmsg>` envelope WeChat 3.9 writes around every app message.
fn appmsg(subtype: u32, title: &str, des: &str, url: &str, thumb: &str, inner: &str, from: &str) -> String {
    format!(
        "<?xml version=\"1.0\"?>\n<msg>\n\t<appmsg appid=\"\" sdkver=\"0\">\n\t\t<title>{}</title>\n\t\t<des>{}</des>\n\t\t<action>view</action>\n\t\t<type>{subtype}</type>\n\t\t<showtype>0</showtype>\n\t\t<content />\n\t\t<url>{}</url>\n\t\t<lowurl />\n\t\t<dataurl />\n\t\t<lowdataurl />\n\t\t<thumburl>{}</thumburl>\n{inner}\t</appmsg>\n\t<fromusername>{}</fromusername>\n\t<scene>0</scene>\n\t<appinfo>\n\t\t<version>1</version>\n\t\t<appname></appname>\n\t</appinfo>\n\t<commenturl></commenturl>\n</msg>\n",
        escape(title),
        escape(des),
        escape(url),
        escape(thumb),
        escape(from)
    )
}

impl WeChat {
    /// The name others see for `wxid` in `room` (group nickname, else nickname, else wxid).
    pub(crate) fn member_name(&self, room: Option<&str>, wxid: &str) -> String {
        if let Some(room) = room
            && let Ok(Some(data)) = self.db().room_data(room)
            && let Some(n) = data.members.iter().find(|m| m.wxid == wxid).and_then(|m| m.name.clone())
            && !n.is_empty()
        {
            return n;
        }
        self.nickname(wxid)
    }

    /// `Contact.NickName` of `wxid`, else the wxid.
    pub(crate) fn nickname(&self, wxid: &str) -> String {
        match self.db().nickname(wxid) {
            Ok(Some(n)) if !n.is_empty() => n,
            _ => wxid.to_owned(),
        }
    }

    fn resolve(&self, p: &str) -> PathBuf {
        let path = Path::new(p);
        if path.is_absolute() { path.to_path_buf() } else { self.account_dir().join(p) }
    }

    /// Applies `POST /messages`.
    pub fn apply(&self, m: &InboundMessage) -> Result<Injected, ControlError> {
        if let Some(raw) = &m.raw {
            let built = self.build_raw(raw)?;
            let id = built.msg.id;
            self.deliver_built(vec![built])?;
            return Ok(Injected { id: Some(id), ids: vec![id], extra: Map::new() });
        }
        let kind = self.check(m)?;
        let mut extra = Map::new();
        let built = match kind {
            "join" | "invite" | "leave" | "kick" | "rename" | "announcement" => {
                let Some(room) = m.room.as_deref() else {
                    return invalid(format!("a {kind} needs the `room` it happens in"));
                };
                if self.db().room_data(room)?.is_none() {
                    return invalid(format!("room {room:?} is not one of this account's chat groups"));
                }
                self.room_event(kind, room, m)?
            }
            _ => {
                let b = self.build_kind(kind, m, &mut extra)?;
                b.into_iter().collect()
            }
        };
        let ids: Vec<u64> = built.iter().map(|b| b.msg.id).collect();
        self.deliver_built(built)?;
        Ok(Injected { id: ids.last().copied(), ids, extra })
    }

    fn check<'a>(&self, m: &'a InboundMessage) -> Result<&'a str, ControlError> {
        let kind = m.kind.as_deref().unwrap_or("text");
        if !KINDS.contains(&kind) {
            return invalid(format!("unknown message `type` {kind:?}: use one of {}", KINDS.join(", ")));
        }
        if m.from.trim().is_empty() {
            return invalid("`from` (the sender's wxid) is required");
        }
        if let Some(room) = &m.room
            && !room.ends_with("@chatroom")
        {
            return invalid(format!("`room` {room:?} is not a chat-group id (it must end with @chatroom)"));
        }
        if (!m.at.is_empty() || m.at_all) && (m.room.is_none() || kind != "text") {
            return invalid("`at` and `at_all` need a `room` and type text: @-mentions exist only in group texts");
        }
        Ok(kind)
    }

    /// Builds a non-room kind without delivering it (batches).
    pub(crate) fn build_simple(&self, m: &InboundMessage) -> Result<Vec<Built>, ControlError> {
        let kind = self.check(m)?;
        self.build_kind(kind, m, &mut Map::new())
    }

    /// Stores and pushes, placing CDN files and voice data first.
    pub(crate) fn deliver_built(&self, items: Vec<Built>) -> Result<(), ControlError> {
        let mut pairs = Vec::with_capacity(items.len());
        for b in items {
            if let Some((target, bytes)) = &b.pending {
                self.hold_on_cdn(b.msg.id, target, bytes)?;
            }
            if let Some(audio) = &b.audio {
                self.db().insert_audio(b.msg.id, audio)?;
            }
            pairs.push((b.row, b.msg));
        }
        self.deliver_pairs(pairs)
    }

    /// A message's row and push from its parts.
    #[allow(clippy::too_many_arguments)]
    fn assemble(
        &self,
        m: &InboundMessage,
        msg_type: u32,
        sub_type: i64,
        content: String,
        thumb: String,
        extra: String,
        xml: String,
    ) -> Built {
        let id = new_svr_id();
        let ts = (now_ms() / 1000) as u32;
        let talker = m.room.clone().unwrap_or_else(|| m.from.clone());
        let is_group = m.room.is_some();
        // 10002 in groups keeps the `room:\n` prefix (wxhelper capture, §1.2).
        let pushed = if is_group && msg_type == T::SYS_XML { format!("{talker}:\n{content}") } else { content.clone() };
        let row = NewMsg {
            svr_id: id,
            msg_type,
            sub_type,
            is_sender: false,
            create_time: ts as i64,
            talker: talker.clone(),
            content,
            sender: is_group.then(|| m.from.clone()),
            msg_source: xml.clone(),
            thumb: thumb.clone(),
            extra: extra.clone(),
            display_content: String::new(),
        };
        let msg = WxMsg {
            is_self: false,
            is_group,
            id,
            r#type: msg_type,
            ts,
            roomid: talker,
            content: pushed,
            sender: m.from.clone(),
            sign: hex_id(16),
            thumb,
            extra,
            xml,
        };
        Built { row, msg, pending: None, audio: None }
    }

    fn msg_source(&self, m: &InboundMessage) -> String {
        let mut at_list = m.at.clone();
        if m.at_all {
            at_list.push("notify@all".into());
        }
        let count = m
            .room
            .as_deref()
            .and_then(|r| self.db().room_data(r).ok().flatten())
            .map(|d| format!("<membercount>{}</membercount>", d.members.len()))
            .unwrap_or_default();
        if at_list.is_empty() {
            format!("<msgsource>{count}<signature>v1_emulated</signature></msgsource>")
        } else {
            format!(
                "<msgsource><atuserlist><![CDATA[{}]]></atuserlist>{count}<signature>v1_emulated</signature></msgsource>",
                at_list.join(",")
            )
        }
    }

    fn build_kind(
        &self,
        kind: &str,
        m: &InboundMessage,
        out: &mut Map<String, Value>,
    ) -> Result<Vec<Built>, ControlError> {
        let src = self.msg_source(m);
        let app = |subtype: u32, title: &str, des: &str, url: &str, thumb: &str, inner: &str| {
            self.assemble(
                m,
                T::APP,
                subtype as i64,
                appmsg(subtype, title, des, url, thumb, inner, &m.from),
                String::new(),
                String::new(),
                src.clone(),
            )
        };
        let text = |field: &str| -> Result<String, ControlError> {
            match &m.text {
                Some(t) if !t.is_empty() => Ok(t.clone()),
                _ => invalid(format!("a {kind} message needs a non-empty `{field}`")),
            }
        };
        Ok(vec![match kind {
            "text" => {
                let text = text("text")?;
                let mut prefix = String::new();
                if m.at_all && !wcf::message::mentions_all(&text) {
                    prefix.push_str("@所有人\u{2005}");
                }
                for w in &m.at {
                    let name = format!("@{}", self.member_name(m.room.as_deref(), w));
                    if !text.contains(&name) {
                        prefix.push_str(&name);
                        prefix.push('\u{2005}');
                    }
                }
                self.assemble(m, T::TEXT, 0, format!("{prefix}{text}"), String::new(), String::new(), src)
            }
            "system" => {
                let text = text("text")?;
                self.assemble(m, T::SYSTEM, 0, text, String::new(), String::new(), String::new())
            }
            "image" => {
                let bytes = b64("image_base64", &m.image_base64, DEFAULT_PNG)?;
                if ImageFormat::sniff(&bytes).is_none() {
                    return invalid("`image_base64` must be a PNG, JPEG or GIF image");
                }
                let id_hint = new_svr_id();
                let (thumb, extra, content, dat) = self.image_files(id_hint, &bytes)?;
                let mut b = self.assemble(m, T::IMAGE, 0, content, thumb, extra.clone(), src);
                if !m.unavailable {
                    b.pending = Some((PathBuf::from(extra), dat));
                }
                b
            }
            "voice" => {
                let audio = b64("audio_base64", &m.audio_base64, DEFAULT_MP3)?;
                let ms = m.duration_ms.unwrap_or(1500).max(1);
                let trans = m
                    .transcript
                    .as_deref()
                    .map(|t| format!("<voicetrans transtext=\"{}\" />", escape(t)))
                    .unwrap_or_default();
                let content = format!(
                    "<msg><voicemsg endflag=\"1\" cancelflag=\"0\" forwardflag=\"0\" voiceformat=\"4\" voicelength=\"{ms}\" length=\"{}\" bufid=\"0\" aeskey=\"{}\" voiceurl=\"3052020100044b3049{}\" voicemd5=\"\" clientmsgid=\"{}\" fromusername=\"{}\" />{trans}</msg>",
                    audio.len() + 1,
                    hex_id(16),
                    hex_id(20),
                    hex_id(16),
                    escape(&m.from)
                );
                let mut b = self.assemble(m, T::VOICE, 0, content, String::new(), String::new(), src);
                // MediaMSG keeps SILK behind a leading 0x02 byte; GET_AUDIO_MSG drops it.
                let mut buf = vec![0x02];
                buf.extend_from_slice(&audio);
                b.audio = Some(buf);
                b
            }
            "video" => {
                let video = b64("video_base64", &m.video_base64, DEFAULT_MP4)?;
                let cover = b64("thumb_base64", &m.thumb_base64, DEFAULT_JPEG)?;
                let md5 = md5ish(&video, rand::random());
                let dir = self.account_dir().join("FileStorage").join("Video").join(month());
                std::fs::create_dir_all(&dir)?;
                let thumb = dir.join(format!("{md5}.jpg"));
                std::fs::write(&thumb, &cover)?;
                let secs = m.duration_ms.unwrap_or(3000).div_ceil(1000);
                let content = format!(
                    "<?xml version=\"1.0\"?>\n<msg>\n\t<videomsg aeskey=\"{k}\" cdnvideourl=\"3057020100044b3049{u}\" cdnthumbaeskey=\"{k}\" cdnthumburl=\"3057020100044b3049{u}\" length=\"{}\" playlength=\"{secs}\" cdnthumblength=\"{}\" cdnthumbwidth=\"720\" cdnthumbheight=\"1280\" fromusername=\"{}\" md5=\"{md5}\" newmd5=\"{}\" isplaceholder=\"0\" rawmd5=\"\" rawlength=\"0\" cdnrawvideourl=\"\" cdnrawvideoaeskey=\"\" overwritenewmsgid=\"0\" originsourcemd5=\"\" isad=\"0\" />\n</msg>\n",
                    video.len(),
                    cover.len(),
                    escape(&m.from),
                    hex_id(16),
                    k = hex_id(16),
                    u = hex_id(24),
                );
                let mut b = self.assemble(m, T::VIDEO, 0, content, path_text(&thumb), String::new(), src);
                if !m.unavailable {
                    b.pending = Some((thumb.with_extension("mp4"), video));
                }
                b
            }
            "file" => {
                let body = b64("file_base64", &m.file_base64, b"")?;
                let Some(name) = m.name.clone().filter(|n| !n.trim().is_empty()) else {
                    return invalid("a file message needs its `name`");
                };
                if name.contains(['/', '\\']) || name == "." || name == ".." {
                    return invalid("`name` is a file name, without folders");
                }
                let ext = Path::new(&name).extension().map(|e| e.to_string_lossy().into_owned()).unwrap_or_default();
                let md5 = md5ish(&body, 0);
                let extra = self.account_dir().join("FileStorage").join("File").join(month()).join(&name);
                let mut items = Vec::new();
                let mut overwrite = String::new();
                if m.uploading_notice {
                    let inner = format!(
                        "\t\t<appattach>\n\t\t\t<totallen>{}</totallen>\n\t\t\t<fileext><![CDATA[{ext}]]></fileext>\n\t\t\t<fileuploadtoken>v1_{}</fileuploadtoken>\n\t\t\t<status>0</status>\n\t\t</appattach>\n\t\t<md5><![CDATA[{md5}]]></md5>\n",
                        body.len(),
                        hex_id(12)
                    );
                    let notice = app(74, &name, "", "", "", &inner);
                    overwrite = format!("\t\t\t<overwrite_newmsgid>{}</overwrite_newmsgid>\n", notice.msg.id);
                    items.push(notice);
                }
                let inner = format!(
                    "\t\t<md5>{md5}</md5>\n\t\t<appattach>\n\t\t\t<totallen>{}</totallen>\n\t\t\t<attachid>@cdn_{}_1</attachid>\n\t\t\t<fileext>{ext}</fileext>\n{overwrite}\t\t\t<cdnattachurl>{}</cdnattachurl>\n\t\t\t<aeskey>{}</aeskey>\n\t\t\t<encryver>1</encryver>\n\t\t</appattach>\n",
                    body.len(),
                    hex_id(20),
                    hex_id(20),
                    hex_id(16)
                );
                let mut b = self.assemble(
                    m,
                    T::APP,
                    6,
                    appmsg(6, &name, "", "", "", &inner, &m.from),
                    String::new(),
                    path_text(&extra),
                    src,
                );
                if !m.unavailable {
                    b.pending = Some((extra, body));
                }
                items.push(b);
                return Ok(items);
            }
            "emoji" => {
                let bytes = b64("emoji_base64", &m.emoji_base64, DEFAULT_GIF)?;
                if ImageFormat::sniff(&bytes).is_none() {
                    return invalid("`emoji_base64` must be a GIF, PNG or JPEG image");
                }
                let md5 = md5ish(&bytes, 47);
                std::fs::write(self.cdn_dir().join(format!("emoji-{md5}")), &bytes)?;
                let url = format!("{}/cdn/emoji/{md5}?m={md5}&amp;filekey=emulated", self.cdn_base());
                let to = m.room.clone().unwrap_or_else(|| self.me().wxid.clone());
                let content = format!(
                    "<msg><emoji fromusername = \"{}\" tousername = \"{}\" type=\"2\" idbuffer=\"media:0_0\" md5=\"{md5}\" len = \"{}\" productid=\"\" androidmd5=\"{md5}\" androidlen=\"{}\" cdnurl = \"{url}\" designerid = \"\" thumburl = \"\" encrypturl = \"{url}\" aeskey= \"{}\" width= \"240\" height= \"240\" ></emoji><gameext type=\"0\" content=\"0\" ></gameext></msg>",
                    escape(&m.from),
                    escape(&to),
                    bytes.len(),
                    bytes.len(),
                    hex_id(16)
                );
                self.assemble(m, T::EMOJI, 0, content, String::new(), String::new(), src)
            }
            "location" => {
                let (Some(lat), Some(lng)) = (m.latitude, m.longitude) else {
                    return invalid("a location needs `latitude` and `longitude`");
                };
                if !(-90.0..=90.0).contains(&lat) || !(-180.0..=180.0).contains(&lng) {
                    return invalid("`latitude` must be within ±90 and `longitude` within ±180");
                }
                let content = format!(
                    "<?xml version=\"1.0\"?>\n<msg>\n\t<location x=\"{lat:.6}\" y=\"{lng:.6}\" scale=\"16\" label=\"{}\" maptype=\"0\" poiname=\"{}\" poiid=\"\" />\n</msg>\n",
                    escape(m.label.as_deref().unwrap_or_default()),
                    escape(m.poiname.as_deref().unwrap_or("[位置]"))
                );
                self.assemble(m, T::LOCATION, 0, content, String::new(), String::new(), src)
            }
            "link" => {
                let (Some(title), Some(url)) = (&m.title, &m.url) else {
                    return invalid("a link needs `title` and `url`");
                };
                let source = m
                    .source_name
                    .as_deref()
                    .map(|s| format!("\t\t<sourcedisplayname>{}</sourcedisplayname>\n", escape(s)))
                    .unwrap_or_default();
                app(
                    m.app_type.unwrap_or(5),
                    title,
                    m.description.as_deref().unwrap_or_default(),
                    url,
                    m.thumb_url.as_deref().unwrap_or_default(),
                    &source,
                )
            }
            "quote" => {
                let text = text("text")?;
                let Some(qid) = m.quoted_id.as_deref() else {
                    return invalid("a quote needs `quoted_id` (the quoted message's id)");
                };
                let Ok(qid) = qid.trim().parse::<u64>() else {
                    return invalid("`quoted_id` must be a message id (decimal digits)");
                };
                let Some(q) = self.db().msg_by_svr_id(qid)? else {
                    return invalid(format!(
                        "message {qid} is not in WeChat's database: quote a message that was sent or received"
                    ));
                };
                let room = wcf::message::is_room_id(&q.talker).then_some(q.talker.as_str());
                let quoted_sender = if q.is_sender {
                    self.me().wxid.clone()
                } else {
                    q.extra.get(wcf::proto::bytes_extra::SENDER).map(str::to_owned).unwrap_or_else(|| q.talker.clone())
                };
                let from = room.map(str::to_owned).unwrap_or_else(|| quoted_sender.clone());
                let refer = format!(
                    "\t\t<refermsg>\n\t\t\t<type>{}</type>\n\t\t\t<svrid>{}</svrid>\n\t\t\t<fromusr>{}</fromusr>\n\t\t\t<chatusr>{}</chatusr>\n\t\t\t<displayname>{}</displayname>\n\t\t\t<content>{}</content>\n\t\t\t<createtime>{}</createtime>\n\t\t</refermsg>\n",
                    q.msg_type,
                    q.svr_id,
                    escape(&from),
                    escape(&quoted_sender),
                    escape(&self.member_name(room, &quoted_sender)),
                    escape(&q.content),
                    q.create_time
                );
                app(57, &text, "", "", "", &refer)
            }
            "card" => {
                let Some(user) = m.card_user.as_deref().filter(|u| !u.is_empty()) else {
                    return invalid("a card needs `card_user` (the wxid of the person shared)");
                };
                let c = self.db().contact(user)?;
                let nickname = m
                    .nickname
                    .clone()
                    .or_else(|| c.as_ref().map(|c| c.name.clone()))
                    .unwrap_or_else(|| user.to_owned());
                // A stranger's card carries a v3 ticket; a friend's or official account's, the id.
                let username = if c.is_some() { user.to_owned() } else { format!("v3_{}@stranger", hex_id(24)) };
                let content = format!(
                    "<?xml version=\"1.0\"?>\n<msg bigheadimgurl=\"http://wx.qlogo.cn/mmhead/ver_1/{h}/0\" smallheadimgurl=\"http://wx.qlogo.cn/mmhead/ver_1/{h}/132\" username=\"{}\" nickname=\"{}\" fullpy=\"\" shortpy=\"\" alias=\"{}\" imagestatus=\"3\" scene=\"17\" province=\"{}\" city=\"{}\" sign=\"\" sex=\"{}\" certflag=\"0\" certinfo=\"\" brandIconUrl=\"\" brandHomeUrl=\"\" brandSubscriptConfigUrl=\"\" brandFlags=\"0\" regionCode=\"\" biznamecardinfo=\"\" antispamticket=\"v4_{}@stranger\" />\n",
                    escape(&username),
                    escape(&nickname),
                    escape(c.as_ref().map(|c| c.code.as_str()).unwrap_or_default()),
                    escape(c.as_ref().map(|c| c.province.as_str()).unwrap_or_default()),
                    escape(c.as_ref().map(|c| c.city.as_str()).unwrap_or_default()),
                    c.as_ref().map(|c| c.gender).unwrap_or(0),
                    hex_id(24),
                    h = hex_id(12),
                );
                self.assemble(m, T::CARD, 0, content, String::new(), String::new(), src)
            }
            "mini_program" => {
                let Some(title) = &m.title else { return invalid("a mini program needs a `title`") };
                let appid = m.appid.clone().unwrap_or_else(|| format!("wx{}", hex_id(8)));
                let username = m.app_username.clone().unwrap_or_else(|| format!("gh_{}@app", hex_id(6)));
                let inner = format!(
                    "\t\t<sourcedisplayname>{}</sourcedisplayname>\n\t\t<appattach><totallen>0</totallen><cdnthumburl>{}</cdnthumburl><cdnthumbaeskey>{}</cdnthumbaeskey></appattach>\n\t\t<weappinfo><pagepath>{}</pagepath><username>{}</username><appid>{}</appid><type>1</type><weappiconurl>http://mmbiz.qpic.cn/emulated/{}</weappiconurl><appservicetype>0</appservicetype></weappinfo>\n",
                    escape(m.source_name.as_deref().unwrap_or(title)),
                    hex_id(20),
                    hex_id(16),
                    escape(m.pagepath.as_deref().unwrap_or_default()),
                    escape(&username),
                    escape(&appid),
                    hex_id(8)
                );
                let url = format!(
                    "https://mp.weixin.qq.com/mp/waerrpage?appid={appid}&type=upgrade&upgradetype=3#wechat_redirect"
                );
                app(33, title, "", &url, m.thumb_url.as_deref().unwrap_or_default(), &inner)
            }
            "channels" => {
                let Some(nick) = &m.nickname else { return invalid("a channels share needs the author's `nickname`") };
                let secs = m.duration_ms.unwrap_or(29_000).div_ceil(1000);
                let inner = format!(
                    "\t\t<finderFeed>\n\t\t\t<objectId><![CDATA[{}]]></objectId>\n\t\t\t<feedType><![CDATA[4]]></feedType>\n\t\t\t<nickname><![CDATA[{}]]></nickname>\n\t\t\t<desc><![CDATA[{}]]></desc>\n\t\t\t<mediaCount>1</mediaCount>\n\t\t\t<objectNonceId><![CDATA[{}]]></objectNonceId>\n\t\t\t<mediaList><media><thumbUrl>{}</thumbUrl><videoPlayDuration>{secs}</videoPlayDuration><url>{}</url><coverUrl>{}</coverUrl><mediaType>4</mediaType></media></mediaList>\n\t\t</finderFeed>\n",
                    rand::random_range(10_000_000_000_000_000_000u64..18_000_000_000_000_000_000u64),
                    nick.replace("]]>", ""),
                    m.description.as_deref().unwrap_or_default().replace("]]>", ""),
                    hex_id(8),
                    escape(m.thumb_url.as_deref().unwrap_or_default()),
                    escape(m.url.as_deref().unwrap_or_default()),
                    escape(m.thumb_url.as_deref().unwrap_or_default()),
                );
                app(
                    51,
                    "当前微信版本不支持展示该内容，请升级至最新版本。",
                    "",
                    "https://support.weixin.qq.com/update/",
                    "",
                    &inner,
                )
            }
            "chat_history" => {
                if m.items.is_empty() {
                    return invalid("a chat history needs `items`: [{name, text}]");
                }
                let title = m.title.clone().unwrap_or_else(|| format!("{}的聊天记录", m.items[0].name));
                let now = time::OffsetDateTime::now_utc();
                let stamp = format!(
                    "{:04}-{:02}-{:02} {:02}:{:02}:{:02}",
                    now.year(),
                    u8::from(now.month()),
                    now.day(),
                    now.hour(),
                    now.minute(),
                    now.second()
                );
                let desc: Vec<String> = m.items.iter().take(4).map(|i| format!("{}: {}", i.name, i.text)).collect();
                let items: String = m
                    .items
                    .iter()
                    .map(|i| {
                        format!(
                            "<dataitem datatype=\"1\" dataid=\"{}\"><datadesc>{}</datadesc><sourcename>{}</sourcename><sourcetime>{}</sourcetime></dataitem>",
                            hex_id(16),
                            escape(&i.text),
                            escape(&i.name),
                            escape(i.time.as_deref().unwrap_or(&stamp))
                        )
                    })
                    .collect();
                let record = format!(
                    "<recordinfo><fromscene>0</fromscene><favcreatetime>0</favcreatetime><isChatRoom>{}</isChatRoom><title>{}</title><desc>{}</desc><datalist count=\"{}\">{items}</datalist></recordinfo>",
                    m.room.is_some() as u8,
                    escape(&title),
                    escape(&desc.join("\n")),
                    m.items.len()
                );
                let inner = format!("\t\t<recorditem><![CDATA[{}]]></recorditem>\n", record.replace("]]>", ""));
                app(
                    19,
                    &title,
                    &desc.join("\n"),
                    "https://support.weixin.qq.com/cgi-bin/mmsupport-bin/readtemplate?t=page/favorite_record__w_unsupport",
                    "",
                    &inner,
                )
            }
            "transfer" => {
                let Some(amount) = m.amount.as_deref().filter(|a| !a.trim().is_empty()) else {
                    return invalid("a transfer needs an `amount` (e.g. \"50.00\")");
                };
                let transfer_id =
                    format!("1000050001{}", rand::random_range(100_000_000_000_000_000u64..999_999_999_999_999_999u64));
                let transaction_id =
                    format!("53010001{}", rand::random_range(100_000_000_000_000_000u64..999_999_999_999_999_999u64));
                out.insert("transfer_id".into(), json!(transfer_id));
                out.insert("transaction_id".into(), json!(transaction_id));
                let now = now_ms() / 1000;
                let inner = format!(
                    "\t\t<wcpayinfo><paysubtype>1</paysubtype><feedesc><![CDATA[￥{amount}]]></feedesc><transcationid><![CDATA[{transaction_id}]]></transcationid><transferid><![CDATA[{transfer_id}]]></transferid><invalidtime><![CDATA[{}]]></invalidtime><begintransfertime><![CDATA[{now}]]></begintransfertime><effectivedate><![CDATA[1]]></effectivedate><pay_memo><![CDATA[{}]]></pay_memo><has_transfer_address><![CDATA[0]]></has_transfer_address><receiver_username><![CDATA[{}]]></receiver_username><payer_username><![CDATA[{}]]></payer_username></wcpayinfo>\n",
                    now + 86_400,
                    m.memo.as_deref().unwrap_or_default().replace("]]>", ""),
                    self.me().wxid,
                    m.from
                );
                app(
                    2000,
                    "微信转账",
                    &format!("收到转账￥{amount}元。如需收钱，请点此升级至最新版本"),
                    "https://support.weixin.qq.com/cgi-bin/mmsupport-bin/readtemplate?t=page/common_page__upgrade",
                    "",
                    &inner,
                )
            }
            "red_packet" => match m.form.as_deref() {
                Some("appmsg") => app(
                    2001,
                    "微信红包",
                    "我给你发了一个红包，赶紧去拆!",
                    "https://wxapp.tenpay.com/mmpayhb/wxhb_personalreceive",
                    "https://wx.gtimg.com/hongbao/1800/hb.png",
                    "\t\t<wcpayinfo><templateid>emulated</templateid></wcpayinfo>\n",
                ),
                None | Some("text") => self.assemble(
                    m,
                    T::SYSTEM,
                    0,
                    "收到红包，请在手机上查看".into(),
                    String::new(),
                    String::new(),
                    String::new(),
                ),
                Some(f) => return invalid(format!("`form` {f:?} of a red packet: use text (default) or appmsg")),
            },
            "pat" => {
                let me = self.me().wxid.clone();
                let patted = m.patted.clone().unwrap_or_else(|| me.clone());
                let room = m.room.as_deref();
                let chat = m.room.clone().unwrap_or_else(|| m.from.clone());
                match m.form.as_deref() {
                    None | Some("text") => {
                        let from = self.member_name(room, &m.from);
                        let text = if patted == me {
                            format!("\"{from}\" 拍了拍我")
                        } else if patted == m.from {
                            format!("\"{from}\" 拍了拍自己")
                        } else {
                            format!("\"{from}\" 拍了拍 \"{}\"", self.member_name(room, &patted))
                        };
                        self.assemble(m, T::SYSTEM, 4, text, String::new(), String::new(), String::new())
                    }
                    Some("sysmsg") => {
                        let tmpl = if patted == me {
                            format!("\"${{{}}}\" 拍了拍我", m.from)
                        } else {
                            format!("\"${{{}}}\" 拍了拍 \"${{{patted}}}\"", m.from)
                        };
                        let content = format!(
                            "<sysmsg type=\"pat\">\n<pat>\n  <fromusername>{}</fromusername>\n  <chatusername>{}</chatusername>\n  <pattedusername>{}</pattedusername>\n  <patsuffix><![CDATA[]]></patsuffix>\n  <patsuffixversion>0</patsuffixversion>\n  <template><![CDATA[{tmpl}]]></template>\n</pat>\n</sysmsg>",
                            escape(&m.from),
                            escape(&chat),
                            escape(&patted)
                        );
                        self.assemble(m, T::SYS_XML, 0, content, String::new(), String::new(), String::new())
                    }
                    Some("appmsg") => {
                        let title = format!(
                            "\"{}\" 拍了拍 \"{}\"",
                            self.member_name(room, &m.from),
                            self.member_name(room, &patted)
                        );
                        let inner = format!(
                            "\t\t<patMsg><chatUser>{}</chatUser><records><recordNum>1</recordNum><record><fromUser>{}</fromUser><pattedUser>{}</pattedUser><templete><![CDATA[\"${{{}}}\" 拍了拍 \"${{{}}}\"]]></templete><createTime>{}</createTime><svrId>{}</svrId><readStatus>1</readStatus></record></records></patMsg>\n",
                            escape(&chat),
                            escape(&m.from),
                            escape(&patted),
                            m.from,
                            patted,
                            now_ms() / 1000,
                            new_svr_id()
                        );
                        app(62, &title, "", "", "", &inner)
                    }
                    Some(f) => return invalid(format!("`form` {f:?} of a pat: use text (default), sysmsg or appmsg")),
                }
            }
            other => return invalid(format!("unknown message `type` {other:?}")),
        }])
    }

    /// `raw`: every field as given.
    fn build_raw(&self, r: &RawMessage) -> Result<Built, ControlError> {
        if r.sender.trim().is_empty() {
            return invalid("`raw.sender` is required");
        }
        let roomid = r.roomid.clone().unwrap_or_else(|| if r.is_self { String::new() } else { r.sender.clone() });
        let is_group = r.is_group.unwrap_or_else(|| wcf::message::is_room_id(&roomid));
        let id = match &r.id {
            Some(s) => {
                s.trim().parse::<u64>().map_err(|_| ControlError::Invalid("`raw.id` must be decimal digits".into()))?
            }
            None => new_svr_id(),
        };
        let thumb =
            r.thumb.as_deref().filter(|s| !s.is_empty()).map(|p| path_text(&self.resolve(p))).unwrap_or_default();
        let extra =
            r.extra.as_deref().filter(|s| !s.is_empty()).map(|p| path_text(&self.resolve(p))).unwrap_or_default();
        let mut pending = None;
        for (path, v) in &r.files {
            let Some(s) = v.as_str() else { return invalid(format!("`raw.files[{path:?}]` must be base64 text")) };
            let bytes = b64(&format!("raw.files[{path:?}]"), &Some(s.to_owned()), b"")?;
            let target = self.resolve(path);
            if !target.starts_with(self.data_dir()) && !target.starts_with(self.account_dir()) {
                return invalid(format!("`raw.files` path {path:?} is outside the emulator's data folder"));
            }
            let held = path_text(&target) == extra
                || (matches!(r.msg_type, T::VIDEO | T::SHORT_VIDEO)
                    && !thumb.is_empty()
                    && target == Path::new(&thumb).with_extension("mp4"));
            if held {
                pending = Some((target, bytes));
            } else {
                if let Some(dir) = target.parent() {
                    std::fs::create_dir_all(dir)?;
                }
                std::fs::write(&target, bytes)?;
            }
        }
        let talker = if roomid.is_empty() { r.sender.clone() } else { roomid.clone() };
        let content = r.content.clone();
        let stored = if is_group {
            wcf::content::strip_group_prefix(&content, &r.sender, &talker).to_owned()
        } else {
            content.clone()
        };
        let sub_type = r.sub_type.unwrap_or_else(|| match r.msg_type {
            T::APP => match wcf::content::parse(T::APP, &stored) {
                wcf::content::Content::App(a) => a.subtype as i64,
                _ => 0,
            },
            _ => 0,
        });
        let ts = (now_ms() / 1000) as u32;
        let row = NewMsg {
            svr_id: id,
            msg_type: r.msg_type,
            sub_type,
            is_sender: r.is_self,
            create_time: ts as i64,
            talker: talker.clone(),
            content: stored,
            sender: (is_group && !r.is_self).then(|| r.sender.clone()),
            msg_source: r.xml.clone().unwrap_or_default(),
            thumb: thumb.clone(),
            extra: extra.clone(),
            display_content: String::new(),
        };
        let msg = WxMsg {
            is_self: r.is_self,
            is_group,
            id,
            r#type: r.msg_type,
            ts,
            roomid,
            content,
            sender: r.sender.clone(),
            sign: hex_id(16),
            thumb,
            extra,
            xml: r.xml.clone().unwrap_or_default(),
        };
        let audio = match &r.audio_base64 {
            Some(_) => {
                let mut buf = vec![0x02];
                buf.extend(b64("raw.audio_base64", &r.audio_base64, b"")?);
                Some(buf)
            }
            None => None,
        };
        Ok(Built { row, msg, pending, audio })
    }

    /// Writes an image as WeChat does: the thumbnail `.dat` at once; the full `.dat` returned
    /// for the CDN. `(thumb, extra, content, full .dat)`.
    fn image_files(&self, salt: u64, bytes: &[u8]) -> Result<(String, String, String, Vec<u8>), ControlError> {
        let key = loop {
            let k: u8 = rand::random();
            // Key 0 would leave the file plain; the real client never uses it.
            if k != 0 {
                break k;
            }
        };
        let encoded = dat_image::xor(bytes, key);
        let hash = md5ish(bytes, salt);
        let month = month();
        let base = self.account_dir().join("FileStorage").join("MsgAttach").join(&hash[..16]);
        let thumb = base.join("Thumb").join(&month).join(format!("{hash}_t.dat"));
        let extra = base.join("Image").join(&month).join(format!("{hash}.dat"));
        std::fs::create_dir_all(thumb.parent().expect("has parent"))?;
        std::fs::write(&thumb, &encoded)?;
        let content = format!(
            "<?xml version=\"1.0\"?>\n<msg>\n\t<img aeskey=\"{}\" encryver=\"1\" cdnthumbaeskey=\"{}\" cdnthumburl=\"3057020100044b3049{}\" cdnthumblength=\"{}\" cdnthumbheight=\"90\" cdnthumbwidth=\"120\" cdnmidheight=\"0\" cdnmidwidth=\"0\" cdnhdheight=\"0\" cdnhdwidth=\"0\" cdnmidimgurl=\"3057020100044b3049{}\" length=\"{}\" md5=\"{hash}\" hevc_mid_size=\"{}\" />\n\t<platform_signature></platform_signature>\n\t<imgdatahash></imgdatahash>\n</msg>\n",
            hex_id(16),
            hex_id(16),
            hex_id(24),
            bytes.len(),
            hex_id(24),
            bytes.len(),
            bytes.len()
        );
        Ok((path_text(&thumb), path_text(&extra), content, encoded))
    }

    /// Joins, invites, leaves, kicks, renames and announcements: the room changes first, then
    /// the system message WeChat shows this account (none for a leave).
    fn room_event(&self, kind: &str, room: &str, m: &InboundMessage) -> Result<Vec<Built>, ControlError> {
        let me = self.me().wxid.clone();
        let mut data = self.db().room_data(room)?.unwrap_or_default();
        let sys = |text: String| self.assemble(m, T::SYSTEM, 0, text, String::new(), String::new(), String::new());
        let sysmsg =
            |content: String| self.assemble(m, T::SYS_XML, 0, content, String::new(), String::new(), String::new());
        Ok(match kind {
            "join" | "invite" => {
                if m.members.is_empty() {
                    return invalid(format!("a {kind} needs `members`: [{{wxid, nickname}}]"));
                }
                if !m.names.is_empty() && m.names.len() != m.members.len() {
                    return invalid("`names` must give one name per member");
                }
                let mut shown = Vec::new();
                for (i, who) in m.members.iter().enumerate() {
                    if who.wxid.trim().is_empty() {
                        return invalid("every member needs a `wxid`");
                    }
                    if data.members.iter().any(|x| x.wxid == who.wxid) {
                        return invalid(format!("{} is already a member of {room}", who.wxid));
                    }
                    let nickname = who.nickname.clone().unwrap_or_else(|| self.nickname(&who.wxid));
                    if self.db().contact(&who.wxid)?.is_none() && self.db().nickname(&who.wxid)?.is_none() {
                        self.db().add_room_contact(&who.wxid, &nickname)?;
                    }
                    data.members.push(room_data::RoomMember {
                        wxid: who.wxid.clone(),
                        name: who.alias.clone(),
                        state: 0,
                    });
                    shown.push(m.names.get(i).cloned().unwrap_or(nickname));
                }
                self.db().set_room_data(room, &data)?;
                let by_me = m.from == me;
                let actor = self.member_name(Some(room), &m.from);
                let list = shown.join("、");
                if m.form.as_deref() == Some("sysmsg") {
                    let member_xml = |w: &str, n: &str| {
                        format!(
                            "<member><username><![CDATA[{w}]]></username><nickname><![CDATA[{n}]]></nickname></member>"
                        )
                    };
                    let newcomers: String = m.members.iter().zip(&shown).map(|(w, n)| member_xml(&w.wxid, n)).collect();
                    let (ttype, template, actor_link) = match (kind, by_me) {
                        ("invite", true) => {
                            ("tmpl_type_profile", "你邀请\"$names$\"加入了群聊  $revoke$".to_owned(), String::new())
                        }
                        ("invite", false) => (
                            "tmpl_type_profile",
                            "\"$username$\"邀请\"$names$\"加入了群聊".to_owned(),
                            format!(
                                "<link name=\"username\" type=\"link_profile\"><memberlist>{}</memberlist></link>",
                                member_xml(&m.from, &actor)
                            ),
                        ),
                        (_, true) => (
                            "tmpl_type_profilewithrevokeqrcode",
                            "\"$adder$\"通过扫描你分享的二维码加入群聊  $revoke$".to_owned(),
                            String::new(),
                        ),
                        (_, false) => (
                            "tmpl_type_profilewithrevokeqrcode",
                            "\"$adder$\"通过扫描\"$from$\"分享的二维码加入群聊".to_owned(),
                            format!(
                                "<link name=\"from\" type=\"link_profile\"><memberlist>{}</memberlist></link>",
                                member_xml(&m.from, &actor)
                            ),
                        ),
                    };
                    let names_link = if kind == "invite" { "names" } else { "adder" };
                    let content = format!(
                        "<sysmsg type=\"sysmsgtemplate\">\n\t<sysmsgtemplate>\n\t\t<content_template type=\"{ttype}\">\n\t\t\t<plain><![CDATA[]]></plain>\n\t\t\t<template><![CDATA[{template}]]></template>\n\t\t\t<link_list>\n\t\t\t\t{actor_link}\n\t\t\t\t<link name=\"{names_link}\" type=\"link_profile\"><memberlist>{newcomers}</memberlist><separator><![CDATA[、]]></separator></link>\n\t\t\t\t<link name=\"revoke\" type=\"link_revoke_qrcode\" hidden=\"1\"><title><![CDATA[撤销]]></title><usernamelist>{}</usernamelist></link>\n\t\t\t</link_list>\n\t\t</content_template>\n\t</sysmsgtemplate>\n</sysmsg>",
                        m.members
                            .iter()
                            .map(|w| format!("<username><![CDATA[{}]]></username>", w.wxid))
                            .collect::<String>()
                    );
                    vec![sysmsg(content)]
                } else {
                    let text = match (kind, by_me) {
                        ("invite", true) => format!("你邀请\"{list}\"加入了群聊  撤销"),
                        ("invite", false) => format!("\"{actor}\"邀请\"{list}\"加入了群聊"),
                        (_, true) => format!("\" {list}\"通过扫描你分享的二维码加入群聊  撤销"),
                        (_, false) => format!("\" {list}\"通过扫描\"{actor}\"分享的二维码加入群聊"),
                    };
                    vec![sys(text)]
                }
            }
            "leave" => {
                if !data.members.iter().any(|x| x.wxid == m.from) {
                    return invalid(format!("{} is not a member of {room}", m.from));
                }
                data.members.retain(|x| x.wxid != m.from);
                self.db().set_room_data(room, &data)?;
                Vec::new()
            }
            "kick" => {
                if m.members.is_empty() {
                    return invalid("a kick needs `members`: [{wxid}]");
                }
                let mut names = Vec::new();
                for who in &m.members {
                    if !data.members.iter().any(|x| x.wxid == who.wxid) {
                        return invalid(format!("{} is not a member of {room}", who.wxid));
                    }
                    names.push(self.member_name(Some(room), &who.wxid));
                }
                let actor = self.member_name(Some(room), &m.from);
                data.members.retain(|x| !m.members.iter().any(|w| w.wxid == x.wxid));
                self.db().set_room_data(room, &data)?;
                if m.from == me {
                    vec![sys(format!("你将\"{}\"移出了群聊", names.join("、")))]
                } else if m.members.iter().any(|w| w.wxid == me) {
                    vec![sys(format!("你被\"{actor}\"移出群聊"))]
                } else {
                    Vec::new()
                }
            }
            "rename" => {
                let Some(name) = m.name.clone().filter(|n| !n.trim().is_empty()) else {
                    return invalid("a rename needs the new `name`");
                };
                self.db().rename_contact(room, &name)?;
                if m.from == me {
                    vec![sys(format!("你修改群名为“{name}”"))]
                } else {
                    vec![sys(format!("\"{}\"修改群名为“{name}”", self.member_name(Some(room), &m.from)))]
                }
            }
            "announcement" => {
                let Some(text) = m.text.clone().filter(|t| !t.is_empty()) else {
                    return invalid("an announcement needs its `text`");
                };
                self.db().set_announcement(room, &text, &m.from, (now_ms() / 1000) as i64)?;
                if m.form.as_deref() == Some("sysmsg") {
                    vec![sysmsg(format!(
                        "<sysmsg type=\"mmchatroombarannouncememt\"><mmchatroombarannouncememt><content><![CDATA[{}]]></content></mmchatroombarannouncememt></sysmsg>",
                        text.replace("]]>", "")
                    ))]
                } else {
                    let inner = format!(
                        "\t\t<textannouncement><![CDATA[{}]]></textannouncement>\n\t\t<announcement_id>{}</announcement_id>\n",
                        text.replace("]]>", ""),
                        hex_id(8)
                    );
                    vec![self.assemble(
                        m,
                        T::APP,
                        87,
                        appmsg(87, "群公告", &text, "", "", &inner, &m.from),
                        String::new(),
                        String::new(),
                        String::new(),
                    )]
                }
            }
            _ => unreachable!("room kinds are listed above"),
        })
    }

    /// Room member changes asked for over WeChatFerry; the system message WeChat shows.
    pub(crate) fn member_rpc(
        &self,
        func: wcf::proto::Functions,
        roomid: &str,
        wxids: &[&str],
    ) -> Result<i32, ControlError> {
        use wcf::proto::Functions as F;
        let Some(mut data) = self.db().room_data(roomid)? else { return Ok(-1) };
        let me = self.me().wxid.clone();
        let names: Vec<String> = wxids.iter().map(|w| self.member_name(Some(roomid), w)).collect();
        let text = match func {
            F::FuncDelRoomMembers => {
                data.members.retain(|x| !wxids.contains(&x.wxid.as_str()));
                format!("你将\"{}\"移出了群聊", names.join("、"))
            }
            F::FuncAddRoomMembers => {
                for w in wxids {
                    if !data.members.iter().any(|x| x.wxid == *w) {
                        data.members.push(room_data::RoomMember { wxid: (*w).to_owned(), name: None, state: 0 });
                    }
                }
                format!("你邀请\"{}\"加入了群聊  撤销", names.join("、"))
            }
            _ => {
                // An invitation: a card to each invitee; nobody joins until they accept.
                for w in wxids {
                    let card = appmsg(
                        5,
                        "邀请你加入群聊",
                        &format!("\"{}\"邀请你加入群聊{}，进入可查看详情。", self.nickname(&me), self.nickname(roomid)),
                        "https://support.weixin.qq.com/cgi-bin/mmsupport-bin/addchatroombyinvite",
                        "",
                        "",
                        &me,
                    );
                    self.db().insert_msgs(&[NewMsg {
                        svr_id: new_svr_id(),
                        msg_type: T::APP,
                        sub_type: 5,
                        is_sender: true,
                        create_time: (now_ms() / 1000) as i64,
                        talker: (*w).to_owned(),
                        content: card,
                        ..Default::default()
                    }])?;
                }
                return Ok(1);
            }
        };
        self.db().set_room_data(roomid, &data)?;
        let m = InboundMessage { from: me, room: Some(roomid.to_owned()), ..Default::default() };
        let b = self.assemble(&m, T::SYSTEM, 0, text, String::new(), String::new(), String::new());
        self.deliver_built(vec![b])?;
        Ok(1)
    }
}
