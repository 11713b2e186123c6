//! Nobody but the owner's bots gets in: browser requests and foreign Host names are refused
//! whatever the token (nothing reaches WeChat), the token is read strictly, local files are
//! read only inside `media.readable_dirs`, downloads never reach `media.deny_networks`.

use serde_json::{Value, json};

use crate::helpers::{PNG, TOKEN, file_server, raw_http, spawn_with};

fn envelope(body: &str) -> Value {
    serde_json::from_str(body).unwrap_or_else(|e| panic!("not an envelope ({e}): {body:?}"))
}

#[tokio::test]
async fn browser_requests_are_refused_whatever_the_token() {
    let app = spawn_with(|c| c.http_server.allowed_origins = vec!["http://localhost:3000".into()]).await;
    let q = format!("/send_message?detail_type=private&user_id=wxid_alice&message=x&access_token={TOKEN}");
    // What an <img src> or a fetch() from another site sends, with the right token.
    for (name, value, says) in [
        ("Sec-Fetch-Site", "cross-site", "Sec-Fetch-Site"),
        ("Sec-Fetch-Site", "same-site", "Sec-Fetch-Site"),
        ("Origin", "http://evil.example", "allowed_origins"),
        ("Origin", "null", "allowed_origins"),
    ] {
        let (status, _, body) = raw_http(&app.base, &format!("GET {q} HTTP/1.1"), &[(name, value)], "").await;
        assert_eq!(status, 403, "{name}: {value}");
        let e = envelope(&body);
        assert_eq!(e["retcode"], 10001);
        assert!(e["message"].as_str().unwrap().contains(says), "{e}");
        assert!(
            e["message"].as_str().unwrap().contains("http_server.allowed_origins"),
            "names the key that allows it: {e}"
        );
    }
    let post = json!({"params": {"detail_type": "private", "user_id": "wxid_alice", "message": "x"}}).to_string();
    let auth = format!("Bearer {TOKEN}");
    let (status, _, _) = raw_http(
        &app.base,
        "POST /send_message HTTP/1.1",
        &[
            ("Authorization", &auth),
            ("Content-Type", "application/json"),
            ("Origin", "http://evil.example"),
            ("Sec-Fetch-Site", "cross-site"),
        ],
        &post,
    )
    .await;
    assert_eq!(status, 403);
    // A WebSocket from a page: refused before the upgrade, with an envelope.
    let ws_headers = [
        ("Upgrade", "websocket"),
        ("Connection", "Upgrade"),
        ("Sec-WebSocket-Version", "13"),
        ("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="),
        ("Origin", "http://evil.example"),
    ];
    let (status, _, body) = raw_http(&app.base, &format!("GET /?access_token={TOKEN} HTTP/1.1"), &ws_headers, "").await;
    assert_eq!(status, 403);
    assert_eq!(envelope(&body)["retcode"], 10001);
    assert!(app.sent().await.is_empty(), "nothing reached WeChat");

    // The gateway's own origin, a listed origin, and plain bot clients pass.
    let own = app.base.clone();
    let (status, _, body) =
        raw_http(&app.base, &format!("GET {q} HTTP/1.1"), &[("Origin", &own), ("Sec-Fetch-Site", "same-origin")], "")
            .await;
    assert_eq!((status, envelope(&body)["retcode"].as_i64()), (200, Some(0)));
    let (status, head, _) = raw_http(
        &app.base,
        &format!("GET {q} HTTP/1.1"),
        &[("Origin", "http://localhost:3000"), ("Sec-Fetch-Site", "cross-site")],
        "",
    )
    .await;
    assert_eq!(status, 200);
    assert!(head.to_ascii_lowercase().contains("access-control-allow-origin: http://localhost:3000"), "{head}");
    let (status, head, _) = raw_http(
        &app.base,
        "OPTIONS /send_message HTTP/1.1",
        &[("Origin", "http://localhost:3000"), ("Access-Control-Request-Method", "POST")],
        "",
    )
    .await;
    assert_eq!(status, 204, "a listed origin gets its preflight answered");
    assert!(head.to_ascii_lowercase().contains("access-control-allow-headers"), "{head}");
    app.ok("send_message", json!({"detail_type": "private", "user_id": "wxid_alice", "message": "bot"})).await;
    assert_eq!(app.sent().await.len(), 3);
}

