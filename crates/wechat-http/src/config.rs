//! Configuration: compiled defaults → YAML file → `WECHAT_HTTP_<SECTION>__<KEY>` environment
//! variables, then validation that names the offending key (and the line, for the file).
//!
//! The original service's keys are kept as they were; new keys are additions. A config with
//! only the top-level `wcf` serves one account named `default`; `accounts: [...]` serves
//! several, each inheriting the top-level `wcf`, `send` and pause keys it does not set.

use std::path::{Path, PathBuf};

use base64::Engine as _;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::secret::Secret;

/// The default token of the original service: public, so it is reported as a warning.
pub const DEFAULT_TOKEN: &str = "rikka-bot";

/// The name of the account a config without `accounts` serves.
pub const DEFAULT_ACCOUNT: &str = "default";

/// The config file written on first run (with a fresh token in place of [`DEFAULT_TOKEN`]).
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
        /// What is wrong, with the key and the line where known.
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
    /// Largest request body (and WebSocket frame) accepted, in bytes.
    pub max_body_bytes: usize,
    /// Allow a non-loopback address with an empty or default token.
    pub allow_public_without_token: bool,
    /// Browser origins (`http://host:port`) allowed besides the gateway's own.
    pub allowed_origins: Vec<String>,
    /// `Host` names accepted besides loopback names and the listen address.
    pub allowed_hosts: Vec<String>,
    /// Open connections at most; at the limit the oldest idle one makes room.
    pub max_connections: usize,
    /// Seconds a new connection may take to send its first request head.
    pub header_read_timeout: u64,
    /// Seconds an idle keep-alive connection is kept.
    pub keep_alive_timeout: u64,
    /// Seconds a request body may take to arrive.
    pub request_timeout: u64,
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
            allowed_origins: Vec::new(),
            allowed_hosts: Vec::new(),
            max_connections: 1024,
            header_read_timeout: 10,
            keep_alive_timeout: 60,
            request_timeout: 30,
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
    /// Accounts (names or wxids) whose events go here; empty = all.
    pub accounts: Vec<String>,
}

impl Default for HttpPost {
    fn default() -> Self {
        Self {
            url: String::new(),
            secret: Secret::default(),
            max_retries: 3,
            time_out: 5,
            format: EventFormat::Onebot12,
            accounts: Vec::new(),
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
    /// Most segments in one `send_message`.
    pub max_segments: usize,
    /// Most bytes of text in one `send_message`.
    pub max_text_bytes: usize,
}

impl Default for Send {
    fn default() -> Self {
        Self { max_per_minute: 0, max_per_hour: 0, queue_timeout: 300, max_segments: 50, max_text_bytes: 16 * 1024 }
    }
}

/// Networks a URL download may never reach, by default: unspecified, link-local (where
/// cloud metadata services live) and the metadata addresses of the big clouds.
pub const DEFAULT_DENY_NETWORKS: &[&str] =
    &["0.0.0.0/8", "169.254.0.0/16", "100.100.100.200/32", "::/128", "fe80::/10", "fd00:ec2::254/128"];

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
    /// Folders `upload_file` with `type: path` may read (empty = reading paths is off).
    pub readable_dirs: Vec<PathBuf>,
    /// Largest file `upload_file` accepts, bytes.
    pub max_upload_bytes: u64,
    /// CIDRs URL downloads may not reach (checked on every resolved address and redirect).
    pub deny_networks: Vec<String>,
    /// Days uploaded files and staged media are kept (0 = for ever).
    pub retention_days: u64,
    /// Kinds of received media fetched as soon as the message arrives (the others on the first
    /// `get_file`).
    pub auto_download: Vec<MediaKind>,
    /// Largest medium fetched on arrival, bytes, as the message declares it.
    pub auto_download_max_bytes: u64,
}

/// A kind of received media.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MediaKind {
    /// Images (type 3).
    Image,
    /// Voice messages (34), as MP3.
    Voice,
    /// Videos (43, 62).
    Video,
    /// A video's cover (fetched with the video).
    VideoThumb,
    /// Files (49/6).
    File,
    /// Stickers (47).
    Emoji,
}

impl MediaKind {
    const ALL: [MediaKind; 6] = [Self::Image, Self::Voice, Self::Video, Self::VideoThumb, Self::File, Self::Emoji];

    /// The name used in ids and the config.
    pub fn name(self) -> &'static str {
        match self {
            Self::Image => "image",
            Self::Voice => "voice",
            Self::Video => "video",
            Self::VideoThumb => "video_thumb",
            Self::File => "file",
            Self::Emoji => "emoji",
        }
    }

    /// The kind called `name`.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.name() == name)
    }
}

impl Default for Media {
    fn default() -> Self {
        Self {
            staging_dir: PathBuf::from("./data/staging"),
            max_download_bytes: 20 * 1024 * 1024,
            download_timeout: 30,
            image_fetch_timeout: 30,
            readable_dirs: Vec::new(),
            max_upload_bytes: 20 * 1024 * 1024,
            deny_networks: DEFAULT_DENY_NETWORKS.iter().map(|s| (*s).to_owned()).collect(),
            retention_days: 7,
            auto_download: vec![MediaKind::Image, MediaKind::Voice, MediaKind::Emoji],
            auto_download_max_bytes: 10 * 1024 * 1024,
        }
    }
}

