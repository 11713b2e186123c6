//! Every read of WeChat's own databases (`EXEC_DB_QUERY` on `MSG<n>.db` and `MicroMsg.db`),
//! with its SQL and its quoting in one place: gap recovery and polling, the outgoing messages
//! a send is matched against, one message by id (quotes, lazy media, `wx.get_message`),
//! chat-group members and their names, avatars.
//!
//! WeChat 3.9 stores app messages (type 49) lz4-compressed in `CompressContent` with
//! `StrContent` empty; rows are read back with the XML inflated, as the push carried it.
//!
//! WeChat starts a new `MSG<n>.db` when the current one grows large; the list of database
//! names is cached for a minute (and re-read at once when a lookup finds nothing).

use std::collections::HashMap;
use std::time::{Duration, Instant};

use prost::Message as _;
use tokio::sync::Mutex;
use wcf::proto::{BytesExtra, RoomData, bytes_extra};
use wcf::{DbRow, WxMsg};

use crate::account::Backend;
use crate::error::ApiResult;

/// How long the list of database names is trusted.
const DB_NAMES_TTL: Duration = Duration::from_secs(60);

/// A string literal for SQLite (`'…'`, quotes doubled; NUL cut, which SQLite cannot store).
pub fn quote(s: &str) -> String {
    let s = s.split('\0').next().unwrap_or_default();
    format!("'{}'", s.replace('\'', "''"))
}

/// An outgoing message as WeChat recorded it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OutgoingRow {
    /// MsgSvrID.
    pub svr_id: i64,
    /// Type.
    pub msg_type: i64,
    /// StrContent.
    pub content: String,
    /// CreateTime, unix seconds.
    pub create_time: i64,
}

/// WeChat's databases for one account.
#[derive(Debug, Default)]
pub struct WeChatDb {
    names: Mutex<Option<(Vec<String>, Instant)>>,
}

impl WeChatDb {
    /// Nothing read yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// The message databases, oldest first (`MSG0.db`, `MSG1.db`, …).
    async fn msg_dbs(&self, link: &Backend, fresh: bool) -> Vec<String> {
        let mut cached = self.names.lock().await;
        if !fresh
            && let Some((names, at)) = cached.as_ref()
            && at.elapsed() < DB_NAMES_TTL
        {
            return names.clone();
        }
        let all = link.client.db_names().await.unwrap_or_default();
        let mut msg: Vec<(u32, String)> = all
            .iter()
            .filter_map(|n| Some((n.strip_prefix("MSG")?.strip_suffix(".db")?.parse::<u32>().ok()?, n.clone())))
            .collect();
        msg.sort();
        let names: Vec<String> = msg.into_iter().map(|(_, n)| n).collect();
        let names = if names.is_empty() { vec!["MSG0.db".to_owned()] } else { names };
        *cached = Some((names.clone(), Instant::now()));
        names
    }

    /// The newest `MSG<n>.db`.
    pub async fn newest_msg_db(&self, link: &Backend) -> String {
        self.msg_dbs(link, false).await.pop().unwrap_or_else(|| "MSG0.db".into())
    }

    async fn query(&self, link: &Backend, db: &str, sql: &str) -> ApiResult<Vec<DbRow>> {
        link.client.query(db, sql).await.map_err(|e| link.error("read WeChat's message database", &e))
    }

    /// The highest `localId` of the newest message database (0 when empty).
    pub async fn max_local_id(&self, link: &Backend) -> ApiResult<i64> {
        let db = self.newest_msg_db(link).await;
        let rows = self.query(link, &db, "SELECT COALESCE(MAX(localId), 0) AS m FROM MSG").await?;
        Ok(rows.first().and_then(|r| r.get("m")).and_then(|v| v.as_i64()).unwrap_or(0))
    }

    /// Message `svr_id`, from whichever message database holds it (newest first), rebuilt as
    /// its push carried it.
    pub async fn message(&self, link: &Backend, svr_id: u64) -> ApiResult<Option<WxMsg>> {
        let me = link.self_id();
        let mut dbs = self.msg_dbs(link, false).await;
        dbs.reverse();
        for db in dbs {
            let rows = self
                .query(
                    link,
                    &db,
                    &format!(
                        "SELECT {MSG_COLUMNS} FROM MSG WHERE MsgSvrID = {} ORDER BY localId DESC LIMIT 1",
                        svr_id as i64
                    ),
                )
                .await?;
            if let Some((_, m)) = rows.first().and_then(|r| row_to_msg(r, &me)) {
                return Ok(Some(m));
            }
        }
        Ok(None)
    }

