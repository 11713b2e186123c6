//! The gateway's own store: `<db_dir_path>/wechat-http.db` (SQLite, WAL), with numbered
//! migrations and one repository per table. Nothing outside this module writes SQL against it.
//!
//! Two connections to the same file:
//! * durable (`synchronous = FULL`): categories, friend requests, jobs, files — an
//!   acknowledged change survives a crash, even of the machine;
//! * log (`synchronous = NORMAL`): high-rate rows (the sent-message log, chat images, events).
//!   A WAL commit there survives the process being killed; only a power loss can drop the
//!   last few commits. This keeps an fsync off every send.
//!
//! The store is probed at start (a folder that cannot be written stops start-up with the path
//! and the reason). Every write records whether it worked: after a failed write
//! [`Store::healthy`] is false until the probe ([`Store::probe`], every 5 s while failing)
//! succeeds, at the earliest [`FAILING_AT_LEAST`] after the last failure. Other writes that
//! happen to succeed meanwhile do not clear it: on a disk that is nearly full, small writes
//! may still fit while a send's do not, and the status would flap. `get_status` reports it.
//!
//! The same repositories run on PostgreSQL (`store.backend: postgres`, a fleet's shared
//! store): every statement is written once against [`sql::Tx`], in the dialect both share,
//! and runs in a transaction committed only when the repository's closure succeeds. On
//! PostgreSQL both connections commit synchronously (the server's `synchronous_commit`), so
//! an acknowledged write survives a crash of the gateway or of the database server.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use rusqlite::Connection;

use crate::error::{ApiError, ApiResult};

pub mod accounts;
pub mod categories;
pub mod chat_images;
pub mod events;
pub mod files;
pub mod fleet;
pub mod friend_requests;
pub mod jobs;
pub mod numeric_ids;
pub mod pg_tls;
pub mod sent;
pub mod sql;

#[cfg(test)]
mod contract_tests;

