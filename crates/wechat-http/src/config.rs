//! Configuration: compiled defaults → YAML file → `WECHAT_HTTP_<SECTION>__<KEY>` environment
//! variables, then validation that names the offending key.
//!
//! The original service's keys are kept as they were; new keys are additions.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::secret::Secret;

/// The default token of the original service; refused on a public address.
pub const DEFAULT_TOKEN: &str = "rikka-bot";

/// The config file written on first run (and printed by `wechat-http config example`).
pub const EXAMPLE_YAML: &str = include_str!("../config.example.yaml");

/// Why configuration failed.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read or written.
    #[error("config file {path}: {source}")]
    Io {
        /// File.
        path: String,
        /// Cause.
        source: std::io::Error,
    },
    /// Not valid YAML, or a key has the wrong type.
    #[error("config file {path} is not valid: {detail}")]
    Parse {
        /// File.
        path: String,
        /// What the parser said.
        detail: String,
    },
    /// A value is not acceptable.
    #[error("config key `{key}`: {problem}")]
    Invalid {
        /// Dotted key.
        key: String,
        /// What is wrong and how to fix it.
        problem: String,
    },
}

/// `http_server` section.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HttpServer {
    /// `http://host:port` to listen on.
    pub http_address: String,
    /// Bearer token required on every request ("" = no auth).
    pub access_token: Secret,
    /// Serve `get_latest_events`.
    pub event_enabled: bool,
    /// Events kept for `get_latest_events` (0 = bounded only by retention).
    pub event_buffer_size: usize,
    /// Largest request body accepted, in bytes (413 above).
    pub max_body_bytes: usize,
    /// Allow a non-loopback address with an empty or default token.
    pub allow_public_without_token: bool,
}

impl Default for HttpServer {
    fn default() -> Self {
        Self {
            http_address: "http://127.0.0.1:10614".into(),
            access_token: Secret::new(DEFAULT_TOKEN),
            event_enabled: false,
            event_buffer_size: 0,
            max_body_bytes: 16 * 1024 * 1024,
            allow_public_without_token: false,
        }
    }
}

/// Event body format of a webhook target.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EventFormat {
    /// OneBot 12 events.
    #[default]
    Onebot12,
    /// The original service's shape.
    Legacy,
}

/// One `http_post` entry (webhook target).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HttpPost {
    /// Target URL.
    pub url: String,
    /// Bearer token and HMAC key ("" = none).
    pub secret: Secret,
    /// Retries before backing off longer (the event stays queued either way).
    pub max_retries: u32,
    /// Request timeout, seconds.
    pub time_out: u64,
    /// `onebot12` or `legacy`.
    pub format: EventFormat,
}

impl Default for HttpPost {
    fn default() -> Self {
        Self {
            url: String::new(),
            secret: Secret::default(),
            max_retries: 3,
            time_out: 5,
            format: EventFormat::Onebot12,
        }
    }
}

/// A path prefix as the gateway sees it and as WeChat's host sees it.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct PathMapping {
    /// Prefix on the machine running wechat-http (e.g. `/mnt/wechat-share`).
    pub gateway: String,
    /// The same folder on the WeChat host (e.g. `C:\wechat-share`).
    pub wechat: String,
}

/// `wcf` section.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Wcf {
    /// WeChatFerry command channel; messages come on port + 1.
    pub address: String,
    /// Per-call timeout, milliseconds.
    pub call_timeout_ms: u64,
    /// How often the login is checked while connected, milliseconds.
    pub login_check_ms: u64,
    /// `push` (port + 1) or `poll` (read the message database).
    pub receive_mode: ReceiveMode,
    /// Poll interval in `poll` mode, milliseconds.
    pub poll_interval_ms: u64,
    /// Folders shared between this machine and the WeChat host (empty = same machine).
    pub path_mapping: Vec<PathMapping>,
}

impl Default for Wcf {
    fn default() -> Self {
        Self {
            address: "tcp://127.0.0.1:10086".into(),
            call_timeout_ms: 5000,
            login_check_ms: 5000,
            receive_mode: ReceiveMode::Push,
            poll_interval_ms: 1000,
            path_mapping: Vec::new(),
        }
    }
}

/// `send` section: limits of the send queue (on top of the random pause).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Send {
    /// Most sends per rolling minute (0 = no limit).
    pub max_per_minute: u32,
    /// Most sends per rolling hour (0 = no limit).
    pub max_per_hour: u32,
    /// How long a single send may wait in the queue before it fails with 36001, seconds.
    pub queue_timeout: u64,
}

impl Default for Send {
    fn default() -> Self {
        Self { max_per_minute: 0, max_per_hour: 0, queue_timeout: 300 }
    }
}

