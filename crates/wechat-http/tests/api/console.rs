//! The console's server side over real HTTP: the page and its security headers, signing in and
//! out with the session cookie, the cookie standing in for the token (with the anti-forgery
//! header for anything that changes state), cross-site refusals, the sign-in limit, and the
//! read-only views. The page itself is driven in a real Chromium by
//! `tests/crosscheck/test_console.py`.

use serde_json::{Value, json};

use crate::helpers::{TOKEN, raw_http, spawn_app, spawn_with};

fn envelope(body: &str) -> Value {
    serde_json::from_str(body).unwrap_or_else(|e| panic!("not an envelope ({e}): {body:?}"))
}

fn header<'a>(head: &'a str, name: &str) -> Option<&'a str> {
    head.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.trim().eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

/// Signs in; returns the `Cookie` header value.
async fn sign_in(base: &str) -> String {
    let body = json!({ "token": TOKEN }).to_string();
    let (status, head, body) =
        raw_http(base, "POST /console/session HTTP/1.1", &[("Content-Type", "application/json")], &body).await;
    assert_eq!(status, 200, "{body}");
    let cookie = header(&head, "set-cookie").expect("a session cookie");
    for attribute in ["HttpOnly", "SameSite=Strict", "Path=/", "Max-Age=43200"] {
        assert!(cookie.contains(attribute), "{attribute} in {cookie}");
    }
    assert!(!cookie.contains(TOKEN), "the cookie is not the token");
    cookie.split(';').next().unwrap().to_owned()
}

#[tokio::test]
async fn the_page_is_served_without_a_token_with_a_strict_content_policy() {
    let app = spawn_app().await;
    for (path, kind) in [
        ("/console", "text/html"),
        ("/console/", "text/html"),
        ("/console/app.js", "javascript"),
        ("/console/app.css", "text/css"),
    ] {
        let (status, head, body) = raw_http(&app.base, &format!("GET {path} HTTP/1.1"), &[], "").await;
        assert_eq!(status, 200, "{path}");
        assert!(header(&head, "content-type").unwrap().contains(kind), "{path}: {head}");
        let csp = header(&head, "content-security-policy").expect("a content policy");
        assert!(csp.contains("default-src 'none'") && csp.contains("connect-src 'self'"), "{csp}");
        assert!(!csp.contains("https:"), "no remote images unless console.remote_avatars: {csp}");
        assert_eq!(header(&head, "x-frame-options"), Some("DENY"));
        assert!(!body.is_empty());
    }
    // Nothing in the page refers to another host.
    let (_, _, html) = raw_http(&app.base, "GET /console HTTP/1.1", &[], "").await;
    let (_, _, js) = raw_http(&app.base, "GET /console/app.js HTTP/1.1", &[], "").await;
    for text in [&html, &js] {
        assert!(!text.contains("http://") && !text.contains("https://"), "no absolute URL in the console");
    }
    let (status, _, _) = raw_http(&app.base, "POST /console HTTP/1.1", &[], "x").await;
    assert_eq!(status, 405);
}

