//! The gateway: the accounts, the store and outbox they share, and what is gateway-wide —
//! routing an action to its account, the status every `get_status` and `meta.status_update`
//! reports, warnings. The HTTP/WebSocket surface and the delivery channels hang on it.

use std::collections::{HashSet, VecDeque};
use std::ops::Deref;
use std::sync::{Arc, Mutex};

use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

use crate::account::Account;
use crate::config::Config;
use crate::error::{ApiError, ApiResult};
use crate::events::outbox::Outbox;
use crate::store::{Store, now};

/// Recent warnings kept for `get_status` and the console.
const RECENT_WARNINGS: usize = 50;

/// Things an operator should fix: fixed ones from the configuration, recent ones from running.
#[derive(Debug, Default)]
pub struct Warnings {
    fixed: Vec<String>,
    recent: Mutex<VecDeque<(f64, String)>>,
}

impl Warnings {
    /// The fixed warnings (logged once at start).
    pub fn new(fixed: Vec<String>) -> Self {
        for w in &fixed {
            tracing::warn!("{w}");
        }
        Self { fixed, recent: Mutex::default() }
    }

    /// Records a warning that happened (bounded: the oldest go).
    pub fn push(&self, text: impl Into<String>) {
        let mut r = self.recent.lock().unwrap_or_else(|p| p.into_inner());
        r.push_back((now(), text.into()));
        while r.len() > RECENT_WARNINGS {
            r.pop_front();
        }
    }

    /// The fixed warnings.
    pub fn fixed(&self) -> &[String] {
        &self.fixed
    }

    /// Recent warnings, oldest first: `(unix time, text)`.
    pub fn recent(&self) -> Vec<(f64, String)> {
        self.recent.lock().unwrap_or_else(|p| p.into_inner()).iter().cloned().collect()
    }
}

/// Everything the gateway holds. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Gateway(Arc<Inner>);

/// The parts of [`Gateway`].
#[derive(Debug)]
pub struct Inner {
    /// Validated configuration.
    pub config: Arc<Config>,
    /// The store.
    pub store: Store,
    /// The durable event outbox.
    pub outbox: Arc<Outbox>,
    /// The accounts, in configuration order.
    pub accounts: Vec<Arc<Account>>,
    /// Warnings for the operator.
    pub warnings: Warnings,
    /// How each delivery channel is doing.
    pub channels: crate::delivery::Channels,
    /// Forward WebSocket clients connected now.
    pub websocket_clients: std::sync::atomic::AtomicUsize,
    /// OneBot 11's numeric ids.
    pub ob11_ids: crate::onebot11::Ids,
    /// Console sign-ins.
    pub console_sessions: crate::console::session::Sessions,
    /// This node's part in a fleet (`store.backend: postgres`); `None` for a single gateway.
    pub fleet: Option<Arc<crate::fleet::Fleet>>,
    /// Stops every worker.
    pub stop: CancellationToken,
}

impl Deref for Gateway {
    type Target = Inner;

    fn deref(&self) -> &Inner {
        &self.0
    }
}

impl Gateway {
    /// Wraps the parts.
    pub fn new(inner: Inner) -> Self {
        Self(Arc::new(inner))
    }

    /// The account named by `selector` (name or wxid).
    pub fn account(&self, selector: &str) -> Option<&Arc<Account>> {
        self.accounts.iter().find(|a| a.matches(selector))
    }

    /// The account an action is for: the one `selector` (`self.user_id` or `self_id`) names,
    /// else the only one, else `default_account`.
    pub fn route(&self, selector: Option<&str>) -> ApiResult<&Arc<Account>> {
        let names = || self.accounts.iter().map(|a| a.name.as_str()).collect::<Vec<_>>().join(", ");
        if let Some(sel) = selector.map(str::trim).filter(|s| !s.is_empty()) {
            return self.account(sel).ok_or_else(|| {
                ApiError::UnknownSelf(format!(
                    "no account {sel:?} here; use the wxid or name of one of: {} (get_status lists them)",
                    names()
                ))
            });
        }
        if let [only] = self.accounts.as_slice() {
            return Ok(only);
        }
        let default = self.config.default_account.trim();
        if !default.is_empty() {
            return self.account(default).ok_or_else(|| {
                ApiError::WhoAmI(format!(
                    "default_account {default:?} is not known yet (a wxid is known once that WeChat connected); name the account with self or self_id"
                ))
            });
        }
        Err(ApiError::WhoAmI(format!(
            "this gateway serves several accounts ({}): say which with \"self\": {{\"platform\": \"wechat\", \"user_id\": <wxid>}} or a self_id parameter, or set default_account",
            names()
        )))
    }

