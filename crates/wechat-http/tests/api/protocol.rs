//! Transport and envelope: auth, content types, limits, malformed requests, the three ways to
//! call an action, meta actions, OpenAPI and docs.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{TOKEN, spawn_app};

#[tokio::test]
async fn auth_missing_wrong_and_query_token() {
    let app = spawn_app().await;
    let url = format!("{}/get_groups", app.base);
    let r = app.http.get(&url).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let body: Value = r.json().await.unwrap();
    assert!(body["message"].as_str().unwrap().contains("Authorization: Bearer"));
    let r = app.http.get(&url).bearer_auth("wrong").send().await.unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let r = app.http.get(format!("{url}?access_token=wrong")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let r = app.http.get(format!("{url}?access_token={TOKEN}")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    // The chat image route is protected too; the docs are not.
    let r = app.http.get(format!("{}/chat_image/2026-01-01/x.png", app.base)).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let r = app.http.get(format!("{}/docs", app.base)).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.text().await.unwrap().contains("openapi.json"));
}

#[tokio::test]
async fn malformed_requests_get_clear_errors() {
    let app = spawn_app().await;
    let post_raw = |path: &str, ct: &str, body: Vec<u8>| {
        app.http.post(format!("{}{path}", app.base)).bearer_auth(TOKEN).header("content-type", ct).body(body).send()
    };
    let r = post_raw("/create_group", "application/json", b"{not json".to_vec()).await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let b: Value = r.json().await.unwrap();
    assert_eq!(b["retcode"], 10001);
    assert!(b["message"].as_str().unwrap().contains("not valid JSON"));

    let r = post_raw("/create_group", "text/plain", b"group_name=x".to_vec()).await.unwrap();
    assert_eq!(r.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let b: Value = r.json().await.unwrap();
    assert!(b["message"].as_str().unwrap().contains("application/json"));

    let big = serde_json::to_vec(&json!({"params": {"group_name": "x".repeat(70_000)}})).unwrap();
    let r = post_raw("/create_group", "application/json", big).await.unwrap();
    assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE);
    let b: Value = r.json().await.unwrap();
    assert!(b["message"].as_str().unwrap().contains("max_body_bytes"));

    let (s, b) = app.post("/create_group", json!([1, 2])).await;
    assert_eq!((s, b["retcode"].as_i64()), (StatusCode::OK, Some(10001)));
    let (_, b) = app.post("/create_group", json!({"action": "create_group", "params": "x"})).await;
    assert_eq!(b["retcode"], 10001);
    assert!(b["message"].as_str().unwrap().contains("`params` must be a JSON object"));
    let (_, b) = app.post("/create_group", json!({"action": 5})).await;
    assert_eq!(b["retcode"], 10001);

    let (s, b) = app.post("/create_group", json!({"action": "delete_group", "params": {}, "echo": 7})).await;
    assert_eq!((s, b["retcode"].as_i64(), b["echo"].as_i64()), (StatusCode::OK, Some(10002), Some(7)));
    assert!(
        b["message"].as_str().unwrap().contains("does not match")
            || b["message"].as_str().unwrap().contains("path is /create_group")
    );

    let (s, b) = app.post("/no_such_action", json!({})).await;
    assert_eq!((s, b["retcode"].as_i64()), (StatusCode::NOT_FOUND, Some(10002)));
    let (s, b) = app.get("/some/deep/path").await;
    assert_eq!((s, b["retcode"].as_i64()), (StatusCode::NOT_FOUND, Some(10002)));

    let (s, b) = app.get("/create_group?group_name=x").await;
    assert_eq!(s, StatusCode::METHOD_NOT_ALLOWED);
    assert!(b["message"].as_str().unwrap().contains("use POST /create_group"));
}

#[tokio::test]
async fn onebot_root_envelope() {
    let app = spawn_app().await;
    let (s, b) = app.post("/", json!({"action": "get_version", "params": {}, "echo": {"n": 1}})).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(b["data"]["impl"], "wechat-http");
    assert_eq!(b["data"]["onebot_version"], "12");
    assert_eq!(b["echo"], json!({"n": 1}));
    let (s, b) = app.post("/", json!({"params": {}})).await;
    assert_eq!((s, b["retcode"].as_i64()), (StatusCode::OK, Some(10001)));
    assert!(b["message"].as_str().unwrap().contains("missing `action`"));
    let (s, b) = app.post("/", json!({"action": "fly_to_moon", "echo": "x"})).await;
    assert_eq!((s, b["retcode"].as_i64(), b["echo"].as_str()), (StatusCode::OK, Some(10002), Some("x")));
    let (_, b) =
        app.post("/", json!({"action": "get_self_info", "self": {"platform": "wechat", "user_id": "wxid_bot"}})).await;
    assert_eq!(b["data"]["user_id"], "wxid_bot");
    let (_, b) = app.post("/", json!({"action": "get_self_info", "self": {"platform": "qq", "user_id": "1"}})).await;
    assert_eq!(b["retcode"], 10102);
    let (s, _) = app.get("/").await;
    assert_eq!(s, StatusCode::METHOD_NOT_ALLOWED);
    // The same action three ways gives the same data.
    let via_path = app.ok("get_groups", json!({})).await;
    let (_, via_get) = app.get("/get_groups").await;
    let (_, via_root) = app.post("/", json!({"action": "get_groups"})).await;
    assert_eq!(via_get["data"], via_path);
    assert_eq!(via_root["data"], via_path);
    // A body without `params` is the params itself.
    let (_, b) = app.post("/create_group", json!({"group_name": "flat"})).await;
    assert_eq!(b["data"]["name"], "flat");
}

#[tokio::test]
async fn meta_actions_and_openapi() {
    let app = spawn_app().await;
    let status = app.ok("get_status", json!({})).await;
    assert_eq!(status["good"], true);
    assert_eq!(status["wx.backend"], "connected");
    let actions = app.ok("get_supported_actions", json!({})).await;
    let names: Vec<&str> = actions.as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect();
    for a in ["send_message", "create_group", "handle_friend_request", "get_group_member_info", "get_gh_list"] {
        assert!(names.contains(&a), "{a}");
    }
    let me = app.ok("get_self_info", json!({})).await;
    assert_eq!((me["user_id"].as_str(), me["user_name"].as_str()), (Some("wxid_bot"), Some("Demo Bot")));

    let doc: Value = app.http.get(format!("{}/openapi.json", app.base)).send().await.unwrap().json().await.unwrap();
    assert_eq!(doc["openapi"], "3.1.0");
    for a in &names {
        assert!(doc["paths"][format!("/{a}")]["post"].is_object(), "{a} in openapi");
    }
    assert!(doc["paths"]["/get_friend_list"]["get"].is_object());
    assert!(doc["paths"]["/create_group"]["get"].is_null());
    assert_eq!(
        doc["paths"]["/create_group"]["post"]["requestBody"]["content"]["application/json"]["schema"]["properties"]["params"]
            ["required"],
        json!(["group_name"])
    );
}

#[tokio::test]
async fn backend_absent_logged_out_and_back() {
    let app = spawn_app().await;
    app.control("/faults", json!({"kind": "logout"})).await;
    crate::helpers::within("logged out", async {
        loop {
            let s = app.ok("get_status", json!({})).await;
            if s["wx.backend"] == "logged_out" {
                assert_eq!(s["good"], false);
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    })
    .await;
    let msg = app
        .fails("send_message", json!({"detail_type": "private", "user_id": "wxid_alice", "message": "hi"}), 34001)
        .await;
    assert!(msg.contains("not logged in"), "{msg}");
    app.control("/faults", json!({"kind": "login"})).await;
    app.wait_connected().await;
    app.ok("send_message", json!({"detail_type": "private", "user_id": "wxid_alice", "message": "back"})).await;

    // Pointing at a WeChat that is not there: the gateway starts, reports it, and keeps trying.
    let dir = tempfile::tempdir().unwrap();
    let mut config = crate::helpers::test_config(dir.path(), "tcp://127.0.0.1:9");
    config.wcf.call_timeout_ms = 300;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let gw = wechat_http::start(config, listener).await.unwrap();
    let r: Value = app
        .http
        .post(format!("http://{}/get_friend_list", gw.addr()))
        .bearer_auth(TOKEN)
        .json(&json!({}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(r["retcode"], 33001, "{r}");
    assert!(r["message"].as_str().unwrap().contains("not reachable"));
    let r: Value = app
        .http
        .get(format!("http://{}/get_status", gw.addr()))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!((r["data"]["good"].as_bool(), r["data"]["wx.backend"].as_str()), (Some(false), Some("disconnected")));
    gw.shutdown().await;
}
