//! Gateway benchmark: prints figures, asserts nothing about time.
//!
//! `cargo bench -p wechat-http --bench gateway` runs, on 127.0.0.1, with an emulated WeChat of
//! 2,000 contacts (in this process) and the release `wechat-http` binary as a separate process:
//! * start-up time (spawn → first HTTP answer, and → backend connected);
//! * resident memory idle and while 200 clients hammer it;
//! * `get_friend_list` and `send_message` (pacing off): requests/s and p50/p99 latency through
//!   the gateway, beside the same calls made directly with the `wcf` client in the same run.
//!
//! `GATEWAY_BENCH_SECS` (default 3) sets the length of each measured phase.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use wcf_emulator::fixture::{Fixture, FixtureContact};
use wcf_emulator::{Emulator, EmulatorConfig};

mod common;

fn secs() -> Duration {
    Duration::from_secs(std::env::var("GATEWAY_BENCH_SECS").ok().and_then(|v| v.parse().ok()).unwrap_or(3))
}

fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines().find(|l| l.starts_with("VmRSS:")).and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

struct Stats {
    n: usize,
    elapsed: Duration,
    p50: Duration,
    p99: Duration,
}

impl Stats {
    fn from(mut lat: Vec<Duration>, elapsed: Duration) -> Self {
        lat.sort();
        let at = |q: f64| {
            lat.get(((lat.len() as f64 * q) as usize).min(lat.len().saturating_sub(1))).copied().unwrap_or_default()
        };
        Self { n: lat.len(), elapsed, p50: at(0.50), p99: at(0.99) }
    }

    fn line(&self, label: &str) -> String {
        format!(
            "{label:<34} {:>9.0} req/s   p50 {:>8.3} ms   p99 {:>8.3} ms",
            self.n as f64 / self.elapsed.as_secs_f64(),
            self.p50.as_secs_f64() * 1e3,
            self.p99.as_secs_f64() * 1e3
        )
    }
}

async fn sequential<F, Fut>(mut call: F) -> Stats
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let start = Instant::now();
    let mut lat = Vec::new();
    while start.elapsed() < secs() {
        let t = Instant::now();
        call().await;
        lat.push(t.elapsed());
    }
    Stats::from(lat, start.elapsed())
}

async fn concurrent(http: &reqwest::Client, url: &str, body: Value, clients: usize, pid: u32) -> (Stats, u64) {
    let stop = Arc::new(AtomicBool::new(false));
    let start = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..clients {
        let (http, url, body, stop) = (http.clone(), url.to_owned(), body.clone(), stop.clone());
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                let t = Instant::now();
                let r = http.post(&url).bearer_auth("bench").json(&body).send().await.unwrap();
                assert!(r.status().is_success());
                let _ = r.bytes().await.unwrap();
                lat.push(t.elapsed());
            }
            lat
        }));
    }
    let mut peak = 0;
    while start.elapsed() < secs() {
        peak = peak.max(rss_kib(pid));
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    stop.store(true, Ordering::Relaxed);
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.unwrap());
    }
    (Stats::from(all, start.elapsed()), peak)
}

