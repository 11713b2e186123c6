//! The emulated WeChat: account state, the RPC handlers and the operations the control API
//! drives (inbound messages, friend requests, faults, the sent log).

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use prost::Message;
use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, watch};
use wcf::dat_image::{self, ImageFormat};
use wcf::friend_request::{FriendRequest, xml_escape};
use wcf::proto::{
    self, DbNames, DbTables, Functions, MsgTypes, OcrMsg, Request, Response, RpcContacts, UserInfo, WxMsg, bytes_extra,
    request, response,
};

use crate::db::{MICRO_MSG, MSG0, NewMsg, WeChatDb};
use crate::fixture::{Fixture, FixtureContact, SelfInfo};

/// A 1×1 PNG used when an image message is injected without image bytes.
pub const DEFAULT_PNG: &[u8] = &[
    0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A, 0x00, 0x00, 0x00, 0x0D, 0x49, 0x48, 0x44, 0x52, 0x00, 0x00, 0x00,
    0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x06, 0x00, 0x00, 0x00, 0x1F, 0x15, 0xC4, 0x89, 0x00, 0x00, 0x00, 0x0D, 0x49,
    0x44, 0x41, 0x54, 0x78, 0x9C, 0x63, 0xF8, 0xCF, 0xC0, 0xF0, 0x1F, 0x00, 0x05, 0x00, 0x01, 0xFF, 0x89, 0x99, 0x3D,
    0x1D, 0x00, 0x00, 0x00, 0x00, 0x49, 0x45, 0x4E, 0x44, 0xAE, 0x42, 0x60, 0x82,
];

/// One send (or recall) WeChat performed, as `GET /sent` lists it.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct SentRecord {
    /// The new message's MsgSvrID (for `revoke`, the recalled id), as a decimal string.
    pub id: String,
    /// `send_text`, `send_image`, `send_file`, `send_xml`, `send_emotion`, `send_rich_text`,
    /// `send_pat`, `forward` or `revoke`.
    pub func: String,
    /// Receiver wxid or room id.
    pub receiver: String,
    /// Text (or XML / rich-text title).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// @-mentioned wxids.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub aters: Option<Vec<String>>,
    /// File path on the "WeChat host".
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// Unix time in milliseconds.
    pub ts: u64,
}

/// An inbound message to inject (`POST /messages`).
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InboundMessage {
    /// Sender wxid.
    pub from: String,
    /// Chat group, for a group message.
    #[serde(default)]
    pub room: Option<String>,
    /// `text` (default), `image` or `voice`.
    #[serde(default, rename = "type")]
    pub kind: Option<String>,
    /// Text of a text message.
    #[serde(default)]
    pub text: Option<String>,
    /// Image bytes (PNG, JPEG or GIF), base64; a 1×1 PNG when omitted.
    #[serde(default)]
    pub image_base64: Option<String>,
    /// Members @-mentioned (group only).
    #[serde(default)]
    pub at: Vec<String>,
    /// @all (group only).
    #[serde(default)]
    pub at_all: bool,
    /// Media whose full file WeChat can no longer download (expired on the CDN): only the
    /// thumbnail exists, and `DOWNLOAD_ATTACH` answers -1.
    #[serde(default)]
    pub unavailable: bool,
}

/// A friend request to inject (`POST /friend_requests`).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InboundFriendRequest {
    /// Requester wxid.
    pub wxid: String,
    /// Requester nickname.
    pub nickname: String,
    /// Greeting.
    #[serde(default)]
    pub greeting: String,
    /// Scene (default 30, QR code).
    #[serde(default)]
    pub scene: Option<i32>,
}

/// Tickets of an injected friend request.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct FriendTickets {
    /// v3 ticket (`encryptusername`).
    pub v3: String,
    /// v4 ticket (`ticket`).
    pub v4: String,
    /// Scene.
    pub scene: i32,
}

/// A fault to inject (`POST /faults`).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Fault {
    /// `drop_connections`, `logout`, `login` or `stall`.
    pub kind: String,
    /// For `stall`: how long the command channel stops answering (default 1000 ms).
    #[serde(default)]
    pub ms: Option<u64>,
}

/// `GET /health`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Health {
    /// Whether the account is logged in.
    pub logged_in: bool,
    /// Connected peers (command + message channel).
    pub peers: u32,
    /// Whether receiving is enabled.
    pub receiving: bool,
}

