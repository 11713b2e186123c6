//! Wire benchmark: prints figures, asserts nothing about time.
//!
//! `cargo bench -p wcf --bench wire` measures, in one run, on 127.0.0.1:
//! 1. RPC round trips per second over one command connection (`is_login` against the emulator)
//!    beside a raw TCP ping-pong of the same frame sizes;
//! 2. pushed messages per second from the emulator to a [`wcf::Receiver`] beside raw TCP
//!    one-way frames of the same size.
//!
//! `WIRE_BENCH_SECS` (default 3) sets how long each round-trip phase runs; `WIRE_BENCH_PUSH`
//! (default 100000) how many messages are pushed.

use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use wcf::{Client, ClientOptions, ConnectionState, Receiver, ReceiverOptions};
use wcf_emulator::{Emulator, EmulatorConfig};

fn env_num(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// Raw TCP ping-pong with the sizes of an `is_login` exchange (14 bytes out, 16 back).
async fn raw_round_trips(secs: u64) -> (u64, Duration) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let (mut s, _) = listener.accept().await.unwrap();
        s.set_nodelay(true).unwrap();
        let mut req = [0u8; 14];
        let rsp = [0u8; 16];
        while s.read_exact(&mut req).await.is_ok() {
            if s.write_all(&rsp).await.is_err() {
                break;
            }
        }
    });
    let mut c = TcpStream::connect(addr).await.unwrap();
    c.set_nodelay(true).unwrap();
    let (req, mut rsp) = ([0u8; 14], [0u8; 16]);
    let start = Instant::now();
    let mut n = 0;
    while start.elapsed() < Duration::from_secs(secs) {
        c.write_all(&req).await.unwrap();
        c.read_exact(&mut rsp).await.unwrap();
        n += 1;
    }
    (n, start.elapsed())
}

async fn rpc_round_trips(client: &Client, secs: u64) -> (u64, Duration) {
    let start = Instant::now();
    let mut n = 0;
    while start.elapsed() < Duration::from_secs(secs) {
        assert!(client.is_login().await.unwrap());
        n += 1;
    }
    (n, start.elapsed())
}

/// Raw TCP: `count` frames of `size` bytes one way.
async fn raw_one_way(count: u64, size: usize) -> Duration {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let frame = vec![7u8; size];
    let sender = tokio::spawn(async move {
        let (mut s, _) = listener.accept().await.unwrap();
        s.set_nodelay(true).unwrap();
        let batch: Vec<u8> = frame.iter().copied().cycle().take(size * 256).collect();
        let mut left = count;
        while left > 0 {
            let k = left.min(256);
            s.write_all(&batch[..size * k as usize]).await.unwrap();
            left -= k;
        }
    });
    let mut c = TcpStream::connect(addr).await.unwrap();
    let start = Instant::now();
    let mut buf = vec![0u8; 64 * 1024];
    let mut got = 0usize;
    let want = size * count as usize;
    while got < want {
        let n = c.read(&mut buf).await.unwrap();
        assert!(n > 0);
        got += n;
    }
    sender.await.unwrap();
    start.elapsed()
}

fn rate(n: u64, d: Duration) -> f64 {
    n as f64 / d.as_secs_f64()
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    rt.block_on(async {
        let secs = env_num("WIRE_BENCH_SECS", 3);
        let pushes = env_num("WIRE_BENCH_PUSH", 100_000);
        let dir = tempfile::tempdir().unwrap();
        let emu = Emulator::start(EmulatorConfig {
            control: None,
            data_dir: Some(dir.path().to_path_buf()),
            ..Default::default()
        })
        .await
        .unwrap();
        let client = Client::new(ClientOptions::new(emu.address())).unwrap();
        client.is_login().await.unwrap(); // connect first

        println!("wcf wire benchmark (127.0.0.1, {} cores)", std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1));
        let (raw_n, raw_d) = raw_round_trips(secs).await;
        let (rpc_n, rpc_d) = rpc_round_trips(&client, secs).await;
        let (raw_rate, rpc_rate) = (rate(raw_n, raw_d), rate(rpc_n, rpc_d));
        println!("round trips/s   raw TCP ping-pong {raw_rate:>10.0}   wcf is_login {rpc_rate:>10.0}   raw/wcf = {:.2}x (goal <= 2x)", raw_rate / rpc_rate);
        println!(
            "latency         raw TCP {:>8.1} us   wcf {:>8.1} us",
            1e6 / raw_rate,
            1e6 / rpc_rate
        );

        let options = ReceiverOptions { buffer: 65_536, dedupe_window: 65_536, ..Default::default() };
        let mut rx = Receiver::start(client.clone(), options);
        rx.state().wait_for(|s| *s == ConnectionState::Connected).await.unwrap();
        let sample = wcf::proto::Response {
            func: wcf::Functions::FuncEnableRecvTxt as i32,
            msg: Some(wcf::proto::response::Msg::Wxmsg(wcf::WxMsg {
                id: 1_234_567_890_123_456_789,
                r#type: 1,
                ts: 1_700_000_000,
                roomid: "wxid_bob".into(),
                sender: "wxid_bob".into(),
                content: "benchmark message".into(),
                sign: "0123456789abcdef0123456789abcdef".into(),
                xml: "<msgsource><signature>v1_emulated</signature></msgsource>".into(),
                ..Default::default()
            })),
        };
        let frame_size = prost::Message::encoded_len(&sample) + 12;

        let start = Instant::now();
        let ids = emu.wechat().inject_text_batch("wxid_bob", "benchmark message", pushes as usize).unwrap();
        let injected = start.elapsed();
        let mut last = 0;
        for _ in 0..pushes {
            last = rx.next().await.unwrap().id;
        }
        let total = start.elapsed();
        assert_eq!(last, *ids.last().unwrap());
        let push_only = total - injected;
        let raw = raw_one_way(pushes, frame_size).await;
        println!(
            "pushed msgs/s   raw TCP frames {:>10.0}   wcf receiver {:>10.0} (push+decode, after {:.0} ms of SQLite inserts; {:.0}/s including them)   goal >= 50000",
            rate(pushes, raw),
            rate(pushes, push_only),
            injected.as_secs_f64() * 1e3,
            rate(pushes, total)
        );
        println!("frame size      {frame_size} bytes, {pushes} messages");
        drop(rx);
        emu.shutdown().await;
    });
}
