//! Resources stay bounded under hostile clients: segment and text limits, connection limits
//! and timeouts, the webhook reply cap, stalled WebSocket clients, oversized frames, retention.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_tungstenite::tungstenite::Message as WsMessage;

use crate::helpers::{TOKEN, hook_target, spawn_with, within};

#[tokio::test]
async fn oversized_messages_are_refused_before_anything_is_built() {
    let app = spawn_with(|c| c.http_server.max_body_bytes = 16 * 1024 * 1024).await;
    let seg = json!({"type": "text", "data": {"text": "x"}});
    let many: Vec<Value> = std::iter::repeat_n(seg, 10_000).collect();
    let msg = app
        .fails("send_message", json!({"detail_type": "private", "user_id": "wxid_alice", "message": many}), 10003)
        .await;
    assert!(msg.contains("10000 segments") && msg.contains("send.max_segments (50)"), "{msg}");
    let long = "字".repeat(6000); // 18,000 bytes
    let msg = app
        .fails("send_message", json!({"detail_type": "private", "user_id": "wxid_alice", "message": long}), 10006)
        .await;
    assert!(msg.contains("send.max_text_bytes (16384)"), "{msg}");
    assert!(app.sent().await.is_empty(), "nothing was sent");
}

/// Reads until the server closes the connection; the bytes it sent.
async fn until_closed(s: &mut tokio::net::TcpStream) -> Vec<u8> {
    let mut out = Vec::new();
    let _ = within("the server to close the connection", s.read_to_end(&mut out)).await;
    out
}

