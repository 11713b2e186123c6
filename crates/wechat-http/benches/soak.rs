//! Soak: the release binary under steady load with faults, for `SOAK_SECS` (default 600).
//! Prints figures; asserts nothing. Run with `scripts/soak`.
//!
//! * 50 inbound messages/s from the emulator (in this process) to one webhook receiver here;
//! * 5 sends/s through the gateway's HTTP API (pacing off);
//! * the emulator drops both WeChatFerry connections every 60 s;
//! * the webhook answers 503 for 30 s in the middle of the run.
//!
//! Each minute: the gateway's RSS. At the end (after the backlog drains): events delivered /
//! lost / duplicated, sends sent / unknown (33003) / failed, and whether RSS stayed flat
//! (last minute within 20 % of the second).

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use wcf_emulator::InboundMessage;

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

#[derive(Default)]
struct Receiver {
    down: AtomicBool,
    seen: Mutex<HashSet<String>>,
    duplicates: AtomicUsize,
}

async fn webhook(state: Arc<Receiver>) -> String {
    use axum::routing::post;
    let app = axum::Router::new().route(
        "/hook",
        post(move |body: axum::body::Bytes| {
            let state = state.clone();
            async move {
                if state.down.load(Ordering::SeqCst) {
                    return axum::http::StatusCode::SERVICE_UNAVAILABLE;
                }
                if let Ok(v) = serde_json::from_slice::<Value>(&body)
                    && v["type"] == "message"
                    && let Some(id) = v["message_id"].as_str()
                    && !state.seen.lock().unwrap().insert(id.to_owned())
                {
                    state.duplicates.fetch_add(1, Ordering::SeqCst);
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

fn main() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(run());
}

async fn run() {
    wechat_http::install_tls_provider();
    let total = Duration::from_secs(std::env::var("SOAK_SECS").ok().and_then(|v| v.parse().ok()).unwrap_or(600));
    let dir = tempfile::tempdir().unwrap();
    let emu = common::emulator(dir.path()).await;
    let receiver = Arc::new(Receiver::default());
    let url = webhook(receiver.clone()).await;
    let (base, mut child) = common::start_gateway(
        dir.path(),
        &emu.address(),
        &format!("enable_heart_beat: false\nhttp_post:\n  - url: {url}\n    max_retries: 1000000\n"),
    );
    let pid = child.id().unwrap();
    let http = reqwest::Client::new();
    common::wait_good(&base).await;
    println!(
        "wechat-http soak: {} s, 50 events/s in, 5 sends/s out, connections dropped every 60 s, webhook down 30 s mid-run",
        total.as_secs()
    );
    let start = Instant::now();
    let injected = Arc::new(Mutex::new(Vec::<String>::new()));
    let sends = Arc::new(Mutex::new((0usize, 0usize, 0usize)));
    let unknown_ids = Arc::new(Mutex::new(Vec::<String>::new()));
    // Inbound: 50/s in steps of 5 every 100 ms.
    let (w, inj) = (emu.wechat().clone(), injected.clone());
    let inbound = tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_millis(100));
        let mut n = 0u64;
        while start.elapsed() < total {
            tick.tick().await;
            for _ in 0..5 {
                let m =
                    InboundMessage { from: "wxid_bob".into(), text: Some(format!("soak {n}")), ..Default::default() };
                if let Ok(id) = w.inject(&m) {
                    inj.lock().unwrap().push(id.to_string());
                }
                n += 1;
            }
        }
    });
    // Outbound: 5/s.
    let (h, b, s, u) = (http.clone(), base.clone(), sends.clone(), unknown_ids.clone());
    let outbound = tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_millis(200));
        let mut n = 0u64;
        while start.elapsed() < total {
            tick.tick().await;
            let body =
                json!({"params": {"detail_type": "private", "user_id": "wxid_alice", "message": format!("out {n}")}});
            n += 1;
            let r = h.post(format!("{b}/send_message")).bearer_auth("bench").json(&body).send().await;
            let answer = match r {
                Ok(r) => r.json::<Value>().await.unwrap_or(Value::Null),
                Err(_) => Value::Null,
            };
            let code = answer["retcode"].as_i64().unwrap_or(-1);
            if let Some(id) = answer["data"]["message_id"].as_str().filter(|_| code == 33003) {
                u.lock().unwrap().push(id.to_owned());
            }
            let mut t = s.lock().unwrap();
            match code {
                0 => t.0 += 1,
                33003 => t.1 += 1,
                _ => t.2 += 1,
            }
        }
    });
    // Faults and the per-minute RSS.
    let mut rss = Vec::new();
    let mut next_minute = Duration::from_secs(60);
    let mut next_drop = Duration::from_secs(60);
    let down_at = total / 2;
    let mut down_done = false;
    while start.elapsed() < total {
        tokio::time::sleep(Duration::from_millis(200)).await;
        let t = start.elapsed();
        if t >= next_drop {
            let _ = emu.wechat().fault(&wcf_emulator::Fault { kind: "drop_connections".into(), ms: None, func: None });
            next_drop += Duration::from_secs(60);
        }
        if !down_done && t >= down_at {
            receiver.down.store(true, Ordering::SeqCst);
            if t >= down_at + Duration::from_secs(30) {
                receiver.down.store(false, Ordering::SeqCst);
                down_done = true;
            }
        }
        if t >= next_minute || (t >= total && rss.is_empty()) {
            let mb = rss_mb(pid);
            println!("  minute {:>2}: RSS {mb:.1} MB", rss.len() + 1);
            rss.push(mb);
            next_minute += Duration::from_secs(60);
        }
    }
    receiver.down.store(false, Ordering::SeqCst);
    let _ = inbound.await;
    let _ = outbound.await;
    // Let the backlog drain (at most two minutes).
    let drain = Instant::now();
    let ids = injected.lock().unwrap().clone();
    loop {
        let missing = {
            let seen = receiver.seen.lock().unwrap();
            ids.iter().filter(|id| !seen.contains(*id)).count()
        };
        if missing == 0 || drain.elapsed() > Duration::from_secs(120) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let seen = receiver.seen.lock().unwrap().clone();
    let lost = ids.iter().filter(|id| !seen.contains(*id)).count();
    let (sent, unknown, failed) = *sends.lock().unwrap();
    println!(
        "events: {} injected, {} delivered, {lost} lost, {} duplicated (goal: 0 lost)",
        ids.len(),
        ids.iter().filter(|id| seen.contains(*id)).count(),
        receiver.duplicates.load(Ordering::SeqCst)
    );
    println!(
        "sends: {sent} sent, {unknown} unknown (33003), {failed} failed (during connection drops WeChat is briefly unreachable: 33001)"
    );
    let mut settled = std::collections::BTreeMap::<String, usize>::new();
    let unknown_list = unknown_ids.lock().unwrap().clone();
    for id in &unknown_list {
        let r = http
            .get(format!("{base}/wx.get_sent_message?message_id={id}"))
            .bearer_auth("bench")
            .send()
            .await
            .unwrap()
            .json::<Value>()
            .await
            .unwrap_or(Value::Null);
        *settled.entry(r["data"]["parts"][0]["state"].as_str().unwrap_or("?").to_owned()).or_default() += 1;
    }
    if !settled.is_empty() {
        println!("  the unknown ones, settled from WeChat's database afterwards: {settled:?}");
    }
    if rss.len() >= 3 {
        let (second, last) = (rss[1], rss[rss.len() - 1]);
        let change = (last - second) / second * 100.0;
        println!(
            "RSS: minute 2 {second:.1} MB, last minute {last:.1} MB ({change:+.1} %; goal within 20 %: {})",
            if change.abs() <= 20.0 { "met" } else { "NOT met" }
        );
    } else {
        println!("RSS: {rss:?} MB (run at least 3 minutes to compare the second and the last)");
    }
    child.kill().await.unwrap();
}
