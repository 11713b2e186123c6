//! WeChatFerry client.
//!
//! * [`transport`]: NNG's SP-over-TCP PAIR v1 transport, pure Rust on tokio.
//! * [`proto`]: the `wcf.proto` schema as prost derives.
//! * [`Client`]: the command channel, one typed method per RPC.
//! * [`Receiver`]: the push channel, with reconnect and a published [`ConnectionState`].
//! * Pure helpers: [`message`] (`is_at`, classification), [`content`] (every message kind),
//!   [`system`] (system texts and `<sysmsg>`), [`xml`], [`friend_request`], [`dat_image`], [`room`].
//!
//! Protocol facts come from `shared/docs/wcf-protocol.md`.

#![warn(missing_docs)]

use std::sync::Arc;
use std::time::Duration;

pub mod client;
pub mod content;
pub mod dat_image;
pub mod friend_request;
pub mod message;
pub mod proto;
pub mod receiver;
pub mod room;
pub mod system;
pub mod transport;
pub mod xml;

pub use client::{Client, ClientOptions, DbRow, DbValue, Endpoints, Receiving, RichText};
pub use proto::{Functions, WxMsg};
pub use receiver::{ConnectionState, Receiver, ReceiverOptions};
pub use transport::TransportError;

/// Result alias of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Why a WeChatFerry call failed. `Clone`, so one failure can answer several waiters.
#[derive(Clone, Debug, thiserror::Error)]
pub enum Error {
    /// The configured address is not `tcp://host:port`.
    #[error("invalid WeChatFerry address {0:?}: expected tcp://host:port")]
    InvalidAddress(String),
    /// The client is paused ([`Client::pause`]): it does not dial until resumed.
    #[error("this client is paused and does not dial WeChatFerry at {0} (another program drives that WeChat)")]
    Paused(String),
    /// Could not connect to the RPC (WeChat not running, WeChatFerry not injected, wrong port).
    #[error("cannot connect to WeChatFerry at {addr}: {source}")]
    Connect {
        /// `host:port` dialled.
        addr: String,
        /// What went wrong.
        source: Arc<TransportError>,
    },
    /// The connection broke during a call.
    #[error("WeChatFerry connection failed during {func:?}: {source}")]
    Transport {
        /// The call.
        func: Functions,
        /// What went wrong.
        source: Arc<TransportError>,
    },
    /// No reply within the call timeout (the socket is re-dialled before the next call).
    #[error("WeChatFerry did not answer {func:?} within {after:?}")]
    Timeout {
        /// The call.
        func: Functions,
        /// The timeout that elapsed.
        after: Duration,
    },
    /// The reply was not a valid `wcf.Response`.
    #[error("undecodable reply to {func:?}: {detail}")]
    Decode {
        /// The call.
        func: Functions,
        /// Decoder message.
        detail: String,
    },
    /// Zero-length or empty reply: this WeChatFerry build does not know the function.
    #[error("WeChatFerry does not support {func:?} (it sent an empty reply)")]
    Unsupported {
        /// The call.
        func: Functions,
    },
    /// The reply echoed another function: the pair is out of step (the socket is re-dialled).
    #[error("reply to {func:?} was for function {got}")]
    Desync {
        /// The call.
        func: Functions,
        /// The function id the reply carried.
        got: i32,
    },
    /// The reply carried another field than this call returns.
    #[error("unexpected reply shape for {func:?}")]
    UnexpectedReply {
        /// The call.
        func: Functions,
    },
    /// WeChat answered with a failure status.
    #[error("WeChat refused {func:?} (status {status})")]
    Rejected {
        /// The call.
        func: Functions,
        /// The status it returned.
        status: i32,
    },
    /// WeChat returned an empty string where a value (a path, a wxid) means success.
    #[error("WeChat returned nothing for {func:?}")]
    Failed {
        /// The call.
        func: Functions,
    },
    /// A composite lookup found nothing.
    #[error("{0} not found")]
    NotFound(String),
}

impl Error {
    /// True when the failure is about reaching WeChatFerry rather than WeChat's answer.
    pub fn is_connection(&self) -> bool {
        matches!(self, Self::Connect { .. } | Self::Transport { .. } | Self::Timeout { .. } | Self::Desync { .. })
    }
}