    /// The account names a channel's `accounts` list (names or wxids) selects; `None` = all.
    pub fn select(&self, selectors: &[String]) -> Option<HashSet<String>> {
        if selectors.is_empty() {
            return None;
        }
        Some(self.accounts.iter().filter(|a| selectors.iter().any(|s| a.matches(s))).map(|a| a.name.clone()).collect())
    }

    /// The wxid of account `name` ("" when unknown).
    pub fn wxid_of(&self, name: Option<&str>) -> String {
        match name {
            Some(n) => self.accounts.iter().find(|a| a.name == n).map(|a| a.backend.known_wxid()).unwrap_or_default(),
            None => match self.accounts.as_slice() {
                [only] => only.backend.known_wxid(),
                _ => String::new(),
            },
        }
    }

    /// Current warnings: the configuration's, and conditions that hold now.
    pub fn current_warnings(&self) -> Vec<String> {
        let mut w = self.warnings.fixed().to_vec();
        if !self.store.healthy() {
            w.push("the gateway cannot write its database: sends are refused until it can (see the log)".into());
        }
        w
    }

    /// True when this node runs durable channel `name` (always, outside a fleet).
    pub fn holds_channel(&self, name: &str) -> bool {
        self.fleet.as_ref().is_none_or(|f| f.holds_channel(name))
    }

    /// Waits until this node runs channel `name`; false when the gateway stops first.
    pub async fn wait_for_channel(&self, name: &str) -> bool {
        while !self.holds_channel(name) {
            tokio::select! {
                _ = self.stop.cancelled() => return false,
                _ = tokio::time::sleep(std::time::Duration::from_millis(250)) => {}
            }
        }
        !self.stop.is_cancelled()
    }

    /// Resolves when this node stops running channel `name` (never outside a fleet).
    pub async fn channel_lost(&self, name: &str) {
        if self.fleet.is_none() {
            return std::future::pending().await;
        }
        while self.holds_channel(name) {
            tokio::time::sleep(std::time::Duration::from_millis(250)).await;
        }
    }

    /// `get_status` data (also the `status` of `meta.status_update` and heartbeats): one bot
    /// per account with its own `online`.
    pub fn status(&self) -> Value {
        let mut bots: Vec<Value> = self.accounts.iter().map(|a| a.status()).collect();
        let healthy = self.store.healthy();
        let mut all_online = self.accounts.iter().all(|a| a.backend.online());
        let first = &self.accounts[0];
        let mut backend = first.backend.state_name().to_owned();
        if let Some(fleet) = &self.fleet {
            // An account driven by another node is as that node last reported it.
            all_online = true;
            for (i, (bot, acct)) in bots.iter_mut().zip(&self.accounts).enumerate() {
                let lease = fleet.account_lease(&acct.name);
                let state = if acct.driving() {
                    acct.backend.state_name().to_owned()
                } else {
                    lease.as_ref().map_or("unheld", |l| l.state.as_str()).to_owned()
                };
                bot["online"] = json!(state == "connected");
                bot["wx.backend"] = json!(state);
                bot["wx.node"] = json!(lease.map(|l| l.holder));
                all_online &= state == "connected";
                if i == 0 {
                    backend = state;
                }
            }
        }
        let mut status = json!({
            "good": all_online && healthy,
            "bots": bots,
            "wx.backend": backend,
            "wx.send_queue": self.accounts.iter().map(|a| a.queue.depth()).sum::<usize>(),
            "wx.store": if healthy { "ok" } else { "failing" },
            "wx.latest_event": self.outbox.latest(),
            "wx.websocket_clients": self.websocket_clients.load(std::sync::atomic::Ordering::SeqCst),
            "wx.dropped": self.outbox.dropped(),
            "wx.warnings": self.current_warnings(),
        });
        if let Some(fleet) = &self.fleet {
            status["wx.fleet"] = fleet.status();
        }
        status
    }
}
