//! The SQLite store (`<db_dir_path>/wechat-http.db`, WAL), with numbered migrations.
//!
//! Two connections to the same file:
//! * [`Store::run`] — `synchronous = FULL`: categories and friend requests; an acknowledged
//!   change survives a crash, even of the machine;
//! * [`Store::run_log`] — `synchronous = NORMAL`: high-rate logs (sent messages, chat images,
//!   events). A WAL commit there survives the process being killed; only a power loss can
//!   drop the last few commits. This keeps an fsync off every send.
//!
//! The feature modules ([`crate::categories`], the sent-message log, friend requests, chat
//! images) own their SQL.

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use rusqlite::{Connection, OptionalExtension, params};

use crate::error::{ApiError, ApiResult};

/// File name inside `db_dir_path`.
pub const DB_FILE: &str = "wechat-http.db";

const MIGRATIONS: &[&str] = &[
    // 1: categories, sent messages, friend requests, chat images.
    "CREATE TABLE categories(
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL UNIQUE,
        created_at REAL NOT NULL);
     CREATE TABLE category_members(
        category_id TEXT NOT NULL REFERENCES categories(id) ON DELETE CASCADE,
        member_id TEXT NOT NULL,
        member_type TEXT NOT NULL,
        added_at REAL NOT NULL,
        PRIMARY KEY(category_id, member_id));
     CREATE INDEX category_members_member ON category_members(member_id);
     CREATE TABLE sent_messages(
        message_id TEXT NOT NULL,
        part INTEGER NOT NULL,
        receiver TEXT NOT NULL,
        kind TEXT NOT NULL,
        content TEXT NOT NULL,
        sent_at REAL NOT NULL,
        wx_msg_id INTEGER,
        PRIMARY KEY(message_id, part));
     CREATE INDEX sent_messages_time ON sent_messages(sent_at);
     CREATE TABLE friend_requests(
        flag TEXT PRIMARY KEY,
        ticket_v3 TEXT NOT NULL,
        scene INTEGER NOT NULL,
        user_id TEXT NOT NULL,
        nickname TEXT NOT NULL,
        greeting TEXT NOT NULL,
        received_at REAL NOT NULL,
        state TEXT NOT NULL DEFAULT 'pending',
        remark TEXT,
        handled_at REAL);
     CREATE TABLE chat_images(
        msg_id TEXT PRIMARY KEY,
        rel_path TEXT NOT NULL,
        created_at REAL NOT NULL);",
    // 2: the event outbox and delivery cursors.
    "CREATE TABLE events(
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        time REAL NOT NULL,
        kind TEXT NOT NULL,
        body TEXT NOT NULL,
        legacy TEXT,
        source TEXT UNIQUE);
     CREATE INDEX events_time ON events(time);
     CREATE TABLE cursors(
        channel TEXT PRIMARY KEY,
        seq INTEGER NOT NULL,
        dropped INTEGER NOT NULL DEFAULT 0);",
    // 3: uploaded files and durable broadcast jobs.
    "CREATE TABLE files(
        file_id TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        path TEXT NOT NULL,
        sha256 TEXT NOT NULL,
        size INTEGER NOT NULL,
        created_at REAL NOT NULL);
     CREATE TABLE send_jobs(
        id TEXT PRIMARY KEY,
        message_id TEXT NOT NULL,
        items TEXT NOT NULL,
        state TEXT NOT NULL,
        created_at REAL NOT NULL,
        finished_at REAL);
     CREATE TABLE send_job_receivers(
        job_id TEXT NOT NULL REFERENCES send_jobs(id),
        idx INTEGER NOT NULL,
        receiver TEXT NOT NULL,
        state TEXT NOT NULL,
        error TEXT,
        retcode INTEGER,
        started_at REAL,
        PRIMARY KEY(job_id, idx));",
];

/// Unix time in seconds, fractional.
pub fn now() -> f64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs_f64()).unwrap_or(0.0)
}

/// The database. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Store {
    conn: Arc<Mutex<Connection>>,
    log: Arc<Mutex<Connection>>,
}

impl Store {
    /// Opens (creating) `<dir>/wechat-http.db` and applies pending migrations.
    pub fn open(dir: &Path) -> ApiResult<Self> {
        std::fs::create_dir_all(dir)
            .map_err(|e| ApiError::Filesystem(format!("cannot create db_dir_path {}: {e}", dir.display())))?;
        let open = |sync: &str| -> rusqlite::Result<Connection> {
            let conn = Connection::open(dir.join(DB_FILE))?;
            conn.pragma_update(None, "journal_mode", "WAL")?;
            conn.pragma_update(None, "synchronous", sync)?;
            conn.pragma_update(None, "foreign_keys", "ON")?;
            conn.busy_timeout(std::time::Duration::from_secs(5))?;
            Ok(conn)
        };
        let mut conn = open("FULL")?;
        migrate(&mut conn)?;
        let log = open("NORMAL")?;
        Ok(Self { conn: Arc::new(Mutex::new(conn)), log: Arc::new(Mutex::new(log)) })
    }