    /// The `localId` of message `svr_id` in the newest message database.
    pub async fn local_id_of(&self, link: &Backend, svr_id: u64) -> ApiResult<Option<i64>> {
        let db = self.newest_msg_db(link).await;
        let rows =
            self.query(link, &db, &format!("SELECT localId FROM MSG WHERE MsgSvrID = {}", svr_id as i64)).await?;
        Ok(rows.first().and_then(|r| r.get("localId")).and_then(|v| v.as_i64()))
    }

    /// Message rows after `local_id` (at most `limit`), rebuilt as pushes would have carried them.
    pub async fn rows_after(&self, link: &Backend, local_id: i64, limit: usize) -> ApiResult<Vec<(i64, WxMsg)>> {
        let db = self.newest_msg_db(link).await;
        let me = link.self_id();
        let rows = self
            .query(
                link,
                &db,
                &format!("SELECT {MSG_COLUMNS} FROM MSG WHERE localId > {local_id} ORDER BY localId LIMIT {limit}"),
            )
            .await?;
        Ok(rows.iter().filter_map(|r| row_to_msg(r, &me)).collect())
    }

    /// The account's own messages to `receiver` created in `[from, to]` (unix seconds), in
    /// the order WeChat recorded them.
    pub async fn outgoing(&self, link: &Backend, receiver: &str, from: i64, to: i64) -> ApiResult<Vec<OutgoingRow>> {
        let db = self.newest_msg_db(link).await;
        let sql = format!(
            "SELECT MsgSvrID, Type, StrContent, CompressContent, CreateTime FROM MSG
             WHERE StrTalker = {} AND IsSender = 1 AND CreateTime >= {from} AND CreateTime <= {to} ORDER BY localId",
            quote(receiver)
        );
        let rows = self.query(link, &db, &sql).await?;
        Ok(rows
            .iter()
            .filter_map(|r| {
                Some(OutgoingRow {
                    svr_id: r.get("MsgSvrID")?.as_i64()?,
                    msg_type: r.get("Type")?.as_i64()?,
                    content: content_of(r),
                    create_time: r.get("CreateTime").and_then(|v| v.as_i64()).unwrap_or(0),
                })
            })
            .collect())
    }

    /// A chat group's `RoomData` (members and group nicknames), `None` for an unknown room.
    pub async fn room_data(&self, link: &Backend, roomid: &str) -> ApiResult<Option<RoomData>> {
        let sql = format!("SELECT RoomData FROM ChatRoom WHERE ChatRoomName = {};", quote(roomid));
        let rows = self.query(link, "MicroMsg.db", &sql).await?;
        Ok(rows
            .first()
            .and_then(|r| r.get("RoomData"))
            .and_then(|v| v.as_bytes())
            .and_then(|b| wcf::room::decode_room_data(b).ok()))
    }

    /// Every chat group's `RoomData`.
    pub async fn all_room_data(&self, link: &Backend) -> ApiResult<HashMap<String, RoomData>> {
        let rows = self.query(link, "MicroMsg.db", "SELECT ChatRoomName, RoomData FROM ChatRoom").await?;
        Ok(rows
            .iter()
            .filter_map(|r| {
                let room = r.get("ChatRoomName")?.as_text()?;
                let data = wcf::room::decode_room_data(r.get("RoomData")?.as_bytes()?).ok()?;
                Some((room, data))
            })
            .collect())
    }

    /// `NickName` and `Remark` of these wxids from `Contact`, which holds everyone WeChat has
    /// seen (group members who are no friends too).
    pub async fn names(&self, link: &Backend, wxids: &[String]) -> ApiResult<HashMap<String, ContactNames>> {
        let mut out = HashMap::new();
        for chunk in wxids.chunks(200) {
            let list: Vec<String> = chunk.iter().map(|w| quote(w)).collect();
            let sql = format!("SELECT UserName, NickName, Remark FROM Contact WHERE UserName IN ({})", list.join(","));
            for r in self.query(link, "MicroMsg.db", &sql).await? {
                let Some(id) = r.get("UserName").and_then(|v| v.as_text()) else { continue };
                let text = |c: &str| r.get(c).and_then(|v| v.as_text()).unwrap_or_default();
                out.insert(id, ContactNames { nickname: text("NickName"), remark: text("Remark") });
            }
        }
        Ok(out)
    }
}

