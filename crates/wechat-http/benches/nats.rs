//! NATS JetStream channel benchmark: prints figures, asserts nothing about time.
//!
//! `cargo bench -p wechat-http --bench nats` starts a `nats-server -js` on a free loopback port
//! (skipped when `nats-server` is not installed), the release `wechat-http` binary with one
//! webhook target and one NATS target, and injects a burst of messages at the emulator. Both
//! channels deliver the same burst from the same outbox at the same time, so the webhook is the
//! reference measured in the same run. `NATS_BENCH_N` (default 10000) messages.

use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use wechat_http::config::NatsTarget;
use wechat_http::delivery::nats::NatsConn;

mod common;

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

async fn stream_messages(conn: &mut NatsConn) -> u64 {
    conn.api("$JS.API.STREAM.INFO.BENCH", &serde_json::json!({}))
        .await
        .map(|i| i["state"]["messages"].as_u64().unwrap_or(0))
        .unwrap_or(0)
}

fn main() {
    let Some(nats) = ["nats-server", "/usr/sbin/nats-server"].into_iter().find(|p| {
        std::process::Command::new(p).arg("--version").stdout(Stdio::null()).stderr(Stdio::null()).status().is_ok()
    }) else {
        println!("nats-server is not installed (Debian: apt install nats-server); skipped");
        return;
    };
    let n: usize = std::env::var("NATS_BENCH_N").ok().and_then(|v| v.parse().ok()).unwrap_or(10_000);
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        wechat_http::install_tls_provider();
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let mut server = tokio::process::Command::new(nats)
            .args(["-js", "-a", "127.0.0.1", "-p", &port.to_string(), "-sd"])
            .arg(dir.path().join("js"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let target = NatsTarget {
            url: format!("nats://127.0.0.1:{port}"),
            stream: "BENCH".into(),
            subject_prefix: "bench".into(),
            ..NatsTarget::default()
        };
        let mut probe = loop {
            if let Ok(c) = NatsConn::connect(&target, Duration::from_secs(2)).await {
                break c;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        let emu = common::emulator(dir.path()).await;
        let hooked = Arc::new(AtomicUsize::new(0));
        let url = common::counting_webhook(hooked.clone()).await;
        let yaml = format!(
            "enable_heart_beat: false\nhttp_post:\n  - url: {url}\n    max_retries: 1000000\nnats:\n  - url: nats://127.0.0.1:{port}\n    stream: BENCH\n    subject_prefix: bench\n"
        );
        let (base, mut child) = common::start_gateway(dir.path(), &emu.address(), &yaml);
        common::wait_good(&base).await;
        // Let start-up status events (if any) settle into the stream first.
        tokio::time::sleep(Duration::from_secs(1)).await;
        let before = stream_messages(&mut probe).await;
        println!("wechat-http NATS benchmark: {n} messages, one webhook and one JetStream target (127.0.0.1)");
        let start = Instant::now();
        common::inject_burst(&emu, n);
        let (mut webhook_done, mut nats_done) = (None, None);
        let deadline = Instant::now() + Duration::from_secs(300);
        while (webhook_done.is_none() || nats_done.is_none()) && Instant::now() < deadline {
            if webhook_done.is_none() && hooked.load(Ordering::SeqCst) >= n {
                webhook_done = Some(start.elapsed());
            }
            if nats_done.is_none() && stream_messages(&mut probe).await >= before + n as u64 {
                nats_done = Some(start.elapsed());
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let rate = |d: Option<Duration>| d.map_or("did not finish".to_owned(), |d| {
            format!("{:>6.2} s = {:>6.0} events/s", d.as_secs_f64(), n as f64 / d.as_secs_f64())
        });
        println!("webhook (reference)   {}", rate(webhook_done));
        println!("NATS JetStream        {}   (each publish acknowledged before the next)", rate(nats_done));
        if let (Some(w), Some(j)) = (webhook_done, nats_done) {
            println!("ratio NATS / webhook  {:.2}x the webhook's rate", w.as_secs_f64() / j.as_secs_f64());
        }
        child.kill().await.ok();
        server.kill().await.ok();
    });
}