pub use categories::{Category, Member, MemberType};
pub use events::StoredEvent;
pub use files::StoredFile;
pub use friend_requests::FriendRequestRow;
pub use numeric_ids::IdKind;
pub use sent::{SentPart, SentState};

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
    // 4: every row belongs to an account; the sent log records intent and outcome, with parts
    // numbered per receiver; known accounts.
    "CREATE TABLE categories_v4(
        id TEXT PRIMARY KEY,
        account TEXT NOT NULL,
        name TEXT NOT NULL,
        created_at REAL NOT NULL,
        UNIQUE(account, name));
     INSERT INTO categories_v4(id, account, name, created_at) SELECT id, 'default', name, created_at FROM categories;
     DROP TABLE categories;
     ALTER TABLE categories_v4 RENAME TO categories;
     CREATE TABLE sent_v4(
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        account TEXT NOT NULL,
        message_id TEXT NOT NULL,
        receiver TEXT NOT NULL,
        part INTEGER NOT NULL,
        kind TEXT NOT NULL,
        content TEXT NOT NULL,
        state TEXT NOT NULL,
        sent_at REAL NOT NULL,
        wx_msg_id INTEGER,
        error TEXT,
        UNIQUE(message_id, receiver, part));
     INSERT INTO sent_v4(account, message_id, receiver, part, kind, content, state, sent_at, wx_msg_id)
        SELECT 'default', message_id, receiver, part % 100, kind, content, 'sent', sent_at, wx_msg_id FROM sent_messages;
     DROP TABLE sent_messages;
     ALTER TABLE sent_v4 RENAME TO sent_messages;
     CREATE INDEX sent_messages_time ON sent_messages(sent_at);
     CREATE INDEX sent_messages_state ON sent_messages(account, state);
     CREATE INDEX sent_messages_receiver ON sent_messages(account, receiver);
     CREATE TABLE friend_requests_v4(
        account TEXT NOT NULL,
        flag TEXT NOT NULL,
        ticket_v3 TEXT NOT NULL,
        scene INTEGER NOT NULL,
        user_id TEXT NOT NULL,
        nickname TEXT NOT NULL,
        greeting TEXT NOT NULL,
        received_at REAL NOT NULL,
        state TEXT NOT NULL DEFAULT 'pending',
        remark TEXT,
        handled_at REAL,
        PRIMARY KEY(account, flag));
     INSERT INTO friend_requests_v4 SELECT 'default', flag, ticket_v3, scene, user_id, nickname, greeting,
        received_at, state, remark, handled_at FROM friend_requests;
     DROP TABLE friend_requests;
     ALTER TABLE friend_requests_v4 RENAME TO friend_requests;
     CREATE TABLE chat_images_v4(
        account TEXT NOT NULL,
        msg_id TEXT NOT NULL,
        rel_path TEXT NOT NULL,
        created_at REAL NOT NULL,
        PRIMARY KEY(account, msg_id));
     INSERT INTO chat_images_v4 SELECT 'default', msg_id, rel_path, created_at FROM chat_images;
     DROP TABLE chat_images;
     ALTER TABLE chat_images_v4 RENAME TO chat_images;
     CREATE INDEX chat_images_time ON chat_images(created_at);
     ALTER TABLE events ADD COLUMN account TEXT;
     UPDATE events SET account = 'default', source = 'wx:default:' || substr(source, 4) WHERE source LIKE 'wx:%';
     UPDATE events SET account = 'default' WHERE kind != 'meta' AND account IS NULL;
     ALTER TABLE files ADD COLUMN account TEXT NOT NULL DEFAULT 'default';
     CREATE INDEX files_sha ON files(account, sha256);
     CREATE INDEX files_time ON files(created_at);
     ALTER TABLE send_jobs ADD COLUMN account TEXT NOT NULL DEFAULT 'default';
     CREATE TABLE accounts(
        name TEXT PRIMARY KEY,
        wxid TEXT NOT NULL DEFAULT '',
        nickname TEXT NOT NULL DEFAULT '',
        seen_at REAL);
     CREATE TABLE probe(k TEXT PRIMARY KEY, v REAL NOT NULL);",
    // 5: numeric ids for OneBot 11.
    "CREATE TABLE numeric_ids(
        kind TEXT NOT NULL,
        wx TEXT NOT NULL,
        num INTEGER NOT NULL,
        PRIMARY KEY(kind, wx));
     CREATE UNIQUE INDEX numeric_ids_num ON numeric_ids(kind, num);",
    // 6: the fleet's nodes and leases (used with PostgreSQL; present here so one schema
    // describes both).
    "CREATE TABLE nodes(
        id TEXT PRIMARY KEY,
        address TEXT NOT NULL,
        started_at REAL NOT NULL,
        seen_at REAL NOT NULL);
     CREATE TABLE leases(
        kind TEXT NOT NULL,
        name TEXT NOT NULL,
        holder TEXT NOT NULL,
        expires_at REAL NOT NULL,
        acquired_at REAL NOT NULL,
        state TEXT NOT NULL DEFAULT '',
        PRIMARY KEY(kind, name));",
];