/// `media` section.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Media {
    /// Where downloaded or uploaded files are staged for WeChat to read.
    pub staging_dir: PathBuf,
    /// Largest file fetched from a URL, bytes.
    pub max_download_bytes: u64,
    /// Timeout of a URL fetch, seconds.
    pub download_timeout: u64,
    /// How long to wait for WeChat to download an inbound image, seconds.
    pub image_fetch_timeout: u64,
}

impl Default for Media {
    fn default() -> Self {
        Self {
            staging_dir: PathBuf::from("./data/staging"),
            max_download_bytes: 20 * 1024 * 1024,
            download_timeout: 30,
            image_fetch_timeout: 30,
        }
    }
}

/// How messages are received from WeChatFerry.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ReceiveMode {
    /// The push channel on port + 1 (WeChatFerry 39.5.x).
    #[default]
    Push,
    /// Poll `MSG<n>.db` through `EXEC_DB_QUERY` (builds without a push channel, e.g. 39.6.0.0).
    Poll,
}

/// `events` section.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Events {
    /// Events kept in the outbox at most (0 = no count limit).
    pub retention_count: u64,
    /// Hours an event is kept at most (0 = no age limit).
    pub retention_hours: u64,
}

impl Default for Events {
    fn default() -> Self {
        Self { retention_count: 100_000, retention_hours: 168 }
    }
}

/// `websocket` section (forward WebSocket on the HTTP listener).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Websocket {
    /// Accept WebSocket upgrades on `GET /`.
    pub enabled: bool,
}

impl Default for Websocket {
    fn default() -> Self {
        Self { enabled: true }
    }
}

/// One `websocket_reverse` target.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WebsocketReverse {
    /// `ws://` or `wss://` URL.
    pub url: String,
    /// Bearer token sent when connecting.
    pub access_token: Secret,
    /// Milliseconds between reconnect attempts.
    pub reconnect_interval: u64,
}

impl Default for WebsocketReverse {
    fn default() -> Self {
        Self { url: String::new(), access_token: Secret::default(), reconnect_interval: 3000 }
    }
}

/// The whole configuration.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// HTTP listener and auth.
    pub http_server: HttpServer,
    /// Webhook targets.
    pub http_post: Vec<HttpPost>,
    /// Send `meta.heartbeat` events.
    pub enable_heart_beat: bool,
    /// Heartbeat interval, seconds.
    pub heart_beat_interval: u64,
    /// Lower bound of the random pause before each send, seconds.
    pub answer_delay_rand_min: f64,
    /// Upper bound of that pause, seconds.
    pub answer_delay_rand_max: f64,
    /// Send queue limits.
    pub send: Send,
    /// Folder of the SQLite database.
    pub db_dir_path: PathBuf,
    /// Folder of received chat images.
    pub img_dir_path: PathBuf,
    /// Days to keep chat images.
    pub img_valid_duration: u64,
    /// WeChatFerry connection.
    pub wcf: Wcf,
    /// Media handling.
    pub media: Media,
    /// Event outbox retention.
    pub events: Events,
    /// Forward WebSocket.
    pub websocket: Websocket,
    /// Reverse WebSocket targets.
    pub websocket_reverse: Vec<WebsocketReverse>,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            http_server: HttpServer::default(),
            http_post: Vec::new(),
            enable_heart_beat: true,
            heart_beat_interval: 5,
            answer_delay_rand_min: 1.0,
            answer_delay_rand_max: 3.0,
            send: Send::default(),
            db_dir_path: PathBuf::from("./data/db"),
            img_dir_path: PathBuf::from("./data/img"),
            img_valid_duration: 7,
            wcf: Wcf::default(),
            media: Media::default(),
            events: Events::default(),
            websocket: Websocket::default(),
            websocket_reverse: Vec::new(),
        }
    }
}

/// What [`Config::load`] did.
#[derive(Debug)]
pub struct Loaded {
    /// The configuration.
    pub config: Config,
    /// True when the file did not exist and the default one was written.
    pub created: bool,
}

