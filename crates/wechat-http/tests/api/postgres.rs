//! A real PostgreSQL for tests: Debian's `postgresql` binaries, a cluster initialised in a
//! temporary folder (`initdb`, SCRAM passwords, TLS with a test CA made here), one server per
//! test process on a free loopback port, and a fresh database per test. As root the server runs as `nobody`
//! (PostgreSQL refuses root). The server is stopped when the test process ends (a parent-death
//! signal on a thread that lives as long as the process) and its folder removed.
//!
//! Without the binaries [`database`] returns `None` and the test says it was skipped, unless
//! `CI_REQUIRE_POSTGRES=1`, where it fails.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};

/// The test cluster's superuser and password.
pub(crate) const USER: &str = "wechat";
/// The password of [`USER`].
pub(crate) const PASSWORD: &str = "pg-test-secret";

struct Server {
    port: u16,
    /// The CA (PEM) that signed the server's TLS certificate (for `localhost` and 127.0.0.1).
    ca_file: PathBuf,
}

fn bin_dir() -> Option<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path().join("bin")))
        .filter(|p| p.join("initdb").exists() && p.join("postgres").exists())
        .collect();
    dirs.sort();
    dirs.pop()
}

fn is_root() -> bool {
    std::fs::metadata("/proc/self").map(|m| std::os::unix::fs::MetadataExt::uid(&m) == 0).unwrap_or(false)
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// `cmd` as the unprivileged user when we are root.
fn unprivileged(program: &Path) -> Command {
    if is_root() {
        let mut c = Command::new("setpriv");
        c.args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"]).arg(program);
        c
    } else {
        Command::new(program)
    }
}

fn start(fsync: bool) -> Result<Server, String> {
    let bin = bin_dir().ok_or("PostgreSQL is not installed (apt install postgresql)")?;
    let dir = std::env::temp_dir().join(format!("wechat-http-pg-{}-{fsync}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let data = dir.join("data");
    let pwfile = dir.join("pw");
    std::fs::write(&pwfile, PASSWORD).map_err(|e| e.to_string())?;
    // TLS: a test CA and a server certificate for localhost and 127.0.0.1.
    let ca_key = rcgen::KeyPair::generate().map_err(|e| e.to_string())?;
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).map_err(|e| e.to_string())?;
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca_params.distinguished_name.push(rcgen::DnType::CommonName, "wechat-http PostgreSQL test CA");
    let ca = rcgen::CertifiedIssuer::self_signed(ca_params, ca_key).map_err(|e| e.to_string())?;
    let leaf_key = rcgen::KeyPair::generate().map_err(|e| e.to_string())?;
    let leaf = rcgen::CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])
        .map_err(|e| e.to_string())?
        .signed_by(&leaf_key, &ca)
        .map_err(|e| e.to_string())?;
    let ca_file = dir.join("ca.pem");
    std::fs::write(&ca_file, ca.pem()).map_err(|e| e.to_string())?;
    std::fs::write(dir.join("server.crt"), leaf.pem()).map_err(|e| e.to_string())?;
    std::fs::write(dir.join("server.key"), leaf_key.serialize_pem()).map_err(|e| e.to_string())?;
    std::fs::set_permissions(dir.join("server.key"), std::os::unix::fs::PermissionsExt::from_mode(0o600))
        .map_err(|e| e.to_string())?;
    if is_root() {
        let status = Command::new("chown").args(["-R", "65534:65534"]).arg(&dir).status().map_err(|e| e.to_string())?;
        if !status.success() {
            return Err("chown failed".into());
        }
    }
    let out = unprivileged(&bin.join("initdb"))
        .arg("-D")
        .arg(&data)
        .args(["-U", USER, "--auth=scram-sha-256", "--no-locale", "-E", "UTF8", "--no-sync"])
        .arg(format!("--pwfile={}", pwfile.display()))
        .current_dir(&dir)
        .output()
        .map_err(|e| e.to_string())?;
    if !out.status.success() {
        return Err(format!("initdb failed: {}", String::from_utf8_lossy(&out.stderr)));
    }
    let port = free_port();
    let (tx, rx) = std::sync::mpsc::channel();
    let postgres = bin.join("postgres");
    // The thread lives until the process exits; the wrapper gets SIGTERM when it does, stops
    // the server at once (SIGQUIT) and removes the folder.
    std::thread::spawn(move || {
        let script = r#"
            "$@" & pg=$!
            trap 'kill -QUIT $pg 2>/dev/null; wait $pg; rm -rf "$DIR"; exit 0' TERM
            wait $pg
            rm -rf "$DIR"
        "#;
        let mut inner = unprivileged(&postgres);
        inner.arg("-D").arg(&data).args(["-h", "127.0.0.1", "-p", &port.to_string(), "-k"]).arg(&dir);
        inner.args(["-c", if fsync { "fsync=on" } else { "fsync=off" }]);
        inner.args(["-c", "max_connections=200", "-c", "log_min_messages=fatal", "-c", "ssl=on"]);
        inner.arg("-c").arg(format!("ssl_cert_file={}", dir.join("server.crt").display()));
        inner.arg("-c").arg(format!("ssl_key_file={}", dir.join("server.key").display()));
        let mut c = Command::new("setpriv");
        c.arg("--pdeathsig=TERM").args(["sh", "-c", script, "sh"]).arg(inner.get_program()).args(inner.get_args());
        c.env("DIR", &dir).stdout(std::process::Stdio::null()).stderr(std::process::Stdio::null());
        match c.spawn() {
            Ok(mut child) => {
                let _ = tx.send(Ok(()));
                let _ = child.wait();
                // Keep the thread (and so the parent-death signal's parent) alive.
                loop {
                    std::thread::park();
                }
            }
            Err(e) => {
                let _ = tx.send(Err(e.to_string()));
            }
        }
    });
    rx.recv().map_err(|e| e.to_string())??;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        if admin(port).is_ok() {
            return Ok(Server { port, ca_file });
        }
        if std::time::Instant::now() > deadline {
            return Err("PostgreSQL did not accept connections within 30 s".into());
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

fn admin(port: u16) -> Result<postgres::Client, postgres::Error> {
    postgres::Client::connect(
        &format!(
            "host=127.0.0.1 port={port} user={USER} password={PASSWORD} dbname=postgres connect_timeout=5 sslmode=disable"
        ),
        postgres::NoTls,
    )
}

fn server(fsync: bool) -> Option<&'static Server> {
    static FAST: OnceLock<Result<Server, String>> = OnceLock::new();
    static DURABLE: OnceLock<Result<Server, String>> = OnceLock::new();
    let cell = if fsync { &DURABLE } else { &FAST };
    match cell.get_or_init(|| start(fsync)) {
        Ok(s) => Some(s),
        Err(e) => {
            if std::env::var("CI_REQUIRE_POSTGRES").as_deref() == Ok("1") {
                panic!("CI_REQUIRE_POSTGRES=1 but PostgreSQL cannot be started: {e}");
            }
            eprintln!("skipped: PostgreSQL cannot be started here ({e})");
            None
        }
    }
}

/// A fresh, empty database on the test server (`fsync` off: tests do not survive power
/// losses): its URL (`postgres://…`), or `None` when no PostgreSQL can run here.
pub(crate) fn database() -> Option<String> {
    database_on(false)
}

/// The same on a server that syncs its writes to disk as a production one does
/// (the fleet benchmark; the tests do not need it).
#[allow(dead_code)]
pub(crate) fn durable_database() -> Option<String> {
    database_on(true)
}

/// A fresh database reached over TLS: `(URL with sslmode=require for host localhost, the CA
/// that signed the server's certificate)`.
#[allow(dead_code)]
pub(crate) fn tls_database() -> Option<(String, PathBuf)> {
    let plain = database_on(false)?;
    let server = server(false)?;
    let url = plain.replace("@127.0.0.1:", "@localhost:").replace("sslmode=disable", "sslmode=require");
    Some((url, server.ca_file.clone()))
}

fn database_on(fsync: bool) -> Option<String> {
    // The blocking client must not run on an async runtime's thread: use one of our own.
    std::thread::spawn(move || {
        static N: AtomicUsize = AtomicUsize::new(0);
        let server = server(fsync)?;
        let name = format!("t{}_{}", std::process::id(), N.fetch_add(1, Ordering::SeqCst));
        let mut c = admin(server.port).expect("connect to the test PostgreSQL");
        c.batch_execute(&format!("CREATE DATABASE {name}")).expect("CREATE DATABASE");
        // The server offers TLS with a test CA; plain connections say so.
        Some(format!("postgres://{USER}:{PASSWORD}@127.0.0.1:{}/{name}?sslmode=disable", server.port))
    })
    .join()
    .expect("the PostgreSQL set-up thread panicked")
}
