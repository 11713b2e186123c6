//! `wechat-http`: command line, logging, config, bind, serve.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use wechat_http::Config;

/// WeChat as an HTTP API for bots (OneBot 12 style), over WeChatFerry.
#[derive(Parser, Debug)]
#[command(version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run the service.
    Serve {
        /// Config file (YAML); written with commented defaults if missing.
        #[arg(long, env = "WECHAT_HTTP_CONFIG", default_value = "config.yaml")]
        config: PathBuf,
        /// Start an embedded WeChat emulator and connect to it (no Windows machine needed).
        #[arg(long)]
        demo: bool,
    },
    /// Configuration helpers.
    Config {
        #[command(subcommand)]
        command: ConfigCommand,
    },
}

#[derive(Subcommand, Debug)]
enum ConfigCommand {
    /// Print the commented default configuration.
    Example,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Config { command: ConfigCommand::Example } => {
            print!("{}", wechat_http::config::EXAMPLE_YAML);
            ExitCode::SUCCESS
        }
        Command::Serve { config, demo } => {
            tracing_subscriber::fmt()
                .with_env_filter(
                    tracing_subscriber::EnvFilter::try_from_default_env()
                        .unwrap_or_else(|_| "info,wcf_emulator=warn".into()),
                )
                .init();
            let rt = match tokio::runtime::Runtime::new() {
                Ok(rt) => rt,
                Err(e) => {
                    eprintln!("wechat-http: cannot start the runtime: {e}");
                    return ExitCode::FAILURE;
                }
            };
            match rt.block_on(serve(config, demo)) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("wechat-http: {e}");
                    ExitCode::FAILURE
                }
            }
        }
    }
}

async fn serve(path: PathBuf, demo: bool) -> Result<(), String> {
    let loaded = Config::load(&path).map_err(|e| e.to_string())?;
    if loaded.created {
        println!("wechat-http: wrote a default config to {} (edit it and restart to change settings)", path.display());
    }
    let mut config = loaded.config;
    let emulator = if demo { Some(start_emulator(&mut config).await?) } else { None };
    let addr = config.listen_addr().map_err(|e| e.to_string())?;
    let listener = tokio::net::TcpListener::bind(addr).await.map_err(|e| format!("cannot listen on {addr}: {e}"))?;
    let gateway = wechat_http::start(config, listener).await.map_err(|e| e.to_string())?;
    if let Some(emu) = &emulator {
        print_demo(&gateway, emu);
    } else {
        println!(
            "wechat-http: API on http://{} (WeChatFerry at {})",
            gateway.addr(),
            gateway.state().config.wcf.address
        );
    }
    shutdown_signal().await;
    tracing::info!("shutting down");
    gateway.shutdown().await;
    if let Some(emu) = emulator {
        emu.shutdown().await;
    }
    Ok(())
}

async fn start_emulator(config: &mut Config) -> Result<wcf_emulator::Emulator, String> {
    let data =
        config.db_dir_path.parent().map(|p| p.join("emulator")).unwrap_or_else(|| PathBuf::from("./data/emulator"));
    let mut emu_config = wcf_emulator::EmulatorConfig {
        listen: "127.0.0.1:0".into(),
        control: Some("127.0.0.1:10088".into()),
        data_dir: Some(data),
        ..Default::default()
    };
    let emu = match wcf_emulator::Emulator::start(emu_config.clone()).await {
        Ok(e) => e,
        Err(_) => {
            // 10088 taken: any free port will do.
            emu_config.control = Some("127.0.0.1:0".into());
            wcf_emulator::Emulator::start(emu_config)
                .await
                .map_err(|e| format!("cannot start the demo emulator: {e}"))?
        }
    };
    config.wcf.address = emu.address();
    Ok(emu)
}

fn print_demo(gateway: &wechat_http::Gateway, emu: &wcf_emulator::Emulator) {
    let api = format!("http://{}", gateway.addr());
    let token = gateway.state().config.http_server.access_token.expose().to_owned();
    let control = emu.control_url().unwrap_or_default();
    let auth = if token.is_empty() { String::new() } else { format!(" -H 'Authorization: Bearer {token}'") };
    println!(
        "\nwechat-http demo is running (an emulated WeChat, no Windows needed)\n\
         \n  API            {api}\n  token          {}\n  emulator       {} (control API {control})\n  API docs       {api}/docs\n\
         \nTry:\n  curl -s {api}/get_friend_list{auth}\n  curl -s {api}/send_message{auth} -H 'Content-Type: application/json' \\\n       -d '{{\"action\":\"send_message\",\"params\":{{\"detail_type\":\"private\",\"send_id\":\"wxid_alice\",\"msg_type\":0,\"message\":\"hello from wechat-http\"}}}}'\n  curl -s {control}/sent\n\
         \nCtrl-C stops it.\n",
        if token.is_empty() { "(none)" } else { &token },
        emu.address(),
    );
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(s) => s,
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
                return;
            }
        };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
