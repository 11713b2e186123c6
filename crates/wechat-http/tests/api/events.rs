//! Events end to end: messages injected at the emulator, received by real listeners on
//! 127.0.0.1 (webhook, forward and reverse WebSocket, long-poll).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message as WsMessage;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

use crate::helpers::{TOKEN, hook_target, spawn_app, spawn_full, spawn_with, webhook, within};

fn text(from: &str, t: &str) -> wcf_emulator::InboundMessage {
    wcf_emulator::InboundMessage { from: from.into(), text: Some(t.into()), ..Default::default() }
}

#[tokio::test]
async fn webhook_gets_signed_onebot_events() {
    let mut hook = webhook().await;
    let url = hook.url.clone();
    let app = spawn_with(|c| c.http_post = vec![hook_target(&url, "s3cret")]).await;
    let w = app.emu.wechat();

    let id = w.inject(&text("wxid_bob", "ping")).unwrap();
    let (headers, e) = hook.next_event().await;
    assert_eq!(
        (e["type"].as_str(), e["detail_type"].as_str(), e["sub_type"].as_str()),
        (Some("message"), Some("private"), Some(""))
    );
    assert_eq!(e["message_id"], id.to_string());
    assert_eq!(e["user_id"], "wxid_bob");
    assert_eq!(e["message"], json!([{"type": "text", "data": {"text": "ping"}}]));
    assert_eq!(e["alt_message"], "ping");
    assert_eq!(e["self"], json!({"platform": "wechat", "user_id": "wxid_bot"}));
    assert!(e["id"].is_string() && e["time"].is_f64());
    assert_eq!(headers["x-onebot-version"], "12");
    assert_eq!(headers["x-impl"], "wechat-http");
    assert_eq!(headers["x-self-id"], "wxid_bot");
    assert_eq!(headers["authorization"], "Bearer s3cret");
    assert!(headers["user-agent"].to_str().unwrap().starts_with("wechat-http/"));
    let body =
        hook.raw.lock().unwrap().iter().find(|b| serde_json::from_slice::<Value>(b).unwrap() == e).cloned().unwrap();
    let (sig1, sig256) = wechat_http::delivery::webhook::signatures("s3cret", &body);
    assert_eq!(headers["x-signature"].to_str().unwrap(), sig1, "HMAC-SHA1 of the exact body");
    assert_eq!(headers["x-signature-256"].to_str().unwrap(), sig256);

    // An @ of the bot in a group leads with a mention of the bot's own id.
    w.inject(&wcf_emulator::InboundMessage {
        from: "wxid_alice".into(),
        room: Some("1001@chatroom".into()),
        text: Some("hello".into()),
        at: vec!["wxid_bot".into()],
        ..Default::default()
    })
    .unwrap();
    let (_, e) = hook.next_event().await;
    assert_eq!(e["detail_type"], "group");
    assert_eq!(e["group_id"], "1001@chatroom");
    assert_eq!(e["message"][0], json!({"type": "mention", "data": {"user_id": "wxid_bot"}}));
    assert_eq!(e["message"][1]["data"]["text"], "hello");
    assert_eq!(e["wx.room_name"], "Team chat");

    // Images are fetched first; the segment points at /chat_image.
    w.inject(&wcf_emulator::InboundMessage {
        from: "wxid_bob".into(),
        kind: Some("image".into()),
        ..Default::default()
    })
    .unwrap();
    let (_, e) = hook.next_event().await;
    let img = e["message"][0]["data"]["url"].as_str().unwrap().to_owned();
    assert!(img.contains("/chat_image/"), "{img}");
    let path = img.split_once("/chat_image/").unwrap().1;
    let rsp = app.http.get(format!("{}/chat_image/{path}", app.base)).bearer_auth(TOKEN).send().await.unwrap();
    assert_eq!((rsp.status().as_u16(), rsp.headers()["content-type"].to_str().unwrap()), (200, "image/png"));

    // Friend requests carry what handle_friend_request needs, and it works with them.
    let t = app
        .control("/friend_requests", json!({"wxid": "wxid_new", "nickname": "New", "greeting": "hi", "scene": 6}))
        .await;
    let (_, e) = hook.next_event().await;
    assert_eq!((e["type"].as_str(), e["detail_type"].as_str()), (Some("request"), Some("wx.friend_request")));
    assert_eq!(
        (e["flag"].clone(), e["wx.ticket_v3"].clone(), e["wx.scene"].as_i64()),
        (t["v4"].clone(), t["v3"].clone(), Some(6))
    );
    assert_eq!((e["comment"].as_str(), e["display_name"].as_str()), (Some("hi"), Some("New")));
    app.ok(
        "handle_friend_request",
        json!({"flag": e["flag"], "ticket_v3": e["wx.ticket_v3"], "scene": e["wx.scene"], "approve": true}),
    )
    .await;
    let e = hook.next_of("friend_increase").await;
    assert_eq!(e["user_id"], "wxid_new");

    // A recall of our own message becomes a notice.
    let sent =
        app.ok("send_message", json!({"detail_type": "private", "user_id": "wxid_bob", "message": "oops"})).await;
    assert!(sent["message_id"].is_string());
    let svr: u64 = app.sent().await.last().unwrap()["id"].as_str().unwrap().parse().unwrap();
    app.gateway().accounts[0].backend.client.revoke(svr).await.unwrap();
    let e = hook.next_of("private_message_delete").await;
    assert_eq!(e["message_id"], svr.to_string());
}

