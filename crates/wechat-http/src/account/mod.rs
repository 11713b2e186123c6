//! One WeChat account's runtime: everything that belongs to one account, and nothing that
//! belongs to another — its WeChatFerry link and identity, contact cache, WeChat database
//! reader, media folders, send queue (pacing and limits), and the background workers that
//! receive its messages and keep it tidy. The [`crate::gateway::Gateway`] owns the accounts.

use std::sync::Arc;
use std::time::Duration;

use onebot::BotSelf;
use serde_json::{Value, json};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::config::{AccountEntry, Config, EventFormat};
use crate::error::ApiResult;
use crate::events::normalize::Draft;
use crate::events::outbox::Outbox;
use crate::send::queue::Pacer;
use crate::store::Store;
use crate::wechat_db::WeChatDb;

pub mod backend;
pub mod contacts;
pub mod media;
pub mod receive;
pub mod received;
pub mod rooms;
pub mod system;
pub mod upkeep;

pub use backend::Backend;
pub use contacts::ContactCache;
pub use media::Media;

/// How an account's events are built.
#[derive(Clone, Debug)]
pub struct EventSettings {
    /// `http://host:port` prefix for `/chat_image` URLs.
    pub base_url: String,
    /// Build the legacy body too (some webhook target of this account wants it).
    pub legacy: bool,
}

/// One account's runtime.
#[derive(Debug)]
pub struct Account {
    /// The configured name.
    pub name: String,
    /// Its configuration (top-level keys already inherited).
    pub config: AccountEntry,
    /// WeChat.
    pub backend: Backend,
    /// Cached contacts.
    pub contacts: ContactCache,
    /// WeChat's databases.
    pub db: WeChatDb,
    /// Chat-group members as known, for the member notices.
    pub rooms: rooms::Rooms,
    /// Images and files.
    pub media: Media,
    /// The send queue.
    pub queue: Pacer,
    /// The gateway's store (rows of this account are keyed by its name).
    pub store: Store,
    /// The gateway's event outbox.
    pub outbox: Arc<Outbox>,
    /// How events are built.
    pub events: EventSettings,
    /// Gateway-wide settings the workers read.
    pub settings: Arc<Config>,
    changes: mpsc::UnboundedSender<String>,
    stop: CancellationToken,
    /// Stops the workers of the current drive (a child of `stop`).
    drive: std::sync::Mutex<CancellationToken>,
    driving: std::sync::atomic::AtomicBool,
    me: std::sync::Weak<Account>,
}

/// What opening an account needs from the gateway.
pub struct Parts {
    /// The store.
    pub store: Store,
    /// The outbox.
    pub outbox: Arc<Outbox>,
    /// Where to say "my status changed" (the account's name).
    pub changes: mpsc::UnboundedSender<String>,
    /// Stops every worker.
    pub stop: CancellationToken,
}

impl Account {
    /// Opens an account: its client (nothing dialled yet), folders and queue. Nothing talks
    /// to WeChat until [`Account::start_driving`].
    pub async fn open(
        config: Arc<Config>,
        entry: AccountEntry,
        own_folders: bool,
        parts: Parts,
    ) -> ApiResult<Arc<Self>> {
        let client = wcf::Client::new(wcf::ClientOptions {
            call_timeout: Duration::from_millis(entry.wcf.call_timeout_ms),
            ..wcf::ClientOptions::new(entry.wcf.address.clone())
        })
        .map_err(|e| crate::error::ApiError::Internal(format!("account {}: {e}", entry.name)))?;
        let known_wxid = parts
            .store
            .accounts()
            .all()
            .await?
            .into_iter()
            .find(|(name, _, _)| *name == entry.name)
            .map(|(_, wxid, _)| wxid)
            .unwrap_or_default();
        let legacy = config.http_post.iter().any(|t| {
            t.format == EventFormat::Legacy
                && (t.accounts.is_empty()
                    || t.accounts.iter().any(|a| *a == entry.name || (!known_wxid.is_empty() && *a == known_wxid)))
        });
        let media = Media::new(&config, &entry, own_folders)?;
        // Nothing dials this WeChat until this node drives it (start_driving resumes).
        client.pause().await;
        let account = Arc::new_cyclic(|me| Self {
            name: entry.name.clone(),
            backend: Backend::new(
                client.clone(),
                tokio::sync::watch::channel(wcf::ConnectionState::Disconnected).1,
                known_wxid,
            ),
            contacts: ContactCache::new(client),
            db: WeChatDb::new(),
            rooms: rooms::Rooms::new(),
            media,
            queue: Pacer::new(&entry),
            store: parts.store,
            outbox: parts.outbox,
            events: EventSettings {
                base_url: config.http_server.http_address.trim_end_matches('/').to_owned(),
                legacy,
            },
            settings: config,
            config: entry,
            changes: parts.changes,
            drive: std::sync::Mutex::new(parts.stop.child_token()),
            driving: Default::default(),
            stop: parts.stop,
            me: me.clone(),
        });
        Ok(account)
    }

