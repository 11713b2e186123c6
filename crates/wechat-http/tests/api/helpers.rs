use std::path::PathBuf;
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};
use wcf_emulator::{Emulator, EmulatorConfig, Fixture};
use wechat_http::{Config, Gateway, Running};

pub(crate) const TOKEN: &str = "test-token";

/// A 1×1 PNG.
pub(crate) const PNG: &[u8] = wcf_emulator::wechat::DEFAULT_PNG;

pub(crate) struct TestApp {
    pub(crate) base: String,
    pub(crate) running: Option<Running>,
    pub(crate) emu: Emulator,
    pub(crate) control: String,
    pub(crate) http: reqwest::Client,
    pub(crate) dir: tempfile::TempDir,
    pub(crate) config: Config,
    pub(crate) fixture: Fixture,
}

pub(crate) fn test_config(dir: &std::path::Path, wcf_address: &str) -> Config {
    let mut c = Config::default();
    c.http_server.http_address = "http://127.0.0.1:0".into();
    c.http_server.access_token = wechat_http::secret::Secret::new(TOKEN);
    c.http_server.max_body_bytes = 64 * 1024;
    c.answer_delay_rand_min = 0.0;
    c.answer_delay_rand_max = 0.0;
    c.db_dir_path = dir.join("db");
    c.img_dir_path = dir.join("img");
    c.media.staging_dir = dir.join("staging");
    c.media.download_timeout = 1;
    c.media.max_download_bytes = 4096;
    c.wcf.address = wcf_address.into();
    c.wcf.call_timeout_ms = 2000;
    c.wcf.login_check_ms = 100;
    c.enable_heart_beat = false;
    if on_postgres() {
        c.store.backend = wechat_http::config::StoreBackend::Postgres;
        let url = crate::postgres::database().expect("WECHAT_HTTP_TEST_STORE=postgres needs PostgreSQL");
        c.store.postgres_url = wechat_http::secret::Secret::new(url);
    }
    c
}

/// Runs one statement with one real parameter (`$1`) directly on the gateway's store,
/// whichever backend it is (tests that age rows).
pub(crate) fn store_sql(config: &Config, sql: &str, value: f64) {
    if on_postgres() {
        let (url, sql) = (config.store.postgres_url.expose().to_owned(), sql.to_owned());
        std::thread::spawn(move || {
            let mut c = postgres::Client::connect(&url, postgres::NoTls).unwrap();
            c.execute(&sql, &[&value]).unwrap();
        })
        .join()
        .unwrap();
    } else {
        let db = rusqlite::Connection::open(config.db_dir_path.join("wechat-http.db")).unwrap();
        db.execute(&sql.replace("$1", "?1"), [value]).unwrap();
    }
}

/// One account per emulator, `a1..an`, pacing off (tests of several accounts and of fleets).
pub(crate) fn account_entries(emus: &[Emulator]) -> Vec<wechat_http::config::AccountEntry> {
    emus.iter()
        .enumerate()
        .map(|(i, e)| wechat_http::config::AccountEntry {
            name: format!("a{}", i + 1),
            wcf: wechat_http::config::Wcf {
                address: e.address(),
                call_timeout_ms: 2000,
                login_check_ms: 100,
                ..Default::default()
            },
            answer_delay_rand_min: 0.0,
            answer_delay_rand_max: 0.0,
            send: Default::default(),
        })
        .collect()
}

/// An authorized GET of `url`, its JSON body.
pub(crate) async fn get_json(url: &str) -> Value {
    reqwest::Client::new().get(url).bearer_auth(TOKEN).send().await.unwrap().json().await.unwrap()
}

/// An authorized POST of `body` to `url`, its JSON body.
pub(crate) async fn post_json(url: &str, body: &Value) -> Value {
    reqwest::Client::new().post(url).bearer_auth(TOKEN).json(body).send().await.unwrap().json().await.unwrap()
}