/// `store` section.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Store {
    /// Days the sent-message log, finished broadcast jobs and handled friend requests are
    /// kept (0 = for ever).
    pub retention_days: u64,
    /// `sqlite` (the embedded file in `db_dir_path`) or `postgres` (a shared server: a fleet).
    pub backend: StoreBackend,
    /// `postgres://user:password@host:port/database` when `backend` is `postgres` (a secret:
    /// never logged or shown).
    pub postgres_url: Secret,
    /// A CA (PEM) to trust for PostgreSQL's TLS certificate besides the system's roots.
    pub postgres_ca_file: Option<PathBuf>,
}

impl Default for Store {
    fn default() -> Self {
        Self {
            retention_days: 30,
            backend: StoreBackend::Sqlite,
            postgres_url: Secret::default(),
            postgres_ca_file: None,
        }
    }
}

/// `store.backend`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StoreBackend {
    /// The embedded SQLite file.
    #[default]
    Sqlite,
    /// PostgreSQL (`store.postgres_url`).
    Postgres,
}

/// `fleet` section: used when `store.backend` is `postgres` (several nodes share one store).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Fleet {
    /// This node's id in the fleet (default: `node_address`). Keep it across restarts.
    pub node_id: String,
    /// Where the other nodes reach this one's HTTP API (default: `http_server.http_address`).
    pub node_address: String,
    /// Seconds a lease lasts without renewal; renewed every third of it.
    pub lease_seconds: u64,
}

impl Default for Fleet {
    fn default() -> Self {
        Self { node_id: String::new(), node_address: String::new(), lease_seconds: 15 }
    }
}

impl Fleet {
    /// The address other nodes forward to.
    pub fn address(&self, config: &Config) -> String {
        if self.node_address.is_empty() {
            config.http_server.http_address.trim_end_matches('/').to_owned()
        } else {
            self.node_address.trim_end_matches('/').to_owned()
        }
    }

    /// This node's id.
    pub fn id(&self, config: &Config) -> String {
        if self.node_id.is_empty() { self.address(config) } else { self.node_id.clone() }
    }
}

/// One `nats` entry: a NATS JetStream stream events are published to.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NatsTarget {
    /// `nats://[user:password@ | token@]host[:port]` (port 4222 by default).
    pub url: String,
    /// The JetStream stream (created with subjects `<subject_prefix>.>` if absent).
    pub stream: String,
    /// First subject token: events go to `<prefix>.<wxid>.<type>.<detail_type>`.
    pub subject_prefix: String,
    /// Seconds to wait for a connection or a publish ack.
    pub ack_timeout: u64,
    /// A CA (PEM) to trust for `tls://` besides the system's roots.
    pub ca_file: Option<PathBuf>,
    /// A NATS credentials file: a `.creds` file (user JWT + nkey seed) or a file holding an
    /// nkey seed (`SU…`); the server's nonce is signed with the seed.
    pub credentials: Option<PathBuf>,
    /// Accounts (names or wxids) whose events go here; empty = all.
    pub accounts: Vec<String>,
}

impl Default for NatsTarget {
    fn default() -> Self {
        Self {
            url: "nats://127.0.0.1:4222".into(),
            stream: "WECHAT".into(),
            subject_prefix: "wechat".into(),
            ack_timeout: 5,
            ca_file: None,
            credentials: None,
            accounts: Vec::new(),
        }
    }
}

impl NatsTarget {
    /// True for a `tls://` URL (TLS is also used when the server requires it).
    pub fn tls(&self) -> bool {
        self.url.starts_with("tls://")
    }

    /// `host:port` and the credentials of [`Self::url`].
    pub fn address_and_auth(&self) -> Result<(String, crate::delivery::nats::Auth), String> {
        use crate::delivery::nats::Auth;
        let rest = ["nats://", "tcp://", "tls://"]
            .iter()
            .find_map(|p| self.url.strip_prefix(p))
            .ok_or_else(|| format!("{:?} is not a nats:// or tls:// URL", self.url))?;
        let rest = rest.trim_end_matches('/');
        let (auth, host) = match rest.rsplit_once('@') {
            None => (Auth::None, rest),
            Some((userinfo, host)) => {
                let decode = |s: &str| {
                    crate::http::guard::percent_decode(s, false)
                        .map_err(|_| "a bad %-escape in the URL's credentials".to_owned())
                };
                match userinfo.split_once(':') {
                    Some((u, p)) => (Auth::User(decode(u)?, decode(p)?), host),
                    None => (Auth::Token(decode(userinfo)?), host),
                }
            }
        };
        if host.is_empty() || host.contains('/') {
            return Err(format!("{:?} has no host:port", self.url));
        }
        let address = if host.rsplit_once(':').is_some_and(|(_, p)| p.parse::<u16>().is_ok()) && !host.ends_with(']') {
            host.to_owned()
        } else {
            format!("{host}:4222")
        };
        Ok((address, auth))
    }

    /// `host:port` of [`Self::url`] (no credentials), for names and logs.
    pub fn address(&self) -> Option<String> {
        self.address_and_auth().ok().map(|(a, _)| a)
    }
}

