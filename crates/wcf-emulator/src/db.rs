//! WeChat's own databases, as real SQLite files: `Msg/MicroMsg.db` (`Contact`, `ChatRoom`) and
//! `Msg/Multi/MSG0.db` (`MSG`), under the account folder `<home>/<wxid>/`.
//!
//! Column names follow WeChat 3.9's schema as publicly described (a subset of its columns).
//! `Contact` also carries `Country`, `Province`, `City` and `Gender` columns, which 39.6.0.0's
//! contact query reads when present. `MSG.BytesExtra` is a [`wcf::proto::BytesExtra`] protobuf:
//! kind 1 = group sender wxid, 3 = thumbnail path, 4 = attachment path, 7 = `msgsource` XML.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use prost::Message;
use rusqlite::types::ValueRef;
use rusqlite::{Connection, OptionalExtension, params};
use wcf::proto::{BytesExtra, DbField, DbRow, DbRows, DbTable, RoomData, RpcContact, bytes_extra, room_data};

use crate::fixture::{Fixture, FixtureContact};

/// Database file names as `GET_DB_NAMES` lists them.
pub const MICRO_MSG: &str = "MicroMsg.db";
/// The message database.
pub const MSG0: &str = "MSG0.db";
/// Voice data (`Media`).
pub const MEDIA_MSG0: &str = "MediaMSG0.db";

const MICRO_SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS Contact(
    UserName TEXT PRIMARY KEY, Alias TEXT DEFAULT '', EncryptUserName TEXT DEFAULT '',
    DelFlag INTEGER DEFAULT 0, Type INTEGER DEFAULT 3, VerifyFlag INTEGER DEFAULT 0,
    Remark TEXT DEFAULT '', NickName TEXT DEFAULT '', LabelIDList TEXT DEFAULT '',
    ChatRoomType INTEGER DEFAULT 0, PYInitial TEXT DEFAULT '', QuanPin TEXT DEFAULT '',
    BigHeadImgUrl TEXT DEFAULT '', SmallHeadImgUrl TEXT DEFAULT '',
    Country TEXT DEFAULT '', Province TEXT DEFAULT '', City TEXT DEFAULT '', Gender INTEGER DEFAULT 0,
    ExtraBuf BLOB);
CREATE TABLE IF NOT EXISTS ChatRoom(
    ChatRoomName TEXT PRIMARY KEY, UserNameList TEXT DEFAULT '', DisplayNameList TEXT DEFAULT '',
    ChatRoomFlag INTEGER DEFAULT 0, Owner INTEGER DEFAULT 0, IsShowName INTEGER DEFAULT 0,
    SelfDisplayName TEXT DEFAULT '', Reserved1 INTEGER DEFAULT 0, Reserved2 TEXT DEFAULT '',
    RoomData BLOB);
CREATE TABLE IF NOT EXISTS ChatRoomInfo(
    ChatRoomName TEXT PRIMARY KEY, Announcement TEXT DEFAULT '', InfoVersion INTEGER DEFAULT 0,
    AnnouncementEditor TEXT DEFAULT '', AnnouncementPublishTime INTEGER DEFAULT 0,
    ChatRoomStatus INTEGER DEFAULT 0);
CREATE TABLE IF NOT EXISTS ContactHeadImgUrl(
    usrName TEXT PRIMARY KEY, smallHeadImgUrl TEXT DEFAULT '', bigHeadImgUrl TEXT DEFAULT '',
    headImgMd5 TEXT DEFAULT '', reverse0 INTEGER DEFAULT 0, reverse1 TEXT DEFAULT '');
";

const MEDIA_SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS Media(
    Key TEXT, Reserved0 INTEGER, Buf BLOB, Reserved1 INTEGER DEFAULT 0, Reserved2 TEXT DEFAULT '');
CREATE INDEX IF NOT EXISTS Media_Reserved0 ON Media(Reserved0);
";

