//! A fleet in one process: gateways sharing one real PostgreSQL, two emulated accounts, a
//! webhook. Leases decide who drives each account and runs each channel; actions sent to any
//! node work; a node that leaves hands over; a node that comes back takes nothing it does not
//! need. (The three-process SIGKILL test is `tests/crosscheck/test_fleet.py`.)

use std::time::Duration;

use futures_util::StreamExt;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message as WsMessage;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use wcf_emulator::{Emulator, EmulatorConfig, Fixture, InboundMessage};
use wechat_http::config::{Config, StoreBackend};

use crate::helpers::{TOKEN, get_json, hook_target, post_json, test_config, webhook, within};

struct Node {
    base: String,
    running: Option<wechat_http::Running>,
    config: Config,
}

impl Node {
    async fn start(config: &Config, id: &str) -> Self {
        let mut config = config.clone();
        config.fleet.node_id = id.into();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let running = wechat_http::start(config.clone(), listener).await.unwrap();
        Self { base: format!("http://{}", running.addr()), running: Some(running), config }
    }

    async fn call(&self, action: &str, params: Value, account: &str) -> Value {
        let body = json!({"action": action, "params": params, "self": {"platform": "wechat", "user_id": account}});
        post_json(&format!("{}/", self.base), &body).await
    }

    async fn status(&self) -> Value {
        self.call("get_status", json!({}), "").await["data"].clone()
    }

    /// The node each account's `wx.node` names, by account name.
    async fn holders(&self) -> Vec<(String, Value, Value)> {
        let s = self.status().await;
        s["bots"]
            .as_array()
            .unwrap()
            .iter()
            .map(|b| (b["wx.account"].as_str().unwrap().to_owned(), b["wx.node"].clone(), b["online"].clone()))
            .collect()
    }

    async fn stop(&mut self) {
        self.running.take().unwrap().shutdown().await;
    }
}

fn text(from: &str, t: &str) -> InboundMessage {
    InboundMessage { from: from.into(), text: Some(t.into()), ..Default::default() }
}

/// Two emulators and a fleet config for both (lease 3 s: a step every second).
async fn fleet_setup(dir: &std::path::Path) -> Option<(Vec<Emulator>, Config)> {
    let url = tokio::task::spawn_blocking(crate::postgres::database).await.unwrap()?;
    let mut emus = Vec::new();
    for i in 1..=2 {
        emus.push(
            Emulator::start(EmulatorConfig {
                data_dir: Some(dir.join(format!("wechat{i}"))),
                fixture: Fixture::demo(i),
                control: None,
                ..Default::default()
            })
            .await
            .unwrap(),
        );
    }
    let mut config = test_config(dir, &emus[0].address());
    config.store.backend = StoreBackend::Postgres;
    config.store.postgres_url = wechat_http::secret::Secret::new(url);
    config.fleet.lease_seconds = 3;
    config.accounts = crate::helpers::account_entries(&emus);
    Some((emus, config))
}