    /// Runs `f` with the durable (`synchronous = FULL`) connection on the blocking pool.
    pub async fn run<T, F>(&self, f: F) -> ApiResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> ApiResult<T> + Send + 'static,
    {
        Self::on(self.conn.clone(), f).await
    }

    /// Runs `f` with the log (`synchronous = NORMAL`) connection on the blocking pool.
    pub async fn run_log<T, F>(&self, f: F) -> ApiResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> ApiResult<T> + Send + 'static,
    {
        Self::on(self.log.clone(), f).await
    }

    async fn on<T, F>(conn: Arc<Mutex<Connection>>, f: F) -> ApiResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> ApiResult<T> + Send + 'static,
    {
        tokio::task::spawn_blocking(move || {
            let mut guard = conn.lock().unwrap_or_else(|p| p.into_inner());
            f(&mut guard)
        })
        .await
        .map_err(|e| ApiError::Internal(format!("store task failed: {e}")))?
    }

    /// Records one WeChat send of message `message_id` (part `part`).
    pub async fn record_sent(
        &self,
        message_id: String,
        part: i64,
        receiver: String,
        kind: &'static str,
        content: String,
    ) -> ApiResult<()> {
        self.run(move |c| {
            c.execute(
                "INSERT INTO sent_messages(message_id, part, receiver, kind, content, sent_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![message_id, part, receiver, kind, content, now()],
            )?;
            Ok(())
        })
        .await
    }

    /// Stores a received friend request (the last one per `flag` wins).
    pub async fn save_friend_request(&self, req: FriendRequestRow) -> ApiResult<()> {
        self.run(move |c| {
            c.execute(
                "INSERT INTO friend_requests(flag, ticket_v3, scene, user_id, nickname, greeting, received_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
                 ON CONFLICT(flag) DO UPDATE SET ticket_v3 = excluded.ticket_v3, scene = excluded.scene",
                params![req.flag, req.ticket_v3, req.scene, req.user_id, req.nickname, req.greeting, now()],
            )?;
            Ok(())
        })
        .await
    }

    /// A stored friend request by its `flag` (v4 ticket).
    pub async fn friend_request(&self, flag: String) -> ApiResult<Option<FriendRequestRow>> {
        self.run(move |c| {
            Ok(c.query_row(
                "SELECT flag, ticket_v3, scene, user_id, nickname, greeting, state FROM friend_requests WHERE flag = ?1",
                [flag],
                |r| {
                    Ok(FriendRequestRow {
                        flag: r.get(0)?,
                        ticket_v3: r.get(1)?,
                        scene: r.get(2)?,
                        user_id: r.get(3)?,
                        nickname: r.get(4)?,
                        greeting: r.get(5)?,
                        state: r.get(6)?,
                    })
                },
            )
            .optional()?)
        })
        .await
    }

    /// Marks a friend request approved or rejected (inserting it when it was not seen).
    pub async fn finish_friend_request(
        &self,
        req: FriendRequestRow,
        state: &'static str,
        remark: Option<String>,
    ) -> ApiResult<()> {
        self.run(move |c| {
            c.execute(
                "INSERT INTO friend_requests(flag, ticket_v3, scene, user_id, nickname, greeting, received_at, state, remark, handled_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?7)
                 ON CONFLICT(flag) DO UPDATE SET state = excluded.state, remark = excluded.remark, handled_at = excluded.handled_at",
                params![req.flag, req.ticket_v3, req.scene, req.user_id, req.nickname, req.greeting, now(), state, remark],
            )?;
            Ok(())
        })
        .await
    }
}

/// A friend request as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FriendRequestRow {
    /// v4 ticket (the OneBot `flag`).
    pub flag: String,
    /// v3 ticket.
    pub ticket_v3: String,
    /// Scene.
    pub scene: i32,
    /// Requester.
    pub user_id: String,
    /// Requester's nickname.
    pub nickname: String,
    /// Greeting.
    pub greeting: String,
    /// `pending`, `approved` or `rejected`.
    pub state: String,
}

fn migrate(conn: &mut Connection) -> rusqlite::Result<()> {
    let version: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(version.max(0) as usize) {
        let tx = conn.transaction()?;
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", (i + 1) as i64)?;
        tx.commit()?;
        tracing::info!(version = i + 1, "database migrated");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn migrations_apply_once_and_friend_requests_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        drop(store);
        let store = Store::open(dir.path()).unwrap();
        let v: i64 = store.run(|c| Ok(c.pragma_query_value(None, "user_version", |r| r.get(0))?)).await.unwrap();
        assert_eq!(v, MIGRATIONS.len() as i64);
        let req = FriendRequestRow {
            flag: "v4".into(),
            ticket_v3: "v3".into(),
            scene: 14,
            user_id: "wxid_a".into(),
            nickname: "A".into(),
            greeting: "hi".into(),
            state: "pending".into(),
        };
        store.save_friend_request(req.clone()).await.unwrap();
        assert_eq!(store.friend_request("v4".into()).await.unwrap(), Some(req.clone()));
        store.finish_friend_request(req, "approved", Some("friend".into())).await.unwrap();
        assert_eq!(store.friend_request("v4".into()).await.unwrap().unwrap().state, "approved");
        assert_eq!(store.friend_request("nope".into()).await.unwrap(), None);
    }
}
