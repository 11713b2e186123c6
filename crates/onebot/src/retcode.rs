//! OneBot 12 return codes. 1xxxx: the request is wrong; 2xxxx: the handler failed; 3xxxx: the
//! action could not be carried out (31 database, 32 filesystem, 33 network, 34 platform, 35
//! logic, 36 "I am tired").

/// Success.
pub const OK: i64 = 0;
/// Malformed request (bad JSON, missing envelope field).
pub const BAD_REQUEST: i64 = 10001;
/// Unknown action.
pub const UNSUPPORTED_ACTION: i64 = 10002;
/// Missing or invalid parameter, unknown id, name taken, not found.
pub const BAD_PARAM: i64 = 10003;
/// A parameter the implementation does not support.
pub const UNSUPPORTED_PARAM: i64 = 10004;
/// A message segment type the implementation does not support.
pub const UNSUPPORTED_SEGMENT: i64 = 10005;
/// A segment whose data is invalid.
pub const BAD_SEGMENT_DATA: i64 = 10006;
/// Segment data the implementation does not support.
pub const UNSUPPORTED_SEGMENT_DATA: i64 = 10007;
/// `self` missing where several bots are served.
pub const WHO_AM_I: i64 = 10101;
/// `self` names a bot this implementation does not serve.
pub const UNKNOWN_SELF: i64 = 10102;
/// The handler is broken.
pub const BAD_HANDLER: i64 = 20001;
/// The handler failed unexpectedly.
pub const INTERNAL_HANDLER_ERROR: i64 = 20002;
/// Database error.
pub const DATABASE_ERROR: i64 = 31000;
/// Filesystem error.
pub const FILESYSTEM_ERROR: i64 = 32000;
/// Network error.
pub const NETWORK_ERROR: i64 = 33000;
/// The chat platform failed or refused.
pub const PLATFORM_ERROR: i64 = 34000;
/// Logic error (e.g. an operation in a state that forbids it).
pub const LOGIC_ERROR: i64 = 35000;
/// Rate limited / overloaded.
pub const I_AM_TIRED: i64 = 36000;
