//! Store backends and fleet failover: prints figures, asserts nothing about time.
//!
//! `cargo bench -p wechat-http --bench fleet` (skipped without Debian's `postgresql`):
//! 1. events/s from the emulator to a webhook, the release binary on SQLite (the reference,
//!    measured in the same run) and on a real PostgreSQL (a cluster started in a temp folder,
//!    fsync on);
//! 2. broadcast throughput: one send job to `FLEET_BENCH_RECEIVERS` (default 500) receivers
//!    with pacing off, on both backends;
//! 3. takeover after SIGKILL: two nodes on PostgreSQL (`fleet.lease_seconds` 15, the
//!    default), the driving node killed at a random point of its renewal period, until the
//!    other drives the account — 5 rounds, median, beside the lease time that bounds it.
//!
//! `FLEET_BENCH_N` (default 5000) inbound messages for part 1.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use wcf_emulator::{Emulator, EmulatorConfig, Fixture};

mod common;

#[path = "../tests/api/postgres.rs"]
#[allow(dead_code)]
mod postgres;

async fn call(base: &str, action: &str, params: Value) -> Value {
    let body = json!({"action": action, "params": params});
    match reqwest::Client::new().post(format!("{base}/")).bearer_auth("bench").json(&body).send().await {
        Ok(r) => r.json().await.unwrap_or(Value::Null),
        Err(_) => Value::Null,
    }
}

