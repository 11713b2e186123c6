use std::future::Future;
use std::time::Duration;

use wcf::{Client, ClientOptions, ReceiverOptions};
use wcf_emulator::{Emulator, EmulatorConfig};

pub(crate) struct Env {
    pub(crate) emu: Emulator,
    pub(crate) client: Client,
    pub(crate) dir: tempfile::TempDir,
}

pub(crate) async fn start() -> Env {
    let dir = tempfile::tempdir().unwrap();
    let emu = start_emulator(dir.path().to_path_buf(), "127.0.0.1:0").await;
    let client = client_for(&emu.address(), Duration::from_secs(5));
    Env { emu, client, dir }
}

pub(crate) async fn start_emulator(data: std::path::PathBuf, listen: &str) -> Emulator {
    Emulator::start(EmulatorConfig { listen: listen.into(), control: None, data_dir: Some(data), ..Default::default() })
        .await
        .expect("emulator starts")
}

pub(crate) fn client_for(address: &str, timeout: Duration) -> Client {
    Client::new(ClientOptions { call_timeout: timeout, ..ClientOptions::new(address) }).unwrap()
}

pub(crate) fn fast_receiver() -> ReceiverOptions {
    ReceiverOptions {
        backoff_initial: Duration::from_millis(20),
        backoff_max: Duration::from_millis(200),
        login_poll: Duration::from_millis(100),
        ..Default::default()
    }
}

/// Guards against a hang; not a timing assertion.
pub(crate) async fn within<T>(what: &str, f: impl Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(20), f).await.unwrap_or_else(|_| panic!("hung waiting for {what}"))
}

pub(crate) fn text(from: &str, text: &str) -> wcf_emulator::InboundMessage {
    wcf_emulator::InboundMessage { from: from.into(), text: Some(text.into()), ..Default::default() }
}
