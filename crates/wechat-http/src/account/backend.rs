//! The link to one account's WeChat: the WeChatFerry client, its connection state and the
//! account's identity.

use std::sync::RwLock;

use tokio::sync::watch;
use wcf::ConnectionState;
use wcf::proto::UserInfo;

use crate::error::{ApiError, ApiResult};

/// WeChat, as the service sees it.
#[derive(Debug)]
pub struct Backend {
    /// The command-channel client.
    pub client: wcf::Client,
    state: RwLock<watch::Receiver<ConnectionState>>,
    me: RwLock<Option<UserInfo>>,
    /// The wxid last seen (also from the store, before WeChat answers), for routing.
    known_wxid: RwLock<String>,
}

impl Backend {
    /// Wraps a client whose receiver publishes `state`.
    pub fn new(client: wcf::Client, state: watch::Receiver<ConnectionState>, known_wxid: String) -> Self {
        Self { client, state: RwLock::new(state), me: RwLock::new(None), known_wxid: RwLock::new(known_wxid) }
    }

    /// Follows the state of a new receiver (this node started driving the account), or none:
    /// `Disconnected` for good (it stopped).
    pub fn follow(&self, state: Option<watch::Receiver<ConnectionState>>) {
        let state = state.unwrap_or_else(|| watch::channel(ConnectionState::Disconnected).1);
        *self.state.write().unwrap_or_else(|p| p.into_inner()) = state;
    }

    /// Current connection state.
    pub fn state(&self) -> ConnectionState {
        *self.state.read().unwrap_or_else(|p| p.into_inner()).borrow()
    }

    /// A watch of the connection state.
    pub fn watch(&self) -> watch::Receiver<ConnectionState> {
        self.state.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// True when connected and logged in.
    pub fn online(&self) -> bool {
        self.state() == ConnectionState::Connected
    }

    /// The state as a word: `connected`, `disconnected` or `logged_out`.
    pub fn state_name(&self) -> &'static str {
        match self.state() {
            ConnectionState::Connected => "connected",
            ConnectionState::Disconnected => "disconnected",
            ConnectionState::LoggedOut => "logged_out",
        }
    }

    /// The account (cached after the first success).
    pub async fn me(&self) -> ApiResult<UserInfo> {
        if let Some(me) = self.me_cached() {
            return Ok(me);
        }
        let me = self.client.user_info().await.map_err(|e| self.error("read the account", &e))?;
        *self.me.write().unwrap_or_else(|p| p.into_inner()) = Some(me.clone());
        *self.known_wxid.write().unwrap_or_else(|p| p.into_inner()) = me.wxid.clone();
        Ok(me)
    }

    /// The bot's wxid, if known this session ("" otherwise).
    pub fn self_id(&self) -> String {
        self.me.read().unwrap_or_else(|p| p.into_inner()).as_ref().map(|m| m.wxid.clone()).unwrap_or_default()
    }

    /// The wxid known from this session or an earlier one ("" if never seen).
    pub fn known_wxid(&self) -> String {
        self.known_wxid.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// The cached account, if known.
    pub fn me_cached(&self) -> Option<UserInfo> {
        self.me.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Forgets the cached account (after a re-login it may differ).
    pub fn forget_me(&self) {
        *self.me.write().unwrap_or_else(|p| p.into_inner()) = None;
    }

    /// Maps a client error of `what`, saying "not logged in" when that is the reason.
    pub fn error(&self, what: &str, e: &wcf::Error) -> ApiError {
        match (self.state(), e) {
            (ConnectionState::LoggedOut, wcf::Error::Rejected { .. } | wcf::Error::Failed { .. }) => {
                ApiError::NotLoggedIn
            }
            _ => ApiError::from_wcf(what, e),
        }
    }
}