async fn until(what: &str, limit: Duration, mut check: impl AsyncFnMut() -> bool) -> Option<Duration> {
    let start = Instant::now();
    while start.elapsed() < limit {
        if check().await {
            return Some(start.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    println!("  ({what} did not happen within {limit:?})");
    None
}

fn store_yaml(pg: Option<&str>) -> String {
    match pg {
        Some(url) => format!("store:\n  backend: postgres\n  postgres_url: {url}\n"),
        None => String::new(),
    }
}

/// Part 1 and 2 on one backend: (inbound events/s, broadcast receivers/s).
async fn throughput(pg: Option<&str>, n: usize, receivers: usize) -> (Option<f64>, Option<f64>) {
    let dir = tempfile::tempdir().unwrap();
    let mut fixture = Fixture::builtin();
    for i in 0..receivers {
        fixture.contacts.push(wcf_emulator::fixture::FixtureContact {
            wxid: format!("wxid_r{i}"),
            name: format!("r{i}"),
            ..Default::default()
        });
    }
    let emu = Emulator::start(EmulatorConfig {
        data_dir: Some(dir.path().join("wechat")),
        control: None,
        fixture,
        ..Default::default()
    })
    .await
    .unwrap();
    let hooked = Arc::new(AtomicUsize::new(0));
    let url = common::counting_webhook(hooked.clone()).await;
    let yaml = format!(
        "enable_heart_beat: false\nsend:\n  max_per_minute: 0\n  max_per_hour: 0\nhttp_post:\n  - url: {url}\n    max_retries: 1000000\n{}",
        store_yaml(pg)
    );
    let (base, mut child) = common::start_gateway(dir.path(), &emu.address(), &yaml);
    until("the gateway connected", Duration::from_secs(60), async || {
        call(&base, "get_status", json!({})).await["data"]["good"] == true
    })
    .await;
    let start = Instant::now();
    common::inject_burst(&emu, n);
    let events = until("every event delivered", Duration::from_secs(300), async || hooked.load(Ordering::SeqCst) >= n)
        .await
        .map(|d| n as f64 / start.elapsed().max(d).as_secs_f64());
    let list: Vec<String> = (0..receivers).map(|i| format!("wxid_r{i}")).collect();
    let start = Instant::now();
    let job = call(&base, "send_message", json!({"receivers": list, "message": "bench", "async": true})).await;
    let id = job["data"]["job_id"].as_str().unwrap_or_default().to_owned();
    let sends = until("the broadcast done", Duration::from_secs(600), async || {
        call(&base, "get_send_job", json!({"job_id": id})).await["data"]["state"] == "done"
    })
    .await
    .map(|_| receivers as f64 / start.elapsed().as_secs_f64());
    child.kill().await.ok();
    (events, sends)
}

/// Part 3, one round: seconds from SIGKILL of the driving node until the other drives.
async fn takeover(url: &str) -> Option<Duration> {
    let dir = tempfile::tempdir().unwrap();
    let emu = common::emulator(dir.path()).await;
    let mut nodes = Vec::new();
    for i in 1..=2 {
        let d = dir.path().join(format!("node{i}"));
        std::fs::create_dir_all(&d).unwrap();
        let yaml = format!("enable_heart_beat: false\nfleet:\n  node_id: node-{i}\n{}", store_yaml(Some(url)));
        nodes.push(common::start_gateway(&d, &emu.address(), &yaml));
        let base = nodes[i - 1].0.clone();
        until("the node up", Duration::from_secs(60), async || call(&base, "get_status", json!({})).await.is_object())
            .await;
    }
    let node = async |base: &str| {
        let s = call(base, "get_status", json!({})).await;
        (s["data"]["bots"][0]["wx.node"].as_str().map(str::to_owned), s["data"]["bots"][0]["online"] == true)
    };
    until("node-1 drives", Duration::from_secs(60), async || node(&nodes[1].0).await == (Some("node-1".into()), true))
        .await?;
    // Kill at a random point of the renewal period, as a real crash would.
    tokio::time::sleep(Duration::from_millis(rand::random_range(0..5000))).await;
    nodes[0].1.start_kill().ok();
    nodes[0].1.wait().await.ok();
    let base = nodes[1].0.clone();
    let took = until("node-2 takes over", Duration::from_secs(60), async || {
        node(&base).await == (Some("node-2".into()), true)
    })
    .await;
    for (_, mut c) in nodes {
        c.kill().await.ok();
    }
    took
}

fn main() {
    let n: usize = std::env::var("FLEET_BENCH_N").ok().and_then(|v| v.parse().ok()).unwrap_or(5000);
    let receivers: usize = std::env::var("FLEET_BENCH_RECEIVERS").ok().and_then(|v| v.parse().ok()).unwrap_or(500);
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        wechat_http::install_tls_provider();
        let Some(url) = tokio::task::spawn_blocking(postgres::durable_database).await.unwrap() else {
            println!("PostgreSQL is not installed (Debian: apt install postgresql); skipped");
            return;
        };
        println!("wechat-http store and fleet benchmark (127.0.0.1, release binary, a local PostgreSQL 15 with fsync on, SQLite synchronous=FULL)");
        println!("{n} inbound messages to a webhook; one broadcast to {receivers} receivers, pacing off");
        let fmt = |v: Option<f64>, unit: &str| v.map_or("did not finish".to_owned(), |v| format!("{v:>7.0} {unit}"));
        let (se, ss) = throughput(None, n, receivers).await;
        println!("SQLite (reference)   events {}   broadcast {}", fmt(se, "events/s"), fmt(ss, "receivers/s"));
        let (pe, ps) = throughput(Some(&url), n, receivers).await;
        println!("PostgreSQL           events {}   broadcast {}", fmt(pe, "events/s"), fmt(ps, "receivers/s"));
        if let (Some(se), Some(pe), Some(ss), Some(ps)) = (se, pe, ss, ps) {
            println!("PostgreSQL / SQLite  events {:.2}x   broadcast {:.2}x", pe / se, ps / ss);
        }
        let mut times = Vec::new();
        for round in 1..=5 {
            let Some(db) = tokio::task::spawn_blocking(postgres::database).await.unwrap() else { return };
            match takeover(&db).await {
                Some(t) => {
                    println!("takeover round {round}: {:.1} s", t.as_secs_f64());
                    times.push(t.as_secs_f64());
                }
                None => println!("takeover round {round}: did not happen"),
            }
        }
        times.sort_by(f64::total_cmp);
        if let Some(median) = times.get(times.len() / 2) {
            println!(
                "takeover after SIGKILL: median {median:.1} s of {} rounds (reference: fleet.lease_seconds = 15 s; a lease expires 10-15 s after the holder's last renewal, then the next round of another node takes it)",
                times.len()
            );
        }
    });
}