/// Why a control request was refused; the message says what to fix.
#[derive(Debug, thiserror::Error)]
pub enum ControlError {
    /// Bad input.
    #[error("{0}")]
    Invalid(String),
    /// Storage failed.
    #[error("emulator storage failed: {0}")]
    Storage(#[from] rusqlite::Error),
    /// File system failed.
    #[error("emulator file system failed: {0}")]
    Io(#[from] std::io::Error),
}

/// What the command loop does after replying.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AfterReply {
    /// Keep serving the peer.
    Continue,
    /// Drop the command peer (after `FUNC_SHUTDOWN`).
    DropPeer,
}

/// The emulated WeChat account.
#[derive(Debug)]
pub struct WeChat {
    db: WeChatDb,
    me: SelfInfo,
    account_dir: PathBuf,
    cdn_dir: PathBuf,
    logged_in: AtomicBool,
    /// `Some(pyq)` while receiving is enabled.
    receiving: Mutex<Option<bool>>,
    sent: Mutex<Vec<SentRecord>>,
    stall_until: Mutex<Option<Instant>>,
    login_code: Mutex<String>,
    push: mpsc::UnboundedSender<WxMsg>,
    kick_cmd: watch::Sender<u64>,
    kick_msg: watch::Sender<u64>,
    pub(crate) cmd_peer: AtomicBool,
    pub(crate) msg_peer: AtomicBool,
}

fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}

fn new_svr_id() -> u64 {
    // Real MsgSvrIDs are 19-digit positive i64 values.
    rand::random_range(1_000_000_000_000_000_000u64..9_000_000_000_000_000_000u64)
}

fn hex_id(bytes: usize) -> String {
    (0..bytes).map(|_| format!("{:02x}", rand::random::<u8>())).collect()
}

fn status(func: Functions, s: i32) -> Response {
    Response { func: func as i32, msg: Some(response::Msg::Status(s)) }
}

fn string(func: Functions, s: impl Into<String>) -> Response {
    Response { func: func as i32, msg: Some(response::Msg::Str(s.into())) }
}

/// Path text as WeChatFerry reports it (forward slashes).
fn path_text(p: &Path) -> String {
    p.to_string_lossy().replace('\\', "/")
}

/// Message type names as v39.5.2 reports them.
const MSG_TYPES: &[(i32, &str)] = &[
    (0, "朋友圈消息"),
    (1, "文字"),
    (3, "图片"),
    (34, "语音"),
    (37, "好友确认"),
    (40, "POSSIBLEFRIEND_MSG"),
    (42, "名片"),
    (43, "视频"),
    (47, "石头剪刀布 | 表情图片"),
    (48, "位置"),
    (49, "共享实时位置、文件、转账、链接"),
    (50, "VOIPMSG"),
    (51, "微信初始化"),
    (52, "VOIPNOTIFY"),
    (53, "VOIPINVITE"),
    (62, "小视频"),
    (66, "微信红包"),
    (9999, "SYSNOTICE"),
    (10000, "红包、系统消息"),
    (10002, "撤回消息"),
    (1048625, "搜狗表情"),
    (16777265, "链接"),
    (436207665, "微信红包"),
    (536936497, "红包封面"),
    (754974769, "视频号视频"),
    (771751985, "视频号名片"),
    (822083633, "引用消息"),
    (922746929, "拍一拍"),
    (973078577, "视频号直播"),
    (974127153, "商品链接"),
    (975175729, "视频号直播"),
    (1040187441, "音乐链接"),
    (1090519089, "文件"),
];

impl WeChat {
    /// Opens the account under `data_dir` (databases, `WeChat Files`), seeding from `fixture`.
    pub(crate) fn open(
        data_dir: &Path,
        fixture: &Fixture,
        push: mpsc::UnboundedSender<WxMsg>,
    ) -> Result<Self, ControlError> {
        let mut me = fixture.self_info.clone();
        let home = if me.home.is_empty() { data_dir.join("WeChat Files") } else { PathBuf::from(&me.home) };
        me.home = format!("{}/", path_text(&home).trim_end_matches('/'));
        let account_dir = home.join(&me.wxid);
        let cdn_dir = data_dir.join("cdn");
        std::fs::create_dir_all(&cdn_dir)?;
        let db = WeChatDb::open(&account_dir, fixture)?;
        Ok(Self {
            db,
            me,
            account_dir,
            cdn_dir,
            logged_in: AtomicBool::new(true),
            receiving: Mutex::new(None),
            sent: Mutex::new(Vec::new()),
            stall_until: Mutex::new(None),
            login_code: Mutex::new(String::new()),
            push,
            kick_cmd: watch::channel(0).0,
            kick_msg: watch::channel(0).0,
            cmd_peer: AtomicBool::new(false),
            msg_peer: AtomicBool::new(false),
        })
    }

    /// The databases.
    pub fn db(&self) -> &WeChatDb {
        &self.db
    }

    /// The logged-in account.
    pub fn me(&self) -> &SelfInfo {
        &self.me
    }

    pub(crate) fn kick_cmd(&self) -> watch::Receiver<u64> {
        self.kick_cmd.subscribe()
    }

    pub(crate) fn kick_msg(&self) -> watch::Receiver<u64> {
        self.kick_msg.subscribe()
    }