    /// Starts driving this account's WeChat: the receiver (which dials WeChatFerry), the
    /// receiving and upkeep workers, and the account's unfinished broadcast jobs. One node of a
    /// fleet does this while it holds the account's lease; a single gateway at start.
    pub fn start_driving(self: &Arc<Self>) -> Vec<tokio::task::JoinHandle<()>> {
        let token = self.stop.child_token();
        *self.drive.lock().unwrap_or_else(|p| p.into_inner()) = token;
        self.backend.client.resume();
        let receiver = wcf::Receiver::start(
            self.backend.client.clone(),
            wcf::ReceiverOptions {
                login_poll: Duration::from_millis(self.config.wcf.login_check_ms),
                push: self.config.wcf.receive_mode == crate::config::ReceiveMode::Push,
                ..wcf::ReceiverOptions::default()
            },
        );
        self.backend.follow(Some(receiver.state()));
        self.driving.store(true, std::sync::atomic::Ordering::SeqCst);
        let mut tasks = Vec::new();
        if self.config.wcf.receive_mode == crate::config::ReceiveMode::Poll {
            tasks.push(tokio::spawn(receive::Polling::new(self.clone()).run()));
        }
        // In poll mode the receiver only follows the connection state; the pump handles that.
        tasks.push(tokio::spawn(receive::Receiving::new(self.clone(), receiver).run()));
        tasks.push(tokio::spawn(upkeep::run(self.clone(), Duration::from_secs(60))));
        let me = self.clone();
        tasks.push(tokio::spawn(async move {
            match me.store.jobs().active().await {
                Ok(jobs) => {
                    for (job, _) in jobs.into_iter().filter(|(_, name)| *name == me.name) {
                        tracing::info!(job, account = %me.name, "resuming a broadcast job");
                        crate::send::jobs::spawn(me.clone(), job);
                    }
                }
                Err(e) => tracing::error!(account = %me.name, error = %e, "cannot list unfinished broadcast jobs"),
            }
        }));
        tasks
    }

    /// Stops driving: the workers and jobs of this drive stop, pushing is switched off and
    /// the link to WeChatFerry closed, so another node can take the account over.
    pub async fn stop_driving(&self) {
        if !self.driving.swap(false, std::sync::atomic::Ordering::SeqCst) {
            return;
        }
        self.drive.lock().unwrap_or_else(|p| p.into_inner()).cancel();
        let client = self.backend.client.clone();
        if self.config.wcf.receive_mode == crate::config::ReceiveMode::Push {
            let _ = tokio::time::timeout(Duration::from_secs(1), client.disable_receiving()).await;
        }
        client.pause().await;
        self.backend.follow(None);
        self.status_changed();
    }

    /// True while this node drives the account's WeChat.
    pub fn driving(&self) -> bool {
        self.driving.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// A shared handle to this account (for work that outlives a request).
    pub fn handle(&self) -> Option<Arc<Self>> {
        self.me.upgrade()
    }

    /// The OneBot `self` of this account, once its wxid is known.
    pub fn bot_self(&self) -> Option<BotSelf> {
        let id = self.backend.self_id();
        (!id.is_empty()).then(|| BotSelf::wechat(id))
    }

    /// True when `selector` is this account's name or (last known) wxid.
    pub fn matches(&self, selector: &str) -> bool {
        selector == self.name || (!selector.is_empty() && selector == self.backend.known_wxid())
    }

    /// This account's entry in `get_status` `bots`.
    pub fn status(&self) -> Value {
        json!({
            "self": { "platform": "wechat", "user_id": self.backend.known_wxid() },
            "online": self.backend.online(),
            "wx.account": self.name,
            "wx.backend": self.backend.state_name(),
            "wx.send_queue": self.queue.depth(),
        })
    }

    /// Tells the gateway this account's status changed (a `meta.status_update` follows).
    pub fn status_changed(&self) {
        let _ = self.changes.send(self.name.clone());
    }

    /// Commits an event of this account (its `account` set); logs a failure.
    pub async fn emit(&self, mut draft: Draft) -> Option<i64> {
        draft.account = Some(self.name.clone());
        match self.outbox.append(draft).await {
            Ok(seq) => seq,
            Err(e) => {
                tracing::error!(account = %self.name, error = %e, "an event could not be stored");
                None
            }
        }
    }

    /// Resolves when the gateway is shutting down or this node stops driving the account.
    pub async fn stopped(&self) {
        let token = self.drive.lock().unwrap_or_else(|p| p.into_inner()).clone();
        token.cancelled().await
    }

    /// True once the gateway is shutting down or this node stopped driving the account.
    pub fn stopping(&self) -> bool {
        self.drive.lock().unwrap_or_else(|p| p.into_inner()).is_cancelled()
    }

    /// The shutdown token (for workers that spawn tasks).
    pub fn stop_token(&self) -> CancellationToken {
        self.stop.clone()
    }
}