/// `console` section: the web console at `/console`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Console {
    /// Serve `/console`.
    pub enabled: bool,
    /// Hours a console sign-in lasts (the session cookie's lifetime).
    pub session_hours: u64,
    /// Show contacts' WeChat avatars, which the browser loads from WeChat's image hosts. Off by
    /// default: the console then contacts no host but the gateway and shows initials instead.
    pub remote_avatars: bool,
}

impl Default for Console {
    fn default() -> Self {
        Self { enabled: true, session_hours: 12, remote_avatars: false }
    }
}

/// `onebot11` section: OneBot 11 on the same listener, token and outbox.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OneBot11 {
    /// Serve `/onebot/v11/…` (HTTP API and forward WebSocket).
    pub enabled: bool,
    /// `array` (segments) or `string` (CQ codes): the `message` of events.
    pub message_format: MessageFormat,
    /// HTTP POST targets.
    pub http_post: Vec<OneBot11HttpPost>,
    /// Reverse WebSocket targets (one connection per account, as go-cqhttp).
    pub ws_reverse: Vec<WebsocketReverse>,
}

impl Default for OneBot11 {
    fn default() -> Self {
        Self { enabled: true, message_format: MessageFormat::Array, http_post: Vec::new(), ws_reverse: Vec::new() }
    }
}

/// How OneBot 11 events carry `message`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MessageFormat {
    /// A list of segments.
    #[default]
    Array,
    /// A CQ-code string.
    String,
}

/// One OneBot 11 HTTP POST target.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OneBot11HttpPost {
    /// Target URL.
    pub url: String,
    /// HMAC key for `X-Signature` ("" = none).
    pub secret: Secret,
    /// Request timeout, seconds.
    pub timeout: u64,
    /// Accounts (names or wxids) whose events go here; empty = all.
    pub accounts: Vec<String>,
}

impl Default for OneBot11HttpPost {
    fn default() -> Self {
        Self { url: String::new(), secret: Secret::default(), timeout: 5, accounts: Vec::new() }
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
    /// Seconds a client may leave its queue full before it is disconnected.
    pub send_timeout: u64,
    /// Frames queued for one client at most.
    pub queue_frames: usize,
}

impl Default for Websocket {
    fn default() -> Self {
        Self { enabled: true, send_timeout: 10, queue_frames: 256 }
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
    /// PEM file of the CA that signed a `wss://` server's certificate (besides the system's).
    pub ca_file: Option<PathBuf>,
    /// Accounts (names or wxids) whose events go here; empty = all.
    pub accounts: Vec<String>,
}

impl Default for WebsocketReverse {
    fn default() -> Self {
        Self {
            url: String::new(),
            access_token: Secret::default(),
            reconnect_interval: 3000,
            ca_file: None,
            accounts: Vec::new(),
        }
    }
}

/// One entry of `accounts`: keys it does not set come from the top level.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AccountEntry {
    /// Unique name (letters, digits, `-`, `_`).
    pub name: String,
    /// WeChatFerry of this account.
    pub wcf: Wcf,
    /// Pause window lower bound, seconds.
    pub answer_delay_rand_min: f64,
    /// Pause window upper bound, seconds.
    pub answer_delay_rand_max: f64,
    /// Send queue limits.
    pub send: Send,
}

impl Default for AccountEntry {
    fn default() -> Self {
        Self {
            name: String::new(),
            wcf: Wcf::default(),
            answer_delay_rand_min: 1.0,
            answer_delay_rand_max: 3.0,
            send: Send::default(),
        }
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
    /// The gateway's own store.
    pub store: Store,
    /// Several nodes sharing a PostgreSQL store.
    pub fleet: Fleet,
    /// Event outbox retention.
    pub events: Events,
    /// Forward WebSocket.
    pub websocket: Websocket,
    /// Reverse WebSocket targets.
    pub websocket_reverse: Vec<WebsocketReverse>,
    /// OneBot 11 beside OneBot 12.
    pub onebot11: OneBot11,
    /// The web console.
    pub console: Console,
    /// NATS JetStream targets.
    pub nats: Vec<NatsTarget>,
    /// Several WeChat accounts (empty = one account `default` from the top-level keys).
    pub accounts: Vec<AccountEntry>,
    /// The account (name or wxid) for actions that name none, when there are several.
    pub default_account: String,
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
            store: Store::default(),
            fleet: Fleet::default(),
            events: Events::default(),
            onebot11: OneBot11::default(),
            console: Console::default(),
            nats: Vec::new(),
            websocket: Websocket::default(),
            websocket_reverse: Vec::new(),
            accounts: Vec::new(),
            default_account: String::new(),
        }
    }
}

/// What [`Config::load`] did.
#[derive(Debug)]
pub struct Loaded {
    /// The configuration.
    pub config: Config,
    /// The token written into a new config file (first run only).
    pub created_token: Option<String>,
    /// Things that work but should be fixed (unknown environment variables, …).
    pub warnings: Vec<String>,
}

/// A random access token: 24 random bytes, URL-safe base64 (192 bits).
pub fn random_token() -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(rand::random::<[u8; 24]>())
}

/// The example config with `token` as its access token.
pub fn example_with_token(token: &str) -> String {
    EXAMPLE_YAML.replacen(&format!("access_token: {DEFAULT_TOKEN}"), &format!("access_token: {token}"), 1)
}

impl Config {
    /// Loads `path` (writing the commented default file with a fresh random token there
    /// first if it does not exist), applies environment overrides and validates.
    pub fn load(path: &Path) -> Result<Loaded, ConfigError> {
        Self::load_with_env(path, std::env::vars())
    }