/// The PostgreSQL schema: the same tables as the SQLite one after all its migrations (types
/// spelled for PostgreSQL: BIGINT, DOUBLE PRECISION; SQLite's implicit `rowid` is an explicit
/// `pos`), plus what only a fleet needs. Versions count separately from SQLite's.
const PG_MIGRATIONS: &[&str] = &[
    // 1: everything SQLite has after its migration 5, and the fleet's nodes and leases.
    "CREATE TABLE categories(
        id TEXT PRIMARY KEY,
        account TEXT NOT NULL,
        name TEXT NOT NULL,
        created_at DOUBLE PRECISION NOT NULL,
        pos BIGINT GENERATED ALWAYS AS IDENTITY,
        UNIQUE(account, name));
     CREATE TABLE category_members(
        category_id TEXT NOT NULL REFERENCES categories(id) ON DELETE CASCADE,
        member_id TEXT NOT NULL,
        member_type TEXT NOT NULL,
        added_at DOUBLE PRECISION NOT NULL,
        pos BIGINT GENERATED ALWAYS AS IDENTITY,
        PRIMARY KEY(category_id, member_id));
     CREATE INDEX category_members_member ON category_members(member_id);
     CREATE TABLE sent_messages(
        id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
        account TEXT NOT NULL,
        message_id TEXT NOT NULL,
        receiver TEXT NOT NULL,
        part BIGINT NOT NULL,
        kind TEXT NOT NULL,
        content TEXT NOT NULL,
        state TEXT NOT NULL,
        sent_at DOUBLE PRECISION NOT NULL,
        wx_msg_id BIGINT,
        error TEXT,
        UNIQUE(message_id, receiver, part));
     CREATE INDEX sent_messages_time ON sent_messages(sent_at);
     CREATE INDEX sent_messages_state ON sent_messages(account, state);
     CREATE INDEX sent_messages_receiver ON sent_messages(account, receiver);
     CREATE TABLE friend_requests(
        account TEXT NOT NULL,
        flag TEXT NOT NULL,
        ticket_v3 TEXT NOT NULL,
        scene BIGINT NOT NULL,
        user_id TEXT NOT NULL,
        nickname TEXT NOT NULL,
        greeting TEXT NOT NULL,
        received_at DOUBLE PRECISION NOT NULL,
        state TEXT NOT NULL DEFAULT 'pending',
        remark TEXT,
        handled_at DOUBLE PRECISION,
        PRIMARY KEY(account, flag));
     CREATE TABLE chat_images(
        account TEXT NOT NULL,
        msg_id TEXT NOT NULL,
        rel_path TEXT NOT NULL,
        created_at DOUBLE PRECISION NOT NULL,
        PRIMARY KEY(account, msg_id));
     CREATE INDEX chat_images_time ON chat_images(created_at);
     CREATE TABLE events(
        seq BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
        time DOUBLE PRECISION NOT NULL,
        kind TEXT NOT NULL,
        body TEXT NOT NULL,
        legacy TEXT,
        source TEXT UNIQUE,
        account TEXT);
     CREATE INDEX events_time ON events(time);
     CREATE INDEX events_account_source ON events(account, seq) WHERE source IS NOT NULL;
     CREATE TABLE cursors(
        channel TEXT PRIMARY KEY,
        seq BIGINT NOT NULL,
        dropped BIGINT NOT NULL DEFAULT 0);
     CREATE TABLE files(
        file_id TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        path TEXT NOT NULL,
        sha256 TEXT NOT NULL,
        size BIGINT NOT NULL,
        created_at DOUBLE PRECISION NOT NULL,
        account TEXT NOT NULL DEFAULT 'default');
     CREATE INDEX files_sha ON files(account, sha256);
     CREATE INDEX files_time ON files(created_at);
     CREATE TABLE send_jobs(
        id TEXT PRIMARY KEY,
        message_id TEXT NOT NULL,
        items TEXT NOT NULL,
        state TEXT NOT NULL,
        created_at DOUBLE PRECISION NOT NULL,
        finished_at DOUBLE PRECISION,
        account TEXT NOT NULL DEFAULT 'default');
     CREATE TABLE send_job_receivers(
        job_id TEXT NOT NULL REFERENCES send_jobs(id),
        idx BIGINT NOT NULL,
        receiver TEXT NOT NULL,
        state TEXT NOT NULL,
        error TEXT,
        retcode BIGINT,
        started_at DOUBLE PRECISION,
        PRIMARY KEY(job_id, idx));
     CREATE TABLE accounts(
        name TEXT PRIMARY KEY,
        wxid TEXT NOT NULL DEFAULT '',
        nickname TEXT NOT NULL DEFAULT '',
        seen_at DOUBLE PRECISION);
     CREATE TABLE probe(k TEXT PRIMARY KEY, v DOUBLE PRECISION NOT NULL);
     CREATE TABLE numeric_ids(
        kind TEXT NOT NULL,
        wx TEXT NOT NULL,
        num BIGINT NOT NULL,
        PRIMARY KEY(kind, wx));
     CREATE UNIQUE INDEX numeric_ids_num ON numeric_ids(kind, num);
     CREATE TABLE nodes(
        id TEXT PRIMARY KEY,
        address TEXT NOT NULL,
        started_at DOUBLE PRECISION NOT NULL,
        seen_at DOUBLE PRECISION NOT NULL);
     CREATE TABLE leases(
        kind TEXT NOT NULL,
        name TEXT NOT NULL,
        holder TEXT NOT NULL,
        expires_at DOUBLE PRECISION NOT NULL,
        acquired_at DOUBLE PRECISION NOT NULL,
        state TEXT NOT NULL DEFAULT '',
        PRIMARY KEY(kind, name));",
];

