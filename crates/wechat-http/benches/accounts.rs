//! Accounts benchmark: prints figures, asserts nothing.
//!
//! `cargo bench -p wechat-http --bench accounts`: for 1, 10 and 50 accounts, each with its own
//! emulated WeChat (in this process), the release `wechat-http` binary (a separate process)
//! delivers every inbound message to one webhook receiver here (one `http_post` target per
//! account, all at the same URL, so each account keeps its own order). Printed: aggregate
//! events/s, p99 latency (inject → received), and the gateway's peak RSS; beside it, in the
//! same run, the ceiling — a bare client POSTing pre-built events one at a time, in order, to
//! the same receiver.
//!
//! `ACCOUNTS_BENCH_EVENTS` (default 20000) sets the events per run.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;
use wcf_emulator::{Emulator, EmulatorConfig, Fixture};

mod common;

fn rss_mb(pid: u32) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines().find(|l| l.starts_with("VmRSS:")).and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        })
        .unwrap_or(0.0)
        / 1024.0
}

/// The webhook receiver: counts messages and their latency from the injection time.
#[derive(Default)]
struct Receiver {
    got: AtomicUsize,
    injected_at: Mutex<HashMap<String, Instant>>,
    latencies: Mutex<Vec<Duration>>,
}

async fn receiver(state: Arc<Receiver>) -> String {
    use axum::routing::post;
    let app = axum::Router::new().route(
        "/hook",
        post(move |body: axum::body::Bytes| {
            let state = state.clone();
            async move {
                if let Ok(v) = serde_json::from_slice::<Value>(&body)
                    && v["type"] == "message"
                {
                    let at = v["alt_message"].as_str().and_then(|t| state.injected_at.lock().unwrap().get(t).copied());
                    if let Some(at) = at {
                        state.latencies.lock().unwrap().push(at.elapsed());
                    }
                    state.got.fetch_add(1, Ordering::SeqCst);
                }
                axum::http::StatusCode::NO_CONTENT
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    url
}

fn p99(mut v: Vec<Duration>) -> Duration {
    if v.is_empty() {
        return Duration::ZERO;
    }
    v.sort();
    v[(v.len() * 99 / 100).min(v.len() - 1)]
}

async fn run(n: usize, total: usize) {
    let dir = tempfile::tempdir().unwrap();
    let mut emus = Vec::new();
    for i in 1..=n {
        emus.push(
            Emulator::start(EmulatorConfig {
                data_dir: Some(dir.path().join(format!("wechat{i}"))),
                fixture: if n == 1 { Fixture::builtin() } else { Fixture::demo(i) },
                control: None,
                ..Default::default()
            })
            .await
            .unwrap(),
        );
    }
    let state = Arc::new(Receiver::default());
    let url = receiver(state.clone()).await;
    let mut yaml = String::from("enable_heart_beat: false\naccounts:\n");
    for (i, e) in emus.iter().enumerate() {
        yaml.push_str(&format!("  - name: a{}\n    wcf: {{ address: {} }}\n", i + 1, e.address()));
    }
    yaml.push_str("http_post:\n");
    for i in 1..=n {
        yaml.push_str(&format!("  - url: {url}\n    max_retries: 1000000\n    accounts: [a{i}]\n"));
    }
    let (base, mut child) = common::start_gateway(dir.path(), &emus[0].address(), &yaml);
    let pid = child.id().unwrap();
    common::wait_good(&base).await;
    let per = total / n;
    let idle = rss_mb(pid);
    let start = Instant::now();
    // Each account's messages are injected in batches, all accounts at once.
    let mut injectors = Vec::new();
    for (i, emu) in emus.iter().enumerate() {
        let (w, state) = (emu.wechat().clone(), state.clone());
        injectors.push(tokio::spawn(async move {
            let mut k = 0;
            while k < per {
                let batch = (per - k).min(200);
                {
                    let mut map = state.injected_at.lock().unwrap();
                    let now = Instant::now();
                    for j in 0..batch {
                        map.insert(format!("a{} {}", i + 1, k + j), now);
                    }
                }
                let msgs: Vec<_> = (0..batch)
                    .map(|j| wcf_emulator::InboundMessage {
                        from: "wxid_alice".into(),
                        text: Some(format!("a{} {}", i + 1, k + j)),
                        ..Default::default()
                    })
                    .collect();
                w.inject_many(&msgs).unwrap();
                k += batch;
                tokio::task::yield_now().await;
            }
        }));
    }
    for t in injectors {
        t.await.unwrap();
    }
    let mut peak = idle;
    let deadline = Instant::now() + Duration::from_secs(120);
    while state.got.load(Ordering::SeqCst) < per * n && Instant::now() < deadline {
        peak = peak.max(rss_mb(pid));
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let elapsed = start.elapsed();
    let got = state.got.load(Ordering::SeqCst);
    let lat = p99(state.latencies.lock().unwrap().clone());
    println!(
        "{n:>2} accounts: {got:>6}/{} events in {:>6.2} s = {:>7.0} events/s   p99 {:>7.1} ms   RSS idle {idle:.1} MB, peak {peak:.1} MB",
        per * n,
        elapsed.as_secs_f64(),
        got as f64 / elapsed.as_secs_f64(),
        lat.as_secs_f64() * 1e3
    );
    child.kill().await.unwrap();
}

/// The ceiling: pre-built events POSTed one at a time, in order, to a fresh receiver.
async fn ceiling(total: usize) -> f64 {
    let state = Arc::new(Receiver::default());
    let url = receiver(state).await;
    let http = reqwest::Client::new();
    let body = serde_json::json!({"id": "1", "time": 1.0, "type": "message", "detail_type": "private", "sub_type": "",
        "self": {"platform": "wechat", "user_id": "wxid_bot"}, "message_id": "1", "user_id": "wxid_alice",
        "message": [{"type": "text", "data": {"text": "a1 0"}}], "alt_message": "a1 0", "wx.raw_type": 1, "wx.sender_name": "Alice"})
    .to_string();
    let start = Instant::now();
    for _ in 0..total {
        let r = http.post(&url).header("content-type", "application/json").body(body.clone()).send().await.unwrap();
        assert!(r.status().is_success());
    }
    total as f64 / start.elapsed().as_secs_f64()
}

fn main() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        wechat_http::install_tls_provider();
        let total = std::env::var("ACCOUNTS_BENCH_EVENTS").ok().and_then(|v| v.parse().ok()).unwrap_or(20_000);
        println!("wechat-http accounts benchmark: {total} events per run, one webhook receiver (127.0.0.1)");
        let c = ceiling(total / 2).await;
        println!("ceiling: a bare client POSTing pre-built events one at a time: {c:.0} events/s");
        for n in [1, 10, 50] {
            run(n, total).await;
        }
        println!("goals: 50 accounts under 120 MB RSS; aggregate >= 8,000 events/s; one account >= half the ceiling ({:.0}/s)", c / 2.0);
    });
}