    /// [`Config::load`] with the environment given.
    pub fn load_with_env(path: &Path, env: impl IntoIterator<Item = (String, String)>) -> Result<Loaded, ConfigError> {
        let io = |source| ConfigError::Io { path: path.display().to_string(), source };
        let mut created_token = None;
        if !path.exists() {
            if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir).map_err(io)?;
            }
            let token = random_token();
            write_private(path, example_with_token(&token).as_bytes()).map_err(io)?;
            created_token = Some(token);
        }
        let text = std::fs::read_to_string(path).map_err(io)?;
        let mut warnings = Vec::new();
        let config = Self::parse(&text, env, &mut warnings).map_err(|e| match e {
            ConfigError::Parse { detail, .. } => ConfigError::Parse { path: path.display().to_string(), detail },
            other => other,
        })?;
        Ok(Loaded { config, created_token, warnings })
    }

    /// Parses YAML text, applies `WECHAT_HTTP_…` overrides from `env` and validates
    /// (warnings are dropped; see [`Config::load`]).
    pub fn from_yaml(text: &str, env: impl IntoIterator<Item = (String, String)>) -> Result<Self, ConfigError> {
        Self::parse(text, env, &mut Vec::new())
    }

    fn parse(
        text: &str,
        env: impl IntoIterator<Item = (String, String)>,
        warnings: &mut Vec<String>,
    ) -> Result<Self, ConfigError> {
        let parse = |detail: String| ConfigError::Parse { path: "<text>".into(), detail };
        let mut tree: Value = if text.trim().is_empty() {
            Value::Object(Map::new())
        } else {
            match serde_saphyr::from_str::<Value>(text) {
                Ok(v) => v,
                Err(e) => return Err(parse(first_line(&e.to_string()))),
            }
        };
        if tree.is_null() {
            tree = Value::Object(Map::new());
        }
        if !tree.is_object() {
            return Err(parse("the file must be a mapping of keys (e.g. `http_server:`)".into()));
        }
        // Type errors of the file itself: the key path from the tree, the line from the YAML.
        if let Err(e) = serde_path_to_error::deserialize::<_, Config>(tree.clone()) {
            let line = serde_saphyr::from_str::<Config>(text).err().and_then(|e| line_of(&e.to_string()));
            let key = e.path().to_string();
            let at = line.map(|l| format!(" (line {l})")).unwrap_or_default();
            return Err(parse(format!("key `{key}`{at}: {}", e.into_inner())));
        }
        apply_env(&mut tree, env, warnings);
        inherit_account_defaults(&mut tree);
        let config: Config = serde_path_to_error::deserialize(tree).map_err(|e| {
            let key = e.path().to_string();
            parse(format!("key `{key}` (from the environment): {}", e.into_inner()))
        })?;
        config.validate()?;
        Ok(config)
    }

    /// Checks values; the error names the key and says what to do.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let bad = |key: &str, problem: String| Err(ConfigError::Invalid { key: key.into(), problem });
        let addr = self.listen_addr()?;
        for (i, n) in self.nats.iter().enumerate() {
            if let Err(problem) = n.address_and_auth() {
                return bad(&format!("nats[{i}].url"), problem);
            }
            let bad_name = |s: &str| {
                s.is_empty()
                    || s.chars()
                        .any(|c| c.is_whitespace() || c.is_control() || matches!(c, '.' | '*' | '>' | '/' | '\\'))
            };
            if bad_name(&n.stream) {
                return bad(
                    &format!("nats[{i}].stream"),
                    format!("{:?} is not a JetStream stream name (letters, digits, - and _)", n.stream),
                );
            }
            if n.subject_prefix.split('.').any(bad_name) {
                return bad(
                    &format!("nats[{i}].subject_prefix"),
                    format!(
                        "{:?} is not a subject prefix (dot-separated tokens without spaces or wildcards)",
                        n.subject_prefix
                    ),
                );
            }
        }
        if self.store.backend == StoreBackend::Postgres {
            let url = self.store.postgres_url.expose();
            if url.is_empty() {
                return bad(
                    "store.postgres_url",
                    "must be set when store.backend is postgres (postgres://user:password@host:port/database)".into(),
                );
            }
            if let Err(problem) = crate::store::pg_config(url) {
                return bad("store.postgres_url", format!("is not a PostgreSQL URL: {problem}"));
            }
        }
        if !(3..=3600).contains(&self.fleet.lease_seconds) {
            return bad("fleet.lease_seconds", format!("{} is out of range; use 3 to 3600", self.fleet.lease_seconds));
        }
        let node = &self.fleet.node_address;
        if !(node.is_empty() || node.starts_with("http://") || node.starts_with("https://")) {
            return bad(
                "fleet.node_address",
                format!("{:?} must start with http:// or https://", self.fleet.node_address),
            );
        }
        if self.console.session_hours == 0 || self.console.session_hours > 24 * 90 {
            return bad(
                "console.session_hours",
                format!("{} is out of range; use 1 to 2160 hours", self.console.session_hours),
            );
        }
        let token = self.http_server.access_token.expose();
        if !addr.ip().is_loopback() && self.token_is_weak() && !self.http_server.allow_public_without_token {
            return bad(
                "http_server.access_token",
                format!(
                    "{addr} is reachable from other machines but the token is {}; set a strong token, or set http_server.allow_public_without_token: true if you really mean it",
                    if token.is_empty() { "empty" } else { "the public default" }
                ),
            );
        }
        check_pause(self.answer_delay_rand_min, self.answer_delay_rand_max, "answer_delay_rand_max")?;
        check_send(&self.send, "send")?;
        if self.heart_beat_interval == 0 && self.enable_heart_beat {
            return bad("heart_beat_interval", "must be at least 1 second when enable_heart_beat is true".into());
        }
        check_wcf(&self.wcf, "wcf")?;
        if self.http_server.max_body_bytes < 1024 {
            return bad("http_server.max_body_bytes", "must be at least 1024".into());
        }
        if self.http_server.max_connections < 4 {
            return bad("http_server.max_connections", "must be at least 4".into());
        }
        for (key, v) in [
            ("http_server.header_read_timeout", self.http_server.header_read_timeout),
            ("http_server.keep_alive_timeout", self.http_server.keep_alive_timeout),
            ("http_server.request_timeout", self.http_server.request_timeout),
            ("websocket.send_timeout", self.websocket.send_timeout),
        ] {
            if v == 0 {
                return bad(key, "must be at least 1 second".into());
            }
        }
        if self.websocket.queue_frames == 0 {
            return bad("websocket.queue_frames", "must be at least 1".into());
        }
        for (i, o) in self.http_server.allowed_origins.iter().enumerate() {
            if !(o.starts_with("http://") || o.starts_with("https://"))
                || o.trim_end_matches('/').matches('/').count() != 2
            {
                return bad(
                    &format!("http_server.allowed_origins[{i}]"),
                    format!("{o:?} is not an origin like http://host:port (scheme, host and port only)"),
                );
            }
        }
        for (i, n) in self.media.deny_networks.iter().enumerate() {
            if let Err(e) = crate::net::Cidr::parse(n) {
                return bad(&format!("media.deny_networks[{i}]"), e);
            }
        }
        if self.media.max_upload_bytes == 0 {
            return bad("media.max_upload_bytes", "must be above 0".into());
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
            if let Some(ca) = &t.ca_file
                && !ca.is_file()
            {
                return bad(
                    &format!("websocket_reverse[{i}].ca_file"),
                    format!("{} is not a readable file", ca.display()),
                );
            }
        }
        for (i, t) in self.onebot11.http_post.iter().enumerate() {
            if !(t.url.starts_with("http://") || t.url.starts_with("https://")) {
                return bad(&format!("onebot11.http_post[{i}].url"), format!("{:?} is not an http(s) URL", t.url));
            }
        }
        for (i, t) in self.onebot11.ws_reverse.iter().enumerate() {
            if !(t.url.starts_with("ws://") || t.url.starts_with("wss://")) {
                return bad(&format!("onebot11.ws_reverse[{i}].url"), format!("{:?} is not a ws(s) URL", t.url));
            }
        }
        let mut names = std::collections::HashSet::new();
        for (i, a) in self.accounts.iter().enumerate() {
            let key = |k: &str| format!("accounts[{i}].{k}");
            let name_ok = !a.name.is_empty()
                && a.name.len() <= 32
                && a.name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
            if !name_ok {
                return bad(&key("name"), format!("{:?} must be 1-32 letters, digits, `-` or `_`", a.name));
            }
            if !names.insert(a.name.as_str()) {
                return bad(&key("name"), format!("{:?} is used by two accounts", a.name));
            }
            check_wcf(&a.wcf, &key("wcf"))?;
            check_pause(a.answer_delay_rand_min, a.answer_delay_rand_max, &key("answer_delay_rand_max"))?;
            check_send(&a.send, &key("send"))?;
        }
        let accounts = self.account_configs();
        let mut addresses = std::collections::HashSet::new();
        for a in &accounts {
            if !addresses.insert(a.wcf.address.clone()) {
                return bad("accounts", format!("two accounts use the WeChatFerry address {}", a.wcf.address));
            }
        }
        let filters =
            self.http_post
                .iter()
                .enumerate()
                .flat_map(|(i, t)| t.accounts.iter().map(move |a| (format!("http_post[{i}].accounts"), a)))
                .chain(self.websocket_reverse.iter().enumerate().flat_map(|(i, t)| {
                    t.accounts.iter().map(move |a| (format!("websocket_reverse[{i}].accounts"), a))
                }));
        for (key, a) in filters {
            if a.trim().is_empty() {
                return bad(&key, "an entry is empty; list account names or wxids".into());
            }
        }
        Ok(())
    }

    /// True when the token is empty or the public default.
    pub fn token_is_weak(&self) -> bool {
        let t = self.http_server.access_token.expose();
        t.is_empty() || t == DEFAULT_TOKEN
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

    /// The accounts this config serves (one `default` account without `accounts`).
    pub fn account_configs(&self) -> Vec<AccountEntry> {
        if self.accounts.is_empty() {
            return vec![AccountEntry {
                name: DEFAULT_ACCOUNT.into(),
                wcf: self.wcf.clone(),
                answer_delay_rand_min: self.answer_delay_rand_min,
                answer_delay_rand_max: self.answer_delay_rand_max,
                send: self.send.clone(),
            }];
        }
        self.accounts.clone()
    }

    /// Things that work but should be changed, reported at every start and in `get_status`.
    pub fn warnings(&self) -> Vec<String> {
        let mut w = Vec::new();
        if self.token_is_weak() {
            let what = if self.http_server.access_token.is_empty() {
                "empty (no authentication)".to_owned()
            } else {
                format!("the public default {DEFAULT_TOKEN:?}")
            };
            w.push(format!(
                "http_server.access_token is {what}: any program that knows it can drive your WeChat account; set a long random token (`wechat-http config token` prints one) and give it to your bots"
            ));
        }
        for a in self.account_configs() {
            if a.answer_delay_rand_max == 0.0 {
                let key = if self.accounts.is_empty() {
                    "answer_delay_rand_max".to_owned()
                } else {
                    format!("accounts[{}].answer_delay_rand_max", a.name)
                };
                w.push(format!("{key} is 0: sends are not paced, which makes a ban from WeChat more likely"));
            }
        }
        if let Ok(addr) = self.listen_addr()
            && addr.ip().is_unspecified()
            && self.http_server.allowed_hosts.is_empty()
        {
            w.push(format!(
                "{addr} listens on every interface, but only loopback Host names are accepted: list the names or addresses your bots use in http_server.allowed_hosts"
            ));
        }
        w
    }
}