#[tokio::test]
async fn a_target_that_is_down_gets_its_backlog_in_order() {
    let mut hook = webhook().await;
    hook.down.store(true, Ordering::SeqCst);
    let url = hook.url.clone();
    let app = spawn_with(|c| c.http_post = vec![hook_target(&url, "")]).await;
    let mut ids = Vec::new();
    for i in 0..1000 {
        ids.push(app.emu.wechat().inject(&text("wxid_bob", &format!("m{i}"))).unwrap().to_string());
    }
    within("a failed delivery", async {
        while hook.failed.load(Ordering::SeqCst) == 0 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    hook.down.store(false, Ordering::SeqCst);
    let mut got = Vec::new();
    while got.len() < 1000 {
        let (_, e) = hook.next_event().await;
        got.push(e["message_id"].as_str().unwrap().to_owned());
    }
    assert_eq!(got, ids, "all 1,000 delivered once each, in order");
    app.emu.wechat().inject(&text("wxid_bob", "sentinel")).unwrap();
    let (_, e) = hook.next_event().await;
    assert_eq!(e["alt_message"], "sentinel", "no duplicate before the next event");
}

#[tokio::test]
async fn messages_missed_while_disconnected_are_recovered_once_in_order() {
    let mut hook = webhook().await;
    let url = hook.url.clone();
    // Pushes to nobody are dropped after 1 ms, as WeChatFerry drops them: only the database has them.
    let app = spawn_full(Duration::from_millis(1), |c| c.http_post = vec![hook_target(&url, "")]).await;
    let w = app.emu.wechat();
    w.inject(&text("wxid_bob", "before")).unwrap();
    assert_eq!(hook.next_event().await.1["alt_message"], "before");
    w.fault(&wcf_emulator::Fault { kind: "drop_connections".into(), ms: None, func: None }).unwrap();
    // Inject only once both channels are really gone (the gateway re-dials after ~200 ms), so
    // these messages are never pushed: only WeChat's database has them.
    within("peers dropped", async {
        while w.health().peers > 0 {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    })
    .await;
    let mut missed = Vec::new();
    for i in 0..5 {
        missed.push(w.inject(&text("wxid_bob", &format!("missed {i}"))).unwrap().to_string());
    }
    let mut got = Vec::new();
    let mut statuses = Vec::new();
    within("recovered messages and the status story", async {
        while got.len() < 5 || !(statuses.contains(&false) && statuses.last() == Some(&true)) {
            let (_, e) = hook.rx.recv().await.unwrap();
            if e["detail_type"] == "status_update" {
                statuses.push(e["status"]["good"].as_bool().unwrap());
            } else if e["type"] == "message" {
                got.push(e["message_id"].as_str().unwrap().to_owned());
            }
        }
    })
    .await;
    assert_eq!(got, missed);
    assert!(statuses.contains(&false) && statuses.last() == Some(&true), "status_update told the story: {statuses:?}");
    w.inject(&text("wxid_bob", "after")).unwrap();
    assert_eq!(hook.next_event().await.1["alt_message"], "after");
}

#[tokio::test]
async fn poll_mode_reads_the_database() {
    let mut hook = webhook().await;
    let url = hook.url.clone();
    let app = spawn_with(|c| {
        c.http_post = vec![hook_target(&url, "")];
        c.wcf.receive_mode = wechat_http::config::ReceiveMode::Poll;
        c.wcf.poll_interval_ms = 50;
    })
    .await;
    // The poller starts at the end of the database on its first pass: probe until a message
    // comes through, so the next one is known to be after its starting position.
    within("the poller running", async {
        loop {
            app.emu.wechat().inject(&text("wxid_alice", "probe")).unwrap();
            if tokio::time::timeout(Duration::from_millis(300), hook.next_event()).await.is_ok() {
                break;
            }
        }
    })
    .await;
    let id = app.emu.wechat().inject(&text("wxid_alice", "polled")).unwrap();
    let e = within("the polled message", async {
        loop {
            let (_, e) = hook.next_event().await;
            if e["alt_message"] != "probe" {
                break e;
            }
        }
    })
    .await;
    assert_eq!((e["message_id"].as_str(), e["alt_message"].as_str()), (Some(id.to_string().as_str()), Some("polled")));
    assert!(!app.emu.wechat().health().receiving, "no push channel was used");
}

#[tokio::test]
async fn legacy_targets_and_quick_actions() {
    let mut hook = webhook().await;
    let url = hook.url.clone();
    let app = spawn_with(|c| {
        let mut t = hook_target(&url, "");
        t.format = wechat_http::config::EventFormat::Legacy;
        c.http_post = vec![t];
    })
    .await;
    *hook.reply.lock().unwrap() = Some(json!([
        {"action": "send_message", "params": {"detail_type": "private", "user_id": "wxid_bob", "message": "quick reply"}}
    ]));
    let id = app.emu.wechat().inject(&text("wxid_bob", "hello")).unwrap();
    let (_, e) = hook.next_event().await;
    let m = &e["message"][0];
    assert_eq!(
        (m["msg_type"].as_u64(), m["content"].as_str(), m["msg_id"].as_str()),
        (Some(1), Some("hello"), Some(id.to_string().as_str()))
    );
    assert_eq!(
        (m["wx_id"].as_str(), m["is_group"].as_bool(), m["is_friend"].as_bool()),
        (Some("wxid_bob"), Some(false), Some(true))
    );
    within("quick action sent", async {
        while !app.sent().await.iter().any(|s| s["text"] == "quick reply") {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
}

#[tokio::test]
async fn long_poll_get_latest_events() {
    let app = spawn_with(|c| c.http_server.event_enabled = true).await;
    assert_eq!(app.ok("get_latest_events", json!({"timeout": 0})).await, json!([]));
    let base = app.base.clone();
    let http = app.http.clone();
    let waiting = tokio::spawn(async move {
        let r: Value = http
            .post(format!("{base}/get_latest_events"))
            .bearer_auth(TOKEN)
            .json(&json!({"params": {"timeout": 20}}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        r
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    app.emu.wechat().inject(&text("wxid_bob", "wake up")).unwrap();
    let r = within("long poll", waiting).await.unwrap();
    assert_eq!(r["data"][0]["alt_message"], "wake up");
    for i in 0..3 {
        app.emu.wechat().inject(&text("wxid_bob", &format!("n{i}"))).unwrap();
    }
    let outbox = app.gateway().outbox.clone();
    within("three events committed", async {
        while outbox
            .after(0, 100, &wechat_http::events::outbox::EventFilter { skip_meta: true, accounts: None })
            .await
            .unwrap()
            .events
            .len()
            < 4
        {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await;
    let two = app.ok("get_latest_events", json!({"limit": 2})).await;
    let rest = app.ok("get_latest_events", json!({"limit": 10})).await;
    let texts = |v: &Value| {
        v.as_array().unwrap().iter().map(|e| e["alt_message"].as_str().unwrap().to_owned()).collect::<Vec<_>>()
    };
    assert_eq!((texts(&two), texts(&rest)), (vec!["n0".to_owned(), "n1".into()], vec!["n2".to_owned()]));
    app.fails("get_latest_events", json!({"timeout": 999}), 10003).await;
    app.fails("get_latest_events", json!({"limit": -1}), 10003).await;
    let off = spawn_app().await;
    assert!(off.fails("get_latest_events", json!({}), 10002).await.contains("event_enabled"));
}

/// The next text frame as JSON.
async fn next_json<S>(ws: &mut S) -> Value
where
    S: futures_util::Stream<Item = Result<WsMessage, tokio_tungstenite::tungstenite::Error>> + Unpin,
{
    loop {
        let m = within("ws frame", ws.next()).await.unwrap().unwrap();
        if let WsMessage::Text(t) = m {
            break serde_json::from_str(&t).unwrap();
        }
    }
}

#[tokio::test]
async fn forward_websocket_events_and_actions() {
    let app = spawn_app().await;
    let ws_url = app.base.replace("http://", "ws://") + "/";
    let unauth = tokio_tungstenite::connect_async(ws_url.clone()).await;
    assert!(unauth.is_err(), "no token: refused before the upgrade");
    let mut req = ws_url.clone().into_client_request().unwrap();
    req.headers_mut().insert("Authorization", format!("Bearer {TOKEN}").parse().unwrap());
    let (mut ws, _) = tokio_tungstenite::connect_async(req).await.unwrap();
    let first = next_json(&mut ws).await;
    assert_eq!((first["type"].as_str(), first["detail_type"].as_str()), (Some("meta"), Some("connect")));
    assert_eq!(first["version"]["impl"], "wechat-http");
    let second = next_json(&mut ws).await;
    assert_eq!(second["detail_type"], "status_update");
    assert_eq!(second["status"]["bots"][0]["online"], true);
    app.emu.wechat().inject(&text("wxid_bob", "over ws")).unwrap();
    ws.send(WsMessage::Text(json!({"action": "get_self_info", "params": {}, "echo": "e9"}).to_string().into()))
        .await
        .unwrap();
    let (mut saw_event, mut saw_reply) = (false, false);
    while !(saw_event && saw_reply) {
        let v = next_json(&mut ws).await;
        if v["alt_message"] == "over ws" {
            saw_event = true;
        }
        if v["echo"] == "e9" {
            assert_eq!(v["data"]["user_id"], "wxid_bot");
            saw_reply = true;
        }
    }
    ws.send(WsMessage::Text("not json".into())).await.unwrap();
    loop {
        let v = next_json(&mut ws).await;
        if v.get("retcode").is_some() {
            assert_eq!(v["retcode"], 10001);
            break;
        }
    }
}

#[tokio::test]
async fn reverse_websocket_survives_rejections_and_a_server_that_does_not_echo_the_subprotocol() {
    use axum::extract::ws::{Message, WebSocketUpgrade};
    let attempts = Arc::new(AtomicUsize::new(0));
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<Value>();
    let (cmd_tx, cmd_rx) = tokio::sync::mpsc::unbounded_channel::<String>();
    let cmd_rx = Arc::new(tokio::sync::Mutex::new(cmd_rx));
    let a = attempts.clone();
    let app_server = axum::Router::new().route(
        "/onebot/v12/ws",
        axum::routing::get(move |headers: axum::http::HeaderMap, upgrade: WebSocketUpgrade| {
            let (a, tx, cmd_rx) = (a.clone(), tx.clone(), cmd_rx.clone());
            async move {
                use axum::response::IntoResponse;
                assert_eq!(headers["sec-websocket-protocol"], "12.wechat-http");
                // Wrong secret first: the gateway logs, retries, keeps serving.
                let auth_ok = headers.get("authorization").is_some_and(|v| v == "Bearer good");
                if a.fetch_add(1, Ordering::SeqCst) < 2 || !auth_ok {
                    return axum::http::StatusCode::FORBIDDEN.into_response();
                }
                // No `.protocols(...)`: the subprotocol is not echoed.
                upgrade
                    .on_upgrade(move |mut socket| async move {
                        loop {
                            let mut cmds = cmd_rx.lock().await;
                            tokio::select! {
                                m = socket.recv() => {
                                    let Some(Ok(Message::Text(t))) = m else { break };
                                    let _ = tx.send(serde_json::from_str(&t).unwrap());
                                }
                                c = cmds.recv() => {
                                    let Some(c) = c else { break };
                                    if socket.send(Message::Text(c.into())).await.is_err() { break }
                                }
                            }
                        }
                    })
                    .into_response()
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app_server).await.unwrap() });
    let app = spawn_with(|c| {
        c.websocket_reverse = vec![wechat_http::config::WebsocketReverse {
            url: format!("ws://{addr}/onebot/v12/ws"),
            access_token: wechat_http::secret::Secret::new("good"),
            reconnect_interval: 100,
            ..Default::default()
        }]
    })
    .await;
    let first = within("connect event", rx.recv()).await.unwrap();
    assert_eq!(first["detail_type"], "connect");
    assert!(attempts.load(Ordering::SeqCst) >= 3, "rejected twice, then accepted");
    app.ok("get_version", json!({})).await; // the API kept working meanwhile
    app.emu.wechat().inject(&text("wxid_bob", "reverse")).unwrap();
    cmd_tx.send(json!({"action": "get_status", "params": {}, "echo": 5}).to_string()).unwrap();
    let (mut saw_event, mut saw_reply) = (false, false);
    within("event and reply", async {
        while !(saw_event && saw_reply) {
            let v = rx.recv().await.unwrap();
            saw_event |= v["alt_message"] == "reverse";
            if v["echo"] == 5 {
                assert_eq!(v["data"]["good"], true);
                saw_reply = true;
            }
        }
    })
    .await;
}

#[tokio::test]
async fn sigkill_with_a_backlog_loses_nothing() {
    let mut hook = webhook().await;
    hook.down.store(true, Ordering::SeqCst);
    // Pushes to nobody are dropped at once: what arrives while the gateway is dead is only in
    // WeChat's database.
    let setup = crate::helpers::binary_setup(
        Duration::from_millis(1),
        &format!("enable_heart_beat: false\nhttp_post:\n  - url: {}\n    max_retries: 1000\n", hook.url),
    )
    .await;
    let emu = &setup.emu;
    let start = || crate::helpers::gateway_binary(setup.dir.path(), &[]);
    let wait_receiving = || async {
        within("gateway receiving", async {
            while !(emu.wechat().health().receiving && emu.wechat().health().peers == 2) {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        })
        .await
    };
    let mut child = start();
    wait_receiving().await;
    let mut ids = Vec::new();
    for i in 0..50 {
        ids.push(emu.wechat().inject(&text("wxid_bob", &format!("queued {i}"))).unwrap().to_string());
    }
    // The backlog is committed (the target has been tried) before the kill.
    within("delivery attempts", async {
        while hook.failed.load(Ordering::SeqCst) == 0 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    child.start_kill().unwrap();
    child.wait().await.unwrap();
    within("peer gone", async {
        while emu.wechat().health().peers > 0 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
    for i in 0..20 {
        ids.push(emu.wechat().inject(&text("wxid_bob", &format!("while dead {i}"))).unwrap().to_string());
    }
    hook.down.store(false, Ordering::SeqCst);
    let mut child = start();
    let mut got: Vec<String> = Vec::new();
    while got.len() < ids.len() {
        let (_, e) = hook.next_event().await;
        // Recovered at start-up or not, every event names its account.
        assert_eq!(e["self"], json!({"platform": "wechat", "user_id": "wxid_bot"}), "{e}");
        got.push(e["message_id"].as_str().unwrap().to_owned());
    }
    // At-least-once across a crash: a duplicate is allowed only for events delivered just
    // before the kill, and none were (the target was down); so exactly once, in order.
    assert_eq!(got, ids);
    child.kill().await.unwrap();
}

#[tokio::test]
async fn retention_counts_what_a_channel_never_got() {
    let hook = webhook().await;
    hook.down.store(true, Ordering::SeqCst);
    let url = hook.url.clone();
    let app = spawn_with(|c| c.http_post = vec![hook_target(&url, "")]).await;
    for i in 0..10 {
        app.emu.wechat().inject(&text("wxid_bob", &format!("r{i}"))).unwrap();
    }
    let outbox = app.gateway().outbox.clone();
    within("events committed", async {
        while outbox
            .after(0, 100, &wechat_http::events::outbox::EventFilter { skip_meta: true, accounts: None })
            .await
            .unwrap()
            .events
            .len()
            < 10
        {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
    let latest = outbox.latest();
    let before = outbox.after(0, 100, &Default::default()).await.unwrap().events;
    let never_got = before.iter().filter(|e| e.seq <= latest - 5 && e.kind != "meta").count() as i64;
    let removed = outbox.trim(5, 0).await.unwrap();
    assert_eq!(removed as i64, latest - 5);
    assert_eq!(outbox.after(0, 100, &Default::default()).await.unwrap().events.len(), 5, "only the newest 5 are kept");
    let status = app.ok("get_status", json!({})).await;
    let dropped = status["wx.dropped"][format!("http_post:{url}")].as_i64().unwrap();
    assert!(never_got >= 4, "most removed events were messages");
    assert_eq!(dropped, never_got, "messages the down target never got are counted: {status}");
    assert_eq!(status["wx.latest_event"].as_i64(), Some(latest));
}

#[tokio::test]
async fn heartbeats_in_both_formats() {
    let mut modern = webhook().await;
    let mut legacy = webhook().await;
    let (m, l) = (modern.url.clone(), legacy.url.clone());
    let _app = spawn_with(|c| {
        c.enable_heart_beat = true;
        c.heart_beat_interval = 1;
        let mut lt = hook_target(&l, "");
        lt.format = wechat_http::config::EventFormat::Legacy;
        c.http_post = vec![hook_target(&m, ""), lt];
    })
    .await;
    let hb = modern.next_of("heartbeat").await;
    assert_eq!((hb["type"].as_str(), hb["interval"].as_i64()), (Some("meta"), Some(1000)), "OneBot 12: milliseconds");
    assert_eq!(hb["status"]["good"], true);
    let hb = legacy.next_of("heart_beat").await;
    assert_eq!(hb["interval"].as_i64(), Some(1), "legacy: seconds");
}

#[tokio::test]
async fn logout_brings_a_login_callback_and_status_updates() {
    let mut hook = webhook().await;
    let url = hook.url.clone();
    let app = spawn_with(|c| c.http_post = vec![hook_target(&url, "")]).await;
    app.control("/faults", json!({"kind": "logout"})).await;
    let e = hook.next_of("wx.login_callback").await;
    assert_eq!(e["type"], "notice");
    assert!(e["login_url"].as_str().unwrap().starts_with("http://weixin.qq.com/x/"), "{e}");
    app.control("/faults", json!({"kind": "login"})).await;
    within("online again", async {
        loop {
            let s = hook.next_of("status_update").await;
            if s["status"]["good"] == true && s["status"]["wx.backend"] == "connected" {
                break;
            }
        }
    })
    .await;
}