/// `POST` a JSON body with the bench token; the answer's bytes, checked to be a success.
async fn post_bytes(http: &reqwest::Client, url: &str, body: &Value) -> usize {
    let r = http.post(url).bearer_auth("bench").json(body).send().await.unwrap();
    assert!(r.status().is_success(), "{url}: HTTP {}", r.status());
    let bytes = r.bytes().await.unwrap();
    assert!(bytes.starts_with(br#"{"status":"ok""#), "{url}: not ok");
    bytes.len()
}

/// `POST` a JSON body with the bench token; the answer as JSON (`Null` for an empty body).
async fn post(http: &reqwest::Client, url: &str, body: &Value) -> Value {
    let r = http.post(url).bearer_auth("bench").json(body).send().await.unwrap();
    assert!(r.status().is_success(), "{url}: HTTP {}", r.status());
    let bytes = r.bytes().await.unwrap();
    serde_json::from_slice(&bytes).unwrap_or(Value::Null)
}

fn fixture() -> Fixture {
    let mut f = Fixture::builtin();
    for i in 0..2000 - f.contacts.len() {
        f.contacts.push(FixtureContact {
            wxid: format!("wxid_bench{i:05}"),
            code: format!("bench{i}"),
            name: format!("Contact {i}"),
            remark: if i % 3 == 0 { format!("Remark {i}") } else { String::new() },
            country: "CN".into(),
            province: "Guangdong".into(),
            city: "Shenzhen".into(),
            gender: (i % 3) as i32,
            avatar: String::new(),
        });
    }
    f
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    rt.block_on(async {
        wechat_http::install_tls_provider();
        let dir = tempfile::tempdir().unwrap();
        let emu = Emulator::start(EmulatorConfig {
            data_dir: Some(dir.path().join("wechat")),
            fixture: fixture(),
            ..Default::default()
        })
        .await
        .unwrap();
        let http = reqwest::Client::builder().pool_max_idle_per_host(256).build().unwrap();

        // Direct calls first: WeChatFerry accepts one command peer at a time (PAIR1), so the
        // direct client must let go before the gateway connects.
        let client = wcf::Client::new(wcf::ClientOptions::new(emu.address())).unwrap();
        let direct_contacts = sequential(|| async { assert!(client.contacts().await.unwrap().len() >= 2000) }).await;
        let direct_send = sequential(|| async { client.send_text("bench", "wxid_alice", &[]).await.unwrap() }).await;
        client.disconnect().await;

        let spawned = Instant::now();
        let (base, mut child) = common::start_gateway(dir.path(), &emu.address(), "");
        let pid = child.id().unwrap();
        let mut first_answer = None;
        let connected = loop {
            if let Ok(r) = http.get(format!("{base}/get_status")).bearer_auth("bench").send().await {
                first_answer.get_or_insert(spawned.elapsed());
                let v: Value = r.json().await.unwrap();
                if v["data"]["good"] == true {
                    break spawned.elapsed();
                }
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        };
        println!("wechat-http gateway benchmark (127.0.0.1, 2,000 contacts, pacing off)");
        println!(
            "start-up: first HTTP answer after {:.0} ms, backend connected after {:.0} ms   (goal < 300 ms)",
            first_answer.unwrap().as_secs_f64() * 1e3,
            connected.as_secs_f64() * 1e3
        );
        tokio::time::sleep(Duration::from_secs(1)).await;
        println!("resident memory idle: {:.1} MB   (goal < 30 MB)", rss_kib(pid) as f64 / 1024.0);

        let direct = direct_contacts;
        let url = format!("{base}/get_friend_list");
        let via = sequential(|| async {
            post_bytes(&http, &url, &json!({})).await;
        })
        .await;
        let parsed = sequential(|| async {
            post(&http, &url, &json!({})).await;
        })
        .await;
        println!("{}", direct.line("get_contacts, wcf client direct"));
        println!("{}", via.line("get_friend_list via gateway"));
        println!("{}", parsed.line("  same + client parses the JSON"));
        println!(
            "  gateway p50 / direct p50 = {:.2} (goal <= 0.5; the gateway answers from its contact cache, rendered once per refresh; both sides measured to the last byte of the answer, the direct one also decoded)",
            via.p50.as_secs_f64() / direct.p50.as_secs_f64()
        );

        let floor_url = format!("{base}/get_version");
        let floor = sequential(|| async {
            post(&http, &floor_url, &json!({})).await;
        })
        .await;
        println!("{}", floor.line("get_version via gateway (HTTP floor)"));
        let direct = direct_send;
        let url = format!("{base}/send_message");
        let body = json!({"detail_type": "private", "user_id": "wxid_alice", "message": "bench"});
        let via = sequential(|| async {
            post(&http, &url, &body).await;
        })
        .await;
        println!("{}", direct.line("send_text, wcf client direct"));
        println!("{}", via.line("send_message via gateway"));
        println!(
            "  overhead: p50 +{:.3} ms ({:.0}% of the direct call; goal < 20%)",
            (via.p50.as_secs_f64() - direct.p50.as_secs_f64()) * 1e3,
            (via.p50.as_secs_f64() / direct.p50.as_secs_f64() - 1.0) * 100.0
        );

        // Durable broadcast: per-receiver cost against a plain send through the same queue.
        let cat = post(&http, &format!("{base}/create_group"), &json!({"params": {"group_name": "bench"}})).await;
        let cat = cat["data"]["id"].as_str().unwrap().to_owned();
        let receivers = 500;
        let add = format!("{base}/add_member_to_group");
        for i in 0..receivers {
            post(&http, &add, &json!({"params": {"group_id": cat, "member_id": format!("wxid_bench{i:05}")}})).await;
        }
        let t = Instant::now();
        let r = post(&http, &format!("{base}/send_message"), &json!({"params": {"group_ids": [cat], "message": "broadcast"}})).await;
        let total = t.elapsed();
        assert_eq!(r["data"]["sent"], receivers);
        let per_receiver = total.as_secs_f64() / receivers as f64;
        let plain = 1.0 / (via.n as f64 / via.elapsed.as_secs_f64());
        println!(
            "durable broadcast, {receivers} receivers: {:.3} ms per receiver vs {:.3} ms per plain send_message: +{:.3} ms per receiver (goal < 1 ms)",
            per_receiver * 1e3,
            plain * 1e3,
            (per_receiver - plain) * 1e3
        );

        let (stats, peak) = concurrent(&http, &format!("{base}/get_friend_list"), json!({}), 200, pid).await;
        println!("{}", stats.line("get_friend_list, 200 clients"));
        println!("resident memory at 200 concurrent clients: peak {:.1} MB   (goal < 60 MB)", peak as f64 / 1024.0);
        let _ = child.kill().await;
        emu.shutdown().await;
    });
}
