//! A WeChat that speaks WeChatFerry: the emulator tests, benchmarks and `--demo` run against.
//!
//! It serves the command channel on a port and the message channel on port + 1 with the same
//! SP/TCP PAIR1 + protobuf wire as WeChatFerry 39.5.2, keeps its state in SQLite files shaped
//! like WeChat's own (`MicroMsg.db`, `MSG0.db`), writes image attachments as XOR-encoded `.dat`
//! files under `WeChat Files`, and has a small HTTP control API ([`control`]).
//!
//! Differences from real WeChatFerry, on purpose: `FUNC_SHUTDOWN` answers 0 and drops that
//! command peer, but the emulator keeps serving (the real one stops its RPC server).

#![warn(missing_docs)]

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::mpsc;
use wcf::transport::{DEFAULT_MAX_FRAME, PairListener};

pub mod control;
pub mod db;
pub mod fixture;
pub mod kinds;
mod server;
pub mod wechat;

pub use fixture::Fixture;
pub use kinds::{HistoryLine, InboundMessage, Injected, MemberSpec, RawMessage};
pub use wechat::{Fault, FriendTickets, Health, InboundFriendRequest, SentRecord, WeChat};

/// How to start an emulator.
#[derive(Clone, Debug)]
pub struct EmulatorConfig {
    /// Command channel address, `tcp://host:port` or `host:port`; port 0 picks a free pair of
    /// ports (port and port + 1).
    pub listen: String,
    /// Control API address (`host:port`); `None` = no control API.
    pub control: Option<String>,
    /// Where the databases and `WeChat Files` live; `None` = a fresh temporary folder.
    pub data_dir: Option<PathBuf>,
    /// Account, contacts and chat groups.
    pub fixture: Fixture,
    /// How long a pushed message waits for a message peer before it is dropped (5 s in
    /// WeChatFerry 39.5.2).
    pub push_timeout: Duration,
}

impl Default for EmulatorConfig {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:0".into(),
            control: Some("127.0.0.1:0".into()),
            data_dir: None,
            fixture: Fixture::builtin(),
            push_timeout: Duration::from_secs(5),
        }
    }
}

/// Why the emulator could not start.
#[derive(Debug, thiserror::Error)]
pub enum EmulatorError {
    /// An address is malformed.
    #[error("invalid address {0:?}: expected host:port")]
    Address(String),
    /// Binding failed.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// Address.
        addr: String,
        /// Cause.
        source: std::io::Error,
    },
    /// The fixture is inconsistent.
    #[error(transparent)]
    Fixture(#[from] fixture::FixtureError),
    /// Databases or files could not be set up.
    #[error(transparent)]
    Setup(#[from] wechat::ControlError),
}

/// A running emulator. Dropping it (or [`Emulator::shutdown`]) stops every task and closes
/// every port.
#[derive(Debug)]
pub struct Emulator {
    wechat: Arc<WeChat>,
    command: SocketAddr,
    control: Option<SocketAddr>,
    data_dir: PathBuf,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

async fn bind_pair(listen: &str) -> Result<(TcpListener, TcpListener), EmulatorError> {
    let hostport = listen.strip_prefix("tcp://").unwrap_or(listen);
    let (host, port) = hostport.rsplit_once(':').ok_or_else(|| EmulatorError::Address(listen.to_owned()))?;
    let port: u16 = port.parse().map_err(|_| EmulatorError::Address(listen.to_owned()))?;
    let bind = |p: u16| {
        let addr = format!("{host}:{p}");
        async move { TcpListener::bind(&addr).await.map_err(|source| EmulatorError::Bind { addr, source }) }
    };
    if port != 0 {
        return Ok((
            bind(port).await?,
            bind(port.checked_add(1).ok_or_else(|| EmulatorError::Address(listen.to_owned()))?).await?,
        ));
    }
    // Port 0: find a free port whose successor is free too.
    let mut last = None;
    for _ in 0..50 {
        let cmd = bind(0).await?;
        let p = cmd.local_addr().map_err(|source| EmulatorError::Bind { addr: listen.to_owned(), source })?.port();
        if p == u16::MAX {
            continue;
        }
        match bind(p + 1).await {
            Ok(msg) => return Ok((cmd, msg)),
            Err(e) => last = Some(e),
        }
    }
    Err(last.unwrap_or_else(|| EmulatorError::Address(listen.to_owned())))
}

impl Emulator {
    /// Binds both channels (and the control API), opens the databases and starts serving.
    pub async fn start(config: EmulatorConfig) -> Result<Self, EmulatorError> {
        config.fixture.validate()?;
        let data_dir = match config.data_dir {
            Some(d) => d,
            None => std::env::temp_dir().join(format!("wcf-emulator-{}-{}", std::process::id(), rand::random::<u32>())),
        };
        std::fs::create_dir_all(&data_dir).map_err(wechat::ControlError::from)?;
        let (push_tx, push_rx) = mpsc::unbounded_channel();
        let wechat = Arc::new(WeChat::open(&data_dir, &config.fixture, push_tx)?);
        let (cmd, msg) = bind_pair(&config.listen).await?;
        let command = cmd.local_addr().map_err(|source| EmulatorError::Bind { addr: config.listen.clone(), source })?;
        let cmd = PairListener::from_tcp(cmd, DEFAULT_MAX_FRAME)
            .map_err(|source| EmulatorError::Bind { addr: config.listen.clone(), source })?;
        let msg = PairListener::from_tcp(msg, DEFAULT_MAX_FRAME)
            .map_err(|source| EmulatorError::Bind { addr: config.listen.clone(), source })?;
        let mut tasks = vec![
            tokio::spawn(server::command_loop(cmd, wechat.clone())),
            tokio::spawn(server::push_loop(msg, wechat.clone(), push_rx, config.push_timeout)),
        ];
        let mut control = None;
        if let Some(addr) = &config.control {
            let listener =
                TcpListener::bind(addr).await.map_err(|source| EmulatorError::Bind { addr: addr.clone(), source })?;
            let local = listener.local_addr().map_err(|source| EmulatorError::Bind { addr: addr.clone(), source })?;
            wechat.set_cdn_base(format!("http://{local}"));
            control = Some(local);
            let app = control::router(wechat.clone());
            tasks.push(tokio::spawn(async move {
                if let Err(e) = axum::serve(listener, app).await {
                    tracing::error!(error = %e, "control API stopped");
                }
            }));
        }
        tracing::info!(%command, ?control, data = %data_dir.display(), "wcf-emulator serving");
        Ok(Self { wechat, command, control, data_dir, tasks })
    }

    /// `tcp://host:port` of the command channel (what a client is configured with).
    pub fn address(&self) -> String {
        format!("tcp://{}", self.command)
    }

    /// Command channel socket address (message channel = port + 1).
    pub fn command_addr(&self) -> SocketAddr {
        self.command
    }

    /// Control API address, if enabled.
    pub fn control_addr(&self) -> Option<SocketAddr> {
        self.control
    }

    /// `http://host:port` of the control API, if enabled.
    pub fn control_url(&self) -> Option<String> {
        self.control.map(|a| format!("http://{a}"))
    }

    /// The data folder.
    pub fn data_dir(&self) -> &std::path::Path {
        &self.data_dir
    }

    /// The emulated account, for in-process control.
    pub fn wechat(&self) -> &Arc<WeChat> {
        &self.wechat
    }

    /// Stops serving and closes every port.
    pub async fn shutdown(mut self) {
        for t in self.tasks.drain(..) {
            t.abort();
            let _ = t.await;
        }
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}