fn check_pause(min: f64, max: f64, key: &str) -> Result<(), ConfigError> {
    if !(min >= 0.0 && max >= min && max.is_finite()) {
        return Err(ConfigError::Invalid {
            key: key.into(),
            problem: format!("the send pause window [{min}, {max}] is not valid: need 0 <= min <= max (seconds)"),
        });
    }
    Ok(())
}

fn check_send(s: &Send, prefix: &str) -> Result<(), ConfigError> {
    let bad =
        |k: &str, problem: &str| Err(ConfigError::Invalid { key: format!("{prefix}.{k}"), problem: problem.into() });
    if s.queue_timeout == 0 {
        return bad("queue_timeout", "must be at least 1 second");
    }
    if s.max_segments == 0 {
        return bad("max_segments", "must be at least 1");
    }
    if s.max_text_bytes < 16 {
        return bad("max_text_bytes", "must be at least 16");
    }
    Ok(())
}

fn check_wcf(w: &Wcf, prefix: &str) -> Result<(), ConfigError> {
    let bad = |k: &str, problem: String| Err(ConfigError::Invalid { key: format!("{prefix}.{k}"), problem });
    if let Err(e) = wcf::Endpoints::parse(&w.address) {
        return bad("address", e.to_string());
    }
    if w.login_check_ms < 100 {
        return bad("login_check_ms", "must be at least 100".into());
    }
    if w.poll_interval_ms < 50 {
        return bad("poll_interval_ms", "must be at least 50".into());
    }
    if w.call_timeout_ms == 0 {
        return bad("call_timeout_ms", "must be above 0".into());
    }
    for (i, m) in w.path_mapping.iter().enumerate() {
        if m.gateway.is_empty() || m.wechat.is_empty() {
            return bad(&format!("path_mapping[{i}]"), "needs both `gateway` and `wechat` prefixes".into());
        }
    }
    Ok(())
}

