//! Outcomes are honest: a send WeChat may or may not have made says so (33003) and is settled
//! from WeChat's database; a broadcast waits for WeChat instead of failing its receivers;
//! every part is numbered and recallable; racing answers to a friend request; receivers must
//! be contacts; every error is an envelope, internal ones with an id and no detail.

use std::time::Duration;

use serde_json::{Value, json};

use crate::helpers::{PNG, TOKEN, fixture_with, raw_http, spawn_app, spawn_fixture, spawn_with, webhook, within};

#[tokio::test]
async fn a_send_without_answer_is_unknown_then_settled_from_wechats_database() {
    let app = spawn_with(|c| {
        c.wcf.call_timeout_ms = 500;
        // No login checks meanwhile: the stalled call is the send.
        c.wcf.login_check_ms = 60_000;
    })
    .await;
    // WeChat answers 2 s late: it sends the message, but the gateway stopped waiting.
    app.control("/faults", json!({"kind": "stall", "ms": 2000, "func": "FUNC_SEND_TXT"})).await;
    let (_, r) =
        app.action("send_message", json!({"detail_type": "private", "user_id": "wxid_bob", "message": "maybe"})).await;
    assert_eq!(r["retcode"], 33003, "{r}");
    let msg = r["message"].as_str().unwrap();
    assert!(msg.contains("may have been sent") && msg.contains("check before retrying"), "{msg}");
    let mid = r["data"]["message_id"].as_str().expect("the answer names the message to check").to_owned();
    let first = app.ok("wx.get_sent_message", json!({"message_id": mid})).await;
    assert!(matches!(first["parts"][0]["state"].as_str(), Some("unknown" | "sent")), "{first}");
    let sent = within("WeChat sent it after all", async {
        loop {
            if let Some(r) = app.sent().await.iter().find(|r| r["text"] == "maybe") {
                break r["id"].as_str().unwrap().to_owned();
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await;
    let state = within("settled as sent with WeChat's id", async {
        loop {
            let s = app.ok("wx.get_sent_message", json!({"message_id": mid})).await;
            if s["parts"][0]["state"] == "sent" {
                break s;
            }
            assert_eq!(s["parts"][0]["state"], "unknown", "{s}");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    })
    .await;
    assert_eq!(state["parts"][0]["wx_msg_id"], sent.as_str(), "the very message WeChat recorded");
    app.wait_connected().await;
    assert_eq!(app.ok("delete_message", json!({"message_id": mid})).await["recalled"], 1);
    let revoke = app.sent().await.into_iter().find(|r| r["func"] == "revoke").unwrap();
    assert_eq!(revoke["id"], sent.as_str(), "recalled through that id");
    assert_eq!(app.sent().await.iter().filter(|r| r["text"] == "maybe").count(), 1, "sent once");
    app.fails("wx.get_sent_message", json!({"message_id": "nope"}), 10003).await;
}

#[tokio::test]
async fn a_broadcast_waits_through_a_wechat_restart_and_sends_each_once() {
    let receivers: Vec<String> = (0..300).map(|i| format!("wxid_w{i:03}")).collect();
    let mut app = spawn_fixture(fixture_with(receivers.clone()), Duration::from_secs(5), |c| {
        c.answer_delay_rand_min = 0.001;
        c.answer_delay_rand_max = 0.002;
        c.wcf.call_timeout_ms = 1000;
    })
    .await;
    let r = app.ok("send_message", json!({"receivers": receivers, "message": "news", "async": true})).await;
    let job = r["job_id"].as_str().unwrap().to_owned();
    within("a third sent", async {
        while app.emu.wechat().sent().len() < 100 {
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    })
    .await;
    // WeChat goes away for a while (its state stays on disk) and comes back.
    let base = app.base.clone();
    let http = app.http.clone();
    let watcher = tokio::spawn(async move {
        let mut states = std::collections::BTreeSet::new();
        for _ in 0..400 {
            let s: Value = http
                .get(format!("{base}/get_send_job?job_id={job}"))
                .bearer_auth(TOKEN)
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            let st = s["data"]["state"].as_str().unwrap().to_owned();
            let done = st == "done";
            states.insert(st);
            if done {
                break;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        states
    });
    let before = app.restart_emulator(Duration::from_secs(2)).await;
    let states = within("the job to finish", watcher).await.unwrap();
    assert!(states.contains("waiting_backend"), "the job waited for WeChat: {states:?}");
    assert!(states.contains("done"), "{states:?}");
    let status = app.ok("get_send_job", json!({"job_id": r["job_id"]})).await;
    assert_eq!((status["sent"].as_i64(), status["failed"].as_array().map(Vec::len)), (Some(300), Some(0)), "{status}");
    let mut got: Vec<String> = before
        .iter()
        .map(|s| s.receiver.clone())
        .chain(app.emu.wechat().sent().iter().map(|s| s.receiver.clone()))
        .collect();
    assert_eq!(got.len(), 300, "nobody got it twice");
    got.sort();
    got.dedup();
    assert_eq!(got.len(), 300, "nobody was skipped");
}

#[tokio::test]
async fn a_receiver_with_120_parts_gets_every_one_numbered_and_recalled() {
    let app = spawn_with(|c| c.send.max_segments = 200).await;
    let png = app.path("p.png");
    std::fs::write(&png, PNG).unwrap();
    let segs: Vec<Value> =
        (0..120).map(|_| json!({"type": "image", "data": {"path": png.to_str().unwrap()}})).collect();
    let r = app.ok("send_message", json!({"receivers": ["wxid_alice"], "message": segs})).await;
    assert_eq!(r["sent"], 1);
    let mid = r["message_id"].as_str().unwrap().to_owned();
    let parts = app.ok("wx.get_sent_message", json!({"message_id": mid})).await["parts"].as_array().unwrap().clone();
    let numbers: Vec<i64> = parts.iter().map(|p| p["part"].as_i64().unwrap()).collect();
    assert_eq!(numbers, (1..=120).collect::<Vec<_>>(), "one number per part");
    let sent_ids: Vec<String> = app.sent().await.iter().map(|s| s["id"].as_str().unwrap().to_owned()).collect();
    assert_eq!(app.ok("delete_message", json!({"message_id": mid})).await["recalled"], 120);
    let mut revoked: Vec<String> = app
        .sent()
        .await
        .iter()
        .filter(|s| s["func"] == "revoke")
        .map(|s| s["id"].as_str().unwrap().to_owned())
        .collect();
    revoked.sort();
    let mut expected = sent_ids;
    expected.sort();
    assert_eq!(revoked, expected, "each image recalled through its own WeChat id");
}

#[tokio::test]
async fn racing_answers_to_one_friend_request_let_exactly_one_through() {
    let app = spawn_app().await;
    let t = app.control("/friend_requests", json!({"wxid": "wxid_racer", "nickname": "Racer", "greeting": "hi"})).await;
    let p = |approve: bool| json!({"flag": t["v4"], "ticket_v3": t["v3"], "scene": t["scene"], "approve": approve});
    let (a, b) = tokio::join!(
        crate::helpers::post_detached(&app, "handle_friend_request", p(true)),
        crate::helpers::post_detached(&app, "handle_friend_request", p(false))
    );
    let (a, b) = (a.unwrap(), b.unwrap());
    let codes = [a["retcode"].as_i64().unwrap(), b["retcode"].as_i64().unwrap()];
    assert!(codes.contains(&0) && codes.contains(&10003), "exactly one answer goes through: {a} {b}");
    let loser = if codes[0] == 0 { &b } else { &a };
    assert!(loser["message"].as_str().unwrap().contains("friend request"), "{loser}");
}

#[tokio::test]
async fn receivers_must_be_contacts_of_the_account() {
    let app = spawn_app().await;
    let msg = app
        .fails("send_message", json!({"detail_type": "private", "user_id": "wxid_stranger", "message": "hi"}), 10003)
        .await;
    assert!(msg.contains("not a contact of this account"), "{msg}");
    app.fails("send_message", json!({"detail_type": "group", "group_id": "999@chatroom", "message": "hi"}), 10003)
        .await;
    app.fails("send_message", json!({"receivers": ["wxid_alice", "wxid_stranger"], "message": "hi"}), 10003).await;
    assert!(app.sent().await.is_empty());
    app.ok("send_message", json!({"detail_type": "private", "user_id": "filehelper", "message": "note to self"})).await;
}

#[cfg(unix)]
#[tokio::test]
async fn every_error_is_an_envelope() {
    let app = spawn_with(|c| c.websocket.enabled = false).await;
    let auth = format!("Bearer {TOKEN}");
    let env = |b: &str| serde_json::from_str::<Value>(b).unwrap_or_else(|e| panic!("{e}: {b:?}"));
    let allow = |head: &str| {
        head.lines()
            .find_map(|l| l.strip_prefix("allow: ").or_else(|| l.strip_prefix("Allow: ")))
            .unwrap_or_default()
            .to_owned()
    };
    let (s, head, b) = raw_http(&app.base, "PUT /create_group HTTP/1.1", &[("Authorization", &auth)], "").await;
    assert_eq!((s, env(&b)["retcode"].as_i64(), allow(&head).as_str()), (405, Some(10001), "POST"));
    let (s, head, b) = raw_http(&app.base, "DELETE /get_groups HTTP/1.1", &[("Authorization", &auth)], "").await;
    assert_eq!((s, env(&b)["retcode"].as_i64(), allow(&head).as_str()), (405, Some(10001), "GET, POST"));
    let (s, head, _) = raw_http(&app.base, "GET /create_group HTTP/1.1", &[("Authorization", &auth)], "").await;
    assert_eq!((s, allow(&head).as_str()), (405, "POST"));
    let long = format!("GET /get_groups?x={} HTTP/1.1", "a".repeat(9000));
    let (s, _, b) = raw_http(&app.base, &long, &[("Authorization", &auth)], "").await;
    assert_eq!((s, env(&b)["retcode"].as_i64()), (414, Some(10001)));
    let (s, _, b) =
        raw_http(&app.base, "GET /get_user_info?user_id=%zz HTTP/1.1", &[("Authorization", &auth)], "").await;
    assert_eq!(s, 400);
    assert!(env(&b)["message"].as_str().unwrap().contains("percent-escape"));
    let (s, _, b) = raw_http(&app.base, "GET /%FF%FE HTTP/1.1", &[("Authorization", &auth)], "").await;
    assert_eq!((s, env(&b)["retcode"].as_i64()), (400, Some(10001)));
    let ws = [
        ("Upgrade", "websocket"),
        ("Connection", "Upgrade"),
        ("Sec-WebSocket-Version", "13"),
        ("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="),
        ("Authorization", &auth),
    ];
    let (s, _, b) = raw_http(&app.base, "GET / HTTP/1.1", &ws, "").await;
    assert_eq!(s, 405, "a refused upgrade");
    assert!(env(&b)["message"].as_str().unwrap().contains("websocket.enabled"));
    let dup = r#"{"action": "create_group", "params": {"group_name": "a", "group_name": "b"}}"#;
    let (s, _, b) = raw_http(
        &app.base,
        "POST /create_group HTTP/1.1",
        &[("Authorization", &auth), ("Content-Type", "application/json")],
        dup,
    )
    .await;
    assert_eq!((s, env(&b)["retcode"].as_i64()), (200, Some(10001)));
    assert!(env(&b)["message"].as_str().unwrap().contains("appears twice"));
    assert!(app.ok("get_groups", json!({})).await.as_array().unwrap().is_empty(), "nothing was created");

    // An internal failure names an error id, and no path: the stored copy was swapped for a
    // file far larger than any upload.
    let id =
        app.ok("upload_file", json!({"type": "data", "name": "n.txt", "data": "aGVsbG8="})).await["file_id"].clone();
    let path = app.ok("get_file", json!({"file_id": id, "type": "path"})).await["path"].as_str().unwrap().to_owned();
    let huge = app.path("huge.bin");
    std::fs::File::create(&huge).unwrap().set_len(64 * 1024 * 1024).unwrap();
    std::fs::remove_file(&path).unwrap();
    std::os::unix::fs::symlink(&huge, &path).unwrap();
    let (_, r) = app.action("get_file", json!({"file_id": id, "type": "data"})).await;
    assert_eq!(r["retcode"], 32001, "{r}");
    assert!(r["wx.error_id"].as_str().is_some_and(|e| e.len() == 12), "{r}");
    let m = r["message"].as_str().unwrap();
    assert!(!m.contains('/') && !m.contains(&path), "no path in {m:?}");
}

#[tokio::test]
async fn long_file_names_are_cut_and_unfetchable_images_still_arrive() {
    let mut hook = webhook().await;
    let url = hook.url.clone();
    let app = spawn_with(|c| {
        c.http_post = vec![crate::helpers::hook_target(&url, "")];
        c.media.image_fetch_timeout = 1;
    })
    .await;
    let name = format!("{}.pdf", "报".repeat(100));
    let id = app.ok("upload_file", json!({"type": "data", "name": name, "data": "aGVsbG8="})).await["file_id"].clone();
    let f = app.ok("get_file", json!({"file_id": id, "type": "path"})).await;
    let stored = f["name"].as_str().unwrap();
    assert!(stored.len() <= 200 && stored.ends_with(".pdf") && stored.starts_with('报'), "{stored}");
    app.emu
        .wechat()
        .inject(&wcf_emulator::InboundMessage {
            from: "wxid_bob".into(),
            kind: Some("image".into()),
            unavailable: true,
            ..Default::default()
        })
        .unwrap();
    let (_, e) = hook.next_event().await;
    assert_eq!(e["message"][0]["type"], "image", "{e}");
    let why = e["message"][0]["data"]["wx.fetch_error"].as_str().unwrap_or_default();
    assert!(!why.is_empty(), "the segment says the fetch failed: {e}");
    // The id lets get_file try again; it fails the same way, saying why.
    let file_id = e["message"][0]["data"]["file_id"].as_str().unwrap().to_owned();
    assert!(file_id.starts_with("wx-default-image-"), "{file_id}");
    let msg = app.fails("get_file", json!({"file_id": file_id, "type": "data"}), 34002).await;
    assert!(msg.contains("expired on WeChat's servers"), "{msg}");
}