/// Unix time in seconds, fractional.
pub fn now() -> f64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs_f64()).unwrap_or(0.0)
}

/// Why the store could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The folder cannot be created or written.
    #[error("the database folder {path} cannot be written: {reason} (check db_dir_path and its permissions)")]
    Folder {
        /// Folder.
        path: String,
        /// Cause.
        reason: String,
    },
    /// The database refused.
    #[error("the database {path} cannot be opened: {reason}")]
    Open {
        /// File, or the PostgreSQL URL without its password.
        path: String,
        /// Cause.
        reason: String,
    },
}

/// How long the store is reported failing after a failed write, at least.
pub const FAILING_AT_LEAST: std::time::Duration = std::time::Duration::from_secs(5);

/// Which database the store runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    /// The embedded file.
    Sqlite,
    /// A shared PostgreSQL (a fleet's store).
    Postgres,
}

/// One PostgreSQL connection, dialled again after it broke.
struct PgConn {
    config: postgres::Config,
    tls: pg_tls::MakeRustls,
    client: Option<postgres::Client>,
    cache: sql::PgCache,
}

impl std::fmt::Debug for PgConn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgConn").field("connected", &self.client.is_some()).finish()
    }
}

impl Drop for PgConn {
    fn drop(&mut self) {
        // Closing a client blocks on its own runtime, which must not happen on an async
        // thread (the store may be dropped on one).
        if let Some(client) = self.client.take() {
            let _ = std::thread::Builder::new().name("pg-close".into()).spawn(move || drop(client));
        }
    }
}

impl PgConn {
    fn connect(config: &postgres::Config, tls: &pg_tls::MakeRustls) -> Result<Self, sql::DbError> {
        let client = config.connect(tls.clone())?;
        Ok(Self { config: config.clone(), tls: tls.clone(), client: Some(client), cache: Default::default() })
    }

