//! The send engine: pacing, rolling limits, queue order, durable broadcast jobs (including a
//! SIGKILL halfway), recall, and files by `file_id`. Sends are checked where they land: the
//! emulator's sent log and its timestamps.

use std::time::Duration;

use base64::Engine as _;
use serde_json::{Value, json};

use crate::helpers::{PNG, TOKEN, file_server, fixture_with, post_detached, spawn_fixture, spawn_with, within};

fn ts(s: &Value) -> u64 {
    s["ts"].as_u64().unwrap()
}

#[tokio::test]
async fn pauses_fall_inside_the_window_and_order_is_kept() {
    let app = spawn_with(|c| {
        c.answer_delay_rand_min = 0.2;
        c.answer_delay_rand_max = 0.4;
    })
    .await;
    // Queue ten sends one after another (each enters the queue before the next is made).
    let mut handles = Vec::new();
    for i in 0..6 {
        handles.push(post_detached(
            &app,
            "send_message",
            json!({"detail_type": "private", "user_id": "wxid_bob", "message": format!("n{i}")}),
        ));
        within("queued", async {
            loop {
                let s = app.ok("get_status", json!({})).await;
                if s["wx.send_queue"].as_u64().unwrap() + app.sent().await.len() as u64 > i {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        })
        .await;
    }
    for h in handles {
        assert_eq!(within("send", h).await.unwrap()["retcode"], 0);
    }
    let sent = app.sent().await;
    let texts: Vec<&str> = sent.iter().map(|s| s["text"].as_str().unwrap()).collect();
    assert_eq!(texts, ["n0", "n1", "n2", "n3", "n4", "n5"], "queue order is kept");
    for pair in sent.windows(2) {
        let gap = ts(&pair[1]) - ts(&pair[0]);
        assert!(gap >= 200, "a pause of at least answer_delay_rand_min between sends, got {gap} ms");
        assert!(gap < 2400, "pauses stay near the window (0.4 s + slack for a loaded machine), got {gap} ms");
    }
}

#[tokio::test]
async fn the_rolling_limit_holds_under_a_burst_of_100() {
    let app = spawn_with(|c| {
        c.send.max_per_minute = 10;
        c.send.queue_timeout = 5;
    })
    .await;
    let mut handles = Vec::new();
    for i in 0..100 {
        handles.push(post_detached(
            &app,
            "send_message",
            json!({"detail_type": "private", "user_id": "wxid_bob", "message": format!("b{i}")}),
        ));
    }
    let mut ok = 0;
    for h in handles {
        let r = within("burst", h).await.unwrap();
        match r["retcode"].as_i64().unwrap() {
            0 => ok += 1,
            36001 => assert!(r["message"].as_str().unwrap().contains("send.queue_timeout")),
            other => panic!("unexpected retcode {other}: {r}"),
        }
    }
    assert_eq!(ok, 10, "exactly max_per_minute sends went out");
    assert_eq!(app.sent().await.len(), 10, "and nothing else reached WeChat");
}

async fn category_with(app: &crate::helpers::TestApp, name: &str, members: impl Iterator<Item = String>) -> String {
    let id = app.ok("create_group", json!({"group_name": name})).await["id"].as_str().unwrap().to_owned();
    for m in members {
        app.ok("add_member_to_group", json!({"group_id": id, "member_id": m})).await;
    }
    id
}

#[tokio::test]
async fn async_jobs_report_progress_and_can_be_cancelled() {
    let members = fixture_with((0..40).map(|i| format!("wxid_member{i:03}")));
    let app = spawn_fixture(members, Duration::from_secs(5), |c| {
        c.answer_delay_rand_min = 0.02;
        c.answer_delay_rand_max = 0.03;
    })
    .await;
    let cat = category_with(&app, "many", (0..40).map(|i| format!("wxid_member{i:03}"))).await;
    let r = app.ok("send_message", json!({"group_ids": [cat], "message": "promo", "async": true})).await;
    let job = r["job_id"].as_str().unwrap().to_owned();
    assert!(r["message_id"].is_string());
    within("some progress", async {
        while app.ok("get_send_job", json!({"job_id": job})).await["sent"].as_i64().unwrap() < 5 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
    let c = app.ok("cancel_send_job", json!({"job_id": job})).await;
    assert!(c["cancelled"].as_i64().unwrap() > 0);
    tokio::time::sleep(Duration::from_millis(200)).await; // a send in flight may finish
    let s = app.ok("get_send_job", json!({"job_id": job})).await;
    assert_eq!(s["state"], "cancelled");
    let (sent, cancelled) = (s["sent"].as_i64().unwrap(), s["cancelled"].as_i64().unwrap());
    assert_eq!(sent + cancelled + s["pending"].as_i64().unwrap(), 40);
    assert_eq!(app.sent().await.len() as i64, sent, "the log and WeChat agree");
    assert!(app.fails("cancel_send_job", json!({"job_id": job}), 35001).await.contains("already cancelled"));
    app.fails("get_send_job", json!({"job_id": "nope"}), 10003).await;
    // Explicit receivers, de-duplicated, synchronous.
    let r =
        app.ok("send_message", json!({"receivers": ["wxid_alice", "wxid_bob", "wxid_alice"], "message": "hi"})).await;
    assert_eq!(r["sent"], 2);
    app.fails("send_message", json!({"receivers": [], "message": "x"}), 10003).await;
    app.fails("send_message", json!({"receivers": ["wxid_a"], "group_ids": [cat], "message": "x"}), 10003).await;
}

#[tokio::test]
async fn a_broadcast_killed_halfway_completes_exactly_once() {
    let setup = crate::helpers::binary_setup_with(
        fixture_with((0..200).map(|i| format!("wxid_r{i:03}"))),
        Duration::from_secs(5),
        "answer_delay_rand_min: 0.005\nanswer_delay_rand_max: 0.01\n",
    )
    .await;
    let emu = &setup.emu;
    let call = |action: &'static str, params: Value| setup.call(action, params);
    let mut child = setup.start().await;
    let cat =
        call("create_group", json!({"group_name": "two hundred"})).await["data"]["id"].as_str().unwrap().to_owned();
    for i in 0..200 {
        call("add_member_to_group", json!({"group_id": cat, "member_id": format!("wxid_r{i:03}")})).await;
    }
    let r = call("send_message", json!({"group_ids": [cat], "message": "once", "async": true})).await;
    let job = r["data"]["job_id"].as_str().unwrap().to_owned();
    within("halfway", async {
        while emu.wechat().sent().len() < 90 {
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    })
    .await;
    child.start_kill().unwrap();
    child.wait().await.unwrap();
    let at_kill = emu.wechat().sent().len();
    assert!(at_kill < 200, "killed before the end ({at_kill} sent)");

    let mut child = setup.start().await;
    within("job finished after restart", async {
        loop {
            let s = call("get_send_job", json!({"job_id": job})).await;
            if s["data"]["state"] == "done" {
                assert_eq!(s["data"]["sent"], 200);
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await;
    let sent = emu.wechat().sent();
    let mut receivers: Vec<String> = sent.iter().map(|s| s.receiver.clone()).collect();
    assert_eq!(receivers.len(), 200, "nobody got it twice");
    receivers.sort();
    receivers.dedup();
    assert_eq!(receivers.len(), 200, "nobody was skipped");
    child.kill().await.unwrap();
}

#[tokio::test]
async fn delete_message_recalls_through_wechat_ids() {
    let app = spawn_with(|_| {}).await;
    let data =
        app.ok("send_message", json!({"detail_type": "private", "user_id": "wxid_bob", "message": "regret"})).await;
    let mid = data["message_id"].as_str().unwrap().to_owned();
    let wx_id = app.sent().await[0]["id"].as_str().unwrap().to_owned();
    assert_eq!(app.ok("delete_message", json!({"message_id": mid})).await["recalled"], 1);
    let sent = app.sent().await;
    let revoke = sent.last().unwrap();
    assert_eq!(
        (revoke["func"].as_str(), revoke["id"].as_str()),
        (Some("revoke"), Some(wx_id.as_str())),
        "the WeChat id of that very send"
    );
    assert!(
        app.fails("delete_message", json!({"message_id": "nope"}), 10003)
            .await
            .contains("not a message this gateway sent")
    );
    app.fails("delete_message", json!({}), 10003).await;
}

#[tokio::test]
async fn files_by_id_for_images_and_files() {
    let readable = tempfile::tempdir().unwrap();
    let readable_dir = readable.path().to_path_buf();
    let app = spawn_with(|c| c.media.readable_dirs = vec![readable_dir]).await;
    let files = file_server().await;
    let b64 = base64::engine::general_purpose::STANDARD.encode(PNG);
    let sha = wechat_http::files::sha256_hex(PNG);
    let img =
        app.ok("upload_file", json!({"type": "data", "name": "pic.png", "data": b64, "sha256": sha})).await["file_id"]
            .as_str()
            .unwrap()
            .to_owned();
    let doc = app.ok("upload_file", json!({"type": "url", "url": format!("{files}/report.pdf")})).await["file_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let local = readable.path().join("notes.txt");
    std::fs::write(&local, "hello").unwrap();
    let txt = app.ok("upload_file", json!({"type": "path", "path": local.to_str().unwrap()})).await["file_id"]
        .as_str()
        .unwrap()
        .to_owned();
    app.ok(
        "send_message",
        json!({"detail_type": "private", "user_id": "wxid_alice", "message": [
            {"type": "image", "data": {"file_id": img}},
            {"type": "file", "data": {"file_id": doc}},
            {"type": "file", "data": {"file_id": txt}},
        ]}),
    )
    .await;
    let sent = app.sent().await;
    assert_eq!(
        sent.iter().map(|s| s["func"].as_str().unwrap()).collect::<Vec<_>>(),
        ["send_image", "send_file", "send_file"]
    );
    assert_eq!(std::fs::read(sent[0]["path"].as_str().unwrap()).unwrap(), PNG);
    assert!(sent[1]["path"].as_str().unwrap().ends_with("report.pdf"));
    assert!(sent[2]["path"].as_str().unwrap().ends_with("notes.txt"));

    let f = app.ok("get_file", json!({"file_id": img, "type": "data"})).await;
    assert_eq!(
        (f["name"].as_str(), f["sha256"].as_str(), f["data"].as_str()),
        (Some("pic.png"), Some(sha.as_str()), Some(b64.as_str()))
    );
    let f = app.ok("get_file", json!({"file_id": txt, "type": "path"})).await;
    assert_eq!(std::fs::read_to_string(f["path"].as_str().unwrap()).unwrap(), "hello");
    let f = app.ok("get_file", json!({"file_id": img, "type": "url"})).await;
    let url = f["url"].as_str().unwrap().replace("127.0.0.1:0", app.base.trim_start_matches("http://"));
    let rsp = app.http.get(&url).bearer_auth(TOKEN).send().await.unwrap();
    assert_eq!((rsp.status().as_u16(), rsp.headers()["content-type"].to_str().unwrap()), (200, "image/png"));
    assert_eq!(rsp.bytes().await.unwrap().as_ref(), PNG);
    let rsp = app.http.get(format!("{}/files/nope", app.base)).bearer_auth(TOKEN).send().await.unwrap();
    assert_eq!(rsp.status().as_u16(), 404);
    let rsp = app.http.get(format!("{}/files/{img}", app.base)).send().await.unwrap();
    assert_eq!(rsp.status().as_u16(), 401, "stored files need the token");
    app.fails("get_file", json!({"file_id": "nope", "type": "path"}), 10003).await;

    assert!(
        app.fails("upload_file", json!({"type": "data", "data": b64, "sha256": "00"}), 10003).await.contains("sha256")
    );
    app.fails("upload_file", json!({"type": "data", "data": "%%%"}), 10003).await;
    app.fails("upload_file", json!({"type": "path", "path": "/nope/missing"}), 10003).await;
    app.fails("upload_file", json!({"type": "ftp"}), 10003).await;
    assert!(
        app.fails("upload_file", json!({"type": "url", "url": format!("{files}/big.png")}), 33002)
            .await
            .contains("larger")
    );
    assert!(
        app.fails("upload_file", json!({"type": "url", "url": format!("{files}/slow.png")}), 33002)
            .await
            .contains("timed out")
    );
    let msg = app
        .fails("send_message", json!({"detail_type": "private", "user_id": "wxid_alice", "message": [{"type": "image", "data": {"file_id": txt}}]}), 10006)
        .await;
    assert!(msg.contains("not an image"));
    assert_eq!(app.sent().await.len(), 3, "failures sent nothing");
}
