//! This node's part in a fleet: several gateways with the same configuration sharing one
//! PostgreSQL store (`store.backend: postgres`).
//!
//! * Every account is driven by exactly one node at a time: the one holding its `account`
//!   lease. Every `fleet.lease_seconds / 3` a node renews what it holds and takes what is free
//!   or expired ([`Fleet::step`]); it starts an account's runtime when it gains the lease and
//!   stops it when it loses it — or when it could not renew for two thirds of the lease, so a
//!   node cut off from the database lets go before another can take over.
//! * Every durable delivery channel (webhook target, reverse WebSocket, NATS stream) is run by
//!   the node holding its `channel` lease, from the shared cursor.
//! * An action for an account driven elsewhere is forwarded to the holder's
//!   `fleet.node_address` with the same token; while nobody holds the account it answers 33001
//!   at once.
//! * At shutdown a node gives its leases back, so the others take over at once; a node that
//!   dies loses them when they expire.

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::error::{ApiError, ApiResult};
use crate::gateway::Gateway;
use crate::http::envelope::Call;
use crate::http::respond::Data;
use crate::store::fleet::{LeaseRow, NodeRow};

/// Header that marks an action forwarded by another node (it is never forwarded again).
pub const FORWARDED_HEADER: &str = "x-wechat-http-forwarded-by";

/// Lease kinds.
pub const ACCOUNT: &str = "account";
/// Lease kinds.
pub const CHANNEL: &str = "channel";

/// What the last step saw.
#[derive(Debug, Default)]
struct View {
    nodes: Vec<NodeRow>,
    leases: Vec<LeaseRow>,
    /// The database's clock at the last step.
    clock: f64,
    /// Channels this node holds.
    channels: HashSet<String>,
    /// When each held lease was last renewed.
    renewed: HashMap<(String, String), Instant>,
}

/// This node.
#[derive(Debug)]
pub struct Fleet {
    /// `fleet.node_id`.
    pub node_id: String,
    /// `fleet.node_address`.
    pub address: String,
    lease: Duration,
    started_at: f64,
    channels: Vec<String>,
    view: Mutex<View>,
    http: reqwest::Client,
}

impl Fleet {
    /// This node, for the durable `channels` it may run.
    pub fn new(config: &crate::config::Config, channels: Vec<String>) -> Self {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(Duration::from_secs(5))
            .build()
            .unwrap_or_default();
        Self {
            node_id: config.fleet.id(config),
            address: config.fleet.address(config),
            lease: Duration::from_secs(config.fleet.lease_seconds),
            started_at: crate::store::now(),
            channels,
            view: Mutex::default(),
            http,
        }
    }

