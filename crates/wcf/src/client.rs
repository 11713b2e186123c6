//! The async command-channel client: one typed method per WeChatFerry RPC.
//!
//! One request is in flight per command socket (replies are matched by order only). Every call
//! has a timeout; after a timeout or a transport error the socket is dropped and re-dialled on
//! the next call, so a late reply can never be read as the answer to another request.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use prost::Message;
use tokio::sync::Mutex;

use crate::proto::{self, Functions, Request, Response, request, response};
use crate::transport::{DEFAULT_MAX_FRAME, PairConn, TransportError};
use crate::{Error, Result};

/// Where and how to reach WeChatFerry.
#[derive(Clone, Debug)]
pub struct ClientOptions {
    /// Command channel, `tcp://host:port`; the message channel is `port + 1`.
    pub address: String,
    /// Per-call timeout (connect + request + reply). WeChatFerry's own client uses 5 s.
    pub call_timeout: Duration,
    /// Largest frame accepted from the peer.
    pub max_frame: u64,
}

impl ClientOptions {
    /// Options with the defaults for `address`.
    pub fn new(address: impl Into<String>) -> Self {
        Self { address: address.into(), call_timeout: Duration::from_secs(5), max_frame: DEFAULT_MAX_FRAME }
    }
}

/// The `host:port` pairs of the two channels.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Endpoints {
    /// Command channel.
    pub command: String,
    /// Message (push) channel, port + 1.
    pub message: String,
}

impl Endpoints {
    /// Parses `tcp://host:port` (the scheme may be omitted).
    pub fn parse(address: &str) -> Result<Self> {
        let bad = || Error::InvalidAddress(address.to_owned());
        let rest = address.strip_prefix("tcp://").unwrap_or(address);
        let (host, port) = rest.rsplit_once(':').ok_or_else(bad)?;
        let port: u16 = port.parse().map_err(|_| bad())?;
        if host.is_empty() || port == u16::MAX {
            return Err(bad());
        }
        Ok(Self { command: format!("{host}:{port}"), message: format!("{host}:{}", port + 1) })
    }
}

/// A value of an `EXEC_DB_QUERY` result cell.
#[derive(Clone, Debug, PartialEq)]
pub enum DbValue {
    /// SQLite INTEGER (sent as ASCII decimal by the server).
    Integer(i64),
    /// SQLite FLOAT (sent as ASCII decimal).
    Float(f64),
    /// SQLite TEXT.
    Text(String),
    /// SQLite BLOB.
    Blob(Vec<u8>),
    /// SQLite NULL.
    Null,
}

impl DbValue {
    fn from_field(f: &proto::DbField) -> Self {
        let text = || String::from_utf8_lossy(&f.content).into_owned();
        match f.r#type {
            1 => text().trim().parse().map(Self::Integer).unwrap_or_else(|_| Self::Text(text())),
            2 => text().trim().parse().map(Self::Float).unwrap_or_else(|_| Self::Text(text())),
            3 => Self::Text(text()),
            4 => Self::Blob(f.content.clone()),
            _ => Self::Null,
        }
    }

    /// The value as text, when it is TEXT (or INTEGER/FLOAT rendered).
    pub fn as_text(&self) -> Option<String> {
        match self {
            Self::Text(s) => Some(s.clone()),
            Self::Integer(i) => Some(i.to_string()),
            Self::Float(f) => Some(f.to_string()),
            _ => None,
        }
    }

    /// The value as an integer.
    pub fn as_i64(&self) -> Option<i64> {
        match self {
            Self::Integer(i) => Some(*i),
            Self::Text(s) => s.trim().parse().ok(),
            _ => None,
        }
    }

    /// The value as bytes (BLOB or TEXT).
    pub fn as_bytes(&self) -> Option<&[u8]> {
        match self {
            Self::Blob(b) => Some(b),
            Self::Text(s) => Some(s.as_bytes()),
            _ => None,
        }
    }
}

/// One result row: column name → value, in column order.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct DbRow(pub Vec<(String, DbValue)>);