    fn run<T>(&mut self, f: impl FnOnce(&mut sql::Tx<'_>) -> ApiResult<T>) -> ApiResult<T> {
        if self.client.as_ref().is_none_or(|c| c.is_closed()) {
            self.cache.clear();
            self.client = None;
            self.client = Some(self.config.connect(self.tls.clone()).map_err(sql::DbError::from)?);
        }
        let client = self.client.as_mut().expect("connected above");
        let tx = client.transaction().map_err(sql::DbError::from)?;
        let mut tx = sql::Tx::postgres(tx, &mut self.cache);
        let out = f(&mut tx)?;
        tx.commit()?;
        Ok(out)
    }
}

#[derive(Debug)]
enum Conn {
    Sqlite(Connection),
    Pg(Box<PgConn>),
}

impl Conn {
    fn run<T>(&mut self, write: bool, f: impl FnOnce(&mut sql::Tx<'_>) -> ApiResult<T>) -> ApiResult<T> {
        match self {
            Self::Sqlite(c) => {
                let behavior = if write {
                    rusqlite::TransactionBehavior::Immediate
                } else {
                    rusqlite::TransactionBehavior::Deferred
                };
                let tx = c.transaction_with_behavior(behavior).map_err(sql::DbError::from)?;
                let mut tx = sql::Tx::sqlite(tx);
                let out = f(&mut tx)?;
                tx.commit()?;
                Ok(out)
            }
            Self::Pg(c) => c.run(f),
        }
    }
}

#[derive(Debug)]
struct Inner {
    backend: Backend,
    durable: Mutex<Conn>,
    log: Mutex<Conn>,
    healthy: AtomicBool,
    last_error: Mutex<Option<String>>,
    failed_at: Mutex<Option<std::time::Instant>>,
}

/// The database. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Store {
    inner: Arc<Inner>,
}

fn connection(path: &Path, sync: &str) -> rusqlite::Result<Connection> {
    let conn = Connection::open(path)?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", sync)?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    conn.busy_timeout(std::time::Duration::from_secs(5))?;
    Ok(conn)
}

/// Creates `dir` (owner-only) and proves it can be written.
fn probe_folder(dir: &Path) -> Result<(), StoreError> {
    let folder = |e: std::io::Error| StoreError::Folder { path: dir.display().to_string(), reason: e.to_string() };
    crate::fsx::create_private_dir(dir).map_err(folder)?;
    let probe = dir.join(format!(".write-probe-{}", std::process::id()));
    std::fs::write(&probe, b"ok").map_err(folder)?;
    let _ = std::fs::remove_file(&probe);
    Ok(())
}

/// A PostgreSQL URL as it may be shown: without its password.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => {
            let userinfo = &url[s + 3..at];
            let user = userinfo.split(':').next().unwrap_or("");
            format!("{}{user}{}@{}", &url[..s + 3], if userinfo.contains(':') { ":***" } else { "" }, &url[at + 1..])
        }
        _ => url.to_owned(),
    }
}

/// The connection settings of `url` (`postgres://user:password@host:port/db?…`), with a
/// 10-second connect timeout unless the URL sets one.
pub fn pg_config(url: &str) -> Result<postgres::Config, String> {
    let mut config: postgres::Config = url.parse().map_err(|e| format!("{e}"))?;
    if config.get_connect_timeout().is_none() {
        config.connect_timeout(std::time::Duration::from_secs(10));
    }
    if config.get_application_name().is_none() {
        config.application_name("wechat-http");
    }
    Ok(config)
}

