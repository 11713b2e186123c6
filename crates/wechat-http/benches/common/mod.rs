//! Shared by the benchmarks: the release `wechat-http` binary run against an emulator.

use std::process::Stdio;

/// Writes `config.yaml` in `dir` (free loopback port, token `bench`, pacing off, `wcf.address`,
/// `extra_yaml` appended) and returns `(http base URL, child)` of the started binary.
pub(crate) fn start_gateway(
    dir: &std::path::Path,
    wcf_address: &str,
    extra_yaml: &str,
) -> (String, tokio::process::Child) {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    std::fs::write(
        dir.join("config.yaml"),
        format!(
            "http_server:\n  http_address: http://127.0.0.1:{port}\n  access_token: bench\nanswer_delay_rand_min: 0\nanswer_delay_rand_max: 0\nwcf:\n  address: {wcf_address}\n{extra_yaml}"
        ),
    )
    .unwrap();
    let child = tokio::process::Command::new(env!("CARGO_BIN_EXE_wechat-http"))
        .args(["serve", "--config", "config.yaml"])
        .current_dir(dir)
        .env("RUST_LOG", "error")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    (format!("http://127.0.0.1:{port}"), child)
}

/// A webhook receiver on 127.0.0.1 that counts the message events it gets; its URL.
#[allow(dead_code)] // not every benchmark that includes this module counts messages
pub(crate) async fn counting_webhook(count: std::sync::Arc<std::sync::atomic::AtomicUsize>) -> String {
    let handler = move |body: axum::body::Bytes| {
        let count = count.clone();
        async move {
            if serde_json::from_slice::<serde_json::Value>(&body).is_ok_and(|v| v["type"] == "message") {
                count.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            }
            axum::http::StatusCode::NO_CONTENT
        }
    };
    let app = axum::Router::new().route("/hook", axum::routing::post(handler));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{addr}/hook")
}

/// Injects `n` texts (`bench 0`…) from `wxid_alice` at the emulator, 500 at a time.
#[allow(dead_code)] // not every benchmark that includes this module injects a burst
pub(crate) fn inject_burst(emu: &wcf_emulator::Emulator, n: usize) {
    let mut k = 0;
    while k < n {
        let batch = (n - k).min(500);
        let msgs: Vec<_> = (0..batch)
            .map(|j| wcf_emulator::InboundMessage {
                from: "wxid_alice".into(),
                text: Some(format!("bench {}", k + j)),
                ..Default::default()
            })
            .collect();
        emu.wechat().inject_many(&msgs).unwrap();
        k += batch;
    }
}

/// An emulator with the built-in fixture, its data in `<dir>/wechat`, no control API.
#[allow(dead_code)] // not every benchmark that includes this module starts its own
pub(crate) async fn emulator(dir: &std::path::Path) -> wcf_emulator::Emulator {
    wcf_emulator::Emulator::start(wcf_emulator::EmulatorConfig {
        data_dir: Some(dir.join("wechat")),
        control: None,
        ..Default::default()
    })
    .await
    .unwrap()
}

/// Waits until the gateway at `base` reports `good` (every account connected).
#[allow(dead_code)] // not every benchmark that includes this module waits for it
pub(crate) async fn wait_good(base: &str) {
    let http = reqwest::Client::new();
    loop {
        if let Ok(r) = http.get(format!("{base}/get_status")).bearer_auth("bench").send().await
            && r.json::<serde_json::Value>().await.map(|v| v["data"]["good"] == true).unwrap_or(false)
        {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}