/// Writes a file only its owner can read (it holds the token).
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    use std::io::Write;
    options.open(path)?.write_all(bytes)
}

fn first_line(s: &str) -> String {
    s.lines().next().unwrap_or(s).trim_start_matches("error: ").to_owned()
}

/// The line number in a serde-saphyr message ("line 3 column 11: …").
fn line_of(s: &str) -> Option<u64> {
    let rest = &s[s.find("line ")? + 5..];
    rest.split(|c: char| !c.is_ascii_digit()).next()?.parse().ok()
}

/// `accounts[].wcf` / `send` start from the top-level sections; pauses from the top-level keys.
fn inherit_account_defaults(tree: &mut Value) {
    let Value::Object(root) = tree else { return };
    let top = |root: &Map<String, Value>, k: &str| root.get(k).cloned();
    let (wcf, send, min, max) =
        (top(root, "wcf"), top(root, "send"), top(root, "answer_delay_rand_min"), top(root, "answer_delay_rand_max"));
    let Some(Value::Array(accounts)) = root.get_mut("accounts") else { return };
    for a in accounts.iter_mut() {
        let Value::Object(a) = a else { continue };
        for (key, base) in [("wcf", &wcf), ("send", &send)] {
            if let Some(Value::Object(base)) = base {
                let mut merged = base.clone();
                if let Some(Value::Object(own)) = a.get(key) {
                    for (k, v) in own {
                        merged.insert(k.clone(), v.clone());
                    }
                }
                a.insert(key.into(), Value::Object(merged));
            }
        }
        for (key, base) in [("answer_delay_rand_min", &min), ("answer_delay_rand_max", &max)] {
            if let Some(v) = base
                && !a.contains_key(key)
            {
                a.insert(key.into(), v.clone());
            }
        }
    }
}