impl DbRow {
    /// The value of `column`, if present.
    pub fn get(&self, column: &str) -> Option<&DbValue> {
        self.0.iter().find(|(c, _)| c == column).map(|(_, v)| v)
    }
}

/// What `enable_receiving` found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Receiving {
    /// Receiving was switched on (status 0).
    Enabled,
    /// It was already on (status 1 in v39.5.2); the push channel is open.
    AlreadyEnabled,
}

/// Fields of a rich-text (link card) message.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RichText {
    /// Left-bottom display name.
    pub name: String,
    /// Official account id that opens on a click.
    pub account: String,
    /// Title.
    pub title: String,
    /// Digest text.
    pub digest: String,
    /// Link target.
    pub url: String,
    /// Thumbnail URL.
    pub thumburl: String,
    /// Receiver wxid or room id.
    pub receiver: String,
}

/// Command-channel client. Cheap to clone; clones share the socket.
#[derive(Clone, Debug)]
pub struct Client {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    options: ClientOptions,
    endpoints: Endpoints,
    conn: Mutex<Option<PairConn>>,
    paused: std::sync::atomic::AtomicBool,
}

enum Expect {
    Status(i32),
    StatusIn(&'static [i32]),
}

impl Client {
    /// A client for `options.address`. Nothing is dialled until the first call.
    pub fn new(options: ClientOptions) -> Result<Self> {
        let endpoints = Endpoints::parse(&options.address)?;
        Ok(Self { inner: Arc::new(Inner { options, endpoints, conn: Mutex::new(None), paused: Default::default() }) })
    }

    /// The options this client was made with.
    pub fn options(&self) -> &ClientOptions {
        &self.inner.options
    }

    /// The two channel endpoints.
    pub fn endpoints(&self) -> &Endpoints {
        &self.inner.endpoints
    }

    /// Drops the command socket; the next call dials again.
    pub async fn disconnect(&self) {
        *self.inner.conn.lock().await = None;
    }

    /// Drops the command socket and refuses every call with [`Error::Paused`] until
    /// [`Client::resume`]: for a WeChat that another program (a fleet's other node) drives,
    /// which a second connection would disturb.
    pub async fn pause(&self) {
        self.inner.paused.store(true, std::sync::atomic::Ordering::SeqCst);
        self.disconnect().await;
    }

    /// Lets calls dial again after [`Client::pause`].
    pub fn resume(&self) {
        self.inner.paused.store(false, std::sync::atomic::Ordering::SeqCst);
    }

