//! Shared by the benchmarks: the release `wechat-http` binary run against an emulator.

use std::process::Stdio;

/// Writes `config.yaml` in `dir` (free loopback port, token `bench`, pacing off, `wcf.address`,
/// `extra_yaml` appended) and returns `(http base URL, child)` of the started binary.
pub(crate) fn start_gateway(
    dir: &std::path::Path,
    wcf_address: &str,
    extra_yaml: &str,
) -> (String, tokio::process::Child) {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    std::fs::write(
        dir.join("config.yaml"),
        format!(
            "http_server:\n  http_address: http://127.0.0.1:{port}\n  access_token: bench\nanswer_delay_rand_min: 0\nanswer_delay_rand_max: 0\nwcf:\n  address: {wcf_address}\n{extra_yaml}"
        ),
    )
    .unwrap();
    let child = tokio::process::Command::new(env!("CARGO_BIN_EXE_wechat-http"))
        .args(["serve", "--config", "config.yaml"])
        .current_dir(dir)
        .env("RUST_LOG", "error")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    (format!("http://127.0.0.1:{port}"), child)
}
