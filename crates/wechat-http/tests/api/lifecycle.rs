//! The real binary from start to stop: the first run's random token, warnings for a weak
//! token and unknown environment variables, a store that cannot be written (at start and
//! later), SIGTERM in every state, and `wss://` reverse WebSocket against a local TLS server.

use std::process::Stdio;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};

use crate::helpers::{binary_setup, within};

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

async fn get(http: &reqwest::Client, url: &str, token: &str) -> Option<Value> {
    let r = http.get(url).bearer_auth(token).send().await.ok()?;
    r.json().await.ok()
}

#[cfg(unix)]
#[tokio::test]
async fn the_first_run_writes_a_random_token_and_prints_it_once() {
    use std::os::unix::fs::PermissionsExt;
    let setup = binary_setup(Duration::from_secs(5), "").await;
    std::fs::remove_file(setup.dir.path().join("config.yaml")).unwrap();
    let port = free_port();
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_wechat-http"))
        .args(["serve", "--config", "config.yaml"])
        .current_dir(setup.dir.path())
        .env("RUST_LOG", "warn")
        .env("WECHAT_HTTP_HTTP_SERVER__HTTP_ADDRESS", format!("http://127.0.0.1:{port}"))
        .env("WECHAT_HTTP_WCF__ADDRESS", setup.emu.address())
        .env_remove("WECHAT_HTTP_CONFIG")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let token = within("the token on stdout", async {
        loop {
            let line = lines.next_line().await.unwrap().unwrap();
            let t = line.trim();
            if t.len() >= 22 && !t.contains(' ') && t.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
            {
                break t.to_owned();
            }
        }
    })
    .await;
    let path = setup.dir.path().join("config.yaml");
    assert!(std::fs::read_to_string(&path).unwrap().contains(&format!("access_token: {token}")));
    assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600, "the token is the owner's only");
    let http = reqwest::Client::new();
    let base = format!("http://127.0.0.1:{port}");
    let status = within("the API up", async {
        loop {
            if let Some(v) = get(&http, &format!("{base}/get_status"), &token).await {
                break v;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    assert_eq!(status["retcode"], 0);
    assert!(!status["data"]["wx.warnings"].to_string().contains("access_token"), "a random token is no warning");
    let r = http.get(format!("{base}/get_status")).bearer_auth("rikka-bot").send().await.unwrap();
    assert_eq!(r.status(), 403, "the public default is not the token");
    child.kill().await.unwrap();
}

#[tokio::test]
async fn a_weak_token_and_stray_variables_are_warnings_not_errors() {
    let setup = binary_setup(Duration::from_secs(5), "").await;
    let yaml = std::fs::read_to_string(setup.dir.path().join("config.yaml"))
        .unwrap()
        .replace("access_token: k", "access_token: rikka-bot");
    std::fs::write(setup.dir.path().join("config.yaml"), yaml).unwrap();
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_wechat-http"))
        .args(["serve", "--config", "config.yaml"])
        .current_dir(setup.dir.path())
        .env("RUST_LOG", "warn")
        .env("WECHAT_HTTP_BIN", "/usr/local/bin/wechat-http")
        .env_remove("WECHAT_HTTP_CONFIG")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let http = reqwest::Client::new();
    let status = within("the API up", async {
        loop {
            if let Some(v) = get(&http, &format!("{}/get_status", setup.base), "rikka-bot").await {
                break v;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    let warnings = status["data"]["wx.warnings"].to_string();
    assert!(warnings.contains("access_token") && warnings.contains("rikka-bot"), "{warnings}");
    assert!(warnings.contains("WECHAT_HTTP_BIN"), "{warnings}");
    child.start_kill().unwrap();
    let out = child.wait_with_output().await.unwrap();
    let log = String::from_utf8_lossy(&out.stdout);
    assert!(log.contains("access_token") && log.contains("WECHAT_HTTP_BIN"), "logged at start: {log}");
}

/// Runs `cmd` as the unprivileged `nobody` (root would ignore the permissions under test).
#[cfg(target_os = "linux")]
fn as_nobody(dir: &std::path::Path) -> tokio::process::Command {
    let mut c = tokio::process::Command::new("setpriv");
    c.args([
        "--reuid=65534",
        "--regid=65534",
        "--clear-groups",
        env!("CARGO_BIN_EXE_wechat-http"),
        "serve",
        "--config",
        "config.yaml",
    ])
    .current_dir(dir)
    .env("RUST_LOG", "warn")
    .env_remove("WECHAT_HTTP_CONFIG")
    .kill_on_drop(true);
    c
}

/// A folder `nobody` can use, holding a copy of the test binary's config.
#[cfg(target_os = "linux")]
fn nobody_dir(setup: &crate::helpers::BinarySetup) -> std::path::PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let dir = setup.dir.path().join("nobody");
    std::fs::create_dir(&dir).unwrap();
    let yaml = std::fs::read_to_string(setup.dir.path().join("config.yaml")).unwrap();
    std::fs::write(
        dir.join("config.yaml"),
        format!("{yaml}db_dir_path: ./db\nimg_dir_path: ./img\nmedia:\n  staging_dir: ./staging\n"),
    )
    .unwrap();
    for p in [setup.dir.path().to_path_buf(), dir.clone()] {
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o777)).unwrap();
    }
    std::fs::set_permissions(dir.join("config.yaml"), std::fs::Permissions::from_mode(0o644)).unwrap();
    dir
}

#[cfg(target_os = "linux")]
#[tokio::test]
async fn a_database_folder_that_cannot_be_written_stops_start_up_with_its_path() {
    use std::os::unix::fs::PermissionsExt;
    let setup = binary_setup(Duration::from_secs(5), "").await;
    let dir = nobody_dir(&setup);
    let db = dir.join("db");
    std::fs::create_dir(&db).unwrap();
    std::fs::set_permissions(&db, std::fs::Permissions::from_mode(0o555)).unwrap();
    let out = within("the gateway to give up", as_nobody(&dir).stdout(Stdio::null()).stderr(Stdio::piped()).output())
        .await
        .unwrap();
    assert!(!out.status.success(), "start-up stopped");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("database folder") && err.contains("db") && err.contains("ermission denied"), "{err}");
}

#[cfg(target_os = "linux")]
#[tokio::test]
async fn when_writes_fail_later_sends_are_refused_before_wechat_sees_them() {
    let setup = binary_setup(Duration::from_secs(5), "answer_delay_rand_min: 0\nanswer_delay_rand_max: 0\n").await;
    let mut child = setup.start().await;
    let pid = child.id().unwrap();
    // The process may not grow any file from now on (a full disk, as the kernel sees it):
    // the next write that needs space fails. Only the soft limit moves, so it can come back.
    let limit = |soft: &str| {
        let arg = format!("--fsize={soft}:unlimited");
        let ok =
            std::process::Command::new("prlimit").args(["--pid", &pid.to_string(), &arg]).status().unwrap().success();
        assert!(ok, "prlimit");
    };
    limit("0");
    let mut refused = None;
    for i in 0..20 {
        let r = setup
            .call(
                "send_message",
                json!({"detail_type": "private", "user_id": "wxid_bob", "message": format!("no {i}")}),
            )
            .await;
        if r["retcode"] != 0 {
            refused = Some(r);
            break;
        }
    }
    let r = refused.expect("a send is refused once the store cannot be written");
    assert_eq!(r["retcode"], 31001, "{r}");
    assert!(r["wx.error_id"].is_string(), "{r}");
    let texts: Vec<String> = setup.emu.wechat().sent().iter().filter_map(|s| s.text.clone()).collect();
    let refused_text = format!("no {}", texts.len());
    assert!(!texts.contains(&refused_text), "the refused send never reached WeChat: {texts:?}");
    let s = setup.call("get_status", json!({})).await;
    assert_eq!((s["data"]["good"].as_bool(), s["data"]["wx.store"].as_str()), (Some(false), Some("failing")), "{s}");
    assert!(s["data"]["wx.warnings"].to_string().contains("cannot write its database"));
    // Space again: the probe notices and sends work again.
    limit("unlimited");
    within("the store healthy again", async {
        while setup.call("get_status", json!({})).await["data"]["good"] != true {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await;
    assert_eq!(
        setup.call("send_message", json!({"detail_type": "private", "user_id": "wxid_bob", "message": "back"})).await["retcode"],
        0
    );
    child.kill().await.unwrap();
}

#[cfg(unix)]
#[tokio::test]
async fn sigterm_stops_within_ten_seconds_whatever_is_going_on() {
    use axum::routing::{get, post};
    // A webhook target and a file server that accept and never answer.
    let never = axum::Router::new()
        .route("/hook", post(|| async { std::future::pending::<()>().await }))
        .route("/slow.png", get(|| async { std::future::pending::<()>().await }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let stuck = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, never).await.unwrap() });
    let fixture = crate::helpers::fixture_with((0..20).map(|i| format!("wxid_s{i:02}")));
    let setup = crate::helpers::binary_setup_with(
        fixture,
        Duration::from_secs(5),
        &format!(
            "answer_delay_rand_min: 3\nanswer_delay_rand_max: 3\nhttp_post:\n  - url: {stuck}/hook\n    time_out: 120\nmedia:\n  download_timeout: 120\nhttp_server:\n  http_address: PLACEHOLDER\n"
        ),
    )
    .await;
    // (binary_setup wrote http_server first; drop the placeholder section again.)
    let yaml = std::fs::read_to_string(setup.dir.path().join("config.yaml")).unwrap();
    let yaml = yaml
        .split("http_server:\n  http_address: PLACEHOLDER\n")
        .next()
        .unwrap()
        .replace("http_server:\n  http_address:", "http_server:\n  event_enabled: true\n  http_address:");
    std::fs::write(setup.dir.path().join("config.yaml"), yaml).unwrap();
    let child = setup.start().await;
    // A broadcast with long pauses, a download that never finishes, a long-poll, a message
    // for the stuck webhook, a forward WebSocket.
    let receivers: Vec<String> = (0..20).map(|i| format!("wxid_s{i:02}")).collect();
    setup.call("send_message", json!({"receivers": receivers, "message": "slow", "async": true})).await;
    let (http, base) = (setup.http.clone(), setup.base.clone());
    let download = tokio::spawn(async move {
        http.post(format!("{base}/upload_file"))
            .bearer_auth("k")
            .json(&json!({"params": {"type": "url", "url": format!("{stuck}/slow.png")}}))
            .send()
            .await
    });
    let (http, base) = (setup.http.clone(), setup.base.clone());
    let poll =
        tokio::spawn(
            async move { http.get(format!("{base}/get_latest_events?timeout=300")).bearer_auth("k").send().await },
        );
    setup
        .emu
        .wechat()
        .inject(&wcf_emulator::InboundMessage {
            from: "wxid_bob".into(),
            text: Some("for the hook".into()),
            ..Default::default()
        })
        .unwrap();
    let (_ws, _) = tokio_tungstenite::connect_async(format!("{}/?access_token=k", setup.base.replace("http", "ws")))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let started = Instant::now();
    assert!(
        std::process::Command::new("kill")
            .args(["-TERM", &child.id().unwrap().to_string()])
            .status()
            .unwrap()
            .success()
    );
    let mut child = child;
    let status = tokio::time::timeout(Duration::from_secs(10), child.wait()).await;
    assert!(status.is_ok(), "exited within 10 s of SIGTERM");
    assert!(status.unwrap().unwrap().success(), "a clean exit");
    println!("exited {:?} after SIGTERM", started.elapsed());
    download.abort();
    poll.abort();
}

#[tokio::test]
async fn reverse_websocket_over_tls_with_a_ca_file() {
    use futures_util::StreamExt;
    wechat_http::install_tls_provider();
    // A CA and a certificate for localhost, made here.
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca_params.distinguished_name.push(rcgen::DnType::CommonName, "wechat-http test CA");
    let ca = rcgen::CertifiedIssuer::self_signed(ca_params, ca_key).unwrap();
    let leaf_key = rcgen::KeyPair::generate().unwrap();
    let leaf = rcgen::CertificateParams::new(vec!["localhost".to_owned()]).unwrap().signed_by(&leaf_key, &ca).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let ca_file = dir.path().join("ca.pem");
    std::fs::write(&ca_file, ca.pem()).unwrap();
    let server_config = tokio_rustls::rustls::ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(vec![leaf.der().clone()], rustls::pki_types::PrivateKeyDer::from(leaf_key))
        .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(std::sync::Arc::new(server_config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<Value>();
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else { return };
            let (acceptor, tx) = (acceptor.clone(), tx.clone());
            tokio::spawn(async move {
                let Ok(tls) = acceptor.accept(tcp).await else { return };
                let Ok(mut ws) = tokio_tungstenite::accept_async(tls).await else { return };
                while let Some(Ok(m)) = ws.next().await {
                    if let tokio_tungstenite::tungstenite::Message::Text(t) = m {
                        let _ = tx.send(serde_json::from_str(&t).unwrap());
                    }
                }
            });
        }
    });
    let target = |ca: Option<std::path::PathBuf>| wechat_http::config::WebsocketReverse {
        url: format!("wss://localhost:{port}/onebot/v12/ws"),
        reconnect_interval: 100,
        ca_file: ca,
        ..Default::default()
    };
    let app = crate::helpers::spawn_with(|c| c.websocket_reverse = vec![target(Some(ca_file.clone()))]).await;
    let first = within("a connect event over TLS", rx.recv()).await.unwrap();
    assert_eq!(first["detail_type"], "connect");
    app.emu
        .wechat()
        .inject(&wcf_emulator::InboundMessage {
            from: "wxid_bob".into(),
            text: Some("secure".into()),
            ..Default::default()
        })
        .unwrap();
    within("the message over TLS", async {
        loop {
            let v = rx.recv().await.unwrap();
            if v["type"] == "message" {
                assert_eq!(v["alt_message"], "secure");
                break;
            }
        }
    })
    .await;
    drop(app);
    // Without the CA the certificate is not trusted: nothing is delivered.
    let app = crate::helpers::spawn_with(|c| c.websocket_reverse = vec![target(None)]).await;
    app.emu
        .wechat()
        .inject(&wcf_emulator::InboundMessage {
            from: "wxid_bob".into(),
            text: Some("leak".into()),
            ..Default::default()
        })
        .unwrap();
    assert!(tokio::time::timeout(Duration::from_secs(2), rx.recv()).await.is_err(), "an untrusted server gets nothing");
}
