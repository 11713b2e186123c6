//! wechat-http: WeChat as an HTTP API for bots, over WeChatFerry.
//!
//! [`start`] binds nothing itself: it takes a bound listener, so tests bind `127.0.0.1:0`. It
//! connects to WeChatFerry (retrying in the background while WeChat is away), opens the store
//! and serves [`app`] until [`Gateway::shutdown`].

#![warn(missing_docs)]

use std::net::SocketAddr;
use std::time::Duration;

use tokio::net::TcpListener;

pub mod actions;
pub mod backend;
pub mod bridge;
pub mod categories;
pub mod config;
pub mod contacts;
pub mod delivery;
pub mod error;
pub mod events;
pub mod files;
pub mod http;
pub mod jobs;
pub mod media;
pub mod secret;
pub mod sender;
pub mod state;
pub mod store;

pub use config::Config;
pub use state::AppState;

/// Why the gateway could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// Store, media folders or the WeChat client could not be set up.
    #[error("{0}")]
    Setup(#[from] error::ApiError),
    /// The configuration is not valid.
    #[error(transparent)]
    Config(#[from] config::ConfigError),
    /// The listener failed.
    #[error("listener: {0}")]
    Io(#[from] std::io::Error),
}

/// The HTTP application for a state.
pub fn app(state: AppState) -> axum::Router {
    http::router(state)
}

/// A running gateway.
#[derive(Debug)]
pub struct Gateway {
    addr: SocketAddr,
    state: AppState,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<()>>,
}

/// Installs the TLS crypto provider (ring) once per process.
pub fn install_tls_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// Builds the state, starts the background work and serves on `listener`.
pub async fn start(config: Config, listener: TcpListener) -> Result<Gateway, StartError> {
    install_tls_provider();
    config.validate()?;
    let client = wcf::Client::new(wcf::ClientOptions {
        call_timeout: Duration::from_millis(config.wcf.call_timeout_ms),
        ..wcf::ClientOptions::new(config.wcf.address.clone())
    })
    .map_err(|e| config::ConfigError::Invalid { key: "wcf.address".into(), problem: e.to_string() })?;
    let receiver = wcf::Receiver::start(
        client.clone(),
        wcf::ReceiverOptions {
            login_poll: Duration::from_millis(config.wcf.login_check_ms),
            push: config.wcf.receive_mode == config::ReceiveMode::Push,
            ..wcf::ReceiverOptions::default()
        },
    );
    let store = store::Store::open(&config.db_dir_path)?;
    let outbox = events::outbox::Outbox::open(store.clone()).await?;
    // Every durable channel gets its cursor before anything can emit: a channel configured for
    // the first time starts here; one that existed resumes where it stopped.
    let mut channels: Vec<String> = config.http_post.iter().map(delivery::webhook::channel).collect();
    channels.extend(config.websocket_reverse.iter().map(delivery::websocket::reverse_channel));
    if config.http_server.event_enabled {
        channels.push(actions::LATEST_EVENTS_CHANNEL.to_owned());
    }
    for channel in &channels {
        outbox.cursor(channel, outbox.latest()).await?;
    }
    let state = AppState::new(state::Inner {
        categories: categories::CategoryStore::new(store.clone()),
        store,
        backend: backend::Backend::new(client.clone(), receiver.state()),
        contacts: contacts::ContactCache::new(client),
        media: media::Media::new(&config)?,
        pacer: sender::Pacer::new(&config),
        outbox,
        config,
    });
    let mut tasks = vec![
        tokio::spawn(bridge::pump(state.clone(), receiver)),
        tokio::spawn(bridge::follow_backend(state.clone())),
        tokio::spawn(bridge::upkeep(state.clone())),
    ];
    if state.config.wcf.receive_mode == config::ReceiveMode::Poll {
        tasks.push(tokio::spawn(bridge::poll(state.clone())));
    }
    for target in state.config.http_post.clone() {
        tasks.push(tokio::spawn(delivery::webhook::run(state.clone(), target)));
    }
    for target in state.config.websocket_reverse.clone() {
        tasks.push(tokio::spawn(delivery::websocket::reverse(state.clone(), target)));
    }
    jobs::resume_all(&state).await?;
    let addr = listener.local_addr()?;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let router = app(state.clone());
    let server = tokio::spawn(async move {
        let result = axum::serve(listener, router)
            .with_graceful_shutdown(async {
                let _ = stopped.await;
            })
            .await;
        if let Err(e) = result {
            tracing::error!(error = %e, "HTTP server stopped");
        }
    });
    tracing::info!(%addr, wcf = %state.config.wcf.address, "wechat-http serving");
    Ok(Gateway { addr, state, tasks, stop: Some(stop), server: Some(server) })
}

/// Starts, then serves until `shutdown` resolves.
pub async fn serve(
    config: Config,
    listener: TcpListener,
    shutdown: impl std::future::Future<Output = ()>,
) -> Result<(), StartError> {
    let gateway = start(config, listener).await?;
    shutdown.await;
    gateway.shutdown().await;
    Ok(())
}

impl Gateway {
    /// The bound HTTP address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The application state.
    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Stops serving (in-flight requests finish) and stops the background work.
    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(server) = self.server.take() {
            let _ = tokio::time::timeout(Duration::from_secs(10), server).await;
        }
        for t in self.tasks.drain(..) {
            t.abort();
            let _ = t.await;
        }
        // Like the official client at exit: switch pushing off, so the next client of this
        // WeChatFerry (which keeps receiving on otherwise) can switch it on again.
        if self.state.config.wcf.receive_mode == config::ReceiveMode::Push {
            let client = &self.state.backend.client;
            let _ = tokio::time::timeout(Duration::from_secs(2), client.disable_receiving()).await;
            client.disconnect().await;
        }
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
        if let Some(s) = &self.server {
            s.abort();
        }
    }
}
