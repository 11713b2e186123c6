//! The one error type of the API, mapped to a OneBot retcode, an HTTP status and a public
//! message in one place.
//!
//! | variant | retcode | HTTP |
//! |---|---|---|
//! | `BadRequest` | 10001 | 200 |
//! | `UnsupportedAction` | 10002 | 200 (404 for an unknown path) |
//! | `BadParam` | 10003 | 200 |
//! | `UnsupportedParam` | 10004 | 200 |
//! | `UnsupportedSegment` | 10005 | 200 |
//! | `BadSegmentData` | 10006 | 200 |
//! | `WhoAmI` | 10101 | 200 |
//! | `UnknownSelf` | 10102 | 200 |
//! | `Unauthorized` / `Forbidden` | 10001 | 401 / 403 |
//! | `BadAuthorization` / `BadEncoding` | 10001 | 400 |
//! | `BrowserRefused` / `HostRefused` | 10001 | 403 |
//! | `UriTooLong` | 10001 | 414 |
//! | `MethodNotAllowed` | 10001 | 405 |
//! | `UnsupportedMediaType` | 10001 | 415 |
//! | `PayloadTooLarge` | 10001 | 413 |
//! | `SlowBody` | 10001 | 408 |
//! | `NotFound` | 10003 | 404 |
//! | `Database` | 31001 | 200 |
//! | `Filesystem` | 32001 | 200 |
//! | `Download` | 33002 | 200 |
//! | `BackendUnavailable` | 33001 | 200 |
//! | `OutcomeUnknown` | 33003 | 200 |
//! | `NotLoggedIn` | 34001 | 200 |
//! | `WeChatRefused` | 34002 | 200 |
//! | `BackendUnsupported` | 34003 | 200 |
//! | `Logic` | 35001 | 200 |
//! | `Timeout` | 36001 | 200 |
//! | `Internal` | 20002 | 200 |
//! | `Relayed` | the holder's | 200 |
//!
//! `Database`, `Filesystem` and `Internal` carry details (paths, SQL errors) that are logged
//! with an error id; the client sees a plain message and the id (`wx.error_id`).

use axum::http::StatusCode;
use onebot::retcode;