#[tokio::test]
async fn signing_in_gives_a_session_that_stands_in_for_the_token_until_sign_out() {
    let app = spawn_app().await;
    app.wait_connected().await;
    let (status, _, body) = raw_http(&app.base, "GET /console/api/overview HTTP/1.1", &[], "").await;
    assert_eq!(status, 401, "no token, no session: {body}");

    let cookie = sign_in(&app.base).await;
    let (status, _, body) = raw_http(&app.base, "GET /console/session HTTP/1.1", &[("Cookie", &cookie)], "").await;
    assert_eq!(status, 200);
    assert_eq!(envelope(&body)["data"]["signed_in"], true);

    let (status, _, body) = raw_http(&app.base, "GET /console/api/overview HTTP/1.1", &[("Cookie", &cookie)], "").await;
    assert_eq!(status, 200, "{body}");
    let o = envelope(&body)["data"].clone();
    assert_eq!(o["accounts"][0]["state"], "connected");
    assert_eq!(o["accounts"][0]["wxid"], "wxid_bot");
    assert_eq!(o["accounts"][0]["send_queue"], 0);

    // The ordinary actions with the cookie: reads as is, changes only with the console header.
    let (status, _, body) = raw_http(&app.base, "GET /get_groups HTTP/1.1", &[("Cookie", &cookie)], "").await;
    assert_eq!((status, envelope(&body)["retcode"].as_i64()), (200, Some(0)), "{body}");
    let create = json!({"params": {"group_name": "VIP"}}).to_string();
    let (status, _, body) = raw_http(
        &app.base,
        "POST /create_group HTTP/1.1",
        &[("Cookie", &cookie), ("Content-Type", "application/json")],
        &create,
    )
    .await;
    assert_eq!(status, 403);
    assert!(envelope(&body)["message"].as_str().unwrap().contains("X-WeChat-Console: 1"), "{body}");
    assert!(app.ok("get_groups", json!({})).await.as_array().unwrap().is_empty(), "nothing was created");
    let (status, _, body) = raw_http(
        &app.base,
        "POST /create_group HTTP/1.1",
        &[("Cookie", &cookie), ("Content-Type", "application/json"), ("X-WeChat-Console", "1")],
        &create,
    )
    .await;
    assert_eq!((status, envelope(&body)["retcode"].as_i64()), (200, Some(0)), "{body}");

    // Sign out: the cookie is cleared and the old session opens nothing.
    let (status, head, _) =
        raw_http(&app.base, "DELETE /console/session HTTP/1.1", &[("Cookie", &cookie), ("X-WeChat-Console", "1")], "")
            .await;
    assert_eq!(status, 200);
    assert!(header(&head, "set-cookie").unwrap().contains("Max-Age=0"));
    let (status, _, _) = raw_http(&app.base, "GET /console/api/overview HTTP/1.1", &[("Cookie", &cookie)], "").await;
    assert_eq!(status, 401);
    let (_, _, body) = raw_http(&app.base, "GET /console/session HTTP/1.1", &[("Cookie", &cookie)], "").await;
    assert_eq!(envelope(&body)["data"]["signed_in"], false);
    // A made-up session id is no better.
    let forged = format!("wechat_http_console={}", "0".repeat(64));
    let (status, _, _) = raw_http(&app.base, "GET /get_groups HTTP/1.1", &[("Cookie", &forged)], "").await;
    assert_eq!(status, 401);
}

#[tokio::test]
async fn other_sites_cannot_sign_in_or_use_a_session() {
    let app = spawn_app().await;
    let cookie = sign_in(&app.base).await;
    let body = json!({ "token": TOKEN }).to_string();
    for (name, value) in [("Sec-Fetch-Site", "cross-site"), ("Origin", "http://evil.example")] {
        let (status, head, answer) = raw_http(
            &app.base,
            "POST /console/session HTTP/1.1",
            &[("Content-Type", "application/json"), (name, value)],
            &body,
        )
        .await;
        assert_eq!(status, 403, "{name}: {answer}");
        assert!(header(&head, "set-cookie").is_none());
        let (status, _, _) = raw_http(
            &app.base,
            "POST /create_group HTTP/1.1",
            &[("Cookie", &cookie), ("X-WeChat-Console", "1"), ("Content-Type", "application/json"), (name, value)],
            &json!({"params": {"group_name": "evil"}}).to_string(),
        )
        .await;
        assert_eq!(status, 403);
    }
    assert!(app.ok("get_groups", json!({})).await.as_array().unwrap().is_empty());
}

