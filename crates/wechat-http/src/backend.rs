//! The link to WeChat: the WeChatFerry client, its connection state and the account identity.

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
    state: watch::Receiver<ConnectionState>,
    me: RwLock<Option<UserInfo>>,
}

impl Backend {
    /// Wraps a client whose receiver publishes `state`.
    pub fn new(client: wcf::Client, state: watch::Receiver<ConnectionState>) -> Self {
        Self { client, state, me: RwLock::new(None) }
    }

    /// Current connection state.
    pub fn state(&self) -> ConnectionState {
        *self.state.borrow()
    }

    /// A watch of the connection state.
    pub fn watch(&self) -> watch::Receiver<ConnectionState> {
        self.state.clone()
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
        if let Some(me) = self.me.read().unwrap_or_else(|p| p.into_inner()).clone() {
            return Ok(me);
        }
        let me = self.client.user_info().await.map_err(|e| self.error("read the account", &e))?;
        *self.me.write().unwrap_or_else(|p| p.into_inner()) = Some(me.clone());
        Ok(me)
    }

    /// The bot's wxid, if known ("" otherwise), without copying the whole account record.
    pub fn self_id(&self) -> String {
        self.me.read().unwrap_or_else(|p| p.into_inner()).as_ref().map(|m| m.wxid.clone()).unwrap_or_default()
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