#[tokio::test]
async fn idle_and_slow_connections_are_closed_and_never_crowd_out_a_client() {
    let app = spawn_with(|c| {
        c.http_server.max_connections = 8;
        c.http_server.header_read_timeout = 1;
        c.http_server.keep_alive_timeout = 1;
    })
    .await;
    let addr = app.base.trim_start_matches("http://").to_owned();
    // A socket that never sends a request, and one that sends half a head, are closed.
    let mut silent = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let mut slow = tokio::net::TcpStream::connect(&addr).await.unwrap();
    slow.write_all(b"GET /get_status HTTP/1.1\r\nHost: 127.0.0.1\r\n").await.unwrap();
    until_closed(&mut silent).await;
    until_closed(&mut slow).await;
    // An idle keep-alive connection after a request is closed too.
    let mut kept = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let req = format!("GET /get_status HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {TOKEN}\r\n\r\n");
    kept.write_all(req.as_bytes()).await.unwrap();
    let answered = until_closed(&mut kept).await;
    assert!(String::from_utf8_lossy(&answered).starts_with("HTTP/1.1 200"), "answered first, then closed when idle");

    // A flood of idle connections up to the limit: a real client is still answered.
    let mut flood = Vec::new();
    for _ in 0..8 {
        flood.push(tokio::net::TcpStream::connect(&addr).await.unwrap());
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    let fresh = reqwest::Client::new();
    let r: Value = within("an answer despite the flood", async {
        fresh.get(format!("{}/get_status", app.base)).bearer_auth(TOKEN).send().await.unwrap().json().await.unwrap()
    })
    .await;
    assert_eq!(r["retcode"], 0);
    let mut closed = 0;
    for mut s in flood {
        let mut b = [0u8; 1];
        if matches!(tokio::time::timeout(Duration::from_secs(5), s.read(&mut b)).await, Ok(Ok(0))) {
            closed += 1;
        }
    }
    assert!(closed >= 1, "the idlest connection made room");
}

#[tokio::test]
async fn a_webhook_reply_that_never_ends_is_cut_at_one_mib() {
    use axum::body::Body;
    use axum::routing::post;
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<Value>();
    let served = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let s = served.clone();
    let hook = axum::Router::new().route(
        "/hook",
        post(move |body: axum::body::Bytes| {
            let (tx, s) = (tx.clone(), s.clone());
            async move {
                let v: Value = serde_json::from_slice(&body).unwrap();
                let first_message = v["type"] == "message" && s.fetch_add(1, std::sync::atomic::Ordering::SeqCst) == 0;
                let _ = tx.send(v);
                if first_message {
                    // 200 and a body that streams for ever.
                    let chunks = futures_util::stream::repeat_with(|| {
                        Ok::<_, std::io::Error>(axum::body::Bytes::from(vec![b' '; 64 * 1024]))
                    });
                    return axum::response::Response::new(Body::from_stream(chunks));
                }
                axum::response::Response::new(Body::empty())
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, hook).await.unwrap() });
    let mut target = hook_target(&url, "");
    target.time_out = 30;
    let app = spawn_with(|c| c.http_post = vec![target]).await;
    let w = app.emu.wechat();
    for t in ["first", "second"] {
        w.inject(&wcf_emulator::InboundMessage { from: "wxid_bob".into(), text: Some(t.into()), ..Default::default() })
            .unwrap();
    }
    let mut texts = Vec::new();
    within("both messages delivered", async {
        while texts.len() < 2 {
            let v = rx.recv().await.unwrap();
            if v["type"] == "message" {
                texts.push(v["alt_message"].as_str().unwrap().to_owned());
            }
        }
    })
    .await;
    assert_eq!(texts, ["first", "second"], "delivery continued after the endless reply");
    let warned = app.gateway().warnings.recent();
    assert!(warned.iter().any(|(_, w)| w.contains("more than 1 MiB")), "{warned:?}");
}

/// RSS of process `pid` in bytes.
fn rss(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .unwrap_or(0)
        * 1024
}

/// The real binary, measured on its own (tests running beside it do not count).
#[cfg(target_os = "linux")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stalled_websocket_clients_are_dropped_and_readers_get_everything() {
    let setup = crate::helpers::binary_setup(Duration::from_secs(5), "websocket:\n  send_timeout: 2\n").await;
    let mut child = setup.start().await;
    let pid = child.id().unwrap();
    let addr = setup.base.trim_start_matches("http://").to_owned();
    let url = format!("ws://{addr}/?access_token=k");
    // 50 clients that upgrade, then never read (a tiny receive window so the kernel holds little).
    let mut stalled = Vec::new();
    for _ in 0..50 {
        let sock = tokio::net::TcpSocket::new_v4().unwrap();
        sock.set_recv_buffer_size(4096).unwrap();
        let tcp = sock.connect(addr.parse().unwrap()).await.unwrap();
        let (ws, _) = tokio_tungstenite::client_async(&url, tcp).await.unwrap();
        stalled.push(ws);
    }
    let (mut reader, _) = tokio_tungstenite::connect_async(&url).await.unwrap();
    let before = rss(pid);
    let payload = "p".repeat(8 * 1024);
    let w = setup.emu.wechat();
    for i in 0..500 {
        w.inject(&wcf_emulator::InboundMessage {
            from: "wxid_bob".into(),
            text: Some(format!("{i} {payload}")),
            ..Default::default()
        })
        .unwrap();
    }
    let mut got = 0;
    let mut peak = 0u64;
    within("the reading client gets all 500", async {
        while got < 500 {
            match reader.next().await.unwrap().unwrap() {
                WsMessage::Text(t) => {
                    let v: Value = serde_json::from_str(&t).unwrap();
                    if v["type"] == "message" {
                        assert!(v["alt_message"].as_str().unwrap().starts_with(&format!("{got} ")), "in order");
                        got += 1;
                    }
                }
                _ => continue,
            }
            peak = peak.max(rss(pid));
        }
    })
    .await;
    // The gateway drops the stalled clients by itself (only the reader is left)...
    within("the stalled clients dropped", async {
        while setup.call("get_status", json!({})).await["data"]["wx.websocket_clients"] != 1 {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await;
    // ...and each stalled socket, read now, ends after what the kernel had buffered.
    for ws in stalled.iter_mut() {
        within("a stalled socket to end", async {
            loop {
                match ws.next().await {
                    None | Some(Err(_)) | Some(Ok(WsMessage::Close(_))) => break,
                    Some(Ok(_)) => continue,
                }
            }
        })
        .await;
    }
    let after = rss(pid);
    println!("gateway rss before {} MB, peak {} MB, after {} MB", before >> 20, peak >> 20, after >> 20);
    // 500 × 8 KiB events to 51 sockets would be 200 MB if each socket buffered them all.
    assert!(peak < 100 * 1024 * 1024, "the gateway stayed under 100 MB (peak {} MB)", peak >> 20);
    child.kill().await.unwrap();
}

#[tokio::test]
async fn an_oversized_websocket_frame_closes_with_1009() {
    let app = spawn_with(|c| c.http_server.max_body_bytes = 4096).await;
    let url = format!("ws://{}/?access_token={TOKEN}", app.base.trim_start_matches("http://"));
    let (mut ws, _) = tokio_tungstenite::connect_async(&url).await.unwrap();
    ws.send(WsMessage::Text("x".repeat(10_000).into())).await.unwrap();
    let code = within("a close frame", async {
        loop {
            match ws.next().await {
                Some(Ok(WsMessage::Close(Some(f)))) => break u16::from(f.code),
                Some(Ok(_)) => continue,
                other => panic!("expected a close frame, got {other:?}"),
            }
        }
    })
    .await;
    assert_eq!(code, 1009);
}

#[cfg(unix)]
#[tokio::test]
async fn identical_uploads_are_stored_once_and_old_rows_and_files_are_trimmed() {
    use std::os::unix::fs::MetadataExt;
    let app = spawn_with(|c| {
        c.store.retention_days = 1;
        c.media.retention_days = 1;
    })
    .await;
    let up = |name: &str| app.ok("upload_file", json!({"type": "data", "name": name, "data": "aGVsbG8="}));
    let a = up("a.txt").await["file_id"].clone();
    assert_eq!(up("a.txt").await["file_id"], a, "the same content under the same name is the same file");
    let b = up("b.txt").await["file_id"].clone();
    assert_ne!(a, b);
    let pa = app.ok("get_file", json!({"file_id": a, "type": "path"})).await["path"].as_str().unwrap().to_owned();
    let pb = app.ok("get_file", json!({"file_id": b, "type": "path"})).await["path"].as_str().unwrap().to_owned();
    assert_eq!(std::fs::metadata(&pa).unwrap().ino(), std::fs::metadata(&pb).unwrap().ino(), "stored once (hard link)");

    // Rows and files of every kind, then made three days old.
    let sent = app.ok("send_message", json!({"detail_type": "private", "user_id": "wxid_bob", "message": [
        {"type": "text", "data": {"text": "old"}},
        {"type": "image", "data": {"data": base64::Engine::encode(&base64::engine::general_purpose::STANDARD, crate::helpers::PNG)}},
    ]})).await;
    let job = app.ok("send_message", json!({"receivers": ["wxid_alice"], "message": "old news"})).await;
    let staged = app.sent().await[1]["path"].as_str().unwrap().to_owned();
    let old = wechat_http::store::now() - 3.0 * 86_400.0;
    crate::helpers::store_sql(&app.config, "UPDATE sent_messages SET sent_at = $1", old);
    crate::helpers::store_sql(&app.config, "UPDATE send_jobs SET created_at = $1, finished_at = $1", old);
    crate::helpers::store_sql(&app.config, "UPDATE files SET created_at = $1", old);
    let three_days_ago = std::time::SystemTime::now() - Duration::from_secs(3 * 86_400);
    let staged_dir = std::path::Path::new(&staged).parent().unwrap().to_path_buf();
    std::fs::File::open(&staged_dir).unwrap().set_modified(three_days_ago).unwrap();

    wechat_http::upkeep_step(app.gateway(), 0).await;

    app.fails("wx.get_sent_message", json!({"message_id": sent["message_id"]}), 10003).await;
    app.fails("get_send_job", json!({"job_id": job["job_id"]}), 10003).await;
    app.fails("get_file", json!({"file_id": a, "type": "path"}), 10003).await;
    assert!(!std::path::Path::new(&pa).exists() && !std::path::Path::new(&pb).exists(), "the copies are gone");
    assert!(!staged_dir.exists(), "staged media older than media.retention_days is gone");
    // Fresh rows stay.
    let fresh =
        app.ok("send_message", json!({"detail_type": "private", "user_id": "wxid_bob", "message": "new"})).await;
    wechat_http::upkeep_step(app.gateway(), 0).await;
    app.ok("wx.get_sent_message", json!({"message_id": fresh["message_id"]})).await;
}