/// True when the suite runs on PostgreSQL (`WECHAT_HTTP_TEST_STORE=postgres`, as
/// `scripts/test` does for its second run).
pub(crate) fn on_postgres() -> bool {
    std::env::var("WECHAT_HTTP_TEST_STORE").as_deref() == Ok("postgres")
}

pub(crate) async fn spawn_app() -> TestApp {
    spawn_with(|_| {}).await
}

pub(crate) async fn spawn_with(tweak: impl FnOnce(&mut Config)) -> TestApp {
    spawn_full(Duration::from_secs(5), tweak).await
}

/// `push_timeout`: how long the emulator holds a push while no client is connected.
pub(crate) async fn spawn_full(push_timeout: Duration, tweak: impl FnOnce(&mut Config)) -> TestApp {
    spawn_fixture(Fixture::builtin(), push_timeout, tweak).await
}

/// The built-in fixture plus friends with these wxids (named after them).
pub(crate) fn fixture_with(friends: impl IntoIterator<Item = String>) -> Fixture {
    let mut f = Fixture::builtin();
    for wxid in friends {
        f.contacts.push(wcf_emulator::fixture::FixtureContact { name: wxid.clone(), wxid, ..Default::default() });
    }
    f
}

/// A gateway against an emulator seeded with `fixture`.
pub(crate) async fn spawn_fixture(
    fixture: Fixture,
    push_timeout: Duration,
    tweak: impl FnOnce(&mut Config),
) -> TestApp {
    wechat_http::install_tls_provider();
    let dir = tempfile::tempdir().unwrap();
    let emu = Emulator::start(EmulatorConfig {
        data_dir: Some(dir.path().join("wechat")),
        push_timeout,
        fixture: fixture.clone(),
        ..Default::default()
    })
    .await
    .unwrap();
    let mut config = test_config(dir.path(), &emu.address());
    tweak(&mut config);
    let control = emu.control_url().unwrap();
    let mut app = TestApp {
        base: String::new(),
        running: None,
        emu,
        control,
        http: reqwest::Client::new(),
        dir,
        config,
        fixture,
    };
    app.start_gateway().await;
    app.wait_connected().await;
    app
}