impl Store {
    /// Opens (creating) `<dir>/wechat-http.db`, applies pending migrations and writes a probe
    /// row: a folder or file that cannot be written fails here, with the path and the reason.
    pub fn open(dir: &Path) -> Result<Self, StoreError> {
        probe_folder(dir)?;
        let path: PathBuf = dir.join(DB_FILE);
        let open_err = |e: String| StoreError::Open { path: path.display().to_string(), reason: e };
        let mut durable = connection(&path, "FULL").map_err(|e| open_err(e.to_string()))?;
        migrate(&mut durable).map_err(|e| open_err(e.to_string()))?;
        let log = connection(&path, "NORMAL").map_err(|e| open_err(e.to_string()))?;
        #[cfg(unix)]
        for suffix in ["", "-wal", "-shm"] {
            use std::os::unix::fs::PermissionsExt;
            let f = dir.join(format!("{DB_FILE}{suffix}"));
            let _ = std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o600));
        }
        let store = Self::with(Backend::Sqlite, Conn::Sqlite(durable), Conn::Sqlite(log));
        store.write_probe("start").map_err(|e| open_err(e.to_string()))?;
        Ok(store)
    }

    /// Connects to PostgreSQL at `url` (TLS as its `sslmode` says, verified against the
    /// system's roots plus `ca_file`), applies pending migrations (one node at a time) and
    /// writes a probe row. Blocking: call it off the async threads.
    pub fn open_postgres(url: &str, ca_file: Option<&Path>) -> Result<Self, StoreError> {
        let open_err = |e: String| {
            let hint = if e.contains("certificate") {
                " (the server's TLS certificate is not trusted: set store.postgres_ca_file to the CA that signed it, or put sslmode=disable in the URL on a network you trust)"
            } else {
                ""
            };
            StoreError::Open { path: redact_url(url), reason: format!("{e}{hint}") }
        };
        let config = pg_config(url).map_err(open_err)?;
        let tls = pg_tls::MakeRustls::new(ca_file).map_err(open_err)?;
        let mut durable = PgConn::connect(&config, &tls).map_err(|e| open_err(e.message))?;
        durable.run(migrate_pg).map_err(|e| open_err(e.to_string()))?;
        let log = PgConn::connect(&config, &tls).map_err(|e| open_err(e.message))?;
        let store = Self::with(Backend::Postgres, Conn::Pg(Box::new(durable)), Conn::Pg(Box::new(log)));
        store.write_probe("start").map_err(|e| open_err(e.to_string()))?;
        Ok(store)
    }

    fn with(backend: Backend, durable: Conn, log: Conn) -> Self {
        Self {
            inner: Arc::new(Inner {
                backend,
                durable: Mutex::new(durable),
                log: Mutex::new(log),
                healthy: AtomicBool::new(true),
                last_error: Mutex::new(None),
                failed_at: Mutex::new(None),
            }),
        }
    }

    fn write_probe(&self, key: &'static str) -> ApiResult<()> {
        let mut conn = self.inner.durable.lock().unwrap_or_else(|p| p.into_inner());
        conn.run(true, |t| {
            t.exec(
                "INSERT INTO probe(k, v) VALUES (?1, ?2) ON CONFLICT(k) DO UPDATE SET v = excluded.v",
                sql::args![key, now()],
            )?;
            Ok(())
        })
    }

    /// The database this store runs on.
    pub fn backend(&self) -> Backend {
        self.inner.backend
    }

    /// True unless the last write failed.
    pub fn healthy(&self) -> bool {
        self.inner.healthy.load(Ordering::SeqCst)
    }

    /// What the last failed write said (cleared by the next successful one).
    pub fn last_error(&self) -> Option<String> {
        self.inner.last_error.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    fn record<T>(&self, r: &ApiResult<T>) {
        match r {
            Ok(_) => {}
            Err(ApiError::Database(detail)) => {
                *self.inner.failed_at.lock().unwrap_or_else(|p| p.into_inner()) = Some(std::time::Instant::now());
                if self.inner.healthy.swap(false, Ordering::SeqCst) {
                    tracing::error!(error = %detail, "a database write failed; sends are refused until writes work again");
                }
                *self.inner.last_error.lock().unwrap_or_else(|p| p.into_inner()) = Some(detail.clone());
            }
            Err(_) => {}
        }
    }

    fn conn(&self, log: bool) -> &Mutex<Conn> {
        if log { &self.inner.log } else { &self.inner.durable }
    }

    async fn run<T, F>(&self, log: bool, write: bool, f: F) -> ApiResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut sql::Tx<'_>) -> ApiResult<T> + Send + 'static,
    {
        let inner = self.inner.clone();
        let r = on(move || {
            let store = Store { inner };
            let mut conn = store.conn(log).lock().unwrap_or_else(|p| p.into_inner());
            conn.run(write, f)
        })
        .await;
        if write {
            self.record(&r);
        }
        r
    }

    /// Reads with the durable connection (in a transaction), on the blocking pool.
    pub(crate) async fn read<T, F>(&self, f: F) -> ApiResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut sql::Tx<'_>) -> ApiResult<T> + Send + 'static,
    {
        self.run(false, false, f).await
    }

    /// Writes with the durable connection, in one transaction committed when `f` returns
    /// `Ok`; the outcome feeds [`Store::healthy`].
    pub(crate) async fn write<T, F>(&self, f: F) -> ApiResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut sql::Tx<'_>) -> ApiResult<T> + Send + 'static,
    {
        self.run(false, true, f).await
    }

    /// Reads with the log connection.
    pub(crate) async fn read_log<T, F>(&self, f: F) -> ApiResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut sql::Tx<'_>) -> ApiResult<T> + Send + 'static,
    {
        self.run(true, false, f).await
    }

    /// Writes with the log connection, in one transaction; the outcome feeds
    /// [`Store::healthy`].
    pub(crate) async fn write_log<T, F>(&self, f: F) -> ApiResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut sql::Tx<'_>) -> ApiResult<T> + Send + 'static,
    {
        self.run(true, true, f).await
    }

    /// Writes the probe row: tells whether writes work (and updates [`Store::healthy`]).
    pub async fn probe(&self) -> ApiResult<()> {
        self.write(|t| {
            t.exec(
                "INSERT INTO probe(k, v) VALUES ('probe', ?1) ON CONFLICT(k) DO UPDATE SET v = excluded.v",
                sql::args![now()],
            )?;
            Ok(())
        })
        .await?;
        let settled = self
            .inner
            .failed_at
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .is_none_or(|at| at.elapsed() >= FAILING_AT_LEAST);
        if settled && !self.inner.healthy.swap(true, Ordering::SeqCst) {
            tracing::info!("database writes work again");
            *self.inner.last_error.lock().unwrap_or_else(|p| p.into_inner()) = None;
        }
        Ok(())
    }

    /// Categories of `account`.
    pub fn categories<'a>(&'a self, account: &'a str) -> categories::Categories<'a> {
        categories::Categories { store: self, account }
    }

    /// The sent-message log of `account`.
    pub fn sent<'a>(&'a self, account: &'a str) -> sent::SentLog<'a> {
        sent::SentLog { store: self, account }
    }

    /// Broadcast jobs (of every account: a job id names its account).
    pub fn jobs(&self) -> jobs::Jobs<'_> {
        jobs::Jobs { store: self }
    }

    /// Uploaded files of `account`.
    pub fn files<'a>(&'a self, account: &'a str) -> files::Files<'a> {
        files::Files { store: self, account }
    }

    /// Friend requests of `account`.
    pub fn friend_requests<'a>(&'a self, account: &'a str) -> friend_requests::FriendRequests<'a> {
        friend_requests::FriendRequests { store: self, account }
    }

    /// Received chat images of `account`.
    pub fn chat_images<'a>(&'a self, account: &'a str) -> chat_images::ChatImages<'a> {
        chat_images::ChatImages { store: self, account }
    }

    /// The event outbox rows and delivery cursors.
    pub fn events(&self) -> events::EventRows<'_> {
        events::EventRows { store: self }
    }

    /// Accounts seen (name → wxid).
    pub fn accounts(&self) -> accounts::Accounts<'_> {
        accounts::Accounts { store: self }
    }

    /// Numeric ids (OneBot 11).
    pub fn numeric_ids(&self) -> numeric_ids::NumericIds<'_> {
        numeric_ids::NumericIds { store: self }
    }

    /// The fleet's nodes and leases (PostgreSQL only).
    pub fn fleet(&self) -> fleet::FleetRows<'_> {
        fleet::FleetRows { store: self }
    }
}

