//! Events benchmark: prints figures, asserts nothing about time.
//!
//! `cargo bench -p wechat-http --bench events` measures inbound messages/s from the emulator
//! (in this process) to a webhook receiver on 127.0.0.1, through the release `wechat-http`
//! binary with its durable outbox, and end-to-end latency (injection → webhook arrival) at a
//! steady rate. If `wcf-http-server` is installed (`WCFHTTP_BIN`, or `.venv-bench/bin/wcfhttp`;
//! `scripts/bench-events` sets it up), the same flow runs through it in the same process run and
//! the ratio is printed.
//!
//! `EVENTS_BENCH_N` (default 20000) messages for the burst; `EVENTS_BENCH_RATE` (default 1000)
//! messages/s for 3 s for the latency run.

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use serde_json::Value;
use wcf_emulator::{Emulator, EmulatorConfig};

mod common;

fn env_num(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// Arrival time of each message id.
type Arrivals = Arc<Mutex<HashMap<u64, Instant>>>;

async fn receiver() -> (String, Arrivals) {
    let arrivals: Arrivals = Arc::new(Mutex::new(HashMap::new()));
    let a = arrivals.clone();
    let handler = move |body: Bytes| {
        let a = a.clone();
        async move {
            let now = Instant::now();
            if let Ok(v) = serde_json::from_slice::<Value>(&body) {
                // OneBot 12: message_id (string); wcf-http-server: id (number).
                let id = v["message_id"].as_str().and_then(|s| s.parse().ok()).or_else(|| v["id"].as_u64());
                if let Some(id) = id.filter(|_| v.get("type").is_none_or(|t| t == "message" || t.is_u64())) {
                    a.lock().unwrap().insert(id, now);
                }
            }
            axum::http::StatusCode::OK
        }
    };
    let app = axum::Router::new().route("/hook", axum::routing::post(handler));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{addr}/hook"), arrivals)
}

async fn wait_peers(emu: &Emulator, peers: u32) {
    let start = Instant::now();
    while !(emu.wechat().health().receiving && emu.wechat().health().peers == peers) {
        assert!(start.elapsed() < Duration::from_secs(60), "the client did not connect to the emulator");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

struct Run {
    rate: f64,
    p50: Duration,
    p99: Duration,
    delivered: usize,
}

/// A burst of `n` messages: throughput from the first injection to the last arrival.
async fn burst(emu: &Emulator, arrivals: &Arrivals, n: usize, timeout: Duration) -> (f64, usize) {
    arrivals.lock().unwrap().clear();
    let start = Instant::now();
    let mut ids = Vec::with_capacity(n);
    for chunk in 0..n.div_ceil(1000) {
        let count = (n - chunk * 1000).min(1000);
        ids.extend(emu.wechat().inject_text_batch("wxid_bob", "bench", count).unwrap());
    }
    loop {
        let got = ids.iter().filter(|id| arrivals.lock().unwrap().contains_key(id)).count();
        if got == n || start.elapsed() > timeout {
            let last = ids.iter().filter_map(|id| arrivals.lock().unwrap().get(id).copied()).max().unwrap_or(start);
            return (got as f64 / (last - start).as_secs_f64().max(1e-9), got);
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// `rate` messages/s for 3 s in 10 ms ticks; latency = arrival − injection.
async fn steady(emu: &Emulator, arrivals: &Arrivals, rate: u64) -> Run {
    arrivals.lock().unwrap().clear();
    let per_tick = (rate / 100).max(1) as usize;
    let mut sent: Vec<(u64, Instant)> = Vec::new();
    let start = Instant::now();
    let mut tick = tokio::time::interval(Duration::from_millis(10));
    while start.elapsed() < Duration::from_secs(3) {
        tick.tick().await;
        let at = Instant::now();
        for id in emu.wechat().inject_text_batch("wxid_bob", "steady", per_tick).unwrap() {
            sent.push((id, at));
        }
    }
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline && sent.iter().any(|(id, _)| !arrivals.lock().unwrap().contains_key(id)) {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let arr = arrivals.lock().unwrap();
    let mut lat: Vec<Duration> =
        sent.iter().filter_map(|(id, at)| arr.get(id).map(|t| t.duration_since(*at))).collect();
    lat.sort();
    let q = |f: f64| {
        lat.get(((lat.len() as f64 * f) as usize).min(lat.len().saturating_sub(1))).copied().unwrap_or_default()
    };
    Run { rate: rate as f64, p50: q(0.5), p99: q(0.99), delivered: lat.len() }
}

fn wcfhttp_bin() -> Option<PathBuf> {
    if let Ok(p) = std::env::var("WCFHTTP_BIN") {
        return Some(PathBuf::from(p));
    }
    let local = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../.venv-bench/bin/wcfhttp");
    local.exists().then_some(local)
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    rt.block_on(async {
        let n = env_num("EVENTS_BENCH_N", 20_000) as usize;
        let rate = env_num("EVENTS_BENCH_RATE", 1000);
        let dir = tempfile::tempdir().unwrap();
        let emu = Emulator::start(EmulatorConfig { data_dir: Some(dir.path().join("wechat")), control: None, ..Default::default() })
            .await
            .unwrap();
        let (hook, arrivals) = receiver().await;
        println!("events benchmark: emulator → webhook on 127.0.0.1 ({n}-message burst; {rate}/s for 3 s for latency)");

        let (_, mut gw) = common::start_gateway(
            dir.path(),
            &emu.address(),
            &format!("enable_heart_beat: false\nhttp_post:\n  - url: {hook}\n"),
        );
        wait_peers(&emu, 2).await;
        let (ours, got) = burst(&emu, &arrivals, n, Duration::from_secs(120)).await;
        let ours_steady = steady(&emu, &arrivals, rate).await;
        println!(
            "wechat-http       {ours:>9.0} events/s ({got}/{n} delivered)   at {:.0}/s: p50 {:.2} ms  p99 {:.2} ms ({} delivered)   goal >= 5000/s",
            ours_steady.rate,
            ours_steady.p50.as_secs_f64() * 1e3,
            ours_steady.p99.as_secs_f64() * 1e3,
            ours_steady.delivered
        );
        // Graceful stop (SIGTERM): the gateway switches receiving off for the next client.
        #[cfg(unix)]
        {
            let _ = std::process::Command::new("kill").arg(gw.id().unwrap().to_string()).status();
            let _ = tokio::time::timeout(Duration::from_secs(10), gw.wait()).await;
        }
        let _ = gw.kill().await;
        let start = Instant::now();
        while emu.wechat().health().peers > 0 && start.elapsed() < Duration::from_secs(10) {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }

        let Some(bin) = wcfhttp_bin() else {
            println!("wcf-http-server   not installed: run scripts/bench-events (or set WCFHTTP_BIN) to compare");
            return;
        };
        let cmd_port = emu.command_addr().port();
        let http_port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let mut theirs_proc = tokio::process::Command::new(bin)
            .args(["--wcf_host", "127.0.0.1", "--wcf_port", &cmd_port.to_string(), "--host", "127.0.0.1"])
            .args(["--port", &http_port.to_string(), "--cb", &hook])
            .current_dir(dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        wait_peers(&emu, 2).await;
        let their_n = n.min(2000);
        let (theirs, their_got) = burst(&emu, &arrivals, their_n, Duration::from_secs(120)).await;
        let theirs_steady = steady(&emu, &arrivals, (rate / 10).max(10)).await;
        println!(
            "wcf-http-server   {theirs:>9.0} events/s ({their_got}/{their_n} delivered)   at {:.0}/s: p50 {:.2} ms  p99 {:.2} ms ({} delivered)",
            theirs_steady.rate,
            theirs_steady.p50.as_secs_f64() * 1e3,
            theirs_steady.p99.as_secs_f64() * 1e3,
            theirs_steady.delivered
        );
        println!("ratio             {:.1}x   goal >= 10x", ours / theirs.max(1e-9));
        let _ = theirs_proc.kill().await;
    });
}