const MSG_SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS MSG(
    localId INTEGER PRIMARY KEY AUTOINCREMENT, TalkerId INTEGER DEFAULT 0, MsgSvrID INTEGER,
    Type INTEGER, SubType INTEGER DEFAULT 0, IsSender INTEGER, CreateTime INTEGER,
    Sequence INTEGER DEFAULT 0, StatusEx INTEGER DEFAULT 0, FlagEx INTEGER DEFAULT 0,
    Status INTEGER DEFAULT 2, MsgServerSeq INTEGER DEFAULT 0, MsgSequence INTEGER DEFAULT 0,
    StrTalker TEXT, StrContent TEXT, DisplayContent TEXT DEFAULT '',
    Reserved0 INTEGER DEFAULT 0, Reserved1 INTEGER DEFAULT 0, Reserved2 INTEGER DEFAULT 0,
    CompressContent BLOB, BytesExtra BLOB, BytesTrans BLOB);
CREATE INDEX IF NOT EXISTS MSG_SvrId ON MSG(MsgSvrID);
CREATE INDEX IF NOT EXISTS MSG_Talker_Time ON MSG(StrTalker, CreateTime);
";

/// A message row to insert.
#[derive(Clone, Debug, Default)]
pub struct NewMsg {
    /// MsgSvrID.
    pub svr_id: u64,
    /// WeChat type.
    pub msg_type: u32,
    /// SubType (the appmsg type for 49; 4 for a pat's 10000).
    pub sub_type: i64,
    /// Sent by this account.
    pub is_sender: bool,
    /// Unix seconds.
    pub create_time: i64,
    /// Conversation id (peer wxid or room id).
    pub talker: String,
    /// StrContent.
    pub content: String,
    /// Group sender (stored in BytesExtra).
    pub sender: Option<String>,
    /// msgsource XML.
    pub msg_source: String,
    /// Thumbnail path.
    pub thumb: String,
    /// Attachment path.
    pub extra: String,
    /// DisplayContent.
    pub display_content: String,
}

impl NewMsg {
    fn bytes_extra(&self) -> Vec<u8> {
        let mut entries = Vec::new();
        let mut push = |kind, value: &str| {
            if !value.is_empty() {
                entries.push(bytes_extra::Entry { kind, value: value.to_owned() });
            }
        };
        push(bytes_extra::SENDER, self.sender.as_deref().unwrap_or_default());
        push(bytes_extra::THUMB, &self.thumb);
        push(bytes_extra::EXTRA, &self.extra);
        push(bytes_extra::MSG_SOURCE, &self.msg_source);
        BytesExtra { entries }.encode_to_vec()
    }
}

/// A message row read back.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredMsg {
    /// localId.
    pub local_id: i64,
    /// MsgSvrID.
    pub svr_id: u64,
    /// Type.
    pub msg_type: u32,
    /// SubType.
    pub sub_type: i64,
    /// IsSender.
    pub is_sender: bool,
    /// CreateTime.
    pub create_time: i64,
    /// StrTalker.
    pub talker: String,
    /// StrContent, or the inflated CompressContent when StrContent is empty.
    pub content: String,
    /// Decoded BytesExtra.
    pub extra: BytesExtra,
}

/// The two databases.
#[derive(Debug)]
pub struct WeChatDb {
    micro: Mutex<Connection>,
    msg: Mutex<Connection>,
    media: Mutex<Connection>,
    /// Path of `MicroMsg.db`.
    pub micro_path: PathBuf,
    /// Path of `MSG0.db`.
    pub msg_path: PathBuf,
}

fn open(path: &Path, schema: &str) -> rusqlite::Result<Connection> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| rusqlite::Error::ToSqlConversionFailure(Box::new(e)))?;
    }
    let conn = Connection::open(path)?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    conn.execute_batch(schema)?;
    Ok(conn)
}

impl WeChatDb {
    /// Opens (creating if needed) the databases in the account folder, seeding them from the
    /// fixture when `Contact` is empty.
    pub fn open(account_dir: &Path, fixture: &Fixture) -> rusqlite::Result<Self> {
        let micro_path = account_dir.join("Msg").join(MICRO_MSG);
        let msg_path = account_dir.join("Msg").join("Multi").join(MSG0);
        let media_path = account_dir.join("Msg").join("Multi").join(MEDIA_MSG0);
        let db = Self {
            micro: Mutex::new(open(&micro_path, MICRO_SCHEMA)?),
            msg: Mutex::new(open(&msg_path, MSG_SCHEMA)?),
            media: Mutex::new(open(&media_path, MEDIA_SCHEMA)?),
            micro_path,
            msg_path,
        };
        let empty: i64 = db.micro().query_row("SELECT COUNT(*) FROM Contact", [], |r| r.get(0))?;
        if empty == 0 {
            db.seed(fixture)?;
        }
        Ok(db)
    }