/// Applies `WECHAT_HTTP_<SECTION>__<KEY>=value` (a top-level key has no `__`). Values are read
/// as JSON when they parse (numbers, booleans, lists), as strings otherwise. A variable that
/// names no config key is reported in `warnings` and ignored.
fn apply_env(tree: &mut Value, env: impl IntoIterator<Item = (String, String)>, warnings: &mut Vec<String>) {
    let known = serde_json::to_value(Config::default()).unwrap_or_default();
    for (name, raw) in env {
        let Some(rest) = name.strip_prefix("WECHAT_HTTP_") else { continue };
        if rest == "CONFIG" || rest.is_empty() {
            continue;
        }
        let path: Vec<String> = rest.split("__").map(|p| p.to_ascii_lowercase()).collect();
        let mut probe = &known;
        let mut exists = true;
        for key in &path {
            match probe.get(key) {
                Some(next) => probe = next,
                None => {
                    exists = false;
                    break;
                }
            }
        }
        if !exists {
            warnings.push(format!("environment variable {name} names no config key ({}); ignored", path.join(".")));
            continue;
        }
        let value = serde_json::from_str::<Value>(&raw)
            .ok()
            .filter(|v| !v.is_string() && !v.is_object())
            .unwrap_or_else(|| Value::String(raw.clone()));
        let mut node = &mut *tree;
        for (i, key) in path.iter().enumerate() {
            if !node.is_object() {
                *node = Value::Object(Map::new());
            }
            let Value::Object(map) = node else { unreachable!("made an object above") };
            if i + 1 == path.len() {
                map.insert(key.clone(), value.clone());
                break;
            }
            node = map.entry(key.clone()).or_insert_with(|| Value::Object(Map::new()));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn no_env() -> Vec<(String, String)> {
        Vec::new()
    }

    #[test]
    fn nats_targets_are_checked_before_start() {
        use crate::delivery::nats::Auth;
        let target = |url: &str| NatsTarget { url: url.into(), ..NatsTarget::default() };
        assert_eq!(target("nats://127.0.0.1").address_and_auth().unwrap(), ("127.0.0.1:4222".into(), Auth::None));
        assert_eq!(
            target("nats://u:p%40ss@nats.local:4333/").address_and_auth().unwrap(),
            ("nats.local:4333".into(), Auth::User("u".into(), "p@ss".into()))
        );
        assert_eq!(target("nats://s3cret@[::1]:4222").address_and_auth().unwrap().1, Auth::Token("s3cret".into()));
        assert_eq!(target("nats://[::1]").address().unwrap(), "[::1]:4222");
        assert!(target("tls://nats.local").tls() && !target("nats://nats.local").tls());
        assert_eq!(target("tls://nats.local").address().unwrap(), "nats.local:4222");
        assert!(target("http://nats.local").address_and_auth().unwrap_err().contains("nats://"));
        for (yaml, key) in [
            ("nats: [{url: 'https://x:4222'}]", "nats[0].url"),
            ("nats: [{stream: 'has space'}]", "nats[0].stream"),
            ("nats: [{subject_prefix: 'wx.*'}]", "nats[0].subject_prefix"),
            ("nats: [{subject_prefix: 'a..b'}]", "nats[0].subject_prefix"),
            ("console: {session_hours: 0}", "console.session_hours"),
        ] {
            match Config::from_yaml(yaml, no_env()) {
                Err(ConfigError::Invalid { key: k, .. }) => assert_eq!(k, key, "{yaml}"),
                other => panic!("{yaml}: {other:?}"),
            }
        }
        let ok = Config::from_yaml(
            "nats: [{url: 'nats://127.0.0.1:4222', stream: WECHAT, subject_prefix: wx.events}]",
            no_env(),
        );
        assert!(ok.is_ok(), "{ok:?}");
    }

    #[test]
    fn example_parses_to_the_defaults() {
        let c = Config::from_yaml(EXAMPLE_YAML, no_env()).unwrap();
        let d = Config::default();
        assert_eq!(serde_json::to_value(&c).unwrap(), serde_json::to_value(&d).unwrap());
        let t = random_token();
        let c = Config::from_yaml(&example_with_token(&t), no_env()).unwrap();
        assert_eq!(c.http_server.access_token.expose(), t);
        assert!(t.len() >= 22 && t.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'));
    }

    #[test]
    fn original_keys_and_env_overrides() {
        let yaml = "http_server:\n  http_address: http://127.0.0.1:9000\n  access_token: abc\nanswer_delay_rand_min: 0\nanswer_delay_rand_max: 0\nhttp_post:\n  - url: http://127.0.0.1:8000\n    secret: s\n    format: legacy\n";
        let env = vec![
            ("WECHAT_HTTP_HTTP_SERVER__ACCESS_TOKEN".to_owned(), "fromenv".to_owned()),
            ("WECHAT_HTTP_IMG_VALID_DURATION".to_owned(), "3".to_owned()),
            ("WECHAT_HTTP_WCF__ADDRESS".to_owned(), "tcp://127.0.0.1:20000".to_owned()),
            ("WECHAT_HTTP_BIN".to_owned(), "/usr/bin/x".to_owned()),
            ("OTHER".to_owned(), "x".to_owned()),
        ];
        let mut warnings = Vec::new();
        let c = Config::parse(yaml, env, &mut warnings).unwrap();
        assert_eq!(c.http_server.access_token.expose(), "fromenv");
        assert_eq!(c.img_valid_duration, 3);
        assert_eq!(c.wcf.address, "tcp://127.0.0.1:20000");
        assert_eq!(c.http_post[0].format, EventFormat::Legacy);
        assert_eq!(c.listen_addr().unwrap().port(), 9000);
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        assert!(warnings[0].contains("WECHAT_HTTP_BIN"), "{warnings:?}");
    }

    #[test]
    fn errors_name_the_key_and_the_line() {
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
        let e = err("unknown_key: 1\n");
        assert!(e.contains("unknown field") && e.contains("line 1"), "{e}");
        let e = err("enable_heart_beat: true\nimg_valid_duration: soon\n");
        assert!(e.contains("`img_valid_duration`") && e.contains("line 2"), "{e}");
        let e = err("wcf:\n  address: tcp://127.0.0.1:1\n  call_timeout_ms: [1]\n");
        assert!(e.contains("`wcf.call_timeout_ms`") && e.contains("line 3"), "{e}");
        let e = Config::from_yaml("", vec![("WECHAT_HTTP_HEART_BEAT_INTERVAL".into(), "often".into())])
            .unwrap_err()
            .to_string();
        assert!(e.contains("heart_beat_interval") && e.contains("environment"), "{e}");
        assert!(err("media:\n  deny_networks: [\"10.0.0.0/33\"]\n").contains("media.deny_networks[0]"));
        assert!(err("http_server:\n  allowed_origins: [\"evil.com\"]\n").contains("allowed_origins[0]"));
    }

    #[test]
    fn accounts_inherit_the_top_level_keys() {
        let yaml = "wcf:\n  address: tcp://127.0.0.1:1000\n  call_timeout_ms: 700\nsend:\n  max_per_minute: 5\nanswer_delay_rand_min: 0.5\nanswer_delay_rand_max: 0.7\naccounts:\n  - name: shop\n    wcf: { address: tcp://127.0.0.1:2000 }\n  - name: club\n    wcf: { address: tcp://127.0.0.1:3000, call_timeout_ms: 900 }\n    send: { max_per_minute: 9 }\n    answer_delay_rand_max: 2\n";
        let c = Config::from_yaml(yaml, no_env()).unwrap();
        let a = c.account_configs();
        assert_eq!(a.len(), 2);
        assert_eq!(
            (a[0].name.as_str(), a[0].wcf.address.as_str(), a[0].wcf.call_timeout_ms),
            ("shop", "tcp://127.0.0.1:2000", 700)
        );
        assert_eq!((a[0].send.max_per_minute, a[0].answer_delay_rand_min), (5, 0.5));
        assert_eq!((a[1].wcf.call_timeout_ms, a[1].send.max_per_minute, a[1].answer_delay_rand_max), (900, 9, 2.0));
        let single = Config::default().account_configs();
        assert_eq!((single.len(), single[0].name.as_str()), (1, DEFAULT_ACCOUNT));
        let err = |yaml: &str| Config::from_yaml(yaml, no_env()).unwrap_err().to_string();
        assert!(err("accounts:\n  - { name: a, wcf: { address: tcp://h:1 } }\n  - { name: a, wcf: { address: tcp://h:3 } }\n")
            .contains("used by two accounts"));
        assert!(err("accounts:\n  - { name: \"a b\", wcf: { address: tcp://h:1 } }\n").contains("accounts[0].name"));
        assert!(err("accounts:\n  - { name: a, wcf: { address: tcp://h:1 } }\n  - { name: b, wcf: { address: tcp://h:1 } }\n")
            .contains("two accounts use"));
    }

    #[test]
    fn store_and_fleet_keys_are_checked() {
        let err = |yaml: &str| Config::from_yaml(yaml, no_env()).unwrap_err().to_string();
        assert!(err("store:\n  backend: postgres\n").contains("store.postgres_url"));
        assert!(
            err("store:\n  backend: postgres\n  postgres_url: \"postgres://[oops\"\n").contains("not a PostgreSQL URL")
        );
        assert!(err("store:\n  backend: mysql\n").contains("store.backend"));
        assert!(err("fleet:\n  lease_seconds: 1\n").contains("fleet.lease_seconds"));
        assert!(err("fleet:\n  node_address: 10.0.0.1:80\n").contains("fleet.node_address"));
        let c = Config::from_yaml(
            "http_server:\n  http_address: http://127.0.0.1:9000\nstore:\n  backend: postgres\n  postgres_url: postgres://u:p@db:5432/w\n",
            no_env(),
        )
        .unwrap();
        assert_eq!(c.store.backend, StoreBackend::Postgres);
        assert_eq!(
            (c.fleet.id(&c), c.fleet.address(&c)),
            ("http://127.0.0.1:9000".into(), "http://127.0.0.1:9000".into())
        );
        assert!(!format!("{:?}", c.store).contains("u:p@"), "the URL is a secret: {:?}", c.store);
    }

    #[test]
    fn first_load_writes_a_private_file_with_a_random_token() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub").join("config.yaml");
        let loaded = Config::load_with_env(&path, no_env()).unwrap();
        let token = loaded.created_token.unwrap();
        assert_eq!(loaded.config.http_server.access_token.expose(), token);
        assert!(!loaded.config.token_is_weak());
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.contains("# ") && text.contains(&token));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        }
        let again = Config::load_with_env(&path, no_env()).unwrap();
        assert!(again.created_token.is_none());
        assert_eq!(again.config.http_server.access_token.expose(), token);
        let weak = Config::default();
        assert!(weak.warnings().iter().any(|w| w.contains("access_token")));
    }
}