    /// True while paused.
    pub fn is_paused(&self) -> bool {
        self.inner.paused.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Sends one request and waits for its reply, under the call timeout.
    pub async fn call(&self, func: Functions, msg: Option<request::Msg>) -> Result<Response> {
        if self.is_paused() {
            return Err(Error::Paused(self.inner.endpoints.command.clone()));
        }
        let body = Request { func: func as i32, msg }.encode_to_vec();
        let mut slot = self.inner.conn.lock().await;
        if self.is_paused() {
            return Err(Error::Paused(self.inner.endpoints.command.clone()));
        }
        let timeout = self.inner.options.call_timeout;
        let outcome = tokio::time::timeout(timeout, async {
            if slot.is_none() {
                let conn = PairConn::dial(&self.inner.endpoints.command, self.inner.options.max_frame)
                    .await
                    .map_err(|e| Error::Connect { addr: self.inner.endpoints.command.clone(), source: Arc::new(e) })?;
                *slot = Some(conn);
            }
            let conn = slot.as_mut().expect("connected above");
            conn.send(&body).await.map_err(|e| transport(func, e))?;
            conn.recv().await.map_err(|e| transport(func, e))
        })
        .await;
        let reply = match outcome {
            Ok(Ok(reply)) => reply,
            Ok(Err(e)) => {
                *slot = None;
                return Err(e);
            }
            Err(_) => {
                // A late reply must never answer the next request: re-dial next time.
                *slot = None;
                return Err(Error::Timeout { func, after: timeout });
            }
        };
        if reply.is_empty() {
            return Err(Error::Unsupported { func });
        }
        let rsp = match Response::decode(reply.as_slice()) {
            Ok(rsp) => rsp,
            Err(e) => {
                *slot = None;
                return Err(Error::Decode { func, detail: e.to_string() });
            }
        };
        if rsp.func != func as i32 && rsp.func != 0 {
            *slot = None;
            return Err(Error::Desync { func, got: rsp.func });
        }
        Ok(rsp)
    }

    async fn status(&self, func: Functions, msg: Option<request::Msg>, expect: Expect) -> Result<i32> {
        match self.call(func, msg).await?.msg {
            Some(response::Msg::Status(s)) => {
                let ok = match expect {
                    Expect::Status(v) => s == v,
                    Expect::StatusIn(vs) => vs.contains(&s),
                };
                if ok { Ok(s) } else { Err(Error::Rejected { func, status: s }) }
            }
            None => Err(Error::Unsupported { func }),
            Some(_) => Err(Error::UnexpectedReply { func }),
        }
    }

    async fn string(&self, func: Functions, msg: Option<request::Msg>) -> Result<String> {
        match self.call(func, msg).await?.msg {
            Some(response::Msg::Str(s)) if !s.is_empty() => Ok(s),
            Some(response::Msg::Str(_)) => Err(Error::Failed { func }),
            None => Err(Error::Unsupported { func }),
            Some(_) => Err(Error::UnexpectedReply { func }),
        }
    }

    /// `FUNC_IS_LOGIN`: true when WeChat is logged in (status 1).
    pub async fn is_login(&self) -> Result<bool> {
        let func = Functions::FuncIsLogin;
        match self.call(func, None).await?.msg {
            Some(response::Msg::Status(s)) => Ok(s == 1),
            None => Err(Error::Unsupported { func }),
            Some(_) => Err(Error::UnexpectedReply { func }),
        }
    }

    /// `FUNC_GET_SELF_WXID`: this account's wxid.
    pub async fn self_wxid(&self) -> Result<String> {
        self.string(Functions::FuncGetSelfWxid, None).await
    }

    /// `FUNC_GET_USER_INFO`: wxid, name, mobile, home folder.
    pub async fn user_info(&self) -> Result<proto::UserInfo> {
        let func = Functions::FuncGetUserInfo;
        match self.call(func, None).await?.msg {
            Some(response::Msg::Ui(ui)) if !ui.wxid.is_empty() => Ok(ui),
            Some(response::Msg::Ui(_)) => Err(Error::Failed { func }),
            None => Err(Error::Unsupported { func }),
            Some(_) => Err(Error::UnexpectedReply { func }),
        }
    }

    /// `FUNC_GET_MSG_TYPES`: type number → name.
    pub async fn msg_types(&self) -> Result<BTreeMap<i32, String>> {
        let func = Functions::FuncGetMsgTypes;
        match self.call(func, None).await?.msg {
            Some(response::Msg::Types(t)) => Ok(t.types.into_iter().collect()),
            None => Err(Error::Unsupported { func }),
            Some(_) => Err(Error::UnexpectedReply { func }),
        }
    }

    /// `FUNC_GET_CONTACTS`: every contact (friends, groups, official accounts, strangers).
    pub async fn contacts(&self) -> Result<Vec<proto::RpcContact>> {
        let func = Functions::FuncGetContacts;
        match self.call(func, None).await?.msg {
            Some(response::Msg::Contacts(c)) => Ok(c.contacts),
            None => Err(Error::Unsupported { func }),
            Some(_) => Err(Error::UnexpectedReply { func }),
        }
    }

    /// `FUNC_GET_CONTACT_INFO`: one contact, `None` when WeChat does not know the wxid.
    pub async fn contact_info(&self, wxid: &str) -> Result<Option<proto::RpcContact>> {
        let func = Functions::FuncGetContactInfo;
        match self.call(func, Some(request::Msg::Str(wxid.to_owned()))).await?.msg {
            Some(response::Msg::Contacts(c)) => Ok(c.contacts.into_iter().next()),
            None => Err(Error::Unsupported { func }),
            Some(_) => Err(Error::UnexpectedReply { func }),
        }
    }

    /// `FUNC_GET_DB_NAMES`.
    pub async fn db_names(&self) -> Result<Vec<String>> {
        let func = Functions::FuncGetDbNames;
        match self.call(func, None).await?.msg {
            Some(response::Msg::Dbs(d)) => Ok(d.names),
            None => Err(Error::Unsupported { func }),
            Some(_) => Err(Error::UnexpectedReply { func }),
        }
    }

    /// `FUNC_GET_DB_TABLES`: tables of `db` with their `CREATE` statements.
    pub async fn db_tables(&self, db: &str) -> Result<Vec<proto::DbTable>> {
        let func = Functions::FuncGetDbTables;
        match self.call(func, Some(request::Msg::Str(db.to_owned()))).await?.msg {
            Some(response::Msg::Tables(t)) => Ok(t.tables),
            None => Err(Error::Unsupported { func }),
            Some(_) => Err(Error::UnexpectedReply { func }),
        }
    }

    /// `FUNC_EXEC_DB_QUERY`: runs `sql` on `db`. Bad SQL yields no rows (the server's rule).
    pub async fn query(&self, db: &str, sql: &str) -> Result<Vec<DbRow>> {
        let func = Functions::FuncExecDbQuery;
        let q = proto::DbQuery { db: db.to_owned(), sql: sql.to_owned() };
        match self.call(func, Some(request::Msg::Query(q))).await?.msg {
            Some(response::Msg::Rows(rows)) => Ok(rows
                .rows
                .iter()
                .map(|r| DbRow(r.fields.iter().map(|f| (f.column.clone(), DbValue::from_field(f))).collect()))
                .collect()),
            None => Err(Error::Unsupported { func }),
            Some(_) => Err(Error::UnexpectedReply { func }),
        }
    }

    /// `FUNC_GET_DB_KEY` (39.6.0.0 only): the SQLCipher key as hex.
    pub async fn db_key(&self) -> Result<String> {
        self.string(Functions::FuncGetDbKey, None).await
    }

    /// `FUNC_SEND_TXT`: `aters` are wxids to @ (or `notify@all`); the text should carry as many
    /// `@name` mentions. Status 0 = accepted.
    pub async fn send_text(&self, text: &str, receiver: &str, aters: &[String]) -> Result<()> {
        let txt = proto::TextMsg { msg: text.to_owned(), receiver: receiver.to_owned(), aters: aters.join(",") };
        self.status(Functions::FuncSendTxt, Some(request::Msg::Txt(txt)), Expect::Status(0)).await.map(drop)
    }

    fn path_msg(path: &str, receiver: &str) -> Option<request::Msg> {
        Some(request::Msg::File(proto::PathMsg { path: path.to_owned(), receiver: receiver.to_owned() }))
    }

    /// `FUNC_SEND_IMG`: `path` is on the WeChat host. 0 ok; -1 empty; -2 file missing there.
    pub async fn send_image(&self, path: &str, receiver: &str) -> Result<()> {
        self.status(Functions::FuncSendImg, Self::path_msg(path, receiver), Expect::Status(0)).await.map(drop)
    }

    /// `FUNC_SEND_FILE`: as `send_image`.
    pub async fn send_file(&self, path: &str, receiver: &str) -> Result<()> {
        self.status(Functions::FuncSendFile, Self::path_msg(path, receiver), Expect::Status(0)).await.map(drop)
    }

    /// `FUNC_SEND_EMOTION`: a sticker file on the WeChat host.
    pub async fn send_emotion(&self, path: &str, receiver: &str) -> Result<()> {
        self.status(Functions::FuncSendEmotion, Self::path_msg(path, receiver), Expect::Status(0)).await.map(drop)
    }

    /// `FUNC_SEND_XML`.
    pub async fn send_xml(&self, receiver: &str, xml: &str, xml_type: i32, path: Option<&str>) -> Result<()> {
        let m = proto::XmlMsg {
            receiver: receiver.to_owned(),
            content: xml.to_owned(),
            path: path.unwrap_or_default().to_owned(),
            r#type: xml_type,
        };
        self.status(Functions::FuncSendXml, Some(request::Msg::Xml(m)), Expect::Status(0)).await.map(drop)
    }

    /// `FUNC_SEND_RICH_TXT`: a link card. 0 = ok.
    pub async fn send_rich_text(&self, rt: &RichText) -> Result<()> {
        let m = proto::RichText {
            name: rt.name.clone(),
            account: rt.account.clone(),
            title: rt.title.clone(),
            digest: rt.digest.clone(),
            url: rt.url.clone(),
            thumburl: rt.thumburl.clone(),
            receiver: rt.receiver.clone(),
        };
        self.status(Functions::FuncSendRichTxt, Some(request::Msg::Rt(m)), Expect::Status(0)).await.map(drop)
    }

    /// `FUNC_SEND_PAT_MSG`: pat `wxid` in `roomid`. 1 = ok.
    pub async fn send_pat(&self, roomid: &str, wxid: &str) -> Result<()> {
        let m = proto::PatMsg { roomid: roomid.to_owned(), wxid: wxid.to_owned() };
        self.status(Functions::FuncSendPatMsg, Some(request::Msg::Pm(m)), Expect::Status(1)).await.map(drop)
    }

    /// `FUNC_FORWARD_MSG`: forward message `id` to `receiver`. 1 = ok.
    pub async fn forward(&self, id: u64, receiver: &str) -> Result<()> {
        let m = proto::ForwardMsg { id, receiver: receiver.to_owned() };
        self.status(Functions::FuncForwardMsg, Some(request::Msg::Fm(m)), Expect::Status(1)).await.map(drop)
    }

    /// `FUNC_REVOKE_MSG`: recall one of our messages by `MsgSvrID`. 1 = ok.
    pub async fn revoke(&self, id: u64) -> Result<()> {
        self.status(Functions::FuncRevokeMsg, Some(request::Msg::Ui64(id)), Expect::Status(1)).await.map(drop)
    }

    /// `FUNC_ENABLE_RECV_TXT`: switch pushing on (`pyq` adds Moments). Only the command side;
    /// see [`crate::Receiver`] for the push channel.
    pub async fn enable_receiving(&self, pyq: bool) -> Result<Receiving> {
        let s =
            self.status(Functions::FuncEnableRecvTxt, Some(request::Msg::Flag(pyq)), Expect::StatusIn(&[0, 1])).await?;
        Ok(if s == 0 { Receiving::Enabled } else { Receiving::AlreadyEnabled })
    }

    /// `FUNC_DISABLE_RECV_TXT` (status 1 = it was not on, also fine).
    pub async fn disable_receiving(&self) -> Result<()> {
        self.status(Functions::FuncDisableRecvTxt, None, Expect::StatusIn(&[0, 1])).await.map(drop)
    }

    /// `FUNC_ACCEPT_FRIEND`: accept a request with its own `scene`. 1 = ok.
    pub async fn accept_friend(&self, v3: &str, v4: &str, scene: i32) -> Result<()> {
        let v = proto::Verification { v3: v3.to_owned(), v4: v4.to_owned(), scene };
        self.status(Functions::FuncAcceptFriend, Some(request::Msg::V(v)), Expect::Status(1)).await.map(drop)
    }

    /// `FUNC_RECV_TRANSFER`. 1 = ok.
    pub async fn receive_transfer(&self, wxid: &str, transfer_id: &str, transaction_id: &str) -> Result<()> {
        let tf =
            proto::Transfer { wxid: wxid.to_owned(), tfid: transfer_id.to_owned(), taid: transaction_id.to_owned() };
        self.status(Functions::FuncRecvTransfer, Some(request::Msg::Tf(tf)), Expect::Status(1)).await.map(drop)
    }

    /// `FUNC_REFRESH_PYQ`: fetch a Moments page (0 = newest); posts arrive as type-0 pushes.
    pub async fn refresh_moments(&self, id: u64) -> Result<()> {
        self.status(Functions::FuncRefreshPyq, Some(request::Msg::Ui64(id)), Expect::Status(1)).await.map(drop)
    }

    /// `FUNC_DOWNLOAD_ATTACH`: ask WeChat to download a message's attachment to `extra` (or a
    /// video next to `thumb`). 0 = ok.
    pub async fn download_attach(&self, id: u64, thumb: &str, extra: &str) -> Result<()> {
        let att = proto::AttachMsg { id, thumb: thumb.to_owned(), extra: extra.to_owned() };
        self.status(Functions::FuncDownloadAttach, Some(request::Msg::Att(att)), Expect::Status(0)).await.map(drop)
    }

    /// `FUNC_DECRYPT_IMAGE`: decode a `.dat` into `dir` on the WeChat host; the output path.
    pub async fn decrypt_image(&self, src: &str, dir: &str) -> Result<String> {
        let dec = proto::DecPath { src: src.to_owned(), dst: dir.to_owned() };
        self.string(Functions::FuncDecryptImage, Some(request::Msg::Dec(dec))).await
    }

    /// `FUNC_GET_AUDIO_MSG`: voice message `id` as MP3 in `dir`; the output path.
    pub async fn audio_msg(&self, id: u64, dir: &str) -> Result<String> {
        let am = proto::AudioMsg { id, dir: dir.to_owned() };
        self.string(Functions::FuncGetAudioMsg, Some(request::Msg::Am(am))).await
    }

    /// `FUNC_EXEC_OCR`: text in the image at `path` (status 0 = done).
    pub async fn ocr(&self, path: &str) -> Result<String> {
        let func = Functions::FuncExecOcr;
        match self.call(func, Some(request::Msg::Str(path.to_owned()))).await?.msg {
            Some(response::Msg::Ocr(o)) if o.status == 0 => Ok(o.result),
            Some(response::Msg::Ocr(o)) => Err(Error::Rejected { func, status: o.status }),
            None => Err(Error::Unsupported { func }),
            Some(_) => Err(Error::UnexpectedReply { func }),
        }
    }

    /// `FUNC_REFRESH_QRCODE`: the login URL; fails when already logged in.
    pub async fn login_qrcode(&self) -> Result<String> {
        self.string(Functions::FuncRefreshQrcode, None).await
    }

    fn members(roomid: &str, wxids: &[String]) -> Option<request::Msg> {
        let wxids = wxids.iter().map(|w| w.trim()).collect::<Vec<_>>().join(",");
        Some(request::Msg::M(proto::MemberMgmt { roomid: roomid.to_owned(), wxids }))
    }

    /// `FUNC_ADD_ROOM_MEMBERS`. 1 = ok.
    pub async fn add_room_members(&self, roomid: &str, wxids: &[String]) -> Result<()> {
        self.status(Functions::FuncAddRoomMembers, Self::members(roomid, wxids), Expect::Status(1)).await.map(drop)
    }

    /// `FUNC_DEL_ROOM_MEMBERS`. 1 = ok.
    pub async fn delete_room_members(&self, roomid: &str, wxids: &[String]) -> Result<()> {
        self.status(Functions::FuncDelRoomMembers, Self::members(roomid, wxids), Expect::Status(1)).await.map(drop)
    }

    /// `FUNC_INV_ROOM_MEMBERS`. 1 = ok.
    pub async fn invite_room_members(&self, roomid: &str, wxids: &[String]) -> Result<()> {
        self.status(Functions::FuncInvRoomMembers, Self::members(roomid, wxids), Expect::Status(1)).await.map(drop)
    }

    /// A chat group's `RoomData` (members and group nicknames), from `MicroMsg.db` `ChatRoom`.
    pub async fn room_data(&self, roomid: &str) -> Result<proto::RoomData> {
        let sql = format!("SELECT RoomData FROM ChatRoom WHERE ChatRoomName = '{}';", roomid.replace('\'', "''"));
        let rows = self.query("MicroMsg.db", &sql).await?;
        let Some(blob) = rows.first().and_then(|r| r.get("RoomData")).and_then(DbValue::as_bytes) else {
            return Err(Error::NotFound(format!("chat group {roomid}")));
        };
        crate::room::decode_room_data(blob).map_err(|e| Error::Decode {
            func: Functions::FuncExecDbQuery,
            detail: format!("RoomData of {roomid}: {e}"),
        })
    }

    /// Members of a chat group, named as the official client does (group nickname, else the
    /// contact's NickName from `Contact`).
    pub async fn room_members(&self, roomid: &str) -> Result<Vec<crate::room::RoomMember>> {
        let data = self.room_data(roomid).await?;
        let names = self.query("MicroMsg.db", "SELECT UserName, NickName FROM Contact;").await?;
        let nicknames =
            names.iter().filter_map(|r| Some((r.get("UserName")?.as_text()?, r.get("NickName")?.as_text()?))).collect();
        Ok(crate::room::room_members(&data, &nicknames))
    }

    /// `FUNC_SHUTDOWN` (v39.5.x): stops the RPC server inside WeChat. 0 = ok.
    pub async fn shutdown_server(&self) -> Result<()> {
        let r = self.status(Functions::FuncShutdown, None, Expect::Status(0)).await.map(drop);
        self.disconnect().await;
        r
    }
}

fn transport(func: Functions, e: TransportError) -> Error {
    Error::Transport { func, source: Arc::new(e) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_paused_client_refuses_without_dialling() {
        // A listener that counts connections: a paused client must not make any.
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let accepted = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let seen = accepted.clone();
        tokio::spawn(async move {
            while let Ok((s, _)) = listener.accept().await {
                seen.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                drop(s);
            }
        });
        let client = Client::new(ClientOptions {
            call_timeout: std::time::Duration::from_millis(300),
            ..ClientOptions::new(format!("tcp://127.0.0.1:{port}"))
        })
        .unwrap();
        client.pause().await;
        assert!(client.is_paused());
        let e = client.is_login().await.unwrap_err();
        assert!(matches!(e, Error::Paused(_)), "{e}");
        assert!(e.to_string().contains("paused"), "{e}");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        assert_eq!(accepted.load(std::sync::atomic::Ordering::SeqCst), 0, "nothing dialled while paused");
        client.resume();
        assert!(client.is_login().await.is_err(), "the listener hangs up: the call fails, but it dialled");
        assert!(accepted.load(std::sync::atomic::Ordering::SeqCst) >= 1);
    }

    #[test]
    fn endpoints_parse() {
        let e = Endpoints::parse("tcp://127.0.0.1:10086").unwrap();
        assert_eq!(e.command, "127.0.0.1:10086");
        assert_eq!(e.message, "127.0.0.1:10087");
        assert_eq!(Endpoints::parse("localhost:127").unwrap().message, "localhost:128");
        for bad in ["tcp://127.0.0.1", "tcp://:1", "tcp://h:x", "tcp://h:65535"] {
            assert!(matches!(Endpoints::parse(bad), Err(Error::InvalidAddress(_))), "{bad}");
        }
    }

    #[test]
    fn db_values_follow_server_encoding() {
        let f =
            |t, c: &[u8]| DbValue::from_field(&proto::DbField { r#type: t, column: "c".into(), content: c.to_vec() });
        assert_eq!(f(1, b"42"), DbValue::Integer(42));
        assert_eq!(f(2, b"1.5"), DbValue::Float(1.5));
        assert_eq!(f(3, "微信".as_bytes()), DbValue::Text("微信".into()));
        assert_eq!(f(4, &[0, 1]), DbValue::Blob(vec![0, 1]));
        assert_eq!(f(5, b""), DbValue::Null);
    }
}