async fn on<T, F>(f: F) -> ApiResult<T>
where
    T: Send + 'static,
    F: FnOnce() -> ApiResult<T> + Send + 'static,
{
    tokio::task::spawn_blocking(f).await.map_err(|e| ApiError::Internal(format!("store task failed: {e}")))?
}

fn migrate(conn: &mut Connection) -> rusqlite::Result<()> {
    let version: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
    if version as usize >= MIGRATIONS.len() {
        return Ok(());
    }
    // Table rebuilds move rows between tables that reference each other.
    conn.pragma_update(None, "foreign_keys", "OFF")?;
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(version.max(0) as usize) {
        let tx = conn.transaction()?;
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", (i + 1) as i64)?;
        tx.commit()?;
        tracing::info!(version = i + 1, "database migrated");
    }
    conn.pragma_update(None, "foreign_keys", "ON")?;
    Ok(())
}

/// Applies pending PostgreSQL migrations; nodes starting together take turns (an advisory
/// lock held until the transaction ends).
fn migrate_pg(t: &mut sql::Tx<'_>) -> ApiResult<()> {
    t.exec("SELECT pg_advisory_xact_lock(?1)", sql::args![MIGRATION_LOCK])?;
    t.batch("CREATE TABLE IF NOT EXISTS schema_version(version BIGINT NOT NULL)")?;
    let version: i64 = t.one("SELECT COALESCE(MAX(version), 0) FROM schema_version", &[])?.get(0)?;
    for (i, sql) in PG_MIGRATIONS.iter().enumerate().skip(version.max(0) as usize) {
        t.batch(sql)?;
        t.exec("INSERT INTO schema_version(version) VALUES (?1)", sql::args![(i + 1) as i64])?;
        tracing::info!(version = i + 1, "PostgreSQL database migrated");
    }
    Ok(())
}

