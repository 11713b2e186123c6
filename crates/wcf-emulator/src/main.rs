//! `wcf-emulator`: run the WeChat emulator as a process.

use std::path::PathBuf;

use clap::Parser;
use wcf_emulator::{Emulator, EmulatorConfig, Fixture};

/// A WeChat that speaks the WeChatFerry wire protocol (command port and message port = port + 1).
#[derive(Parser, Debug)]
#[command(version, about)]
struct Args {
    /// Command channel address; the message channel is port + 1.
    #[arg(long, default_value = "tcp://127.0.0.1:10086")]
    listen: String,
    /// Fixture file (YAML or JSON); the built-in fixture when omitted.
    #[arg(long)]
    fixture: Option<PathBuf>,
    /// Control API address (HTTP/JSON).
    #[arg(long, default_value = "127.0.0.1:10088")]
    control: String,
    /// Data folder for the databases and "WeChat Files"; a temporary folder when omitted.
    #[arg(long)]
    data: Option<PathBuf>,
    /// Seconds a pushed message waits for a message-channel peer before it is dropped.
    #[arg(long, default_value_t = 5)]
    push_timeout: u64,
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()))
        .init();
    let args = Args::parse();
    let fixture = match &args.fixture {
        Some(p) => match Fixture::load(p) {
            Ok(f) => f,
            Err(e) => {
                eprintln!("wcf-emulator: {e}");
                return std::process::ExitCode::from(2);
            }
        },
        None => Fixture::builtin(),
    };
    let config = EmulatorConfig {
        listen: args.listen,
        control: Some(args.control),
        data_dir: args.data,
        fixture,
        push_timeout: std::time::Duration::from_secs(args.push_timeout),
    };
    let emulator = match Emulator::start(config).await {
        Ok(e) => e,
        Err(e) => {
            eprintln!("wcf-emulator: {e}");
            return std::process::ExitCode::from(1);
        }
    };
    println!("wcf-emulator: command {} (messages on port + 1)", emulator.address());
    if let Some(url) = emulator.control_url() {
        println!("wcf-emulator: control API {url}");
    }
    println!("wcf-emulator: data in {}", emulator.data_dir().display());
    let _ = tokio::signal::ctrl_c().await;
    emulator.shutdown().await;
    std::process::ExitCode::SUCCESS
}