    fn micro(&self) -> std::sync::MutexGuard<'_, Connection> {
        self.micro.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn msg(&self) -> std::sync::MutexGuard<'_, Connection> {
        self.msg.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn media(&self) -> std::sync::MutexGuard<'_, Connection> {
        self.media.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn seed(&self, fixture: &Fixture) -> rusqlite::Result<()> {
        let mut conn = self.micro();
        let tx = conn.transaction()?;
        // WeChat's Contact table holds the account itself too.
        if !fixture.contacts.iter().any(|c| c.wxid == fixture.self_info.wxid) {
            let me = &fixture.self_info;
            insert_contact(
                &tx,
                &FixtureContact { wxid: me.wxid.clone(), name: me.name.clone(), ..Default::default() },
            )?;
        }
        for c in &fixture.contacts {
            insert_contact(&tx, c)?;
        }
        for room in &fixture.chatrooms {
            let exists: bool = tx
                .query_row("SELECT 1 FROM Contact WHERE UserName = ?1", [&room.roomid], |_| Ok(true))
                .optional()?
                .unwrap_or(false);
            if !exists {
                insert_contact(
                    &tx,
                    &FixtureContact { wxid: room.roomid.clone(), name: room.name.clone(), ..Default::default() },
                )?;
            }
            tx.execute(
                "INSERT OR REPLACE INTO ChatRoomInfo(ChatRoomName, Announcement) VALUES (?1, '')",
                [&room.roomid],
            )?;
            let data = RoomData {
                members: room
                    .members
                    .iter()
                    .map(|m| room_data::RoomMember {
                        wxid: m.wxid.clone(),
                        name: (!m.alias.is_empty()).then(|| m.alias.clone()),
                        state: 0,
                    })
                    .collect(),
                capacity: 500,
                ..Default::default()
            };
            tx.execute(
                "INSERT OR REPLACE INTO ChatRoom(ChatRoomName, UserNameList, Reserved2, RoomData) VALUES (?1, ?2, ?3, ?4)",
                params![room.roomid, room_user_list(&data), room.owner, data.encode_to_vec()],
            )?;
        }
        tx.commit()
    }

    /// Every contact, as `GET_CONTACTS` returns them: not the chat-room members who are no
    /// friends (`Type` 4), whom WeChat keeps in `Contact` too.
    pub fn contacts(&self) -> rusqlite::Result<Vec<RpcContact>> {
        let conn = self.micro();
        let mut stmt = conn.prepare_cached(
            "SELECT UserName, Alias, Remark, NickName, Country, Province, City, Gender FROM Contact WHERE Type <> 4 ORDER BY rowid",
        )?;
        stmt.query_map([], row_to_contact)?.collect()
    }

    /// One contact (not a chat-room-only member).
    pub fn contact(&self, wxid: &str) -> rusqlite::Result<Option<RpcContact>> {
        self.micro()
            .query_row(
                "SELECT UserName, Alias, Remark, NickName, Country, Province, City, Gender FROM Contact WHERE UserName = ?1 AND Type <> 4",
                [wxid],
                row_to_contact,
            )
            .optional()
    }

    /// `Contact.NickName` of anyone WeChat has seen (friends and chat-room members).
    pub fn nickname(&self, wxid: &str) -> rusqlite::Result<Option<String>> {
        self.micro().query_row("SELECT NickName FROM Contact WHERE UserName = ?1", [wxid], |r| r.get(0)).optional()
    }

    /// Adds (or replaces) a contact.
    pub fn add_contact(&self, c: &FixtureContact) -> rusqlite::Result<()> {
        insert_contact(&self.micro(), c)
    }

    /// Records a chat-room member who is not a friend (`Type` 4), as WeChat does on a join.
    pub fn add_room_contact(&self, wxid: &str, nickname: &str) -> rusqlite::Result<()> {
        let conn = self.micro();
        conn.execute(
            "INSERT OR IGNORE INTO Contact(UserName, NickName, Type) VALUES (?1, ?2, 4)",
            params![wxid, nickname],
        )?;
        insert_avatar(&conn, wxid)
    }

    /// Removes a friend; true when there was one.
    pub fn remove_contact(&self, wxid: &str) -> rusqlite::Result<bool> {
        Ok(self.micro().execute("DELETE FROM Contact WHERE UserName = ?1 AND Type <> 4", [wxid])? > 0)
    }

