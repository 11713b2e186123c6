//! `wechat-http`: command line, logging, config, bind, serve.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

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
        /// Config file (YAML); written with commented defaults and a fresh token if missing.
        #[arg(long, env = "WECHAT_HTTP_CONFIG", default_value = "config.yaml")]
        config: PathBuf,
        /// Start embedded WeChat emulators and connect to them (no Windows machine needed).
        #[arg(long)]
        demo: bool,
        /// With --demo: how many emulated accounts (each its own WeChat).
        #[arg(long, default_value_t = 1, requires = "demo")]
        accounts: usize,
    },
    /// Configuration helpers.
    Config {
        #[command(subcommand)]
        command: ConfigCommand,
    },
    /// A fleet of nodes sharing a PostgreSQL store.
    Fleet {
        #[command(subcommand)]
        command: FleetCommand,
    },
}

#[derive(Subcommand, Debug)]
enum FleetCommand {
    /// Print the nodes, the account leases and the channel leases, from the shared store.
    Status {
        /// The fleet's config file (its `store.postgres_url` is read).
        #[arg(long, env = "WECHAT_HTTP_CONFIG", default_value = "config.yaml")]
        config: PathBuf,
        /// Print JSON instead of tables.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand, Debug)]
enum ConfigCommand {
    /// Print the commented default configuration (with a fresh random token).
    Example,
    /// Print a fresh random access token.
    Token,
    /// Write a fresh NATS user nkey seed to FILE (owner-only) and print its public key, for
    /// `nats[].credentials` and the NATS server's `authorization { users: [{nkey: …}] }`.
    Nkey {
        /// Where the seed goes (must not exist).
        file: std::path::PathBuf,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Config { command: ConfigCommand::Example } => {
            print!("{}", wechat_http::config::example_with_token(&wechat_http::config::random_token()));
            ExitCode::SUCCESS
        }
        Command::Config { command: ConfigCommand::Token } => {
            println!("{}", wechat_http::config::random_token());
            ExitCode::SUCCESS
        }
        Command::Config { command: ConfigCommand::Nkey { file } } => {
            match wechat_http::delivery::nkey::write_new_seed(&file) {
                Ok(public) => {
                    println!("{public}");
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("wechat-http: {e}");
                    ExitCode::FAILURE
                }
            }
        }
        Command::Fleet { command: FleetCommand::Status { config, json } } => match fleet_status(&config, json) {
            Ok(text) => {
                print!("{text}");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("wechat-http: {e}");
                ExitCode::FAILURE
            }
        },
        Command::Serve { config, demo, accounts } => {
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
            let result = rt.block_on(serve(config, demo.then_some(accounts.max(1))));
            // A blocked file read must not hold the exit: whatever still runs is abandoned.
            rt.shutdown_timeout(Duration::from_secs(1));
            match result {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("wechat-http: {e}");
                    ExitCode::FAILURE
                }
            }
        }
    }
}

/// `wechat-http fleet status`: what the shared store says about the fleet.
fn fleet_status(path: &std::path::Path, as_json: bool) -> Result<String, String> {
    if !path.exists() {
        return Err(format!("{} does not exist: give the fleet's config with --config", path.display()));
    }
    let config = Config::load(path).map_err(|e| e.to_string())?.config;
    if config.store.backend != wechat_http::config::StoreBackend::Postgres {
        return Err(format!(
            "{} uses store.backend: sqlite — a single gateway, not a fleet (set store.backend: postgres and store.postgres_url)",
            path.display()
        ));
    }
    let store = wechat_http::store::Store::open_postgres(
        config.store.postgres_url.expose(),
        config.store.postgres_ca_file.as_deref(),
    )
    .map_err(|e| e.to_string())?;
    let rt = tokio::runtime::Runtime::new().map_err(|e| format!("cannot start the runtime: {e}"))?;
    let rows = rt.block_on(async {
        let f = store.fleet();
        wechat_http::error::ApiResult::Ok((f.clock().await?, f.nodes().await?, f.leases().await?))
    });
    drop(store);
    let (clock, nodes, leases) = rows.map_err(|e| format!("cannot read the fleet: {e}"))?;
    let lease = config.fleet.lease_seconds as f64;
    if as_json {
        let mut v = wechat_http::fleet::describe(&nodes, &leases, clock, config.fleet.lease_seconds);
        v["clock"] = serde_json::json!(clock);
        return Ok(format!("{}\n", serde_json::to_string_pretty(&v).unwrap_or_default()));
    }
    let mut out = format!("nodes ({}; alive = a heartbeat within {lease} s)\n", nodes.len());
    out += &format!("  {:<24} {:<32} {:<6} {}\n", "ID", "ADDRESS", "STATE", "LAST SEEN");
    for n in &nodes {
        let state = if clock - n.seen_at <= lease { "alive" } else { "gone" };
        out += &format!("  {:<24} {:<32} {:<6} {:.1} s ago\n", n.id, n.address, state, clock - n.seen_at);
    }
    for (kind, title) in [("account", "accounts"), ("channel", "channels")] {
        let rows: Vec<_> = leases.iter().filter(|l| l.kind == kind).collect();
        out += &format!("{title} ({})\n", rows.len());
        out += &format!("  {:<40} {:<24} {:<20} {}\n", "NAME", "HOLDER", "LEASE", "STATE");
        for l in rows {
            let left = l.expires_at - clock;
            let lease = if left >= 0.0 { format!("{left:.1} s left") } else { format!("expired {:.1} s ago", -left) };
            let holder = if left >= 0.0 { l.holder.as_str() } else { "(none)" };
            out += &format!("  {:<40} {:<24} {:<20} {}\n", l.name, holder, lease, l.state);
        }
    }
    Ok(out)
}

async fn serve(path: PathBuf, demo: Option<usize>) -> Result<(), String> {
    let loaded = Config::load(&path).map_err(|e| e.to_string())?;
    if let Some(token) = &loaded.created_token {
        println!(
            "wechat-http: wrote a new config to {} with a random access token (shown once; it is in the file):\n\n    {token}\n\nGive it to your bots as `Authorization: Bearer <token>`.",
            path.display()
        );
    }
    ignore_file_size_signal();
    let mut config = loaded.config;
    let emulators = match demo {
        Some(n) => start_emulators(&mut config, n).await?,
        None => Vec::new(),
    };
    let addr = config.listen_addr().map_err(|e| e.to_string())?;
    let listener = tokio::net::TcpListener::bind(addr).await.map_err(|e| format!("cannot listen on {addr}: {e}"))?;
    let running =
        wechat_http::start_with_warnings(config, listener, loaded.warnings).await.map_err(|e| e.to_string())?;
    if emulators.is_empty() {
        let g = running.gateway();
        let wcf: Vec<String> = g.accounts.iter().map(|a| format!("{} at {}", a.name, a.config.wcf.address)).collect();
        println!("wechat-http: API on http://{} (WeChatFerry: {})", running.addr(), wcf.join(", "));
    } else {
        print_demo(&running, &emulators);
    }
    shutdown_signal().await;
    tracing::info!("shutting down");
    let stopping = async {
        running.shutdown().await;
        for emu in emulators {
            emu.shutdown().await;
        }
    };
    if tokio::time::timeout(Duration::from_secs(8), stopping).await.is_err() {
        tracing::warn!("shutdown took too long; exiting anyway");
    }
    Ok(())
}

/// A process that outgrows a file-size limit gets SIGXFSZ, which kills by default. Handling
/// it turns the limit into a failed write, which the store reports (`get_status`).
fn ignore_file_size_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        if let Ok(mut s) = signal(SignalKind::from_raw(libc::SIGXFSZ)) {
            tokio::spawn(async move {
                while s.recv().await.is_some() {
                    tracing::error!("a file grew beyond the process's file-size limit (SIGXFSZ); the write failed");
                }
            });
        }
    }
}