    fn receiving(&self) -> Option<bool> {
        *self.receiving.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn set_receiving(&self, v: Option<bool>) {
        *self.receiving.lock().unwrap_or_else(|p| p.into_inner()) = v;
    }

    /// While a stall fault is active: how long until it ends.
    pub(crate) fn stall_remaining(&self) -> Option<Duration> {
        let until = (*self.stall_until.lock().unwrap_or_else(|p| p.into_inner()))?;
        until.checked_duration_since(Instant::now())
    }

    fn record(&self, rec: SentRecord) {
        self.sent.lock().unwrap_or_else(|p| p.into_inner()).push(rec);
    }

    /// Every send so far, oldest first.
    pub fn sent(&self) -> Vec<SentRecord> {
        self.sent.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Forgets the sent log.
    pub fn clear_sent(&self) {
        self.sent.lock().unwrap_or_else(|p| p.into_inner()).clear();
    }

    /// Connection and login state.
    pub fn health(&self) -> Health {
        Health {
            logged_in: self.logged_in.load(Ordering::SeqCst),
            peers: self.cmd_peer.load(Ordering::SeqCst) as u32 + self.msg_peer.load(Ordering::SeqCst) as u32,
            receiving: self.receiving().is_some(),
        }
    }

    /// Applies a fault.
    pub fn fault(&self, fault: &Fault) -> Result<(), ControlError> {
        match fault.kind.as_str() {
            "drop_connections" => {
                self.kick_cmd.send_modify(|g| *g += 1);
                self.kick_msg.send_modify(|g| *g += 1);
            }
            "logout" => {
                self.logged_in.store(false, Ordering::SeqCst);
                *self.login_code.lock().unwrap_or_else(|p| p.into_inner()) = hex_id(8);
            }
            "login" => self.logged_in.store(true, Ordering::SeqCst),
            "stall" => {
                let ms = fault.ms.unwrap_or(1000);
                *self.stall_until.lock().unwrap_or_else(|p| p.into_inner()) =
                    Some(Instant::now() + Duration::from_millis(ms));
            }
            other => {
                return Err(ControlError::Invalid(format!(
                    "unknown fault kind {other:?}: use drop_connections, logout, login or stall"
                )));
            }
        }
        Ok(())
    }

    fn display_name(&self, wxid: &str) -> String {
        match self.db.contact(wxid) {
            Ok(Some(c)) if !c.name.is_empty() => c.name,
            _ => wxid.to_owned(),
        }
    }

    /// Stores a message and pushes it when receiving is on.
    fn deliver(&self, row: NewMsg, msg: WxMsg) -> Result<(), ControlError> {
        self.deliver_many(vec![(row, msg)])
    }

    fn deliver_many(&self, items: Vec<(NewMsg, WxMsg)>) -> Result<(), ControlError> {
        let rows: Vec<NewMsg> = items.iter().map(|(r, _)| r.clone()).collect();
        self.db.insert_msgs(&rows)?;
        if self.receiving().is_some() {
            for (_, m) in items {
                let _ = self.push.send(m);
            }
        }
        Ok(())
    }

    /// Injects an inbound message; returns its MsgSvrID.
    pub fn inject(&self, m: &InboundMessage) -> Result<u64, ControlError> {
        let (row, msg) = self.build_inbound(m)?;
        let id = msg.id;
        self.deliver(row, msg)?;
        Ok(id)
    }

    /// Injects several messages in one transaction (for benchmarks); their MsgSvrIDs.
    pub fn inject_many(&self, msgs: &[InboundMessage]) -> Result<Vec<u64>, ControlError> {
        let items = msgs.iter().map(|m| self.build_inbound(m)).collect::<Result<Vec<_>, _>>()?;
        let ids = items.iter().map(|(_, m)| m.id).collect();
        self.deliver_many(items)?;
        Ok(ids)
    }

    /// Injects `count` text messages from `from` in one transaction (for benchmarks).
    pub fn inject_text_batch(&self, from: &str, text: &str, count: usize) -> Result<Vec<u64>, ControlError> {
        let proto = InboundMessage { from: from.to_owned(), text: Some(text.to_owned()), ..Default::default() };
        let items = (0..count).map(|_| self.build_inbound(&proto)).collect::<Result<Vec<_>, _>>()?;
        let ids = items.iter().map(|(_, m)| m.id).collect();
        self.deliver_many(items)?;
        Ok(ids)
    }

    fn build_inbound(&self, m: &InboundMessage) -> Result<(NewMsg, WxMsg), ControlError> {
        let invalid = |s: String| Err(ControlError::Invalid(s));
        if m.from.trim().is_empty() {
            return invalid("`from` (the sender's wxid) is required".into());
        }
        if let Some(room) = &m.room {
            if !room.ends_with("@chatroom") {
                return invalid(format!("`room` {room:?} is not a chat-group id (it must end with @chatroom)"));
            }
        } else if !m.at.is_empty() || m.at_all {
            return invalid("`at` and `at_all` need a `room`: @-mentions exist only in chat groups".into());
        }
        let id = new_svr_id();
        let ts = (now_ms() / 1000) as u32;
        let talker = m.room.clone().unwrap_or_else(|| m.from.clone());
        let mut at_list = m.at.clone();
        if m.at_all {
            at_list.push("notify@all".into());
        }
        let msg_source = if at_list.is_empty() {
            "<msgsource><signature>v1_emulated</signature></msgsource>".to_owned()
        } else {
            format!(
                "<msgsource><atuserlist><![CDATA[{}]]></atuserlist><signature>v1_emulated</signature></msgsource>",
                at_list.join(",")
            )
        };
        let (msg_type, content, thumb, extra) = match m.kind.as_deref().unwrap_or("text") {
            "text" => {
                let Some(text) = m.text.clone().filter(|t| !t.is_empty()) else {
                    return invalid("a text message needs a non-empty `text`".into());
                };
                let mut prefix = String::new();
                if m.at_all && !wcf::message::mentions_all(&text) {
                    prefix.push_str("@所有人\u{2005}");
                }
                for w in &m.at {
                    let name = format!("@{}", self.display_name(w));
                    if !text.contains(&name) {
                        prefix.push_str(&name);
                        prefix.push('\u{2005}');
                    }
                }
                (wcf::message::msg_type::TEXT, format!("{prefix}{text}"), String::new(), String::new())
            }
            "image" => {
                let bytes = match &m.image_base64 {
                    Some(b64) => base64::engine::general_purpose::STANDARD
                        .decode(b64.trim())
                        .map_err(|e| ControlError::Invalid(format!("`image_base64` is not valid base64: {e}")))?,
                    None => DEFAULT_PNG.to_vec(),
                };
                if ImageFormat::sniff(&bytes).is_none() {
                    return invalid("`image_base64` must be a PNG, JPEG or GIF image".into());
                }
                let (thumb, extra, content) = self.store_image(id, &bytes, !m.unavailable)?;
                (wcf::message::msg_type::IMAGE, content, thumb, extra)
            }
            "voice" => (
                wcf::message::msg_type::VOICE,
                format!(
                    r#"<msg><voicemsg endflag="1" length="2048" voicelength="1500" fromusername="{}" /></msg>"#,
                    xml_escape(&m.from)
                ),
                String::new(),
                String::new(),
            ),
            other => return invalid(format!("unknown message `type` {other:?}: use text, image or voice")),
        };
        let row = NewMsg {
            svr_id: id,
            msg_type,
            is_sender: false,
            create_time: ts as i64,
            talker: talker.clone(),
            content: content.clone(),
            sender: m.room.as_ref().map(|_| m.from.clone()),
            msg_source: msg_source.clone(),
            thumb: thumb.clone(),
            extra: extra.clone(),
        };
        let msg = WxMsg {
            is_self: false,
            is_group: m.room.is_some(),
            id,
            r#type: msg_type,
            ts,
            roomid: talker,
            content,
            sender: m.from.clone(),
            sign: hex_id(16),
            thumb,
            extra,
            xml: msg_source,
        };
        Ok((row, msg))
    }

    /// Writes an image as WeChat does: the thumbnail `.dat` at once, the full `.dat` only when
    /// `DOWNLOAD_ATTACH` asks (kept meanwhile under `<data>/cdn/`).
    fn store_image(&self, id: u64, bytes: &[u8], on_cdn: bool) -> Result<(String, String, String), ControlError> {
        let key = loop {
            let k: u8 = rand::random();
            // Key 0 would leave the file plain; the real client never uses it.
            if k != 0 {
                break k;
            }
        };
        let encoded = dat_image::xor(bytes, key);
        let hash = format!("{:016x}{:016x}", fnv(bytes), id);
        let month = time::OffsetDateTime::now_utc();
        let month = format!("{:04}-{:02}", month.year(), u8::from(month.month()));
        let base = self.account_dir.join("FileStorage").join("MsgAttach").join(&hash[..16]);
        let thumb = base.join("Thumb").join(&month).join(format!("{hash}_t.dat"));
        let extra = base.join("Image").join(&month).join(format!("{hash}.dat"));
        std::fs::create_dir_all(thumb.parent().expect("has parent"))?;
        std::fs::write(&thumb, &encoded)?;
        if on_cdn {
            std::fs::write(self.cdn_dir.join(format!("{id}.dat")), &encoded)?;
        }
        let content = format!(
            r#"<msg><img aeskey="{}" cdnthumburl="emulated" length="{}" md5="{hash}" hevc_mid_size="0" /></msg>"#,
            hex_id(16),
            bytes.len()
        );
        Ok((path_text(&thumb), path_text(&extra), content))
    }

    /// Injects a friend request (type 37 from `fmessage`).
    pub fn friend_request(&self, r: &InboundFriendRequest) -> Result<FriendTickets, ControlError> {
        if r.wxid.trim().is_empty() || r.nickname.trim().is_empty() {
            return Err(ControlError::Invalid("`wxid` and `nickname` are required".into()));
        }
        let req = FriendRequest {
            v3: format!("v3_{}@stranger", hex_id(24)),
            v4: format!("v4_{}@stranger", hex_id(24)),
            scene: r.scene.unwrap_or(30),
            wxid: r.wxid.clone(),
            nickname: r.nickname.clone(),
            greeting: r.greeting.clone(),
        };
        let id = new_svr_id();
        let ts = (now_ms() / 1000) as u32;
        let content = req.to_xml();
        let row = NewMsg {
            svr_id: id,
            msg_type: wcf::message::msg_type::FRIEND_REQUEST,
            create_time: ts as i64,
            talker: "fmessage".into(),
            content: content.clone(),
            ..Default::default()
        };
        let msg = WxMsg {
            id,
            r#type: wcf::message::msg_type::FRIEND_REQUEST,
            ts,
            roomid: "fmessage".into(),
            sender: "fmessage".into(),
            content,
            sign: hex_id(16),
            ..Default::default()
        };
        self.deliver(row, msg)?;
        Ok(FriendTickets { v3: req.v3, v4: req.v4, scene: req.scene })
    }

    /// Handles one command-channel request; the reply bytes (empty for unknown functions and
    /// undecodable requests, as WeChatFerry answers) and what to do next.
    pub fn handle(&self, body: &[u8]) -> (Vec<u8>, AfterReply) {
        let Ok(req) = Request::decode(body) else {
            tracing::debug!("undecodable request; zero-length reply");
            return (Vec::new(), AfterReply::Continue);
        };
        let Ok(func) = Functions::try_from(req.func) else {
            tracing::debug!(func = req.func, "unknown function; zero-length reply");
            return (Vec::new(), AfterReply::Continue);
        };
        match self.dispatch(func, req.msg) {
            Ok(Some((rsp, after))) => (rsp.encode_to_vec(), after),
            Ok(None) => (Vec::new(), AfterReply::Continue),
            Err(e) => {
                tracing::warn!(?func, error = %e, "handler failed; zero-length reply");
                (Vec::new(), AfterReply::Continue)
            }
        }
    }

    fn logged_in(&self) -> bool {
        self.logged_in.load(Ordering::SeqCst)
    }

    /// A send: -1 when a required field is empty or WeChat is logged out; records the send
    /// (sent log + an `MSG` row with `IsSender = 1` and a fresh MsgSvrID).
    fn send(&self, func: Functions, rec: SentRecord, row: NewMsg, ok: i32) -> Result<Response, ControlError> {
        if !self.logged_in() {
            return Ok(status(func, -1));
        }
        let id = new_svr_id();
        let row = NewMsg { svr_id: id, is_sender: true, create_time: (now_ms() / 1000) as i64, ..row };
        self.db.insert_msgs(&[row])?;
        self.record(SentRecord { id: id.to_string(), ts: now_ms(), ..rec });
        Ok(status(func, ok))
    }

    fn dispatch(
        &self,
        func: Functions,
        msg: Option<request::Msg>,
    ) -> Result<Option<(Response, AfterReply)>, ControlError> {
        use request::Msg as M;
        use wcf::message::msg_type as T;
        let go = AfterReply::Continue;
        let rec = |name: &str, receiver: &str| SentRecord {
            id: String::new(),
            func: name.to_owned(),
            receiver: receiver.to_owned(),
            text: None,
            aters: None,
            path: None,
            ts: 0,
        };
        let row = |t: u32, talker: &str, content: String| NewMsg {
            msg_type: t,
            talker: talker.to_owned(),
            content,
            sender: wcf::message::is_room_id(talker).then(|| self.me.wxid.clone()),
            ..Default::default()
        };
        let rsp = match (func, msg) {
            (Functions::FuncIsLogin, _) => status(func, self.logged_in() as i32),
            (Functions::FuncGetSelfWxid, _) => string(func, self.me.wxid.clone()),
            (Functions::FuncGetUserInfo, _) => Response {
                func: func as i32,
                msg: Some(response::Msg::Ui(UserInfo {
                    wxid: self.me.wxid.clone(),
                    name: self.me.name.clone(),
                    mobile: self.me.mobile.clone(),
                    home: self.me.home.clone(),
                    alias: String::new(),
                })),
            },
            (Functions::FuncGetMsgTypes, _) => Response {
                func: func as i32,
                msg: Some(response::Msg::Types(MsgTypes {
                    types: MSG_TYPES.iter().map(|(k, v)| (*k, (*v).to_owned())).collect(),
                })),
            },
            (Functions::FuncGetContacts, _) => Response {
                func: func as i32,
                msg: Some(response::Msg::Contacts(RpcContacts { contacts: self.db.contacts()? })),
            },
            (Functions::FuncGetContactInfo, Some(M::Str(wxid))) => Response {
                func: func as i32,
                msg: Some(response::Msg::Contacts(RpcContacts {
                    contacts: self.db.contact(&wxid)?.into_iter().collect(),
                })),
            },
            (Functions::FuncGetDbNames, _) => Response {
                func: func as i32,
                msg: Some(response::Msg::Dbs(DbNames { names: vec![MICRO_MSG.into(), MSG0.into()] })),
            },
            (Functions::FuncGetDbTables, Some(M::Str(db))) => Response {
                func: func as i32,
                msg: Some(response::Msg::Tables(DbTables { tables: self.db.tables(&db) })),
            },
            (Functions::FuncExecDbQuery, Some(M::Query(q))) => {
                Response { func: func as i32, msg: Some(response::Msg::Rows(self.db.query(&q.db, &q.sql))) }
            }
            (Functions::FuncSendTxt, Some(M::Txt(t))) => {
                if t.msg.is_empty() || t.receiver.is_empty() {
                    status(func, -1)
                } else {
                    let aters: Vec<String> =
                        t.aters.split(',').map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned).collect();
                    let mut r = row(T::TEXT, &t.receiver, t.msg.clone());
                    if !aters.is_empty() {
                        r.msg_source = format!("<msgsource><atuserlist>{}</atuserlist></msgsource>", aters.join(","));
                    }
                    let rec = SentRecord {
                        text: Some(t.msg.clone()),
                        aters: (!aters.is_empty()).then_some(aters),
                        ..rec("send_text", &t.receiver)
                    };
                    self.send(func, rec, r, 0)?
                }
            }
            (Functions::FuncSendImg | Functions::FuncSendFile | Functions::FuncSendEmotion, Some(M::File(p))) => {
                if p.path.is_empty() || p.receiver.is_empty() {
                    status(func, -1)
                } else if !Path::new(&p.path).is_file() {
                    status(func, -2)
                } else {
                    let (name, t, content) = match func {
                        Functions::FuncSendImg => ("send_image", T::IMAGE, "<msg><img /></msg>".to_owned()),
                        Functions::FuncSendFile => (
                            "send_file",
                            T::APP,
                            format!(
                                "<msg><appmsg><title>{}</title><type>6</type></appmsg></msg>",
                                xml_escape(&Path::new(&p.path).file_name().unwrap_or_default().to_string_lossy())
                            ),
                        ),
                        _ => ("send_emotion", T::EMOJI, "<msg><emoji /></msg>".to_owned()),
                    };
                    let mut r = row(t, &p.receiver, content);
                    r.extra = p.path.clone();
                    self.send(func, SentRecord { path: Some(p.path.clone()), ..rec(name, &p.receiver) }, r, 0)?
                }
            }
            (Functions::FuncSendXml, Some(M::Xml(x))) => {
                if x.content.is_empty() || x.receiver.is_empty() {
                    status(func, -1)
                } else {
                    let rec = SentRecord {
                        text: Some(x.content.clone()),
                        path: (!x.path.is_empty()).then(|| x.path.clone()),
                        ..rec("send_xml", &x.receiver)
                    };
                    self.send(func, rec, row(T::APP, &x.receiver, x.content.clone()), 0)?
                }
            }
            (Functions::FuncSendRichTxt, Some(M::Rt(rt))) => {
                if rt.receiver.is_empty() || rt.url.is_empty() {
                    status(func, -1)
                } else {
                    let content = format!(
                        "<msg><appmsg><title>{}</title><des>{}</des><url>{}</url><type>5</type></appmsg></msg>",
                        xml_escape(&rt.title),
                        xml_escape(&rt.digest),
                        xml_escape(&rt.url)
                    );
                    let rec = SentRecord { text: Some(rt.title.clone()), ..rec("send_rich_text", &rt.receiver) };
                    self.send(func, rec, row(T::APP, &rt.receiver, content), 0)?
                }
            }
            (Functions::FuncSendPatMsg, Some(M::Pm(p))) => {
                if p.roomid.is_empty() || p.wxid.is_empty() {
                    status(func, -1)
                } else {
                    let rec = SentRecord { text: Some(format!("pat {}", p.wxid)), ..rec("send_pat", &p.roomid) };
                    self.send(func, rec, row(922746929, &p.roomid, format!("pat {}", p.wxid)), 1)?
                }
            }
            (Functions::FuncForwardMsg, Some(M::Fm(f))) => match self.db.msg_by_svr_id(f.id)? {
                Some(orig) if !f.receiver.is_empty() => {
                    let mut r = row(orig.msg_type, &f.receiver, orig.content.clone());
                    r.extra = orig.extra.get(bytes_extra::EXTRA).unwrap_or_default().to_owned();
                    let rec = SentRecord { text: Some(orig.content), ..rec("forward", &f.receiver) };
                    self.send(func, rec, r, 1)?
                }
                _ => status(func, -1),
            },
            (Functions::FuncRevokeMsg, Some(M::Ui64(id))) => match self.db.msg_by_svr_id(id)? {
                Some(orig) if self.logged_in() => {
                    let replace =
                        if orig.is_sender { "你撤回了一条消息" } else { "对方撤回了一条消息" };
                    let content = format!(
                        "<sysmsg type=\"revokemsg\"><revokemsg><session>{}</session><msgid>{}</msgid><newmsgid>{}</newmsgid><replacemsg><![CDATA[{}]]></replacemsg></revokemsg></sysmsg>",
                        xml_escape(&orig.talker),
                        orig.local_id,
                        orig.svr_id,
                        replace
                    );
                    self.record(SentRecord { id: id.to_string(), ts: now_ms(), ..rec("revoke", &orig.talker) });
                    let new_id = new_svr_id();
                    let ts = (now_ms() / 1000) as u32;
                    let is_group = wcf::message::is_room_id(&orig.talker);
                    let r = NewMsg {
                        svr_id: new_id,
                        msg_type: T::SYS_XML,
                        is_sender: orig.is_sender,
                        create_time: ts as i64,
                        talker: orig.talker.clone(),
                        content: content.clone(),
                        sender: is_group.then(|| self.me.wxid.clone()),
                        ..Default::default()
                    };
                    let m = WxMsg {
                        is_self: orig.is_sender,
                        is_group,
                        id: new_id,
                        r#type: T::SYS_XML,
                        ts,
                        roomid: orig.talker.clone(),
                        content,
                        sender: if orig.is_sender { self.me.wxid.clone() } else { orig.talker.clone() },
                        sign: hex_id(16),
                        ..Default::default()
                    };
                    self.deliver(r, m)?;
                    status(func, 1)
                }
                _ => status(func, 0),
            },
            (Functions::FuncEnableRecvTxt, flag) => {
                let pyq = matches!(flag, Some(M::Flag(true)));
                if self.receiving().is_some() {
                    status(func, 1)
                } else {
                    self.set_receiving(Some(pyq));
                    status(func, 0)
                }
            }
            (Functions::FuncDisableRecvTxt, _) => {
                if self.receiving().is_some() {
                    self.set_receiving(None);
                    self.kick_msg.send_modify(|g| *g += 1);
                    status(func, 0)
                } else {
                    status(func, 1)
                }
            }
            (Functions::FuncAcceptFriend, Some(M::V(v))) => status(func, self.accept_friend(&v)?),
            (Functions::FuncRecvTransfer, Some(M::Tf(t))) => {
                status(func, if t.wxid.is_empty() || t.tfid.is_empty() || t.taid.is_empty() { -1 } else { 1 })
            }
            (Functions::FuncRefreshPyq, _) => status(func, if self.receiving() == Some(true) { 1 } else { -1 }),
            (Functions::FuncDownloadAttach, Some(M::Att(a))) => status(func, self.download_attach(&a)?),
            (Functions::FuncDecryptImage, Some(M::Dec(d))) => string(func, decrypt_image(&d.src, &d.dst)),
            (Functions::FuncGetAudioMsg, Some(M::Am(a))) => string(func, self.audio(&a)?),
            (Functions::FuncExecOcr, Some(M::Str(path))) => {
                let ocr = match std::fs::read(&path) {
                    Ok(bytes) if ImageFormat::sniff(&bytes).is_some() || dat_image::find_key(&bytes).is_some() => {
                        OcrMsg { status: 0, result: "wcf-emulator OCR".into() }
                    }
                    _ => OcrMsg { status: -1, result: String::new() },
                };
                Response { func: func as i32, msg: Some(response::Msg::Ocr(ocr)) }
            }
            (Functions::FuncRefreshQrcode, _) => {
                if self.logged_in() {
                    string(func, "")
                } else {
                    let code = self.login_code.lock().unwrap_or_else(|p| p.into_inner()).clone();
                    string(func, format!("http://weixin.qq.com/x/{code}"))
                }
            }
            (
                Functions::FuncAddRoomMembers | Functions::FuncInvRoomMembers | Functions::FuncDelRoomMembers,
                Some(M::M(m)),
            ) => status(func, self.room_members(func, &m)?),
            (Functions::FuncShutdown, _) => {
                self.set_receiving(None);
                self.kick_msg.send_modify(|g| *g += 1);
                return Ok(Some((status(func, 0), AfterReply::DropPeer)));
            }
            // Functions this build does not have (FUNC_GET_DB_KEY is 39.6.0.0 only), and requests
            // missing their payload: WeChatFerry answers with a zero-length message.
            _ => return Ok(None),
        };
        Ok(Some((rsp, go)))
    }

    fn accept_friend(&self, v: &proto::Verification) -> Result<i32, ControlError> {
        if v.v3.is_empty() || v.v4.is_empty() {
            return Ok(-1);
        }
        let found = self
            .db
            .friend_request_contents()?
            .iter()
            .filter_map(|c| FriendRequest::parse(c).ok())
            .find(|r| r.v3 == v.v3 && r.v4 == v.v4);
        let Some(req) = found else { return Ok(0) };
        self.db.add_contact(&FixtureContact {
            wxid: req.wxid.clone(),
            name: req.nickname.clone(),
            ..Default::default()
        })?;
        let id = new_svr_id();
        let ts = (now_ms() / 1000) as u32;
        let content = format!("你已添加了{}，现在可以开始聊天了。", req.nickname);
        let row = NewMsg {
            svr_id: id,
            msg_type: wcf::message::msg_type::SYSTEM,
            create_time: ts as i64,
            talker: req.wxid.clone(),
            content: content.clone(),
            ..Default::default()
        };
        let msg = WxMsg {
            id,
            r#type: wcf::message::msg_type::SYSTEM,
            ts,
            roomid: req.wxid.clone(),
            sender: req.wxid.clone(),
            content,
            sign: hex_id(16),
            ..Default::default()
        };
        self.deliver(row, msg)?;
        Ok(1)
    }

    fn download_attach(&self, a: &proto::AttachMsg) -> Result<i32, ControlError> {
        let Some(m) = self.db.msg_by_svr_id(a.id)? else { return Ok(-1) };
        if m.msg_type == wcf::message::msg_type::IMAGE && !a.extra.is_empty() {
            let target = Path::new(&a.extra);
            if !target.exists() {
                let pending = self.cdn_dir.join(format!("{}.dat", a.id));
                if !pending.exists() {
                    return Ok(-1);
                }
                if let Some(dir) = target.parent() {
                    std::fs::create_dir_all(dir)?;
                }
                std::fs::copy(pending, target)?;
            }
        }
        Ok(0)
    }

    fn audio(&self, a: &proto::AudioMsg) -> Result<String, ControlError> {
        match self.db.msg_by_svr_id(a.id)? {
            Some(m) if m.msg_type == wcf::message::msg_type::VOICE && !a.dir.is_empty() => {
                std::fs::create_dir_all(&a.dir)?;
                let out = Path::new(&a.dir).join(format!("{}.mp3", a.id));
                // An MP3 frame header; enough for a type sniffer.
                std::fs::write(&out, [0x49, 0x44, 0x33, 0x04, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00])?;
                Ok(path_text(&out))
            }
            _ => Ok(String::new()),
        }
    }

    fn room_members(&self, func: Functions, m: &proto::MemberMgmt) -> Result<i32, ControlError> {
        let wxids: Vec<&str> = m.wxids.split(',').map(str::trim).filter(|s| !s.is_empty()).collect();
        if m.roomid.is_empty() || wxids.is_empty() {
            return Ok(-1);
        }
        let Some(mut data) = self.db.room_data(&m.roomid)? else { return Ok(-1) };
        if func == Functions::FuncDelRoomMembers {
            data.members.retain(|x| !wxids.contains(&x.wxid.as_str()));
        } else {
            for w in wxids {
                if !data.members.iter().any(|x| x.wxid == w) {
                    data.members.push(proto::room_data::RoomMember { wxid: w.to_owned(), name: None, state: 0 });
                }
            }
        }
        self.db.set_room_data(&m.roomid, &data)?;
        Ok(1)
    }
}

/// `DECRYPT_IMAGE` as WeChatFerry's `misc::decrypt_image` does it: key from the magic bytes,
/// output `<dir>/<stem><ext>` (next to `src` when `dir` is empty); "" on failure.
fn decrypt_image(src: &str, dir: &str) -> String {
    let Ok(dat) = std::fs::read(src) else { return String::new() };
    let Some((plain, format)) = dat_image::decode(&dat) else { return String::new() };
    let src = Path::new(src);
    let stem = src.file_stem().unwrap_or_default().to_string_lossy().into_owned();
    let out_dir =
        if dir.is_empty() { src.parent().map(Path::to_path_buf).unwrap_or_default() } else { PathBuf::from(dir) };
    if std::fs::create_dir_all(&out_dir).is_err() {
        return String::new();
    }
    let out = out_dir.join(format!("{stem}{}", format.extension()));
    match std::fs::write(&out, plain) {
        Ok(()) => path_text(&out),
        Err(_) => String::new(),
    }
}

/// FNV-1a, for stable file names.
fn fnv(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ *b as u64).wrapping_mul(0x100_0000_01b3))
}
