//! wechat-http: WeChat accounts as an HTTP API for bots, over WeChatFerry.
//!
//! [`start`] binds nothing itself: it takes a bound listener, so tests bind `127.0.0.1:0`. It
//! opens (and probes) the store, opens every account (each connecting to its WeChatFerry in
//! the background, retrying while WeChat is away), starts the delivery channels and serves
//! [`app`] until [`Running::shutdown`]. `docs/architecture.md` shows how the parts fit.

#![warn(missing_docs)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

pub mod account;
pub mod actions;
pub mod config;
pub mod console;
pub mod delivery;
pub mod error;
pub mod events;
pub mod files;
pub mod fleet;
pub mod fsx;
pub mod gateway;
pub mod http;
pub mod net;
pub mod onebot11;
pub mod secret;
pub mod send;
pub mod store;
pub mod wechat_db;

pub use config::Config;
pub use gateway::Gateway;

/// Why the gateway could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The store cannot be opened or written.
    #[error(transparent)]
    Store(#[from] store::StoreError),
    /// An account, the outbox or the media folders could not be set up.
    #[error("{}", .0.public_message())]
    Setup(#[from] error::ApiError),
    /// The configuration is not valid.
    #[error(transparent)]
    Config(#[from] config::ConfigError),
    /// The listener failed.
    #[error("listener: {0}")]
    Io(#[from] std::io::Error),
}

/// The HTTP application for a gateway.
pub fn app(gateway: Gateway) -> axum::Router {
    http::router(gateway)
}

/// A running gateway.
#[derive(Debug)]
pub struct Running {
    addr: SocketAddr,
    gateway: Gateway,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    server: Option<tokio::task::JoinHandle<()>>,
}

/// Installs the TLS crypto provider (ring) once per process.
pub fn install_tls_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// Builds the gateway, starts the background work and serves on `listener`.
pub async fn start(config: Config, listener: TcpListener) -> Result<Running, StartError> {
    start_with_warnings(config, listener, Vec::new()).await
}

/// [`start`] with warnings from loading the configuration (reported with the others).
pub async fn start_with_warnings(
    config: Config,
    listener: TcpListener,
    load_warnings: Vec<String>,
) -> Result<Running, StartError> {
    install_tls_provider();
    config.validate()?;
    let mut config = config;
    // Port 0 ("any free port"): the addresses in events use the port actually bound.
    if let Ok(addr) = listener.local_addr()
        && let Some(rest) = config
            .http_server
            .http_address
            .strip_suffix(":0")
            .or_else(|| config.http_server.http_address.strip_suffix(":0/"))
    {
        let scheme = rest.split("://").next().filter(|s| *s != rest).unwrap_or("http");
        config.http_server.http_address = format!("{scheme}://{addr}");
    }
    let config = Arc::new(config);
    let store = match config.store.backend {
        config::StoreBackend::Sqlite => store::Store::open(&config.db_dir_path)?,
        config::StoreBackend::Postgres => {
            let url = config.store.postgres_url.expose().to_owned();
            let ca = config.store.postgres_ca_file.clone();
            tokio::task::spawn_blocking(move || store::Store::open_postgres(&url, ca.as_deref())).await.map_err(
                |e| store::StoreError::Open {
                    path: "PostgreSQL".into(),
                    reason: format!("the connection task failed: {e}"),
                },
            )??
        }
    };
    let outbox = events::outbox::Outbox::open(store.clone(), store.backend() == store::Backend::Postgres).await?;
    // Every durable channel gets its cursor before anything can emit: a channel configured for
    // the first time starts here; one that existed resumes where it stopped.
    let mut channels: Vec<String> = config.http_post.iter().map(delivery::webhook::channel).collect();
    channels.extend(config.websocket_reverse.iter().map(delivery::websocket::reverse_channel));
    if config.http_server.event_enabled {
        channels.push(actions::LATEST_EVENTS_CHANNEL.to_owned());
    }
    channels.extend(config.onebot11.http_post.iter().map(delivery::webhook::v11_channel));
    for target in &config.onebot11.ws_reverse {
        for entry in config.account_configs() {
            channels.push(delivery::websocket::v11_reverse_channel(target, &entry.name));
        }
    }
    for channel in &channels {
        outbox.cursor(channel, outbox.latest()).await?;
    }
    // In a fleet every durable channel but the long-poll cursor (any node answers long-polls)
    // is run by one node at a time.
    let fleet = (config.store.backend == config::StoreBackend::Postgres).then(|| {
        let mut leased: Vec<String> =
            channels.iter().filter(|c| c.as_str() != actions::LATEST_EVENTS_CHANNEL).cloned().collect();
        leased.extend(config.nats.iter().map(delivery::nats::channel));
        Arc::new(fleet::Fleet::new(&config, leased))
    });
    let stop = CancellationToken::new();
    let (changes_tx, mut changes) = tokio::sync::mpsc::unbounded_channel::<String>();
    let entries = config.account_configs();
    let own_folders = !config.accounts.is_empty();
    let mut accounts = Vec::with_capacity(entries.len());
    for entry in entries {
        let parts = account::Parts {
            store: store.clone(),
            outbox: outbox.clone(),
            changes: changes_tx.clone(),
            stop: stop.clone(),
        };
        accounts.push(account::Account::open(config.clone(), entry, own_folders, parts).await?);
    }
    let mut warnings = load_warnings;
    warnings.extend(config.warnings());
    let gateway = Gateway::new(gateway::Inner {
        config: config.clone(),
        store,
        outbox,
        accounts,
        warnings: gateway::Warnings::new(warnings),
        channels: delivery::Channels::default(),
        websocket_clients: Default::default(),
        ob11_ids: onebot11::Ids::new(),
        console_sessions: Default::default(),
        fleet: fleet.clone(),
        stop: stop.clone(),
    });
    let mut tasks = Vec::new();
    // A single gateway drives every account from the start; a node of a fleet only those
    // whose lease it takes (the fleet worker starts and stops them).
    if gateway.fleet.is_none() {
        for acct in gateway.accounts.iter() {
            tasks.extend(acct.start_driving());
        }
    }
    // One meta.status_update at start, and one for every change of any account.
    events::emit(&gateway, events::status_update(&gateway)).await;
    let g = gateway.clone();
    tasks.push(tokio::spawn(async move {
        loop {
            tokio::select! {
                _ = g.stop.cancelled() => return,
                c = changes.recv() => if c.is_none() { return },
            }
            events::emit(&g, events::status_update(&g)).await;
        }
    }));
    tasks.push(tokio::spawn(gateway_upkeep(gateway.clone())));
    // After a failed write, keep probing so the status turns good as soon as writes work.
    let g = gateway.clone();
    tasks.push(tokio::spawn(async move {
        loop {
            tokio::select! {
                _ = g.stop.cancelled() => return,
                _ = tokio::time::sleep(Duration::from_secs(5)) => {}
            }
            if !g.store.healthy() {
                let _ = g.store.probe().await;
            }
        }
    }));
    if config.http_server.event_enabled {
        // The long-poll cursor is a channel too; listed from the start, not from the first poll.
        let name = actions::events::LATEST_EVENTS_CHANNEL;
        gateway.channels.register(name, "long_poll", name);
    }
    for target in config.http_post.clone() {
        let webhook = delivery::webhook::Webhook::open(gateway.clone(), target).await?;
        tasks.push(tokio::spawn(webhook.run()));
    }
    for target in config.websocket_reverse.clone() {
        tasks.push(tokio::spawn(delivery::websocket::reverse(gateway.clone(), target)));
    }
    for target in config.nats.clone() {
        let nats = delivery::nats::NatsChannel::open(gateway.clone(), target).await?;
        tasks.push(tokio::spawn(nats.run()));
    }
    for target in config.onebot11.http_post.clone() {
        let webhook = delivery::webhook::Webhook::open_v11(gateway.clone(), target).await?;
        tasks.push(tokio::spawn(webhook.run()));
    }
    for target in &config.onebot11.ws_reverse {
        for acct in gateway.accounts.iter() {
            let t = tokio::spawn(delivery::websocket::reverse_v11(gateway.clone(), target.clone(), acct.name.clone()));
            tasks.push(t);
        }
    }
    for (job, name) in gateway.store.jobs().active().await? {
        if !gateway.accounts.iter().any(|a| a.name == name) {
            tracing::warn!(job, account = %name, "a broadcast job belongs to an account no longer configured; it waits")
        }
    }
    if let Some(fleet) = gateway.fleet.clone() {
        // The first round before serving: a node takes the free leases before it answers.
        fleet.step(&gateway).await;
        tasks.push(tokio::spawn(fleet.run(gateway.clone())));
    }
    let addr = listener.local_addr()?;
    let limits = http::server::Limits {
        max_connections: config.http_server.max_connections,
        header_read_timeout: Duration::from_secs(config.http_server.header_read_timeout),
        keep_alive_timeout: Duration::from_secs(config.http_server.keep_alive_timeout),
    };
    let server = tokio::spawn(http::server::serve(listener, app(gateway.clone()), limits, stop.clone()));
    tracing::info!(%addr, accounts = gateway.accounts.len(), "wechat-http serving");
    Ok(Running { addr, gateway, tasks, server: Some(server) })
}

/// Gateway-wide upkeep, a minute apart: event retention; hourly the store's retention, chat
/// images, uploaded files and staged media.
async fn gateway_upkeep(gateway: Gateway) {
    let mut tick = tokio::time::interval(Duration::from_secs(60));
    let mut n = 0u64;
    loop {
        tokio::select! {
            _ = gateway.stop.cancelled() => return,
            _ = tick.tick() => {}
        }
        upkeep_step(&gateway, n).await;
        n += 1;
    }
}

/// One round of gateway-wide upkeep (`n` counts rounds from 0).
pub async fn upkeep_step(gateway: &Gateway, n: u64) {
    let retention = &gateway.config.events;
    match gateway.outbox.trim(retention.retention_count, retention.retention_hours).await {
        Ok(0) => {}
        Ok(removed) => tracing::info!(removed, "old events removed from the outbox (events.retention_*)"),
        Err(e) => tracing::warn!(error = %e, "event retention failed"),
    }
    if !n.is_multiple_of(60) {
        return;
    }
    let store = &gateway.store;
    let days = gateway.config.store.retention_days;
    if days > 0 {
        let before = store::now() - days as f64 * 86_400.0;
        let any = gateway.accounts.first().map(|a| a.name.clone()).unwrap_or_default();
        let r = async {
            let sent = store.sent(&any).trim(before).await?;
            let jobs = store.jobs().trim(before).await?;
            let requests = store.friend_requests(&any).trim(before).await?;
            error::ApiResult::Ok((sent, jobs, requests))
        };
        match r.await {
            Ok((0, 0, 0)) => {}
            Ok((sent, jobs, requests)) => {
                tracing::info!(sent, jobs, requests, "old rows removed (store.retention_days)")
            }
            Err(e) => tracing::warn!(error = %e, "store retention failed"),
        }
    }
    let media_days = gateway.config.media.retention_days;
    for acct in &gateway.accounts {
        let removed = acct.media.purge_old_images();
        if removed > 0 {
            tracing::info!(account = %acct.name, removed, "purged chat image folders older than img_valid_duration");
        }
        let image_cutoff = store::now() - gateway.config.img_valid_duration as f64 * 86_400.0;
        let _ = store.chat_images(&acct.name).trim(image_cutoff).await;
        if media_days > 0 {
            let before = store::now() - media_days as f64 * 86_400.0;
            match files::purge(acct, before).await {
                Ok(0) => {}
                Ok(k) => {
                    tracing::info!(account = %acct.name, files = k, "uploaded files removed (media.retention_days)")
                }
                Err(e) => tracing::warn!(account = %acct.name, error = %e, "file retention failed"),
            }
            // Staged media still named by an unfinished broadcast stays.
            let active: Vec<String> = match store.jobs().active().await {
                Ok(jobs) => {
                    let mut items = Vec::new();
                    for (id, _) in jobs {
                        if let Ok(Some(h)) = store.jobs().head(&id).await {
                            items.push(h.items);
                        }
                    }
                    items
                }
                Err(_) => continue,
            };
            let removed = acct.media.purge_staging(&|dir: &std::path::Path| {
                let d = acct.media.paths().to_wechat(dir);
                active.iter().any(|items| items.contains(d.replace('\\', "\\\\").as_str()) || items.contains(&d))
            });
            if removed > 0 {
                tracing::info!(account = %acct.name, removed, "staged media removed (media.retention_days)");
            }
        }
    }
}

/// Starts, then serves until `shutdown` resolves.
pub async fn serve(
    config: Config,
    listener: TcpListener,
    shutdown: impl std::future::Future<Output = ()>,
) -> Result<(), StartError> {
    let running = start(config, listener).await?;
    shutdown.await;
    running.shutdown().await;
    Ok(())
}

impl Running {
    /// The bound HTTP address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The gateway.
    pub fn gateway(&self) -> &Gateway {
        &self.gateway
    }

    /// Stops everything, in a few seconds at most whatever is going on: no new connections;
    /// workers, jobs and sessions stop; busy requests get a moment; queued events are
    /// committed; receiving is switched off at every WeChatFerry.
    pub async fn shutdown(mut self) {
        self.gateway.stop.cancel();
        if let Some(server) = self.server.take() {
            let _ = tokio::time::timeout(Duration::from_secs(1), server).await;
        }
        let tasks: Vec<_> = self.tasks.drain(..).collect();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(2);
        while tasks.iter().any(|t| !t.is_finished()) && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        for t in &tasks {
            t.abort();
        }
        self.gateway.outbox.close(Duration::from_secs(2)).await;
        // Like the official client at exit: switch pushing off, so the next client of this
        // WeChatFerry (which keeps receiving on otherwise) can switch it on again.
        let offs = self
            .gateway
            .accounts
            .iter()
            .filter(|a| a.driving() && a.config.wcf.receive_mode == config::ReceiveMode::Push)
            .map(|a| {
                let client = a.backend.client.clone();
                async move {
                    let _ = tokio::time::timeout(Duration::from_secs(1), client.disable_receiving()).await;
                    client.disconnect().await;
                }
            });
        futures_util::future::join_all(offs).await;
        // Another node may take this one's accounts and channels at once.
        if let Some(fleet) = &self.gateway.fleet {
            fleet.release_all(&self.gateway).await;
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.gateway.stop.cancel();
        for t in &self.tasks {
            t.abort();
        }
        if let Some(s) = &self.server {
            s.abort();
        }
    }
}