    fn view(&self) -> std::sync::MutexGuard<'_, View> {
        self.view.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Steps every third of the lease until the gateway stops (the first step is the
    /// caller's, before the node serves).
    pub async fn run(self: std::sync::Arc<Self>, gateway: Gateway) {
        tracing::info!(node = %self.node_id, address = %self.address, lease = ?self.lease, "in the fleet");
        loop {
            tokio::select! {
                _ = gateway.stop.cancelled() => return,
                _ = tokio::time::sleep(self.lease / 3) => {}
            }
            self.step(&gateway).await;
        }
    }

    /// One round: heartbeat; renew or take every account and channel lease; start or stop
    /// account runtimes accordingly; refresh the view of nodes and leases.
    pub async fn step(&self, gateway: &Gateway) {
        if gateway.stop.is_cancelled() {
            return;
        }
        let rows = gateway.store.fleet();
        if let Err(e) = rows.heartbeat(&self.node_id, &self.address, self.started_at).await {
            tracing::warn!(error = %e, "fleet heartbeat failed");
        }
        let seconds = self.lease.as_secs_f64();
        for acct in &gateway.accounts {
            let state = if acct.driving() { acct.backend.state_name() } else { "starting" };
            let key = (ACCOUNT.to_owned(), acct.name.clone());
            match rows.claim(ACCOUNT, &acct.name, &self.node_id, seconds, state).await {
                Ok(true) => {
                    self.view().renewed.insert(key, Instant::now());
                    if !acct.driving() && !gateway.stop.is_cancelled() {
                        tracing::info!(account = %acct.name, node = %self.node_id, "this node now drives the account");
                        drop(acct.start_driving());
                        acct.status_changed();
                    }
                }
                Ok(false) => {
                    if acct.driving() {
                        tracing::warn!(account = %acct.name, "another node holds the account's lease; stopping here");
                        acct.stop_driving().await;
                    }
                    self.view().renewed.remove(&key);
                }
                Err(e) => {
                    tracing::warn!(account = %acct.name, error = %e, "cannot renew the account's lease");
                    if acct.driving() && self.stale(&key) {
                        tracing::error!(account = %acct.name, "the lease could not be renewed in time; stopping here");
                        acct.stop_driving().await;
                        self.view().renewed.remove(&key);
                    }
                }
            }
        }
        for channel in &self.channels {
            let key = (CHANNEL.to_owned(), channel.clone());
            match rows.claim(CHANNEL, channel, &self.node_id, seconds, "").await {
                Ok(true) => {
                    let mut v = self.view();
                    if v.channels.insert(channel.clone()) {
                        tracing::info!(channel, "this node now runs the channel");
                    }
                    v.renewed.insert(key, Instant::now());
                }
                Ok(false) => {
                    let mut v = self.view();
                    v.channels.remove(channel);
                    v.renewed.remove(&key);
                }
                Err(e) => {
                    tracing::warn!(channel, error = %e, "cannot renew the channel's lease");
                    if self.stale(&key) {
                        let mut v = self.view();
                        v.channels.remove(channel);
                        v.renewed.remove(&key);
                    }
                }
            }
        }
        let refreshed = async { ApiResult::Ok((rows.nodes().await?, rows.leases().await?, rows.clock().await?)) };
        if let Ok((nodes, leases, clock)) = refreshed.await {
            let mut v = self.view();
            v.nodes = nodes;
            v.leases = leases;
            v.clock = clock;
        }
    }

    /// True when the lease `key` was last renewed more than two thirds of a lease ago.
    fn stale(&self, key: &(String, String)) -> bool {
        self.view().renewed.get(key).is_none_or(|at| at.elapsed() >= self.lease * 2 / 3)
    }

    /// True while this node runs `channel`.
    pub fn holds_channel(&self, channel: &str) -> bool {
        self.view().channels.contains(channel)
    }

    /// The unexpired lease of `account`, as last seen.
    pub fn account_lease(&self, account: &str) -> Option<LeaseRow> {
        let v = self.view();
        v.leases.iter().find(|l| l.kind == ACCOUNT && l.name == account && l.expires_at >= v.clock).cloned()
    }

    /// Gives back every lease this node holds (at shutdown).
    pub async fn release_all(&self, gateway: &Gateway) {
        let rows = gateway.store.fleet();
        for acct in &gateway.accounts {
            let _ = rows.release(ACCOUNT, &acct.name, &self.node_id).await;
        }
        for channel in &self.channels {
            let _ = rows.release(CHANNEL, channel, &self.node_id).await;
        }
        tracing::info!(node = %self.node_id, "left the fleet (leases given back)");
    }

    /// Runs `name` on the node that drives `account`: the same request with the same token.
    /// 33001 while no node holds the account, or when this request was itself forwarded.
    pub async fn forward(&self, gateway: &Gateway, account: &str, name: &str, call: &Call) -> ApiResult<Data> {
        let unheld = || {
            ApiError::BackendUnavailable(format!(
                "no node of the fleet drives account {account:?} right now (its lease is free or expired, or a node is taking it over); retry in a few seconds"
            ))
        };
        if call.forwarded_by.is_some() {
            return Err(unheld());
        }
        let Some((node, address)) = gateway.store.fleet().holder(ACCOUNT, account).await? else {
            return Err(unheld());
        };
        if node == self.node_id || address.is_empty() {
            return Err(unheld());
        }
        let body = json!({
            "action": name,
            "params": Value::Object(call.params.0.clone()),
            "self": {"platform": "wechat", "user_id": account},
        });
        let token = gateway.config.http_server.access_token.expose();
        let mut req = self
            .http
            .post(format!("{address}/"))
            .header(FORWARDED_HEADER, &self.node_id)
            .timeout(Duration::from_secs(gateway.config.http_server.request_timeout.max(5)))
            .json(&body);
        if !token.is_empty() {
            req = req.bearer_auth(token);
        }
        let away = |e: String| {
            ApiError::BackendUnavailable(format!(
                "node {node} drives account {account:?} but did not answer ({e}); retry in a few seconds"
            ))
        };
        let resp = req.send().await.map_err(|e| away(e.without_url().to_string()))?;
        let answer: Value = resp.json().await.map_err(|e| away(e.without_url().to_string()))?;
        match answer["retcode"].as_i64() {
            Some(0) => Ok(Data::from(answer.get("data").cloned().unwrap_or(Value::Null))),
            Some(retcode) => {
                Err(ApiError::Relayed { retcode, message: answer["message"].as_str().unwrap_or_default().to_owned() })
            }
            None => Err(away("its answer has no retcode".into())),
        }
    }

    /// `{node, lease_seconds, nodes, leases}` (see [`describe`]) for `get_status` and the
    /// console.
    pub fn status(&self) -> Value {
        let v = self.view();
        let mut out = describe(&v.nodes, &v.leases, v.clock, self.lease.as_secs());
        out["node"] = json!(self.node_id);
        out
    }
}

/// `{lease_seconds, nodes: [{id, address, alive, started_at, seen_at}], leases: [{kind, name,
/// holder, held, expires_in, state}]}` as of the database's `clock` (a node is alive while its
/// heartbeat is younger than a lease).
pub fn describe(nodes: &[NodeRow], leases: &[LeaseRow], clock: f64, lease_seconds: u64) -> Value {
    json!({
        "lease_seconds": lease_seconds,
        "nodes": nodes.iter().map(|n| json!({
            "id": n.id,
            "address": n.address,
            "alive": clock - n.seen_at <= lease_seconds as f64,
            "started_at": n.started_at,
            "seen_at": n.seen_at,
        })).collect::<Vec<_>>(),
        "leases": leases.iter().map(|l| json!({
            "kind": l.kind,
            "name": l.name,
            "holder": l.holder,
            "held": l.expires_at >= clock,
            "expires_in": ((l.expires_at - clock) * 10.0).round() / 10.0,
            "state": l.state,
        })).collect::<Vec<_>>(),
    })
}
