//! Message-kinds benchmark: prints figures, asserts nothing.
//!
//! `cargo bench -p wechat-http --bench kinds`: how long reading and mapping one message takes
//! (`wcf::content`/`system` parsing + `events::normalize`), for every capture in
//! `tests/captures/` beside plain text in the same run — the cost the richer kinds add to the
//! inbound path (before any I/O: the media fetches are WeChatFerry's). `KINDS_BENCH_ROUNDS`
//! (default 20000) sets the rounds per kind.

use std::time::Instant;

use serde_json::Value;
use wcf::WxMsg;
use wechat_http::events::normalize::{Context, normalize};

fn main() {
    let rounds: usize = std::env::var("KINDS_BENCH_ROUNDS").ok().and_then(|v| v.parse().ok()).unwrap_or(20_000);
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/captures");
    let index: Value = serde_json::from_str(&std::fs::read_to_string(root.join("index.json")).unwrap()).unwrap();
    let ctx = Context { self_id: "wxid_self01".into(), account: "default".into(), ..Default::default() };
    let msg = |t: u32, content: String, room: bool| WxMsg {
        id: 1_234_567_890_123_456_789,
        r#type: t,
        ts: 1_700_000_000,
        is_group: room,
        roomid: if room { "12345678901@chatroom".into() } else { "wxid_aaa01".into() },
        sender: "wxid_aaa01".into(),
        content,
        ..Default::default()
    };
    let time = |m: &WxMsg| {
        let start = Instant::now();
        let mut bytes = 0usize;
        for _ in 0..rounds {
            for d in normalize(std::hint::black_box(m), &ctx) {
                bytes += d.body.as_object().map_or(0, |o| o.len());
            }
        }
        std::hint::black_box(bytes);
        start.elapsed().as_secs_f64() * 1e6 / rounds as f64
    };
    let text = time(&msg(1, "今天天气怎么样？我们下午三点在会议室见。".into(), false));
    println!("{:<48} {:>9} {:>8}", "kind", "µs/msg", "× text");
    println!("{:<48} {:>9.2} {:>8.1}", "text (reference)", text, 1.0);
    let mut worst: f64 = 0.0;
    for cap in index["captures"].as_array().unwrap() {
        let content = std::fs::read_to_string(root.join(cap["file"].as_str().unwrap())).unwrap();
        let m = msg(cap["type"].as_u64().unwrap() as u32, content, cap["room"] == true);
        let us = time(&m);
        worst = worst.max(us);
        println!("{:<48} {:>9.2} {:>8.1}", cap["name"].as_str().unwrap(), us, us / text);
    }
    println!("slowest kind: {worst:.2} µs/msg ({:.0} messages/s on one core)", 1e6 / worst);
}