#[tokio::test]
async fn foreign_host_names_are_refused() {
    let app = spawn_with(|c| c.http_server.allowed_hosts = vec!["wechat.lan".into()]).await;
    let auth = format!("Bearer {TOKEN}");
    let q = "/send_message?detail_type=private&user_id=wxid_alice&message=x";
    for host in ["evil.example", "evil.example:10614", "127.0.0.1.nip.io", "10.1.2.3"] {
        let (status, _, body) =
            raw_http(&app.base, &format!("GET {q} HTTP/1.1"), &[("Host", host), ("Authorization", &auth)], "").await;
        assert_eq!(status, 403, "{host}");
        let e = envelope(&body);
        assert!(e["message"].as_str().unwrap().contains("http_server.allowed_hosts"), "{e}");
    }
    assert!(app.sent().await.is_empty(), "nothing reached WeChat");
    let port = app.base.rsplit(':').next().unwrap().to_owned();
    for host in [
        "localhost".to_owned(),
        format!("127.0.0.1:{port}"),
        format!("[::1]:{port}"),
        "wechat.lan".into(),
        "app.localhost".into(),
    ] {
        let (status, _, _) =
            raw_http(&app.base, "GET /get_status HTTP/1.1", &[("Host", &host), ("Authorization", &auth)], "").await;
        assert_eq!(status, 200, "{host}");
    }
}

#[tokio::test]
async fn a_fleet_node_accepts_its_own_node_address_as_host_and_nothing_else() {
    let app = spawn_with(|c| c.fleet.node_address = "http://node-1.fleet.lan:10614".into()).await;
    let auth = format!("Bearer {TOKEN}");
    let get = async |host: &str| {
        raw_http(&app.base, "GET /get_status HTTP/1.1", &[("Host", host), ("Authorization", &auth)], "").await.0
    };
    assert_eq!(get("node-1.fleet.lan:10614").await, 200);
    assert_eq!(get("NODE-1.fleet.lan").await, 200);
    assert_eq!(get("node-2.fleet.lan:10614").await, 403);
    assert_eq!(get("fleet.lan").await, 403);
}

#[tokio::test]
async fn tokens_are_read_strictly() {
    let app = spawn_with(|_| {}).await;
    let ok = |(s, _, b): (u16, String, String)| (s, envelope(&b)["retcode"].as_i64().unwrap());
    for scheme in ["Bearer", "bearer", "BEARER", "Token"] {
        let h = format!("{scheme} {TOKEN}");
        assert_eq!(
            ok(raw_http(&app.base, "GET /get_status HTTP/1.1", &[("Authorization", &h)], "").await),
            (200, 0),
            "{scheme}"
        );
    }
    let good = format!("Bearer {TOKEN}");
    let (status, _, body) =
        raw_http(&app.base, "GET /get_status HTTP/1.1", &[("Authorization", &good), ("Authorization", &good)], "")
            .await;
    assert_eq!(status, 400);
    assert!(envelope(&body)["message"].as_str().unwrap().contains("two Authorization headers"));
    let (status, _, body) =
        raw_http(&app.base, "GET /get_status?access_token=other HTTP/1.1", &[("Authorization", &good)], "").await;
    assert_eq!(status, 400);
    assert!(envelope(&body)["message"].as_str().unwrap().contains("different tokens"));
    let same = format!("GET /get_status?access_token={TOKEN} HTTP/1.1");
    assert_eq!(ok(raw_http(&app.base, &same, &[("Authorization", &good)], "").await), (200, 0));
    assert_eq!(raw_http(&app.base, "GET /get_status HTTP/1.1", &[("Authorization", "Bearer nope")], "").await.0, 403);
    assert_eq!(raw_http(&app.base, "GET /get_status HTTP/1.1", &[], "").await.0, 401);
}