impl TestApp {
    pub(crate) async fn start_gateway(&mut self) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let running = wechat_http::start(self.config.clone(), listener).await.unwrap();
        self.base = format!("http://{}", running.addr());
        self.running = Some(running);
    }

    /// Stops the gateway and starts a new one on the same database and emulator.
    pub(crate) async fn restart(&mut self) {
        self.running.take().unwrap().shutdown().await;
        self.start_gateway().await;
        self.wait_connected().await;
    }

    /// Stops the emulator and starts it again on the same ports and data (WeChat restarting);
    /// returns what the old one had sent.
    pub(crate) async fn restart_emulator(&mut self, down_for: Duration) -> Vec<wcf_emulator::SentRecord> {
        let (listen, control, data) =
            (self.emu.address(), self.emu.control_addr().map(|a| a.to_string()), self.emu.data_dir().to_path_buf());
        let sent = self.emu.wechat().sent();
        let old = std::mem::replace(&mut self.emu, {
            // A placeholder until the real one is back (never contacted).
            Emulator::start(EmulatorConfig {
                data_dir: Some(self.dir.path().join("placeholder")),
                control: None,
                ..Default::default()
            })
            .await
            .unwrap()
        });
        old.shutdown().await;
        tokio::time::sleep(down_for).await;
        self.emu = Emulator::start(EmulatorConfig {
            listen,
            control,
            data_dir: Some(data),
            fixture: self.fixture.clone(),
            ..Default::default()
        })
        .await
        .unwrap();
        sent
    }

    pub(crate) fn gateway(&self) -> &Gateway {
        self.running.as_ref().unwrap().gateway()
    }

    pub(crate) async fn wait_connected(&self) {
        let last = std::sync::Arc::new(std::sync::Mutex::new(Value::Null));
        let l = last.clone();
        let r = tokio::time::timeout(Duration::from_secs(30), async {
            loop {
                let (_, r) = self.action("get_status", json!({})).await;
                if r["data"]["good"] == true
                    && r["data"]["bots"][0]["self"]["user_id"] == self.fixture.self_info.wxid.as_str()
                {
                    break;
                }
                *l.lock().unwrap() = r;
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
        .await;
        assert!(r.is_ok(), "hung waiting for gateway connected to WeChat; last status {}", last.lock().unwrap());
    }

    /// `POST /<action>` with the seed's envelope.
    pub(crate) async fn action(&self, action: &str, params: Value) -> (StatusCode, Value) {
        self.post(&format!("/{action}"), json!({ "action": action, "params": params, "echo": "t" })).await
    }

    pub(crate) async fn post(&self, path: &str, body: Value) -> (StatusCode, Value) {
        let r = self.http.post(format!("{}{path}", self.base)).bearer_auth(TOKEN).json(&body).send().await.unwrap();
        let status = r.status();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    pub(crate) async fn get(&self, path_and_query: &str) -> (StatusCode, Value) {
        let r = self.http.get(format!("{}{path_and_query}", self.base)).bearer_auth(TOKEN).send().await.unwrap();
        let status = r.status();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    /// Expects a success; returns `data`.
    pub(crate) async fn ok(&self, action: &str, params: Value) -> Value {
        let (status, r) = self.action(action, params.clone()).await;
        assert_eq!(status, StatusCode::OK, "{action} {params}: {r}");
        assert_eq!(r["status"], "ok", "{action} {params}: {r}");
        assert_eq!(r["retcode"], 0);
        assert_eq!(r["echo"], "t");
        r["data"].clone()
    }

    /// Expects a failure with `retcode`; returns `message`.
    pub(crate) async fn fails(&self, action: &str, params: Value, retcode: i64) -> String {
        let (status, r) = self.action(action, params.clone()).await;
        assert_eq!(status, StatusCode::OK, "{action} {params}: {r}");
        assert_eq!(
            (r["status"].as_str(), r["retcode"].as_i64()),
            (Some("failed"), Some(retcode)),
            "{action} {params}: {r}"
        );
        assert_eq!(r["echo"], "t", "echo is returned on failures too");
        let msg = r["message"].as_str().unwrap().to_owned();
        assert!(!msg.is_empty());
        msg
    }

    /// The emulator's sent log, over its control API.
    pub(crate) async fn sent(&self) -> Vec<Value> {
        let r = self.http.get(format!("{}/sent", self.control)).send().await.unwrap();
        r.json::<Vec<Value>>().await.unwrap()
    }

    pub(crate) async fn control(&self, path: &str, body: Value) -> Value {
        let r = self.http.post(format!("{}{path}", self.control)).json(&body).send().await.unwrap();
        assert!(r.status().is_success(), "control {path}: {}", r.status());
        r.json().await.unwrap()
    }

    pub(crate) fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
}

/// Guards against a hang; not a timing assertion.
pub(crate) async fn within<T>(what: &str, f: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(30), f).await.unwrap_or_else(|_| panic!("hung waiting for {what}"))
}

/// A small HTTP file server on 127.0.0.1:0 for URL downloads: `/image.png`, `/big.png`
/// (too large), `/slow.png` (slower than the download timeout), `/notes.txt`, `/missing`.
pub(crate) async fn file_server() -> String {
    use axum::routing::get;
    let big = {
        let mut b = PNG.to_vec();
        b.resize(10_000, 0);
        b
    };
    let app = axum::Router::new()
        .route("/image.png", get(|| async { ([("content-type", "image/png")], PNG) }))
        .route("/report.pdf", get(|| async { ([("content-type", "application/pdf")], &b"%PDF-1.4 fake"[..]) }))
        .route("/big.png", get(move || async move { ([("content-type", "image/png")], big) }))
        .route(
            "/slow.png",
            get(|| async {
                tokio::time::sleep(Duration::from_secs(3)).await;
                ([("content-type", "image/png")], PNG)
            }),
        )
        .route("/notes.txt", get(|| async { "just text, not an image" }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{addr}")
}

/// A webhook receiver on 127.0.0.1:0: records `(headers, body)`; answers 503 while `down`, and
/// the queued `reply` (200 + JSON) once when set, else 204.
pub(crate) struct Hook {
    pub(crate) url: String,
    pub(crate) rx: tokio::sync::mpsc::UnboundedReceiver<(axum::http::HeaderMap, Value)>,
    pub(crate) down: std::sync::Arc<std::sync::atomic::AtomicBool>,
    pub(crate) failed: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    pub(crate) reply: std::sync::Arc<std::sync::Mutex<Option<Value>>>,
    /// Every accepted body exactly as received.
    pub(crate) raw: std::sync::Arc<std::sync::Mutex<Vec<axum::body::Bytes>>>,
}

pub(crate) async fn webhook() -> Hook {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let down = Arc::new(AtomicBool::new(false));
    let failed = Arc::new(AtomicUsize::new(0));
    let reply: Arc<std::sync::Mutex<Option<Value>>> = Arc::new(std::sync::Mutex::new(None));
    let raw: Arc<std::sync::Mutex<Vec<axum::body::Bytes>>> = Arc::default();
    let (d, f, r, w) = (down.clone(), failed.clone(), reply.clone(), raw.clone());
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |headers: axum::http::HeaderMap, body: axum::body::Bytes| {
            let (tx, d, f, r, w) = (tx.clone(), d.clone(), f.clone(), r.clone(), w.clone());
            async move {
                use axum::response::IntoResponse;
                if d.load(Ordering::SeqCst) {
                    f.fetch_add(1, Ordering::SeqCst);
                    return StatusCode::SERVICE_UNAVAILABLE.into_response();
                }
                let v: Value = serde_json::from_slice(&body).unwrap();
                w.lock().unwrap().push(body);
                let _ = tx.send((headers, v));
                match r.lock().unwrap().take() {
                    Some(reply) => axum::Json(reply).into_response(),
                    None => StatusCode::NO_CONTENT.into_response(),
                }
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    Hook { url: format!("http://{addr}/hook"), rx, down, failed, reply, raw }
}

impl Hook {
    /// The next event that is not `meta`.
    pub(crate) async fn next_event(&mut self) -> (axum::http::HeaderMap, Value) {
        within("a webhook event", async {
            loop {
                let (h, v) = self.rx.recv().await.unwrap();
                if v["type"] != "meta" {
                    break (h, v);
                }
            }
        })
        .await
    }

    /// The next event whose `detail_type` is `detail`.
    pub(crate) async fn next_of(&mut self, detail: &str) -> Value {
        within(detail, async {
            loop {
                let (_, v) = self.rx.recv().await.unwrap();
                if v["detail_type"] == detail {
                    break v;
                }
            }
        })
        .await
    }
}

pub(crate) fn hook_target(url: &str, secret: &str) -> wechat_http::config::HttpPost {
    wechat_http::config::HttpPost {
        url: url.into(),
        secret: wechat_http::secret::Secret::new(secret),
        max_retries: 1000,
        time_out: 2,
        format: wechat_http::config::EventFormat::Onebot12,
        accounts: Vec::new(),
    }
}

/// Starts the real `wechat-http` binary with `config.yaml` in `dir` (logs off, killed on drop).
pub(crate) fn gateway_binary(dir: &std::path::Path, args: &[&str]) -> tokio::process::Child {
    tokio::process::Command::new(env!("CARGO_BIN_EXE_wechat-http"))
        .args(["serve", "--config", "config.yaml"])
        .args(args)
        .current_dir(dir)
        .env("RUST_LOG", "warn")
        .env_remove("WECHAT_HTTP_CONFIG")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap()
}

/// `POST /<action>` with `params`, in its own task (for concurrent requests).
pub(crate) fn post_detached(app: &TestApp, action: &str, params: Value) -> tokio::task::JoinHandle<Value> {
    let (http, url) = (app.http.clone(), format!("{}/{action}", app.base));
    tokio::spawn(async move {
        http.post(url)
            .bearer_auth(TOKEN)
            .json(&json!({ "params": params }))
            .send()
            .await
            .unwrap()
            .json::<Value>()
            .await
            .unwrap()
    })
}

/// An emulator and a `config.yaml` (token `k`, the emulator's address, `extra_yaml` appended
/// as more top-level keys) for running the real binary in a temp dir.
pub(crate) struct BinarySetup {
    pub(crate) dir: tempfile::TempDir,
    pub(crate) emu: Emulator,
    pub(crate) base: String,
    pub(crate) http: reqwest::Client,
}

pub(crate) async fn binary_setup(push_timeout: Duration, extra_yaml: &str) -> BinarySetup {
    binary_setup_with(Fixture::builtin(), push_timeout, extra_yaml).await
}

/// [`binary_setup`] with the emulator seeded from `fixture`.
pub(crate) async fn binary_setup_with(fixture: Fixture, push_timeout: Duration, extra_yaml: &str) -> BinarySetup {
    wechat_http::install_tls_provider();
    let dir = tempfile::tempdir().unwrap();
    let emu = Emulator::start(EmulatorConfig {
        data_dir: Some(dir.path().join("wechat")),
        control: None,
        push_timeout,
        fixture,
        ..Default::default()
    })
    .await
    .unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    std::fs::write(
        dir.path().join("config.yaml"),
        format!(
            "http_server:\n  http_address: http://127.0.0.1:{port}\n  access_token: k\nwcf:\n  address: {}\n  login_check_ms: 100\n{extra_yaml}",
            emu.address()
        ),
    )
    .unwrap();
    BinarySetup { dir, emu, base: format!("http://127.0.0.1:{port}"), http: reqwest::Client::new() }
}

impl BinarySetup {
    /// Starts the binary and waits until it is connected to the emulator.
    pub(crate) async fn start(&self) -> tokio::process::Child {
        let child = gateway_binary(self.dir.path(), &[]);
        within("binary connected", async {
            while self.call("get_status", json!({})).await["data"]["good"] != true {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
        .await;
        child
    }

    /// `POST /<action>` to the binary (retrying while it is not listening yet).
    pub(crate) async fn call(&self, action: &str, params: Value) -> Value {
        loop {
            match self
                .http
                .post(format!("{}/{action}", self.base))
                .bearer_auth("k")
                .json(&json!({ "params": params }))
                .send()
                .await
            {
                Ok(r) => break r.json::<Value>().await.unwrap(),
                Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
            }
        }
    }
}

/// One raw HTTP/1.1 exchange on a fresh connection (`Connection: close` is added): the status,
/// the head and the body. For requests a normal client will not send (odd Host, two
/// Authorization headers, bad escapes).
pub(crate) async fn raw_http(
    base: &str,
    request_line: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> (u16, String, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let addr = base.trim_start_matches("http://");
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let mut req = format!("{request_line}\r\n");
    if !headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("host")) {
        req.push_str(&format!("Host: {addr}\r\n"));
    }
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    if !body.is_empty() {
        req.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    req.push_str("Connection: close\r\n\r\n");
    req.push_str(body);
    s.write_all(req.as_bytes()).await.unwrap();
    let mut out = Vec::new();
    within("a raw HTTP answer", s.read_to_end(&mut out)).await.unwrap();
    let text = String::from_utf8_lossy(&out).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head.split_whitespace().nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
    (status, head.to_owned(), body.to_owned())
}