#[tokio::test]
async fn wrong_tokens_are_refused_and_limited() {
    let app = spawn_app().await;
    let (status, _, body) = raw_http(
        &app.base,
        "POST /console/session HTTP/1.1",
        &[("Content-Type", "application/json")],
        &json!({"password": TOKEN}).to_string(),
    )
    .await;
    assert_eq!((status, envelope(&body)["retcode"].as_i64()), (200, Some(10003)), "{body}");
    assert!(envelope(&body)["message"].as_str().unwrap().contains("{\"token\""));
    let wrong = json!({ "token": "guess" }).to_string();
    for _ in 0..20 {
        let (status, head, body) =
            raw_http(&app.base, "POST /console/session HTTP/1.1", &[("Content-Type", "application/json")], &wrong)
                .await;
        assert_eq!(status, 403, "{body}");
        assert!(header(&head, "set-cookie").is_none());
    }
    // Over the allowance even the right token waits a minute.
    let right = json!({ "token": TOKEN }).to_string();
    let (status, _, body) =
        raw_http(&app.base, "POST /console/session HTTP/1.1", &[("Content-Type", "application/json")], &right).await;
    assert_eq!(status, 429, "{body}");
    assert_eq!(envelope(&body)["retcode"], 36002);
    assert!(envelope(&body)["message"].as_str().unwrap().contains("wait a minute"));
    // Bots with the token are not affected.
    assert!(app.ok("get_groups", json!({})).await.is_array());
}