async fn until(what: &str, mut check: impl AsyncFnMut() -> bool) {
    within(what, async {
        while !check().await {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await
}

#[tokio::test]
async fn leases_pick_one_driver_any_node_answers_and_a_leaving_node_hands_over() {
    let dir = tempfile::tempdir().unwrap();
    let Some((emus, mut config)) = fleet_setup(dir.path()).await else { return };
    let mut hook = webhook().await;
    config.http_post = vec![hook_target(&hook.url, "")];
    config.http_server.event_enabled = true;

    let mut n1 = Node::start(&config, "node-1").await;
    until("node-1 drives both accounts", async || {
        n1.holders().await.iter().all(|(_, node, online)| *node == "node-1" && *online == true)
    })
    .await;
    let n2 = Node::start(&config, "node-2").await;
    // node-2 starts later: the leases are taken, so it drives nothing; it shows each account
    // as node-1 reported it with its last renewal.
    assert!(n2.holders().await.iter().all(|(_, node, _)| *node == "node-1"));
    until("node-2 sees node-1's accounts online", async || {
        n2.holders().await.iter().all(|(_, node, online)| *node == "node-1" && *online == true)
    })
    .await;
    let fleet = n2.status().await["wx.fleet"].clone();
    assert_eq!(fleet["node"], "node-2");
    assert!(fleet["nodes"].as_array().unwrap().iter().any(|n| n["id"] == "node-1" && n["alive"] == true));
    // The console's overview shows the nodes, the leases and where each account is driven.
    let overview = get_json(&format!("{}/console/api/overview", n2.base)).await;
    let o = &overview["data"];
    assert_eq!(o["fleet"]["node"], "node-2", "{o}");
    let leases = o["fleet"]["leases"].as_array().unwrap();
    assert!(leases.iter().any(|l| l["kind"] == "account" && l["name"] == "a1" && l["holder"] == "node-1"), "{o}");
    assert!(leases.iter().any(|l| l["kind"] == "channel" && l["holder"] == "node-1"), "the webhook's lease: {o}");
    assert_eq!((o["accounts"][0]["node"].as_str(), o["accounts"][0]["here"].as_bool()), (Some("node-1"), Some(false)));
    assert_eq!(o["channels"].as_array().unwrap().iter().find(|c| c["kind"] == "webhook").unwrap()["here"], false);
    let qr = get_json(&format!("{}/console/api/qr?account=a1", n2.base)).await;
    assert_eq!(qr["retcode"], 33001, "{qr}");
    assert!(qr["message"].as_str().unwrap().contains("driven by node-1"), "{qr}");

    // Any node answers: node-2 forwards to node-1, which sends through account a2's WeChat.
    let sent = n2
        .call(
            "send_message",
            json!({"detail_type": "private", "user_id": "wxid_friend2_1", "message": "via node-2"}),
            "a2",
        )
        .await;
    assert_eq!(sent["retcode"], 0, "{sent}");
    assert!(sent["data"]["message_id"].is_string());
    let at_emulator: Vec<String> = emus[1].wechat().sent().iter().filter_map(|s| s.text.clone()).collect();
    assert!(at_emulator.iter().any(|c| c == "via node-2"), "{at_emulator:?}");
    assert!(emus[0].wechat().sent().is_empty(), "the other account's WeChat sent nothing");
    // The holder's errors come back as they are.
    let bad = n2.call("send_message", json!({"detail_type": "private", "message": "x"}), "a1").await;
    assert_eq!(bad["retcode"], 10003, "{bad}");
    assert!(bad["message"].as_str().unwrap().contains("user_id"), "{bad}");
    // OneBot 11 too: node-2 runs the OneBot 12 action it maps to on node-1.
    let v11 = post_json(&format!("{}/onebot/v11/get_login_info", n2.base), &json!({"self_id": "a2"})).await;
    assert_eq!((v11["retcode"].as_i64(), v11["data"]["wx_id"].as_str()), (Some(0), Some("wxid_bot2")), "{v11}");
    // Store-only actions answer from any node with the same data.
    n2.call("create_group", json!({"group_name": "VIP"}), "a1").await;
    let groups = n1.call("get_groups", json!({}), "a1").await;
    assert_eq!(groups["data"][0]["name"], "VIP", "{groups}");

    // One node runs the webhook: an inbound message arrives once. A forward WebSocket and a
    // long-poll on node-2, which drives nothing, get it too (from the shared outbox).
    let mut req = (n2.base.replace("http://", "ws://") + "/").into_client_request().unwrap();
    req.headers_mut().insert("Authorization", format!("Bearer {TOKEN}").parse().unwrap());
    let (mut ws, _) = tokio_tungstenite::connect_async(req).await.unwrap();
    let base = n2.base.clone();
    let poll = tokio::spawn(async move {
        post_json(&format!("{base}/get_latest_events"), &json!({"params": {"timeout": 20, "self_id": "a1"}})).await
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    emus[0].wechat().inject(&text("wxid_friend1_1", "first")).unwrap();
    let (_, e) = hook.next_event().await;
    assert_eq!(e["alt_message"], "first");
    let over_ws = within("the event on node-2's forward WebSocket", async {
        loop {
            if let Some(Ok(WsMessage::Text(t))) = ws.next().await {
                let v: Value = serde_json::from_str(&t).unwrap();
                if v["type"] == "message" {
                    break v;
                }
            }
        }
    })
    .await;
    assert_eq!((over_ws["alt_message"].as_str(), over_ws["id"].clone()), (Some("first"), e["id"].clone()));
    let polled = within("node-2's long-poll", poll).await.unwrap();
    let polled: Vec<&Value> = polled["data"].as_array().unwrap().iter().filter(|v| v["type"] == "message").collect();
    assert_eq!(polled[0]["alt_message"], "first", "{polled:?}");

    // node-1 leaves: it gives its leases back and node-2 takes over the accounts and the
    // webhook, from the shared cursor.
    n1.stop().await;
    until("node-2 drives both accounts", async || {
        n2.holders().await.iter().all(|(_, node, online)| *node == "node-2" && *online == true)
    })
    .await;
    emus[1].wechat().inject(&text("wxid_friend2_1", "second")).unwrap();
    let (_, e) = hook.next_event().await;
    assert_eq!((e["alt_message"].as_str(), e["self"]["user_id"].as_str()), (Some("second"), Some("wxid_bot2")));
    let local = n2
        .call(
            "send_message",
            json!({"detail_type": "private", "user_id": "wxid_friend1_1", "message": "on node-2"}),
            "a1",
        )
        .await;
    assert_eq!(local["retcode"], 0, "{local}");

    // node-1 comes back with the same config: it takes nothing another node holds.
    let n1 = Node::start(&n1.config, "node-1").await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    for (account, node, _) in n1.holders().await {
        assert_eq!(node, "node-2", "{account} stays where it is");
    }
    // Nothing was delivered twice meanwhile.
    tokio::time::sleep(Duration::from_millis(500)).await;
    while let Ok((_, v)) = hook.rx.try_recv() {
        assert_eq!(v["type"], "meta", "no event repeated: {v}");
    }
    drop(n1);
}

#[tokio::test]
async fn an_account_nobody_drives_answers_33001_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let Some((_emus, config)) = fleet_setup(dir.path()).await else { return };
    let n1 = Node::start(&config, "node-1").await;
    until("node-1 drives a1", async || n1.holders().await[0].1 == "node-1").await;
    // A node that holds a1 but has vanished without an address (as if its row were gone):
    // node-1 must stop driving, and nobody can run a1's actions.
    let url = config.store.postgres_url.expose().to_owned();
    tokio::task::spawn_blocking(move || {
        let mut c = postgres::Client::connect(&url, postgres::NoTls).unwrap();
        c.execute(
            "UPDATE leases SET holder = 'ghost', expires_at = expires_at + 600 WHERE kind = 'account' AND name = 'a1'",
            &[],
        )
        .unwrap();
    })
    .await
    .unwrap();
    until("node-1 lets a1 go", async || n1.holders().await[0].1 == "ghost").await;
    let started = std::time::Instant::now();
    let r = n1
        .call("send_message", json!({"detail_type": "private", "user_id": "wxid_friend1_1", "message": "x"}), "a1")
        .await;
    assert_eq!(r["retcode"], 33001, "{r}");
    assert!(r["message"].as_str().unwrap().contains("no node of the fleet drives account \"a1\""), "{r}");
    println!("33001 answered in {:?}", started.elapsed());
    // The other account is unaffected.
    let ok = n1.call("get_self_info", json!({}), "a2").await;
    assert_eq!(ok["retcode"], 0, "{ok}");
}

/// A reverse-WebSocket server: every message event's `(id, text)`, how many connections are
/// open now and at most.
#[derive(Default)]
struct ReverseServer {
    events: std::sync::Mutex<Vec<(String, String)>>,
    open: std::sync::atomic::AtomicUsize,
    most: std::sync::atomic::AtomicUsize,
    total: std::sync::atomic::AtomicUsize,
}

async fn reverse_server() -> (String, std::sync::Arc<ReverseServer>) {
    use axum::extract::ws::{Message, WebSocketUpgrade};
    use std::sync::atomic::Ordering::SeqCst;
    let state = std::sync::Arc::new(ReverseServer::default());
    let s = state.clone();
    let app = axum::Router::new().route(
        "/onebot/v12/ws",
        axum::routing::get(move |upgrade: WebSocketUpgrade| {
            let s = s.clone();
            async move {
                upgrade.on_upgrade(move |mut socket| async move {
                    let now = s.open.fetch_add(1, SeqCst) + 1;
                    s.most.fetch_max(now, SeqCst);
                    s.total.fetch_add(1, SeqCst);
                    while let Some(Ok(m)) = socket.recv().await {
                        if let Message::Text(t) = m {
                            let v: Value = serde_json::from_str(&t).unwrap();
                            if v["type"] == "message" {
                                let id = v["id"].as_str().unwrap_or_default().to_owned();
                                let text = v["alt_message"].as_str().unwrap_or_default().to_owned();
                                s.events.lock().unwrap().push((id, text));
                            }
                        }
                    }
                    s.open.fetch_sub(1, SeqCst);
                })
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("ws://{addr}/onebot/v12/ws"), state)
}

#[tokio::test]
async fn a_reverse_websocket_is_run_by_one_node_and_moves_with_its_lease() {
    use std::sync::atomic::Ordering::SeqCst;
    let dir = tempfile::tempdir().unwrap();
    let Some((emus, mut config)) = fleet_setup(dir.path()).await else { return };
    let (url, server) = reverse_server().await;
    config.websocket_reverse =
        vec![wechat_http::config::WebsocketReverse { url, reconnect_interval: 100, ..Default::default() }];
    let mut n1 = Node::start(&config, "node-1").await;
    let n2 = Node::start(&config, "node-2").await;
    until("one node connected", async || server.open.load(SeqCst) == 1).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!((server.total.load(SeqCst), server.most.load(SeqCst)), (1, 1), "only the channel's holder connects");
    emus[0].wechat().inject(&text("wxid_friend1_1", "r1")).unwrap();
    until("r1 over the reverse WebSocket", async || server.events.lock().unwrap().iter().any(|(_, t)| t == "r1")).await;
    // The holder leaves: node-2 takes the channel and connects; the next event comes from it.
    n1.stop().await;
    until("node-2 connected", async || server.total.load(SeqCst) == 2 && server.open.load(SeqCst) == 1).await;
    emus[1].wechat().inject(&text("wxid_friend2_1", "r2")).unwrap();
    until("r2 over the reverse WebSocket", async || server.events.lock().unwrap().iter().any(|(_, t)| t == "r2")).await;
    assert_eq!(server.most.load(SeqCst), 1, "never two nodes at once");
    // At least once: a repeat across the hand-over carries the same id.
    let events = server.events.lock().unwrap().clone();
    let r1: std::collections::HashSet<&String> = events.iter().filter(|(_, t)| t == "r1").map(|(id, _)| id).collect();
    assert_eq!(r1.len(), 1, "{events:?}");
    drop(n2);
}

#[tokio::test]
async fn fleet_status_prints_the_fleet_and_says_what_is_wrong_with_a_config() {
    let run = |dir: &std::path::Path, args: &[&str]| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_wechat-http"))
            .args(["fleet", "status"])
            .args(args)
            .current_dir(dir)
            .env_remove("WECHAT_HTTP_CONFIG")
            .output()
            .unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let dir = tempfile::tempdir().unwrap();
    let (ok, _, err) = run(dir.path(), &["--config", "nope.yaml"]);
    assert!(!ok && err.contains("nope.yaml does not exist"), "{err}");
    assert!(!dir.path().join("nope.yaml").exists(), "no config is written by a status command");
    std::fs::write(dir.path().join("single.yaml"), "store:\n  backend: sqlite\n").unwrap();
    let (ok, _, err) = run(dir.path(), &["--config", "single.yaml"]);
    assert!(!ok && err.contains("store.backend: sqlite") && err.contains("not a fleet"), "{err}");

    let Some((_emus, config)) = fleet_setup(dir.path()).await else { return };
    let node = Node::start(&config, "node-1").await;
    until("node-1 drives both accounts", async || node.holders().await.iter().all(|(_, n, _)| *n == "node-1")).await;
    let url = config.store.postgres_url.expose();
    std::fs::write(
        dir.path().join("fleet.yaml"),
        format!("store:\n  backend: postgres\n  postgres_url: \"{url}\"\nfleet:\n  lease_seconds: 3\n"),
    )
    .unwrap();
    let (ok, table, err) = run(dir.path(), &["--config", "fleet.yaml"]);
    assert!(ok, "{err}");
    assert!(table.contains("nodes (1") && table.contains("node-1") && table.contains("accounts (2)"), "{table}");
    assert!(!table.contains(crate::postgres::PASSWORD) && !err.contains(crate::postgres::PASSWORD));
    let (ok, json, _) = run(dir.path(), &["--config", "fleet.yaml", "--json"]);
    assert!(ok);
    let v: Value = serde_json::from_str(&json).unwrap();
    let leases = v["leases"].as_array().unwrap();
    assert!(
        leases
            .iter()
            .any(|l| l["kind"] == "account" && l["name"] == "a2" && l["holder"] == "node-1" && l["held"] == true)
    );
    assert_eq!(v["nodes"][0]["alive"], true, "{v}");
}