    /// Renames a contact (a chat group's name is its `NickName`).
    pub fn rename_contact(&self, wxid: &str, name: &str) -> rusqlite::Result<()> {
        self.micro().execute("UPDATE Contact SET NickName = ?2 WHERE UserName = ?1", params![wxid, name])?;
        Ok(())
    }

    /// Sets a group's announcement (`ChatRoomInfo`).
    pub fn set_announcement(&self, room: &str, text: &str, editor: &str, at: i64) -> rusqlite::Result<()> {
        self.micro().execute(
            "INSERT INTO ChatRoomInfo(ChatRoomName, Announcement, AnnouncementEditor, AnnouncementPublishTime)
             VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT(ChatRoomName) DO UPDATE SET Announcement = ?2, AnnouncementEditor = ?3,
                AnnouncementPublishTime = ?4, InfoVersion = InfoVersion + 1",
            params![room, text, editor, at],
        )?;
        Ok(())
    }

    /// Stores a voice message's data (`Media.Buf`, `Reserved0` = MsgSvrID).
    pub fn insert_audio(&self, svr_id: u64, buf: &[u8]) -> rusqlite::Result<()> {
        self.media().execute(
            "INSERT INTO Media(Key, Reserved0, Buf) VALUES (?1, ?2, ?3)",
            params![format!("{svr_id:x}"), svr_id as i64, buf],
        )?;
        Ok(())
    }

    /// `Media.Buf` of a voice message.
    pub fn audio(&self, svr_id: u64) -> rusqlite::Result<Option<Vec<u8>>> {
        self.media().query_row("SELECT Buf FROM Media WHERE Reserved0 = ?1", [svr_id as i64], |r| r.get(0)).optional()
    }

    /// A chat group's `RoomData`.
    pub fn room_data(&self, roomid: &str) -> rusqlite::Result<Option<RoomData>> {
        let blob: Option<Vec<u8>> = self
            .micro()
            .query_row("SELECT RoomData FROM ChatRoom WHERE ChatRoomName = ?1", [roomid], |r| r.get(0))
            .optional()?;
        Ok(blob.and_then(|b| RoomData::decode(b.as_slice()).ok()))
    }

    /// Replaces a chat group's `RoomData` (and `UserNameList`).
    pub fn set_room_data(&self, roomid: &str, data: &RoomData) -> rusqlite::Result<()> {
        self.micro().execute(
            "UPDATE ChatRoom SET RoomData = ?2, UserNameList = ?3 WHERE ChatRoomName = ?1",
            params![roomid, data.encode_to_vec(), room_user_list(data)],
        )?;
        Ok(())
    }