#[tokio::test]
async fn views_answer_and_explain_bad_input() {
    let app = spawn_app().await;
    app.wait_connected().await;
    app.ok("create_group", json!({"group_name": "VIP"})).await;
    let id =
        app.ok("get_group_id_by_name", json!({"group_name": "VIP"})).await["group_id"].as_str().unwrap().to_owned();
    app.ok("add_member_to_group", json!({"group_id": id, "member_id": "wxid_alice"})).await;
    let cookie = sign_in(&app.base).await;
    let get = |path: String| {
        let base = app.base.clone();
        let cookie = cookie.clone();
        async move {
            let (status, head, body) =
                raw_http(&base, &format!("GET {path} HTTP/1.1"), &[("Cookie", &cookie)], "").await;
            (status, head, body)
        }
    };

    let (_, _, body) = get("/console/api/contacts".into()).await;
    let contacts = envelope(&body)["data"].as_array().unwrap().clone();
    let alice = contacts.iter().find(|c| c["id"] == "wxid_alice").unwrap();
    assert_eq!(alice["type"], "user");
    assert_eq!(alice["categories"][0]["name"], "VIP");
    assert_eq!(alice["avatar"], "", "no remote avatar unless console.remote_avatars");
    assert!(contacts.iter().any(|c| c["id"] == "1001@chatroom" && c["type"] == "group_chat"));
    assert!(contacts.iter().any(|c| c["id"] == "gh_news" && c["type"] == "official"));
    assert!(
        !contacts.iter().any(|c| c["id"] == "wxid_bot" || c["id"] == "filehelper"),
        "not self, not system accounts"
    );

    // A broadcast shows up in the jobs view with its counts and text.
    app.ok("send_message", json!({"group_ids": [id], "message": [{"type": "text", "data": {"text": "weekly news"}}]}))
        .await;
    let (_, _, body) = get("/console/api/jobs".into()).await;
    let jobs = envelope(&body)["data"].clone();
    assert_eq!(
        (jobs[0]["state"].as_str(), jobs[0]["sent"].as_i64(), jobs[0]["total"].as_i64()),
        (Some("done"), Some(1), Some(1))
    );
    assert_eq!(jobs[0]["text"], "weekly news");

    // The event tail: an injected message, then nothing new after its sequence.
    app.control("/messages", json!({"from": "wxid_bob", "text": "tail me"})).await;
    let line = crate::helpers::within("the event in the tail", async {
        loop {
            let (_, _, body) = get("/console/api/events".into()).await;
            let d = envelope(&body)["data"].clone();
            if let Some(l) = d["events"].as_array().unwrap().iter().find(|e| e["text"] == "tail me") {
                return (l.clone(), d["upto"].as_i64().unwrap());
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    })
    .await;
    assert_eq!((line.0["type"].as_str(), line.0["sender"].as_str()), (Some("message"), Some("wxid_bob")));
    let (_, _, body) = get(format!("/console/api/events?after={}", line.1)).await;
    assert!(!envelope(&body)["data"]["events"].as_array().unwrap().iter().any(|e| e["text"] == "tail me"));

    let (_, _, body) = get("/console/api/events?after=soon".into()).await;
    let e = envelope(&body);
    assert_eq!(e["retcode"], 10003);
    assert!(e["message"].as_str().unwrap().contains("after must be a whole number"));
    let (status, _, body) = get("/console/api/secrets".into()).await;
    assert_eq!(status, 404, "{body}");
    let (_, _, body) = get("/console/api/contacts?account=nobody".into()).await;
    assert_eq!(envelope(&body)["retcode"], 10102);

    // The QR code: only while logged out, as an SVG image.
    let (_, _, body) = get("/console/api/qr".into()).await;
    assert!(envelope(&body)["message"].as_str().unwrap().contains("is logged in"), "{body}");
    app.control("/faults", json!({"kind": "logout"})).await;
    let svg = crate::helpers::within("the QR code", async {
        loop {
            let (status, head, body) = get("/console/api/qr".into()).await;
            if status == 200 && header(&head, "content-type") == Some("image/svg+xml") {
                return body;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    })
    .await;
    assert!(svg.starts_with("<svg") && svg.contains("<path d=\"M"), "{svg}");
}

#[tokio::test]
async fn a_console_turned_off_is_not_there() {
    let app = spawn_with(|c| c.console.enabled = false).await;
    for path in ["/console", "/console/app.js", "/console/session", "/console/api/overview"] {
        let auth = format!("Bearer {TOKEN}");
        let (status, _, body) =
            raw_http(&app.base, &format!("GET {path} HTTP/1.1"), &[("Authorization", &auth)], "").await;
        assert_eq!(status, 404, "{path}: {body}");
        assert!(envelope(&body)["message"].as_str().unwrap().contains("console.enabled"));
    }
}

#[tokio::test]
async fn the_overview_lists_the_long_poll_channel_with_its_backlog() {
    let app = spawn_with(|c| c.http_server.event_enabled = true).await;
    app.wait_connected().await;
    let cookie = sign_in(&app.base).await;
    let long_poll = || {
        let base = app.base.clone();
        let cookie = cookie.clone();
        async move {
            let (_, _, body) = raw_http(&base, "GET /console/api/overview HTTP/1.1", &[("Cookie", &cookie)], "").await;
            let channels = envelope(&body)["data"]["channels"].clone();
            channels
                .as_array()
                .unwrap()
                .iter()
                .find(|c| c["kind"] == "long_poll")
                .cloned()
                .expect("a long-poll channel")
        }
    };
    assert_eq!(long_poll().await["last_success"], Value::Null, "listed before the first poll");
    app.ok("get_latest_events", json!({})).await; // the cursor starts here
    for i in 0..3 {
        app.control("/messages", json!({"from": "wxid_bob", "text": format!("poll {i}")})).await;
    }
    let backlog = crate::helpers::within("the backlog", async {
        loop {
            let c = long_poll().await;
            if c["backlog"].as_i64().unwrap_or(0) >= 3 {
                return c["backlog"].as_i64().unwrap();
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    })
    .await;
    assert!(backlog >= 3);
    let got = app.ok("get_latest_events", json!({})).await;
    assert_eq!(got.as_array().unwrap().iter().filter(|e| e["type"] == "message").count(), 3);
    let c = long_poll().await;
    assert_eq!(c["backlog"], 0, "{c}");
    assert!(c["last_success"].as_f64().is_some(), "{c}");
}
