//! Received chat images: fetched from WeChat (download + decrypt), served from /chat_image with
//! the sniffed type, traversal refused, old folders purged.

use std::time::Duration;

use base64::Engine as _;
use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{PNG, TOKEN, spawn_app, within};

fn today() -> String {
    let d = time::OffsetDateTime::now_utc().date();
    format!("{:04}-{:02}-{:02}", d.year(), u8::from(d.month()), d.day())
}

#[tokio::test]
async fn received_images_are_served_and_traversal_is_refused() {
    let app = spawn_app().await;
    let gif = b"GIF89a\x01\x00\x01\x00\x00\x00\x00;".to_vec();
    let r = app
        .control(
            "/messages",
            json!({"from": "wxid_alice", "room": "1001@chatroom", "type": "image",
                   "image_base64": base64::engine::general_purpose::STANDARD.encode(&gif)}),
        )
        .await;
    let id: u64 = r["id"].as_str().unwrap().parse().unwrap();
    let row = app.emu.wechat().db().msg_by_svr_id(id).unwrap().unwrap();
    let extra = row.extra.get(wcf::proto::bytes_extra::EXTRA).unwrap().to_owned();
    let stem = std::path::Path::new(&extra).file_stem().unwrap().to_string_lossy().into_owned();
    let url = format!("{}/chat_image/{}/{stem}.gif", app.base, today());
    let rsp = within("image fetched", async {
        loop {
            let rsp = app.http.get(&url).bearer_auth(TOKEN).send().await.unwrap();
            if rsp.status() == StatusCode::OK {
                break rsp;
            }
            assert_eq!(rsp.status(), StatusCode::NOT_FOUND);
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    assert_eq!(rsp.headers()["content-type"], "image/gif");
    assert_eq!(rsp.bytes().await.unwrap().as_ref(), gif.as_slice());
    let (s, b) = app.get(&format!("/chat_image/{}/{stem}.gif?access_token={TOKEN}", today())).await;
    assert_eq!((s, b), (StatusCode::OK, serde_json::Value::Null), "binary body, not an envelope");

    std::fs::write(app.path("secret.txt"), "top secret").unwrap();
    for evil in [
        "/chat_image/..%2F..%2F/secret.txt",
        "/chat_image/2026-01-01/..%2F..%2Fsecret.txt",
        "/chat_image/%2E%2E/secret.txt",
        "/chat_image/2026-01-01/%2Fetc%2Fpasswd",
        "/chat_image/2026-01-01/.hidden",
        "/chat_image/2026-01-01",
        "/chat_image/2099-01-01/nothing.png",
    ] {
        let rsp = app.http.get(format!("{}{evil}", app.base)).bearer_auth(TOKEN).send().await.unwrap();
        assert_eq!(rsp.status(), StatusCode::NOT_FOUND, "{evil}");
        let body = rsp.text().await.unwrap();
        assert!(!body.contains("top secret") && body.contains("\"retcode\""), "{evil}: {body}");
    }
}

#[tokio::test]
async fn old_image_folders_are_purged() {
    let app = spawn_app().await;
    let old = app.path("img").join("2000-01-01");
    let recent = app.path("img").join(today());
    for d in [&old, &recent] {
        std::fs::create_dir_all(d).unwrap();
        std::fs::write(d.join("a.png"), PNG).unwrap();
    }
    std::fs::create_dir_all(app.path("img").join("not-a-date")).unwrap();
    assert_eq!(app.gateway().accounts[0].media.purge_old_images(), 1);
    assert!(!old.exists() && recent.exists() && app.path("img").join("not-a-date").exists());
}
