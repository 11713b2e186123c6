//! The emulated WeChat: account state, the RPC handlers and the operations the control API
//! drives (inbound messages, friend requests, faults, the sent log).

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use prost::Message;
use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, watch};
use wcf::dat_image::{self, ImageFormat};
use wcf::friend_request::{FriendRequest, xml_escape};
use wcf::proto::{
    self, DbNames, DbTables, Functions, MsgTypes, OcrMsg, Request, Response, RpcContacts, UserInfo, WxMsg, bytes_extra,
    request, response,
};

use crate::db::{MEDIA_MSG0, MICRO_MSG, MSG0, NewMsg, WeChatDb};
use crate::fixture::{Fixture, FixtureContact, SelfInfo};
use crate::kinds::InboundMessage;

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
    /// `send_pat`, `forward_msg`, `revoke`, `add_room_members`, `invite_room_members`,
    /// `del_room_members` or `receive_transfer`.
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
    /// The request's other fields, by name (rich text, XML type, member wxids, forwarded id,
    /// transfer ids).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<serde_json::Value>,
    /// Unix time in milliseconds.
    pub ts: u64,
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
    /// For `stall`: only requests of this function wait (its `wcf.proto` name, e.g.
    /// `FUNC_SEND_TXT`); the first one takes the whole stall, the others are answered at once.
    #[serde(default)]
    pub func: Option<String>,
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
    data_dir: PathBuf,
    cdn_dir: PathBuf,
    cdn_base: std::sync::OnceLock<String>,
    logged_in: AtomicBool,
    /// `Some(pyq)` while receiving is enabled.
    receiving: Mutex<Option<bool>>,
    sent: Mutex<Vec<SentRecord>>,
    stall_until: Mutex<Option<(Instant, Option<Functions>)>>,
    login_code: Mutex<String>,
    push: mpsc::UnboundedSender<WxMsg>,
    kick_cmd: watch::Sender<u64>,
    kick_msg: watch::Sender<u64>,
    pub(crate) cmd_peer: AtomicBool,
    pub(crate) msg_peer: AtomicBool,
}

pub(crate) fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}

pub(crate) fn new_svr_id() -> u64 {
    // Real MsgSvrIDs are 19-digit positive i64 values.
    rand::random_range(1_000_000_000_000_000_000u64..9_000_000_000_000_000_000u64)
}

pub(crate) fn hex_id(bytes: usize) -> String {
    (0..bytes).map(|_| format!("{:02x}", rand::random::<u8>())).collect()
}

fn status(func: Functions, s: i32) -> Response {
    Response { func: func as i32, msg: Some(response::Msg::Status(s)) }
}

fn string(func: Functions, s: impl Into<String>) -> Response {
    Response { func: func as i32, msg: Some(response::Msg::Str(s.into())) }
}