async fn start_emulators(config: &mut Config, n: usize) -> Result<Vec<wcf_emulator::Emulator>, String> {
    let base =
        config.db_dir_path.parent().map(|p| p.join("emulator")).unwrap_or_else(|| PathBuf::from("./data/emulator"));
    let mut emulators = Vec::with_capacity(n);
    for i in 1..=n {
        let data = if n == 1 { base.clone() } else { base.join(format!("demo{i}")) };
        let fixture = if n == 1 { wcf_emulator::Fixture::builtin() } else { wcf_emulator::Fixture::demo(i) };
        let mut emu_config = wcf_emulator::EmulatorConfig {
            listen: "127.0.0.1:0".into(),
            control: Some(format!("127.0.0.1:{}", 10088 + (i as u16 - 1) * 2)),
            data_dir: Some(data),
            fixture,
            ..Default::default()
        };
        let emu = match wcf_emulator::Emulator::start(emu_config.clone()).await {
            Ok(e) => e,
            Err(_) => {
                // The usual control port is taken: any free port will do.
                emu_config.control = Some("127.0.0.1:0".into());
                wcf_emulator::Emulator::start(emu_config)
                    .await
                    .map_err(|e| format!("cannot start the demo emulator: {e}"))?
            }
        };
        emulators.push(emu);
    }
    if n == 1 {
        config.accounts.clear();
        config.wcf.address = emulators[0].address();
    } else {
        config.accounts = emulators
            .iter()
            .enumerate()
            .map(|(i, e)| wechat_http::config::AccountEntry {
                name: format!("demo{}", i + 1),
                wcf: wechat_http::config::Wcf { address: e.address(), ..config.wcf.clone() },
                answer_delay_rand_min: config.answer_delay_rand_min,
                answer_delay_rand_max: config.answer_delay_rand_max,
                send: config.send.clone(),
            })
            .collect();
        if config.default_account.is_empty() {
            config.default_account = "demo1".into();
        }
    }
    Ok(emulators)
}

fn print_demo(running: &wechat_http::Running, emulators: &[wcf_emulator::Emulator]) {
    let api = format!("http://{}", running.addr());
    let token = running.gateway().config.http_server.access_token.expose().to_owned();
    let auth = if token.is_empty() { String::new() } else { format!(" -H 'Authorization: Bearer {token}'") };
    let mut lines = String::new();
    for (i, emu) in emulators.iter().enumerate() {
        let control = emu.control_url().unwrap_or_default();
        let name = if emulators.len() == 1 { String::new() } else { format!("demo{} ", i + 1) };
        lines.push_str(&format!("  emulator       {name}{} (control API {control})\n", emu.address()));
    }
    let control = emulators[0].control_url().unwrap_or_default();
    println!(
        "\nwechat-http demo is running (an emulated WeChat, no Windows needed)\n\
         \n  API            {api}\n  token          {}\n{lines}  API docs       {api}/docs\n  console        {api}/console (sign in with the token)\n\
         \nTry:\n  curl -s {api}/get_friend_list{auth}\n  curl -s {api}/send_message{auth} -H 'Content-Type: application/json' \\\n       -d '{{\"action\":\"send_message\",\"params\":{{\"detail_type\":\"private\",\"send_id\":\"wxid_alice\",\"msg_type\":0,\"message\":\"hello from wechat-http\"}}}}'\n  curl -s {control}/sent\n\
         \nCtrl-C stops it.\n",
        if token.is_empty() { "(none)" } else { &token },
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