/// An API failure.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// Malformed request (JSON, envelope).
    #[error("{0}")]
    BadRequest(String),
    /// Unknown action, or an action the path does not serve.
    #[error("{0}")]
    UnsupportedAction(String),
    /// Missing or invalid parameter, unknown id, name taken…
    #[error("{0}")]
    BadParam(String),
    /// A parameter value this implementation does not support.
    #[error("{0}")]
    UnsupportedParam(String),
    /// A segment type that cannot be sent.
    #[error("{0}")]
    UnsupportedSegment(String),
    /// A segment with invalid data.
    #[error("{0}")]
    BadSegmentData(String),
    /// Several accounts and the action names none.
    #[error("{0}")]
    WhoAmI(String),
    /// `self` names another bot.
    #[error("{0}")]
    UnknownSelf(String),
    /// No token presented.
    #[error("this API needs a token: send `Authorization: Bearer <token>` or `?access_token=<token>`")]
    Unauthorized,
    /// Wrong token.
    #[error("the access token is not valid")]
    Forbidden,
    /// A malformed percent-escape (or bytes that are not UTF-8) in the path or query.
    #[error("{0}")]
    BadEncoding(String),
    /// Two tokens that disagree, or two `Authorization` headers.
    #[error("{0}")]
    BadAuthorization(String),
    /// A browser request (cross-site, or from an origin not allowed).
    #[error("{0}")]
    BrowserRefused(String),
    /// A `Host` this gateway does not answer to (DNS rebinding).
    #[error("{0}")]
    HostRefused(String),
    /// The request line is longer than the limit.
    #[error("the request URI is longer than {0} bytes; send the parameters in a POST body")]
    UriTooLong(usize),
    /// Wrong HTTP method for the path; the methods it takes.
    #[error("{message}")]
    MethodNotAllowed {
        /// What to do instead.
        message: String,
        /// Value of the `Allow` header.
        allow: &'static str,
    },
    /// Not `application/json`.
    #[error("unsupported Content-Type {0:?}: send the body as application/json")]
    UnsupportedMediaType(String),
    /// The body did not arrive within `http_server.request_timeout`.
    #[error("the request body did not arrive within {0} s (http_server.request_timeout)")]
    SlowBody(u64),
    /// Body above the limit.
    #[error("request body is larger than the limit of {0} bytes (http_server.max_body_bytes)")]
    PayloadTooLarge(usize),
    /// Too many failed console sign-ins in the last minute.
    #[error(
        "more than {0} failed sign-ins in the last minute; wait a minute and check the token (http_server.access_token)"
    )]
    TooManySignIns(usize),
    /// The answer of the fleet node that ran a forwarded action: its retcode and message.
    #[error("{message}")]
    Relayed {
        /// The holder's retcode.
        retcode: i64,
        /// The holder's message.
        message: String,
    },
    /// A resource (chat image, path) that does not exist.
    #[error("{0}")]
    NotFound(String),
    /// The SQLite store failed.
    #[error("database error: {0}")]
    Database(String),
    /// Local file handling failed.
    #[error("file system error: {0}")]
    Filesystem(String),
    /// Fetching a URL failed.
    #[error("{0}")]
    Download(String),
    /// WeChatFerry is not reachable.
    #[error("the WeChat backend is not reachable ({0}); is WeChat running with WeChatFerry on wcf.address?")]
    BackendUnavailable(String),
    /// A send whose WeChatFerry call timed out: WeChat may have sent it. The answer's `data`
    /// carries the `message_id` to check (`wx.get_sent_message`) before retrying.
    #[error("WeChat did not answer in time; the message may have been sent — check before retrying ({detail})")]
    OutcomeUnknown {
        /// What happened on the wire.
        detail: String,
        /// The gateway's id of the message, once known.
        message_id: Option<String>,
    },
    /// WeChat is logged out.
    #[error("WeChat is not logged in; scan the login QR code first")]
    NotLoggedIn,
    /// WeChat answered with a failure.
    #[error("{0}")]
    WeChatRefused(String),
    /// This WeChatFerry build lacks the function.
    #[error("{0}")]
    BackendUnsupported(String),
    /// The operation is not possible in the current state (e.g. WeChat has not recorded the
    /// message yet).
    #[error("{0}")]
    Logic(String),
    /// Waited too long (e.g. in the send queue).
    #[error("{0}")]
    Timeout(String),
    /// A bug or unexpected state.
    #[error("internal error: {0}")]
    Internal(String),
}

impl ApiError {
    /// The OneBot retcode.
    pub fn retcode(&self) -> i64 {
        match self {
            Self::BadRequest(_)
            | Self::Unauthorized
            | Self::Forbidden
            | Self::BadAuthorization(_)
            | Self::BadEncoding(_)
            | Self::BrowserRefused(_)
            | Self::HostRefused(_)
            | Self::UriTooLong(_)
            | Self::MethodNotAllowed { .. }
            | Self::UnsupportedMediaType(_)
            | Self::SlowBody(_)
            | Self::PayloadTooLarge(_) => retcode::BAD_REQUEST,
            Self::UnsupportedAction(_) => retcode::UNSUPPORTED_ACTION,
            Self::BadParam(_) | Self::NotFound(_) => retcode::BAD_PARAM,
            Self::UnsupportedParam(_) => retcode::UNSUPPORTED_PARAM,
            Self::UnsupportedSegment(_) => retcode::UNSUPPORTED_SEGMENT,
            Self::BadSegmentData(_) => retcode::BAD_SEGMENT_DATA,
            Self::WhoAmI(_) => retcode::WHO_AM_I,
            Self::UnknownSelf(_) => retcode::UNKNOWN_SELF,
            Self::Database(_) => retcode::DATABASE_ERROR + 1,
            Self::Filesystem(_) => retcode::FILESYSTEM_ERROR + 1,
            Self::BackendUnavailable(_) => retcode::NETWORK_ERROR + 1,
            Self::Download(_) => retcode::NETWORK_ERROR + 2,
            Self::OutcomeUnknown { .. } => retcode::NETWORK_ERROR + 3,
            Self::NotLoggedIn => retcode::PLATFORM_ERROR + 1,
            Self::WeChatRefused(_) => retcode::PLATFORM_ERROR + 2,
            Self::BackendUnsupported(_) => retcode::PLATFORM_ERROR + 3,
            Self::Logic(_) => retcode::LOGIC_ERROR + 1,
            Self::Timeout(_) => retcode::I_AM_TIRED + 1,
            Self::TooManySignIns(_) => retcode::I_AM_TIRED + 2,
            Self::Relayed { retcode, .. } => *retcode,
            Self::Internal(_) => retcode::INTERNAL_HANDLER_ERROR,
        }
    }