    /// Inserts message rows in one transaction; returns their localIds.
    pub fn insert_msgs(&self, msgs: &[NewMsg]) -> rusqlite::Result<Vec<i64>> {
        let mut conn = self.msg();
        let tx = conn.transaction()?;
        let mut ids = Vec::with_capacity(msgs.len());
        {
            let mut stmt = tx.prepare_cached(
                "INSERT INTO MSG(MsgSvrID, Type, SubType, IsSender, CreateTime, StrTalker, StrContent,
                                 DisplayContent, CompressContent, BytesExtra, Sequence)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
            )?;
            for m in msgs {
                // WeChat 3.9 keeps app messages (49) lz4-compressed, StrContent empty.
                let (text, packed) = if m.msg_type == wcf::message::msg_type::APP {
                    (String::new(), Some(wcf::content::deflate(&m.content)))
                } else {
                    (m.content.clone(), None)
                };
                stmt.execute(params![
                    m.svr_id as i64,
                    m.msg_type,
                    m.sub_type,
                    m.is_sender as i64,
                    m.create_time,
                    m.talker,
                    text,
                    m.display_content,
                    packed,
                    m.bytes_extra(),
                    m.create_time * 1000,
                ])?;
                ids.push(tx.last_insert_rowid());
            }
        }
        tx.commit()?;
        Ok(ids)
    }

    /// The message with this MsgSvrID.
    pub fn msg_by_svr_id(&self, svr_id: u64) -> rusqlite::Result<Option<StoredMsg>> {
        self.msg()
            .query_row(
                "SELECT localId, MsgSvrID, Type, SubType, IsSender, CreateTime, StrTalker, StrContent, CompressContent, BytesExtra
                 FROM MSG WHERE MsgSvrID = ?1 ORDER BY localId DESC LIMIT 1",
                [svr_id as i64],
                |r| {
                    let packed: Option<Vec<u8>> = r.get(8)?;
                    let blob: Option<Vec<u8>> = r.get(9)?;
                    let mut content: String = r.get::<_, Option<String>>(7)?.unwrap_or_default();
                    if content.is_empty()
                        && let Some(text) = packed.as_deref().and_then(wcf::content::inflate)
                    {
                        content = text;
                    }
                    Ok(StoredMsg {
                        local_id: r.get(0)?,
                        svr_id: r.get::<_, i64>(1)? as u64,
                        msg_type: r.get(2)?,
                        sub_type: r.get::<_, Option<i64>>(3)?.unwrap_or(0),
                        is_sender: r.get::<_, i64>(4)? != 0,
                        create_time: r.get(5)?,
                        talker: r.get(6)?,
                        content,
                        extra: blob.and_then(|b| BytesExtra::decode(b.as_slice()).ok()).unwrap_or_default(),
                    })
                },
            )
            .optional()
    }

    /// Contents of every stored friend request (type 37), newest first.
    pub fn friend_request_contents(&self) -> rusqlite::Result<Vec<String>> {
        let conn = self.msg();
        let mut stmt = conn.prepare_cached("SELECT StrContent FROM MSG WHERE Type = 37 ORDER BY localId DESC")?;
        stmt.query_map([], |r| r.get(0))?.collect()
    }

    fn conn_for(&self, db: &str) -> Option<std::sync::MutexGuard<'_, Connection>> {
        match db {
            MICRO_MSG => Some(self.micro()),
            MSG0 => Some(self.msg()),
            MEDIA_MSG0 => Some(self.media()),
            _ => None,
        }
    }

    /// `EXEC_DB_QUERY`: runs any SQL; cells are typed as WeChatFerry sends them (INTEGER and
    /// FLOAT as ASCII decimal). Unknown db or bad SQL → no rows, as the real server answers.
    pub fn query(&self, db: &str, sql: &str) -> DbRows {
        let Some(conn) = self.conn_for(db) else { return DbRows::default() };
        let run = || -> rusqlite::Result<Vec<DbRow>> {
            let mut stmt = conn.prepare(sql)?;
            let columns: Vec<String> = stmt.column_names().map(str::to_owned).collect();
            let mut rows = stmt.query([])?;
            let mut out = Vec::new();
            while let Some(row) = rows.next()? {
                let mut fields = Vec::with_capacity(columns.len());
                for (i, column) in columns.iter().enumerate() {
                    let (t, content) = match row.get_ref(i)? {
                        ValueRef::Integer(v) => (1, v.to_string().into_bytes()),
                        ValueRef::Real(v) => (2, v.to_string().into_bytes()),
                        ValueRef::Text(v) => (3, v.to_vec()),
                        ValueRef::Blob(v) => (4, v.to_vec()),
                        ValueRef::Null => (5, Vec::new()),
                    };
                    fields.push(DbField { r#type: t, column: column.clone(), content });
                }
                out.push(DbRow { fields });
            }
            Ok(out)
        };
        match run() {
            Ok(rows) => DbRows { rows },
            Err(e) => {
                tracing::debug!(db, sql, error = %e, "EXEC_DB_QUERY failed; answering no rows");
                DbRows::default()
            }
        }
    }

    /// `GET_DB_TABLES`: table names and their `CREATE` statements.
    pub fn tables(&self, db: &str) -> Vec<DbTable> {
        self.query(db, "SELECT name, sql FROM sqlite_master WHERE type = 'table' ORDER BY name")
            .rows
            .into_iter()
            .filter_map(|r| {
                let text = |i: usize| String::from_utf8(r.fields.get(i)?.content.clone()).ok();
                Some(DbTable { name: text(0)?, sql: text(1).unwrap_or_default() })
            })
            .collect()
    }
}

fn room_user_list(data: &RoomData) -> String {
    data.members.iter().map(|m| m.wxid.as_str()).collect::<Vec<_>>().join("^G")
}

fn insert_contact(conn: &Connection, c: &FixtureContact) -> rusqlite::Result<()> {
    let kind = if c.wxid.ends_with("@chatroom") { 2 } else { 3 };
    conn.execute(
        "INSERT OR REPLACE INTO Contact(UserName, Alias, Remark, NickName, Country, Province, City, Gender, Type)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
        params![c.wxid, c.code, c.remark, c.name, c.country, c.province, c.city, c.gender, kind],
    )?;
    if c.avatar.is_empty() {
        insert_avatar(conn, &c.wxid)
    } else {
        conn.execute(
            "INSERT OR REPLACE INTO ContactHeadImgUrl(usrName, smallHeadImgUrl, bigHeadImgUrl) VALUES (?1, ?2, ?2)",
            params![c.wxid, c.avatar],
        )?;
        Ok(())
    }
}

/// A head image URL like WeChat's (`wx.qlogo.cn/mmhead/ver_1/<id>/0` big, `/132` small).
fn insert_avatar(conn: &Connection, wxid: &str) -> rusqlite::Result<()> {
    let id = format!(
        "{:016x}",
        wxid.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ b as u64).wrapping_mul(0x100_0000_01b3))
    );
    conn.execute(
        "INSERT OR REPLACE INTO ContactHeadImgUrl(usrName, smallHeadImgUrl, bigHeadImgUrl, headImgMd5)
         VALUES (?1, ?2, ?3, ?4)",
        params![
            wxid,
            format!("https://wx.qlogo.cn/mmhead/ver_1/{id}/132"),
            format!("https://wx.qlogo.cn/mmhead/ver_1/{id}/0"),
            id
        ],
    )?;
    Ok(())
}