impl Config {
    /// Loads `path` (writing the commented default file there first if it does not exist),
    /// applies environment overrides and validates.
    pub fn load(path: &Path) -> Result<Loaded, ConfigError> {
        let io = |source| ConfigError::Io { path: path.display().to_string(), source };
        let created = !path.exists();
        if created {
            if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir).map_err(io)?;
            }
            std::fs::write(path, EXAMPLE_YAML).map_err(io)?;
        }
        let text = std::fs::read_to_string(path).map_err(io)?;
        let config = Self::from_yaml(&text, std::env::vars()).map_err(|e| match e {
            ConfigError::Parse { detail, .. } => ConfigError::Parse { path: path.display().to_string(), detail },
            other => other,
        })?;
        Ok(Loaded { config, created })
    }

    /// Parses YAML text, applies `WECHAT_HTTP_…` overrides from `env` and validates.
    pub fn from_yaml(text: &str, env: impl IntoIterator<Item = (String, String)>) -> Result<Self, ConfigError> {
        let parse = |detail: String| ConfigError::Parse { path: "<text>".into(), detail };
        let mut tree: Value = if text.trim().is_empty() {
            Value::Object(Default::default())
        } else {
            serde_saphyr::from_str(text).map_err(|e| parse(e.to_string()))?
        };
        if tree.is_null() {
            tree = Value::Object(Default::default());
        }
        apply_env(&mut tree, env)?;
        let config: Config = serde_json::from_value(tree).map_err(|e| parse(e.to_string()))?;
        config.validate()?;
        Ok(config)
    }

    /// Checks values; the error names the key and says what to do.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let bad = |key: &str, problem: String| Err(ConfigError::Invalid { key: key.into(), problem });
        let addr = self.listen_addr()?;
        let token = self.http_server.access_token.expose();
        if !addr.ip().is_loopback()
            && (token.is_empty() || token == DEFAULT_TOKEN)
            && !self.http_server.allow_public_without_token
        {
            return bad(
                "http_server.access_token",
                format!(
                    "{addr} is reachable from other machines but the token is {}; set a strong token, or set http_server.allow_public_without_token: true if you really mean it",
                    if token.is_empty() { "empty" } else { "the public default" }
                ),
            );
        }
        if self.answer_delay_rand_min < 0.0 || self.answer_delay_rand_max < self.answer_delay_rand_min {
            return bad(
                "answer_delay_rand_max",
                format!(
                    "the send pause window [{}, {}] is not valid: need 0 <= min <= max (seconds)",
                    self.answer_delay_rand_min, self.answer_delay_rand_max
                ),
            );
        }
        if self.send.queue_timeout == 0 {
            return bad("send.queue_timeout", "must be at least 1 second".into());
        }
        if self.heart_beat_interval == 0 && self.enable_heart_beat {
            return bad("heart_beat_interval", "must be at least 1 second when enable_heart_beat is true".into());
        }
        if let Err(e) = wcf::Endpoints::parse(&self.wcf.address) {
            return bad("wcf.address", e.to_string());
        }
        if self.wcf.login_check_ms < 100 {
            return bad("wcf.login_check_ms", "must be at least 100".into());
        }
        if self.wcf.poll_interval_ms < 50 {
            return bad("wcf.poll_interval_ms", "must be at least 50".into());
        }
        if self.wcf.call_timeout_ms == 0 {
            return bad("wcf.call_timeout_ms", "must be above 0".into());
        }
        if self.http_server.max_body_bytes < 1024 {
            return bad("http_server.max_body_bytes", "must be at least 1024".into());
        }
        for (i, m) in self.wcf.path_mapping.iter().enumerate() {
            if m.gateway.is_empty() || m.wechat.is_empty() {
                return bad(&format!("wcf.path_mapping[{i}]"), "needs both `gateway` and `wechat` prefixes".into());
            }
        }
        for (i, t) in self.http_post.iter().enumerate() {
            if !(t.url.starts_with("http://") || t.url.starts_with("https://")) {
                return bad(&format!("http_post[{i}].url"), format!("{:?} is not an http(s) URL", t.url));
            }
        }
        for (i, t) in self.websocket_reverse.iter().enumerate() {
            if !(t.url.starts_with("ws://") || t.url.starts_with("wss://")) {
                return bad(&format!("websocket_reverse[{i}].url"), format!("{:?} is not a ws(s) URL", t.url));
            }
        }
        Ok(())
    }

    /// The socket address of `http_server.http_address`.
    pub fn listen_addr(&self) -> Result<std::net::SocketAddr, ConfigError> {
        let raw = &self.http_server.http_address;
        let hostport = raw.strip_prefix("http://").unwrap_or(raw).trim_end_matches('/');
        let hostport = if hostport.starts_with("localhost:") {
            hostport.replacen("localhost", "127.0.0.1", 1)
        } else {
            hostport.to_owned()
        };
        hostport.parse().map_err(|_| ConfigError::Invalid {
            key: "http_server.http_address".into(),
            problem: format!("{raw:?} is not http://<ip>:<port> (e.g. http://127.0.0.1:10614)"),
        })
    }
}