#[cfg(unix)]
#[tokio::test]
async fn local_paths_only_inside_readable_dirs() {
    use std::os::unix::fs::PermissionsExt;
    // Off by default.
    let off = spawn_with(|_| {}).await;
    let secret = off.path("secret.txt");
    std::fs::write(&secret, "s3cret").unwrap();
    let msg = off.fails("upload_file", json!({"type": "path", "path": secret.to_str().unwrap()}), 10003).await;
    assert!(msg.contains("media.readable_dirs"), "{msg}");

    let readable = tempfile::tempdir().unwrap();
    let (inside, outside) = (readable.path().to_path_buf(), tempfile::tempdir().unwrap());
    let app = spawn_with(|c| {
        c.media.readable_dirs = vec![inside.clone(), "/dev".into(), "/proc".into()];
        c.media.max_upload_bytes = 1000;
    })
    .await;
    let path = |p: &std::path::Path| p.to_str().unwrap().to_owned();
    let fifo = inside.join("pipe");
    assert!(std::process::Command::new("mkfifo").arg(&fifo).status().unwrap().success());
    let msg = app.fails("upload_file", json!({"type": "path", "path": path(&fifo)}), 10003).await;
    assert!(msg.contains("not a regular file"), "a FIFO is refused, without hanging: {msg}");
    for pseudo in ["/dev/zero", "/proc/self/environ", "/dev/urandom"] {
        app.fails("upload_file", json!({"type": "path", "path": pseudo}), 10003).await;
    }
    std::fs::write(outside.path().join("x.txt"), "x").unwrap();
    let msg =
        app.fails("upload_file", json!({"type": "path", "path": path(&outside.path().join("x.txt"))}), 10003).await;
    assert!(msg.contains("outside media.readable_dirs"), "{msg}");
    std::os::unix::fs::symlink(outside.path().join("x.txt"), inside.join("link.txt")).unwrap();
    let msg = app.fails("upload_file", json!({"type": "path", "path": path(&inside.join("link.txt"))}), 10003).await;
    assert!(msg.contains("outside media.readable_dirs"), "a symlink out of the folder is followed and refused: {msg}");
    std::fs::write(inside.join("big.bin"), vec![0u8; 1001]).unwrap();
    let msg = app.fails("upload_file", json!({"type": "path", "path": path(&inside.join("big.bin"))}), 10003).await;
    assert!(msg.contains("media.max_upload_bytes"), "{msg}");
    std::fs::write(inside.join("ok.txt"), "fine").unwrap();
    let id =
        app.ok("upload_file", json!({"type": "path", "path": path(&inside.join("ok.txt"))})).await["file_id"].clone();
    let stored = app.ok("get_file", json!({"file_id": id, "type": "path"})).await;
    let stored = std::path::PathBuf::from(stored["path"].as_str().unwrap());
    assert_eq!(std::fs::read_to_string(&stored).unwrap(), "fine");
    assert_eq!(std::fs::metadata(&stored).unwrap().permissions().mode() & 0o777, 0o600, "owner-only copy");
    assert_eq!(std::fs::metadata(stored.parent().unwrap()).unwrap().permissions().mode() & 0o777, 0o700);
    let b64 = base64::Engine::encode(&base64::engine::general_purpose::STANDARD, vec![7u8; 1001]);
    assert!(app.fails("upload_file", json!({"type": "data", "data": b64}), 10003).await.contains("max_upload_bytes"));
}

#[tokio::test]
async fn downloads_never_reach_denied_networks() {
    use axum::response::Redirect;
    use axum::routing::get;
    let files = file_server().await;
    // A server that redirects into a denied address.
    let hits = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let h = hits.clone();
    let redirector = axum::Router::new()
        .route("/to-denied", get(|| async { Redirect::temporary("http://127.0.0.2:9/image.png") }))
        .route(
            "/image.png",
            get(move || {
                h.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                async { ([("content-type", "image/png")], PNG) }
            }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let redir = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, redirector).await.unwrap() });

    let app = spawn_with(|c| c.media.deny_networks = vec!["127.0.0.2/32".into(), "::1/128".into()]).await;
    let denied = |m: &str| m.contains("media.deny_networks") && m.contains("not allowed");
    let m = app.fails("upload_file", json!({"type": "url", "url": "http://127.0.0.2:9/x.png"}), 33002).await;
    assert!(denied(&m), "an IP literal: {m}");
    let m = app.fails("upload_file", json!({"type": "url", "url": format!("{redir}/to-denied")}), 33002).await;
    assert!(denied(&m), "a redirect hop into it: {m}");
    app.ok("upload_file", json!({"type": "url", "url": format!("{files}/image.png")})).await;

    // Names are checked on what they resolve to; open and closed ports answer alike.
    let app = spawn_with(|c| c.media.deny_networks = vec!["127.0.0.0/8".into(), "::1/128".into()]).await;
    let port = redir.rsplit(':').next().unwrap();
    let open = app
        .fails("upload_file", json!({"type": "url", "url": format!("http://localhost:{port}/image.png")}), 33002)
        .await;
    assert!(denied(&open), "{open}");
    let closed = app.fails("upload_file", json!({"type": "url", "url": "http://localhost:9/image.png"}), 33002).await;
    assert_eq!(open.replace(port, "P"), closed.replace(":9/", ":P/"), "nothing tells an open port from a closed one");
    let m = app
        .fails("send_message", json!({"detail_type": "private", "user_id": "wxid_alice", "message": [{"type": "image", "data": {"url": format!("{redir}/image.png")}}]}), 33002)
        .await;
    assert!(denied(&m), "{m}");
    assert_eq!(hits.load(std::sync::atomic::Ordering::SeqCst), 0, "no denied address was contacted");
    assert!(app.sent().await.is_empty());
}