/// Path text as WeChatFerry reports it (forward slashes).
pub(crate) fn path_text(p: &Path) -> String {
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
            data_dir: data_dir.to_path_buf(),
            cdn_dir,
            cdn_base: std::sync::OnceLock::new(),
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

    /// `<home>/<wxid>/`, the account folder.
    pub fn account_dir(&self) -> &Path {
        &self.account_dir
    }

    /// The emulator's data folder.
    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// Where attachments wait for `DOWNLOAD_ATTACH`, and stickers are kept.
    pub(crate) fn cdn_dir(&self) -> &Path {
        &self.cdn_dir
    }

    /// `http://host:port` of the control API, which serves stickers as WeChat's CDN would.
    pub(crate) fn cdn_base(&self) -> &str {
        self.cdn_base.get().map(String::as_str).unwrap_or("http://emoji.qpic.cn")
    }

    pub(crate) fn set_cdn_base(&self, base: String) {
        let _ = self.cdn_base.set(base);
    }

    /// Holds an attachment "on the CDN" until `DOWNLOAD_ATTACH` asks for message `id`.
    pub(crate) fn hold_on_cdn(&self, id: u64, target: &Path, bytes: &[u8]) -> Result<(), ControlError> {
        std::fs::write(self.cdn_dir.join(format!("{id}.pending")), bytes)?;
        std::fs::write(self.cdn_dir.join(format!("{id}.target")), path_text(target))?;
        Ok(())
    }

    /// A sticker served at `GET /cdn/emoji/<md5>`.
    pub fn emoji(&self, md5: &str) -> Option<Vec<u8>> {
        if md5.is_empty() || !md5.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        std::fs::read(self.cdn_dir.join(format!("emoji-{md5}"))).ok()
    }

    /// Deletes a friend from the contact list (they deleted this account, or it them).
    pub fn remove_contact(&self, wxid: &str) -> Result<bool, ControlError> {
        Ok(self.db.remove_contact(wxid)?)
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

    /// While a stall fault is active for this request: how long until it ends.
    pub(crate) fn stall_remaining(&self, body: &[u8]) -> Option<Duration> {
        let mut stall = self.stall_until.lock().unwrap_or_else(|p| p.into_inner());
        let (until, only) = (*stall)?;
        if let Some(f) = only {
            let func = Request::decode(body).ok().and_then(|r| Functions::try_from(r.func).ok());
            if func != Some(f) {
                return None;
            }
            // One request of that function takes the stall.
            *stall = None;
        }
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
                let only = match &fault.func {
                    None => None,
                    Some(name) => Some(function_named(name).ok_or_else(|| {
                        ControlError::Invalid(format!(
                            "unknown `func` {name:?}: use a wcf.proto name such as FUNC_SEND_TXT"
                        ))
                    })?),
                };
                *self.stall_until.lock().unwrap_or_else(|p| p.into_inner()) =
                    Some((Instant::now() + Duration::from_millis(ms), only));
            }
            other => {
                return Err(ControlError::Invalid(format!(
                    "unknown fault kind {other:?}: use drop_connections, logout, login or stall"
                )));
            }
        }
        Ok(())
    }

    /// Stores a message and pushes it when receiving is on.
    fn deliver(&self, row: NewMsg, msg: WxMsg) -> Result<(), ControlError> {
        self.deliver_pairs(vec![(row, msg)])
    }

    pub(crate) fn deliver_pairs(&self, items: Vec<(NewMsg, WxMsg)>) -> Result<(), ControlError> {
        let rows: Vec<NewMsg> = items.iter().map(|(r, _)| r.clone()).collect();
        self.db.insert_msgs(&rows)?;
        if self.receiving().is_some() {
            for (_, m) in items {
                let _ = self.push.send(m);
            }
        }
        Ok(())
    }

    /// Injects an inbound message; returns its MsgSvrID (an error for kinds that push
    /// nothing, such as a leave: use [`WeChat::apply`]).
    pub fn inject(&self, m: &InboundMessage) -> Result<u64, ControlError> {
        self.apply(m)?.id.ok_or_else(|| ControlError::Invalid("this change pushes no message".into()))
    }

    /// Injects several messages in one transaction (for benchmarks); their MsgSvrIDs.
    pub fn inject_many(&self, msgs: &[InboundMessage]) -> Result<Vec<u64>, ControlError> {
        let mut built = Vec::with_capacity(msgs.len());
        for m in msgs {
            let kind = m.kind.as_deref().unwrap_or("text");
            if m.raw.is_some() || !matches!(kind, "text" | "image") {
                return Err(ControlError::Invalid("inject_many takes text and image messages".into()));
            }
            built.extend(self.build_simple(m)?);
        }
        let ids = built.iter().map(|b| b.msg.id).collect();
        self.deliver_built(built)?;
        Ok(ids)
    }

    /// Injects `count` text messages from `from` in one transaction (for benchmarks).
    pub fn inject_text_batch(&self, from: &str, text: &str, count: usize) -> Result<Vec<u64>, ControlError> {
        let proto = InboundMessage { from: from.to_owned(), text: Some(text.to_owned()), ..Default::default() };
        self.inject_many(&vec![proto; count])
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
            detail: None,
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
                msg: Some(response::Msg::Dbs(DbNames {
                    names: vec![MICRO_MSG.into(), MSG0.into(), MEDIA_MSG0.into()],
                })),
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
                        // WeChat shows a video file as a video message (type 43).
                        Functions::FuncSendFile
                            if Path::new(&p.path)
                                .extension()
                                .is_some_and(|e| ["mp4", "mov", "m4v"].iter().any(|v| e.eq_ignore_ascii_case(v))) =>
                        {
                            ("send_file", T::VIDEO, "<msg><videomsg playlength=\"0\" /></msg>".to_owned())
                        }
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
                        detail: Some(serde_json::json!({ "type": x.r#type })),
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
                    let rec = SentRecord {
                        text: Some(rt.title.clone()),
                        detail: Some(serde_json::json!({
                            "name": rt.name, "account": rt.account, "title": rt.title,
                            "digest": rt.digest, "url": rt.url, "thumburl": rt.thumburl,
                        })),
                        ..rec("send_rich_text", &rt.receiver)
                    };
                    self.send(func, rec, row(T::APP, &rt.receiver, content), 0)?
                }
            }
            (Functions::FuncSendPatMsg, Some(M::Pm(p))) => {
                if p.roomid.is_empty() || p.wxid.is_empty() {
                    status(func, -1)
                } else {
                    let rec = SentRecord {
                        text: Some(format!("pat {}", p.wxid)),
                        detail: Some(serde_json::json!({ "wxid": p.wxid })),
                        ..rec("send_pat", &p.roomid)
                    };
                    self.send(func, rec, row(922746929, &p.roomid, format!("pat {}", p.wxid)), 1)?
                }
            }
            (Functions::FuncForwardMsg, Some(M::Fm(f))) => match self.db.msg_by_svr_id(f.id)? {
                Some(orig) if !f.receiver.is_empty() => {
                    let mut r = row(orig.msg_type, &f.receiver, orig.content.clone());
                    r.sub_type = orig.sub_type;
                    r.extra = orig.extra.get(bytes_extra::EXTRA).unwrap_or_default().to_owned();
                    let rec = SentRecord {
                        text: Some(orig.content),
                        detail: Some(serde_json::json!({ "forwarded_id": f.id.to_string(), "type": orig.msg_type })),
                        ..rec("forward_msg", &f.receiver)
                    };
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
                // WeChatFerry 39.5.2's RECV_TRANSFER is a stub that answers -1 whatever it is
                // given ("技术太菜，实现不了", wechat-messages.md §3.8.10).
                self.record(SentRecord {
                    id: String::new(),
                    ts: now_ms(),
                    detail: Some(
                        serde_json::json!({ "wxid": t.wxid, "transfer_id": t.tfid, "transaction_id": t.taid }),
                    ),
                    ..rec("receive_transfer", &t.wxid)
                });
                status(func, -1)
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
            ) => {
                let wxids: Vec<&str> = m.wxids.split(',').map(str::trim).filter(|s| !s.is_empty()).collect();
                if m.roomid.is_empty() || wxids.is_empty() || !self.logged_in() {
                    status(func, -1)
                } else {
                    let name = match func {
                        Functions::FuncAddRoomMembers => "add_room_members",
                        Functions::FuncInvRoomMembers => "invite_room_members",
                        _ => "del_room_members",
                    };
                    let s = self.member_rpc(func, &m.roomid, &wxids)?;
                    if s == 1 {
                        self.record(SentRecord {
                            id: String::new(),
                            ts: now_ms(),
                            text: Some(wxids.join(",")),
                            detail: Some(serde_json::json!({ "wxids": wxids })),
                            ..rec(name, &m.roomid)
                        });
                    }
                    status(func, s)
                }
            }
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

    /// `DOWNLOAD_ATTACH` as 39.5.2 does it: only images (3), videos (43, 62) and app messages
    /// (49); an image or file is saved to `extra`, a video next to `thumb` as `.mp4`. 0 when
    /// the file is there (or was already), -1 for an unknown id or an attachment WeChat cannot
    /// fetch any more, -2 for other types.
    fn download_attach(&self, a: &proto::AttachMsg) -> Result<i32, ControlError> {
        use wcf::message::msg_type as T;
        let Some(m) = self.db.msg_by_svr_id(a.id)? else { return Ok(-1) };
        let target = match m.msg_type {
            T::IMAGE | T::APP if !a.extra.is_empty() => PathBuf::from(&a.extra),
            T::VIDEO | T::SHORT_VIDEO if !a.thumb.is_empty() => Path::new(&a.thumb).with_extension("mp4"),
            T::IMAGE | T::APP | T::VIDEO | T::SHORT_VIDEO => return Ok(-1),
            _ => return Ok(-2),
        };
        if target.exists() {
            return Ok(0);
        }
        let pending = self.cdn_dir().join(format!("{}.pending", a.id));
        let held_for = std::fs::read_to_string(self.cdn_dir().join(format!("{}.target", a.id))).unwrap_or_default();
        if !pending.exists() || Path::new(&held_for) != target {
            return Ok(-1);
        }
        if let Some(dir) = target.parent() {
            std::fs::create_dir_all(dir)?;
        }
        std::fs::copy(pending, &target)?;
        Ok(0)
    }

    /// `GET_AUDIO_MSG`: `Media.Buf` of the message (leading 0x02 dropped) as `<dir>/<id>.mp3`.
    /// The emulator does not transcode: what was injected as the audio is the MP3.
    fn audio(&self, a: &proto::AudioMsg) -> Result<String, ControlError> {
        if a.dir.is_empty() {
            return Ok(String::new());
        }
        match self.db.audio(a.id)? {
            Some(buf) => {
                std::fs::create_dir_all(&a.dir)?;
                let out = Path::new(&a.dir).join(format!("{}.mp3", a.id));
                std::fs::write(&out, buf.strip_prefix(&[0x02]).unwrap_or(&buf))?;
                Ok(path_text(&out))
            }
            None => Ok(String::new()),
        }
    }
}

/// The function whose `wcf.proto` name (`FUNC_SEND_TXT`) is `name`.
fn function_named(name: &str) -> Option<Functions> {
    (0..=255).filter_map(|v| Functions::try_from(v).ok()).find(|f| {
        let camel = format!("{f:?}");
        let mut snake = String::new();
        for (i, c) in camel.chars().enumerate() {
            if c.is_ascii_uppercase() && i > 0 {
                snake.push('_');
            }
            snake.push(c.to_ascii_uppercase());
        }
        snake == name
    })
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
pub(crate) fn fnv(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ *b as u64).wrapping_mul(0x100_0000_01b3))
}