/// Applies `WECHAT_HTTP_<SECTION>__<KEY>=value` (a top-level key has no `__`). Values are read
/// as JSON when they parse (numbers, booleans, lists), as strings otherwise.
fn apply_env(tree: &mut Value, env: impl IntoIterator<Item = (String, String)>) -> Result<(), ConfigError> {
    for (name, raw) in env {
        let Some(rest) = name.strip_prefix("WECHAT_HTTP_") else { continue };
        if rest == "CONFIG" || rest.is_empty() {
            continue;
        }
        let path: Vec<String> = rest.split("__").map(|p| p.to_ascii_lowercase()).collect();
        let value = serde_json::from_str::<Value>(&raw)
            .ok()
            .filter(|v| !v.is_string() && !v.is_object())
            .unwrap_or_else(|| Value::String(raw.clone()));
        let mut node = &mut *tree;
        for (i, key) in path.iter().enumerate() {
            let Value::Object(map) = node else {
                return Err(ConfigError::Invalid {
                    key: path[..i].join("."),
                    problem: format!("{name} sets a key inside a value that is not a section"),
                });
            };
            if i + 1 == path.len() {
                map.insert(key.clone(), value.clone());
                break;
            }
            node = map.entry(key.clone()).or_insert_with(|| Value::Object(Default::default()));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn no_env() -> Vec<(String, String)> {
        Vec::new()
    }

    #[test]
    fn example_parses_to_the_defaults() {
        let c = Config::from_yaml(EXAMPLE_YAML, no_env()).unwrap();
        let d = Config::default();
        assert_eq!(serde_json::to_value(&c).unwrap(), serde_json::to_value(&d).unwrap());
    }

    #[test]
    fn original_keys_and_env_overrides() {
        let yaml = "http_server:\n  http_address: http://127.0.0.1:9000\n  access_token: abc\nanswer_delay_rand_min: 0\nanswer_delay_rand_max: 0\nhttp_post:\n  - url: http://127.0.0.1:8000\n    secret: s\n    format: legacy\n";
        let env = vec![
            ("WECHAT_HTTP_HTTP_SERVER__ACCESS_TOKEN".to_owned(), "fromenv".to_owned()),
            ("WECHAT_HTTP_IMG_VALID_DURATION".to_owned(), "3".to_owned()),
            ("WECHAT_HTTP_WCF__ADDRESS".to_owned(), "tcp://127.0.0.1:20000".to_owned()),
            ("OTHER".to_owned(), "x".to_owned()),
        ];
        let c = Config::from_yaml(yaml, env).unwrap();
        assert_eq!(c.http_server.access_token.expose(), "fromenv");
        assert_eq!(c.img_valid_duration, 3);
        assert_eq!(c.wcf.address, "tcp://127.0.0.1:20000");
        assert_eq!(c.http_post[0].format, EventFormat::Legacy);
        assert_eq!(c.listen_addr().unwrap().port(), 9000);
    }

    #[test]
    fn errors_name_the_key() {
        let err = |yaml: &str| Config::from_yaml(yaml, no_env()).unwrap_err().to_string();
        assert!(err("http_server:\n  http_address: http://0.0.0.0:10614\n").contains("http_server.access_token"));
        assert!(err("http_server:\n  http_address: http://0.0.0.0:10614\n  access_token: \"\"\n").contains("empty"));
        Config::from_yaml(
            "http_server:\n  http_address: http://0.0.0.0:10614\n  access_token: \"\"\n  allow_public_without_token: true\n",
            no_env(),
        )
        .unwrap();
        Config::from_yaml(
            "http_server:\n  http_address: http://0.0.0.0:10614\n  access_token: long-secret\n",
            no_env(),
        )
        .unwrap();
        assert!(err("http_server:\n  http_address: nowhere\n").contains("http_server.http_address"));
        assert!(err("answer_delay_rand_min: 5\nanswer_delay_rand_max: 1\n").contains("answer_delay_rand_max"));
        assert!(err("wcf:\n  address: 127.0.0.1\n").contains("wcf.address"));
        assert!(err("http_post:\n  - url: ftp://x\n").contains("http_post[0].url"));
        assert!(err("unknown_key: 1\n").contains("unknown field"));
        assert!(
            err("img_valid_duration: soon\n").contains("img_valid_duration")
                || err("img_valid_duration: soon\n").contains("invalid type")
        );
    }

    #[test]
    fn first_load_writes_the_commented_default() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub").join("config.yaml");
        let loaded = Config::load(&path).unwrap();
        assert!(loaded.created);
        assert!(std::fs::read_to_string(&path).unwrap().contains("# "));
        assert!(!Config::load(&path).unwrap().created);
    }
}