fn row_to_contact(r: &rusqlite::Row<'_>) -> rusqlite::Result<RpcContact> {
    Ok(RpcContact {
        wxid: r.get(0)?,
        code: r.get(1)?,
        remark: r.get(2)?,
        name: r.get(3)?,
        country: r.get(4)?,
        province: r.get(5)?,
        city: r.get(6)?,
        gender: r.get(7)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeds_once_and_queries_like_wechatferry() {
        let dir = tempfile::tempdir().unwrap();
        let db = WeChatDb::open(dir.path(), &Fixture::builtin()).unwrap();
        let n = db.contacts().unwrap().len();
        assert_eq!(n, Fixture::builtin().contacts.len() + 1, "fixture contacts plus the account itself");
        drop(db);
        let db = WeChatDb::open(dir.path(), &Fixture::builtin()).unwrap();
        assert_eq!(db.contacts().unwrap().len(), n, "reopening does not seed twice");

        let rows = db.query(MICRO_MSG, "SELECT 42 AS n, 1.5 AS f, 'x' AS t, x'0001' AS b, NULL AS z");
        let f = &rows.rows[0].fields;
        assert_eq!((f[0].r#type, f[0].content.as_slice()), (1, &b"42"[..]));
        assert_eq!((f[1].r#type, f[1].content.as_slice()), (2, &b"1.5"[..]));
        assert_eq!((f[2].r#type, f[2].content.as_slice()), (3, &b"x"[..]));
        assert_eq!((f[3].r#type, f[3].content.as_slice()), (4, &[0u8, 1][..]));
        assert_eq!((f[4].r#type, f[4].content.len()), (5, 0));
        assert!(db.query(MICRO_MSG, "SELEKT nonsense").rows.is_empty());
        assert!(db.query("Nope.db", "SELECT 1").rows.is_empty());
        assert!(db.tables(MSG0).iter().any(|t| t.name == "MSG" && t.sql.contains("MsgSvrID")));
    }

    #[test]
    fn messages_keep_bytes_extra() {
        let dir = tempfile::tempdir().unwrap();
        let db = WeChatDb::open(dir.path(), &Fixture::builtin()).unwrap();
        db.insert_msgs(&[NewMsg {
            svr_id: 77,
            msg_type: 1,
            create_time: 1,
            talker: "1001@chatroom".into(),
            content: "hi".into(),
            sender: Some("wxid_alice".into()),
            msg_source: "<msgsource/>".into(),
            ..Default::default()
        }])
        .unwrap();
        let m = db.msg_by_svr_id(77).unwrap().unwrap();
        assert_eq!(m.extra.get(bytes_extra::SENDER), Some("wxid_alice"));
        assert_eq!(m.extra.get(bytes_extra::MSG_SOURCE), Some("<msgsource/>"));
        assert!(db.msg_by_svr_id(78).unwrap().is_none());
    }
}
