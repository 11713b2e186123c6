//! The binary itself: `wechat-http serve --demo` with the seed document's own curl example.

use std::process::Stdio;
use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncBufReadExt, BufReader};

use crate::helpers::{PNG, within};

#[tokio::test]
async fn seed_example_against_the_demo_binary() {
    wechat_http::install_tls_provider();
    let dir = tempfile::tempdir().unwrap();
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    std::fs::write(
        dir.path().join("config.yaml"),
        format!("http_server:\n  http_address: http://127.0.0.1:{port}\nanswer_delay_rand_min: 0\nanswer_delay_rand_max: 0\n"),
    )
    .unwrap();
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_wechat-http"))
        .args(["serve", "--demo", "--config", "config.yaml"])
        .current_dir(dir.path())
        .env("RUST_LOG", "warn")
        .env_remove("WECHAT_HTTP_CONFIG")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap(); // stdout is read here, unlike helpers::gateway_binary
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let (mut api, mut control, mut console) = (String::new(), String::new(), String::new());
    within("demo banner", async {
        while let Some(line) = lines.next_line().await.unwrap() {
            let line = line.trim();
            if let Some(rest) = line.strip_prefix("API ").map(str::trim).filter(|r| r.starts_with("http")) {
                api = rest.to_owned();
            }
            if let Some(rest) = line.strip_prefix("console ") {
                console = rest.trim().split(' ').next().unwrap_or_default().to_owned();
            }
            if let Some(i) = line.find("control API ") {
                control = line[i + "control API ".len()..].trim_end_matches(')').to_owned();
            }
            if line.starts_with("Ctrl-C") {
                break;
            }
        }
    })
    .await;
    assert_eq!(api, format!("http://127.0.0.1:{port}"));
    assert!(control.starts_with("http://127.0.0.1:"), "{control}");
    assert_eq!(console, format!("{api}/console"), "the banner names the console");

    let image = dir.path().join("test01.png");
    std::fs::write(&image, PNG).unwrap();
    // The seed's example body, with its Windows path replaced by a real file.
    let body = r#"{
    "action": "send_message",
    "echo": "test_echo",
    "params": {
        "detail_type": "private",
        "send_id": "wxid_jj4mhsji9tjk22",
        "msg_type": 2,
        "message": "C:\\image\\test01.png"
    }
}"#
    .replace(r"C:\\image\\test01.png", &image.to_string_lossy().replace('\\', "\\\\"));
    let http = reqwest::Client::new();
    let rsp: Value = within("send", async {
        loop {
            let r = http
                .post(format!("{api}/send_message"))
                .header("Authorization", "Bearer rikka-bot")
                .header("Content-Type", "application/json")
                .body(body.clone())
                .send()
                .await
                .unwrap()
                .json::<Value>()
                .await
                .unwrap();
            if r["retcode"] != 33001 {
                break r; // 33001 only while the backend link is still coming up
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await;
    assert_eq!(
        (rsp["status"].as_str(), rsp["retcode"].as_i64(), rsp["echo"].as_str()),
        (Some("ok"), Some(0), Some("test_echo")),
        "{rsp}"
    );
    assert!(rsp["data"]["time"].is_f64() && rsp["data"]["message_id"].is_string());
    let sent: Vec<Value> = http.get(format!("{control}/sent")).send().await.unwrap().json().await.unwrap();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0]["func"], "send_image");
    assert_eq!(sent[0]["receiver"], "wxid_jj4mhsji9tjk22");
    assert_eq!(sent[0]["path"], image.to_str().unwrap());
    assert!(dir.path().join("config.yaml").exists());
    child.kill().await.unwrap();
}

#[tokio::test]
async fn acknowledged_category_changes_survive_sigkill() {
    let setup = crate::helpers::binary_setup(Duration::from_secs(5), "").await;
    let mut child = setup.start().await;
    let created = setup.call("create_group", serde_json::json!({"group_name": "durable"})).await;
    let id = created["data"]["id"].as_str().unwrap().to_owned();
    let added = setup.call("add_member_to_group", serde_json::json!({"group_id": id, "member_id": "wxid_alice"})).await;
    assert_eq!(added["retcode"], 0);
    child.start_kill().unwrap(); // SIGKILL: no shutdown code runs
    child.wait().await.unwrap();

    let mut child = setup.start().await;
    let members = setup.call("get_group_members", serde_json::json!({"group_name": "durable"})).await;
    assert_eq!(members["data"], serde_json::json!([{"id": "wxid_alice", "type": "user"}]));
    child.kill().await.unwrap();
}