    /// The HTTP status (200 for anything that is a well-formed action).
    pub fn http_status(&self) -> StatusCode {
        match self {
            Self::Unauthorized => StatusCode::UNAUTHORIZED,
            Self::Forbidden | Self::BrowserRefused(_) | Self::HostRefused(_) => StatusCode::FORBIDDEN,
            Self::BadAuthorization(_) | Self::BadEncoding(_) => StatusCode::BAD_REQUEST,
            Self::UriTooLong(_) => StatusCode::URI_TOO_LONG,
            Self::MethodNotAllowed { .. } => StatusCode::METHOD_NOT_ALLOWED,
            Self::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            Self::SlowBody(_) => StatusCode::REQUEST_TIMEOUT,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::TooManySignIns(_) => StatusCode::TOO_MANY_REQUESTS,
            _ => StatusCode::OK,
        }
    }

    /// The `data` of the failure envelope: `null`, or what the client needs to follow up.
    pub fn data(&self) -> serde_json::Value {
        match self {
            Self::OutcomeUnknown { message_id: Some(id), .. } => serde_json::json!({ "message_id": id }),
            _ => serde_json::Value::Null,
        }
    }

    /// True for failures whose details must stay in the log (paths, SQL, internals).
    pub fn is_private(&self) -> bool {
        matches!(self, Self::Internal(_) | Self::Database(_) | Self::Filesystem(_))
    }

    /// The message shown to the client: the whole story for request errors, a plain sentence
    /// for internal ones (whose details go to the log under an error id).
    pub fn public_message(&self) -> String {
        match self {
            Self::Database(_) => {
                "the gateway's database failed, so nothing was changed or sent; the gateway log has the details".into()
            }
            Self::Filesystem(_) => "the gateway could not read or write a file; the gateway log has the details".into(),
            Self::Internal(_) => "the gateway failed unexpectedly; the gateway log has the details".into(),
            other => other.to_string(),
        }
    }

    /// Maps a WeChatFerry failure of `what` (e.g. "send the text").
    pub fn from_wcf(what: &str, e: &wcf::Error) -> Self {
        use wcf::Error as E;
        match e {
            E::Connect { .. } | E::Transport { .. } | E::Desync { .. } | E::InvalidAddress(_) | E::Paused(_) => {
                Self::BackendUnavailable(e.to_string())
            }
            E::Timeout { after, .. } => Self::BackendUnavailable(format!("no answer within {after:?}")),
            E::Unsupported { .. } => {
                Self::BackendUnsupported(format!("cannot {what}: this WeChatFerry build does not support it"))
            }
            E::Rejected { status, .. } => Self::WeChatRefused(format!("WeChat refused to {what} (status {status})")),
            E::Failed { .. } => Self::WeChatRefused(format!("WeChat could not {what}")),
            E::Decode { .. } | E::UnexpectedReply { .. } => Self::Internal(format!("cannot {what}: {e}")),
            E::NotFound(x) => Self::BadParam(format!("cannot {what}: {x} not found")),
        }
    }
}

impl From<rusqlite::Error> for ApiError {
    fn from(e: rusqlite::Error) -> Self {
        Self::Database(e.to_string())
    }
}

/// Result alias of the service.
pub type ApiResult<T> = Result<T, ApiError>;