/// What `Contact` calls someone.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ContactNames {
    /// `NickName`.
    pub nickname: String,
    /// `Remark` (the account's own note).
    pub remark: String,
}

/// Head-image URLs by wxid (`ContactHeadImgUrl`: the big one, else the small one).
pub async fn avatars(client: &wcf::Client) -> wcf::Result<HashMap<String, String>> {
    let rows =
        client.query("MicroMsg.db", "SELECT usrName, bigHeadImgUrl, smallHeadImgUrl FROM ContactHeadImgUrl").await?;
    Ok(rows
        .iter()
        .filter_map(|r| {
            let id = r.get("usrName")?.as_text()?;
            let big = r.get("bigHeadImgUrl").and_then(|v| v.as_text()).unwrap_or_default();
            let url = if big.is_empty() {
                r.get("smallHeadImgUrl").and_then(|v| v.as_text()).unwrap_or_default()
            } else {
                big
            };
            (!url.is_empty()).then_some((id, url))
        })
        .collect())
}

/// The columns a message is rebuilt from.
const MSG_COLUMNS: &str =
    "localId, MsgSvrID, Type, SubType, IsSender, CreateTime, StrTalker, StrContent, CompressContent, BytesExtra";

/// `StrContent`, or the inflated `CompressContent` when it is empty.
fn content_of(r: &DbRow) -> String {
    let text = r.get("StrContent").and_then(|v| v.as_text()).unwrap_or_default();
    if !text.is_empty() {
        return text;
    }
    r.get("CompressContent").and_then(|v| v.as_bytes()).and_then(wcf::content::inflate).unwrap_or_default()
}

impl WeChatDb {}

/// A `MSG` row as the push that would have carried it.
fn row_to_msg(r: &DbRow, me: &str) -> Option<(i64, WxMsg)> {
    let local = r.get("localId")?.as_i64()?;
    let talker = r.get("StrTalker")?.as_text()?;
    let is_self = r.get("IsSender").and_then(|v| v.as_i64()) == Some(1);
    let extra =
        r.get("BytesExtra").and_then(|v| v.as_bytes()).and_then(|b| BytesExtra::decode(b).ok()).unwrap_or_default();
    let is_group = wcf::message::is_room_id(&talker);
    let sender = if is_group {
        extra.get(bytes_extra::SENDER).unwrap_or(if is_self { me } else { "" }).to_owned()
    } else if is_self {
        me.to_owned()
    } else {
        talker.clone()
    };
    let m = WxMsg {
        is_self,
        is_group,
        id: r.get("MsgSvrID")?.as_i64()? as u64,
        r#type: r.get("Type")?.as_i64()? as u32,
        ts: r.get("CreateTime").and_then(|v| v.as_i64()).unwrap_or(0) as u32,
        roomid: talker,
        content: content_of(r),
        sender,
        sign: String::new(),
        thumb: extra.get(bytes_extra::THUMB).unwrap_or_default().to_owned(),
        extra: extra.get(bytes_extra::EXTRA).unwrap_or_default().to_owned(),
        xml: extra.get(bytes_extra::MSG_SOURCE).unwrap_or_default().to_owned(),
    };
    Some((local, m))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_inflate_compress_content() {
        use wcf::DbValue as V;
        let xml = "<msg><appmsg><title>hi</title><type>57</type></appmsg></msg>";
        let row = DbRow(vec![
            ("localId".into(), V::Integer(3)),
            ("MsgSvrID".into(), V::Integer(99)),
            ("Type".into(), V::Integer(49)),
            ("IsSender".into(), V::Integer(0)),
            ("StrTalker".into(), V::Text("wxid_a".into())),
            ("StrContent".into(), V::Text(String::new())),
            ("CompressContent".into(), V::Blob(wcf::content::deflate(xml))),
        ]);
        let (local, m) = row_to_msg(&row, "wxid_me").unwrap();
        assert_eq!((local, m.id, m.r#type, m.content.as_str(), m.sender.as_str()), (3, 99, 49, xml, "wxid_a"));
    }

    #[test]
    fn quoting_doubles_quotes_and_cuts_nul() {
        assert_eq!(quote("wxid_a"), "'wxid_a'");
        assert_eq!(quote("o'brien"), "'o''brien'");
        assert_eq!(quote("x'; DROP TABLE MSG; --"), "'x''; DROP TABLE MSG; --'");
        assert_eq!(quote("a\0b"), "'a'");
    }
}