/// The advisory lock key of migrations ("wxhttp" in ASCII).
const MIGRATION_LOCK: i64 = 0x7778_6874_7470;

/// The advisory lock key that orders outbox inserts on PostgreSQL.
pub(crate) const OUTBOX_LOCK: i64 = MIGRATION_LOCK + 1;

/// The advisory lock key of numeric id assignment on PostgreSQL.
pub(crate) const NUMERIC_IDS_LOCK: i64 = MIGRATION_LOCK + 2;

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn migrations_apply_once_and_upgrade_old_rows() {
        let dir = tempfile::tempdir().unwrap();
        {
            // A database as the previous release left it (migrations 1-3) with a few rows.
            let c = connection(&dir.path().join(DB_FILE), "FULL").unwrap();
            for (i, sql) in MIGRATIONS[..3].iter().enumerate() {
                c.execute_batch(sql).unwrap();
                c.pragma_update(None, "user_version", (i + 1) as i64).unwrap();
            }
            c.execute_batch(
                "INSERT INTO categories VALUES ('c1', 'VIP', 1.0);
                 INSERT INTO category_members VALUES ('c1', 'wxid_a', 'user', 1.0);
                 INSERT INTO sent_messages VALUES ('m1', 301, 'wxid_a', 'text', 'hi', 1.0, 42);
                 INSERT INTO events(time, kind, body, source) VALUES (1.0, 'message', '{}', 'wx:77');",
            )
            .unwrap();
        }
        let store = Store::open(dir.path()).unwrap();
        drop(store);
        let store = Store::open(dir.path()).unwrap();
        let v: i64 = store
            .read(|t| Ok(t.sqlite_conn().unwrap().pragma_query_value(None, "user_version", |r| r.get(0))?))
            .await
            .unwrap();
        assert_eq!(v, MIGRATIONS.len() as i64);
        let cats = store.categories("default").list().await.unwrap();
        assert_eq!(cats, vec![Category { id: "c1".into(), name: "VIP".into() }]);
        assert_eq!(store.categories("default").members("c1").await.unwrap().len(), 1);
        assert!(store.categories("other").list().await.unwrap().is_empty(), "categories belong to an account");
        let parts = store.sent("default").parts("m1").await.unwrap();
        assert_eq!((parts[0].part, parts[0].wx_msg_id, parts[0].state), (1, Some(42), SentState::Sent));
        assert_eq!(store.events().last_wx_source("default").await.unwrap(), Some(77));
        assert!(store.healthy());
    }

    #[tokio::test]
    async fn a_failed_write_keeps_the_store_failing_until_a_settled_probe() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let failed: ApiResult<()> = store.write(|_| Err(ApiError::Database("disk full".into()))).await;
        assert!(failed.is_err());
        assert!(!store.healthy());
        assert_eq!(store.last_error().as_deref(), Some("disk full"));
        // A small write that still fits does not make it healthy, nor does an early probe.
        store.probe().await.unwrap();
        assert!(!store.healthy(), "failing for at least FAILING_AT_LEAST");
        // Once the failure is old enough, the probe clears it.
        *store.inner.failed_at.lock().unwrap() = Some(std::time::Instant::now() - FAILING_AT_LEAST);
        store.probe().await.unwrap();
        assert!(store.healthy());
        assert_eq!(store.last_error(), None);
    }
}
