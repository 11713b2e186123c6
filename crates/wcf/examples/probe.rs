//! `probe`: drives a WeChatFerry peer with our client and prints what it got, one JSON line per
//! step. The cross-check (`tests/crosscheck`) runs it against a `pynng.Pair1` peer to prove our
//! transport against real libnng.
//!
//! Usage: `probe tcp://127.0.0.1:PORT [messages-to-receive]`

use std::time::Duration;

use wcf::{Client, ClientOptions, Receiver, ReceiverOptions};

fn line(step: &str, value: impl std::fmt::Debug) {
    println!("{step}\t{value:?}");
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let mut args = std::env::args().skip(1);
    let address = args.next().expect("usage: probe tcp://host:port [n]");
    let want: usize = args.next().map(|n| n.parse().expect("a count")).unwrap_or(0);
    let client = Client::new(ClientOptions::new(address)).expect("valid address");
    line("is_login", client.is_login().await);
    line("self_wxid", client.self_wxid().await);
    line("contacts", client.contacts().await.map(|c| c.into_iter().map(|c| c.wxid).collect::<Vec<_>>()));
    line("send_text", client.send_text("hello @Alice", "1001@chatroom", &["wxid_alice".into()]).await);
    line(
        "query",
        client.query("MicroMsg.db", "SELECT 1 AS one").await.map(|r| r[0].get("one").and_then(|v| v.as_i64())),
    );
    line("db_key", client.db_key().await.map_err(|e| e.to_string()));
    if want > 0 {
        let options = ReceiverOptions { backoff_initial: Duration::from_millis(50), ..Default::default() };
        let mut rx = Receiver::start(client.clone(), options);
        for _ in 0..want {
            match tokio::time::timeout(Duration::from_secs(10), rx.next()).await {
                Ok(Some(m)) => line("message", (m.id, m.content)),
                _ => {
                    line("message", "timeout");
                    break;
                }
            }
        }
    }
}
