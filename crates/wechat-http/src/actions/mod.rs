//! Every action: the table (name, GET allowed, parameters, summary) that drives routing,
//! `get_supported_actions` and `/openapi.json`, and the dispatcher.

use serde_json::Value;

use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

mod categories;
mod contacts;
mod events;
mod files;
mod friends;
pub(crate) mod messages;
pub mod meta;
pub mod params;
mod recall;

pub use events::LATEST_EVENTS_CHANNEL;
pub use params::Params;

/// A parameter as documented.
#[derive(Debug)]
pub struct ParamSpec {
    /// Name.
    pub name: &'static str,
    /// JSON type: `string`, `integer`, `boolean`, `array` or `string|array`.
    pub ty: &'static str,
    /// Required (alternatives are described in `doc`).
    pub required: bool,
    /// What it is.
    pub doc: &'static str,
}

/// An action as documented.
#[derive(Debug)]
pub struct ActionSpec {
    /// Action name (also its path).
    pub name: &'static str,
    /// Reachable with `GET /<name>?…`.
    pub get: bool,
    /// One line.
    pub summary: &'static str,
    /// Parameters.
    pub params: &'static [ParamSpec],
}

const fn p(name: &'static str, ty: &'static str, required: bool, doc: &'static str) -> ParamSpec {
    ParamSpec { name, ty, required, doc }
}

const GROUP_REF: &[ParamSpec] = &[
    p("group_id", "string", false, "category id (UUID); or give group_name"),
    p("group_name", "string", false, "category name; or give group_id"),
];

/// Every action this service serves.
pub const ACTIONS: &[ActionSpec] = &[
    ActionSpec {
        name: "send_message",
        get: true,
        summary: "Send text, images, files, @-mentions to a friend, a chat group, or every member of categories",
        params: &[
            p("detail_type", "string", false, "private | group (alias message_type); inferred from the id when absent"),
            p("user_id", "string", false, "friend wxid (private)"),
            p("group_id", "string", false, "chat group id …@chatroom (group)"),
            p("send_id", "string", false, "receiver, v1 style (friend or chat group)"),
            p(
                "message",
                "string|array",
                true,
                "a string, or OneBot 12 segments: text, image, mention, mention_all, file",
            ),
            p("msg_type", "integer", false, "v1: 0 text (default), 1 or 2 image (message = host path or http(s) URL)"),
            p("group_ids", "array", false, "category ids: broadcast to every distinct member (a durable job)"),
            p("receivers", "array", false, "wxids / room ids: broadcast to each once (a durable job)"),
            p("async", "boolean", false, "broadcasts: answer at once with job_id instead of when finished"),
        ],
    },
    ActionSpec {
        name: "get_send_job",
        get: true,
        summary: "Progress and failures of a broadcast job",
        params: &[p("job_id", "string", true, "from send_message")],
    },
    ActionSpec {
        name: "cancel_send_job",
        get: false,
        summary: "Stop a broadcast job; receivers not yet sent are skipped",
        params: &[p("job_id", "string", true, "from send_message")],
    },
    ActionSpec {
        name: "delete_message",
        get: false,
        summary: "Recall a message this gateway sent",
        params: &[p("message_id", "string", true, "the message_id send_message returned")],
    },
    ActionSpec { name: "get_friend_list", get: true, summary: "Friends", params: &[] },
    ActionSpec { name: "get_group_list", get: true, summary: "Chat groups", params: &[] },
    ActionSpec { name: "get_gh_list", get: true, summary: "Official accounts (公众号)", params: &[] },
    ActionSpec { name: "get_guild_list", get: true, summary: "Alias of get_gh_list", params: &[] },
    ActionSpec {
        name: "get_group_id_by_name",
        get: true,
        summary: "Category id by name",
        params: &[p("group_name", "string", true, "category name")],
    },
    ActionSpec {
        name: "create_group",
        get: false,
        summary: "Create a category",
        params: &[p("group_name", "string", true, "unique name")],
    },
    ActionSpec {
        name: "delete_group",
        get: false,
        summary: "Delete a category and its memberships",
        params: GROUP_REF,
    },
    ActionSpec {
        name: "rename_group",
        get: false,
        summary: "Rename a category",
        params: &[p("group_id", "string", true, "category id"), p("new_name", "string", true, "unique new name")],
    },
    ActionSpec { name: "get_groups", get: true, summary: "Every category", params: &[] },
    ActionSpec {
        name: "add_member_to_group",
        get: false,
        summary: "Add a friend or chat group to a category",
        params: &[p("group_id", "string", true, "category id"), p("member_id", "string", true, "wxid or …@chatroom")],
    },
    ActionSpec {
        name: "remove_member_from_group",
        get: false,
        summary: "Remove a member from a category",
        params: &[p("group_id", "string", true, "category id"), p("member_id", "string", true, "wxid or …@chatroom")],
    },
    ActionSpec { name: "get_group_members", get: true, summary: "Members of a category", params: GROUP_REF },
    ActionSpec {
        name: "get_member_groups",
        get: true,
        summary: "Categories a member is in",
        params: &[p("member_id", "string", true, "wxid or …@chatroom")],
    },
    ActionSpec {
        name: "handle_friend_request",
        get: false,
        summary: "Approve or reject a friend request",
        params: &[
            p("flag", "string", true, "the request's flag (v4 ticket)"),
            p("ticket_v3", "string", false, "v3 ticket (known from the request event when omitted)"),
            p("scene", "integer", false, "the request's scene (known from the request event when omitted)"),
            p("approve", "boolean", false, "true (default) to accept"),
            p("remark", "string", false, "note kept with the request"),
        ],
    },
    ActionSpec {
        name: "get_latest_events",
        get: true,
        summary: "Events since the last call (long-poll); needs http_server.event_enabled",
        params: &[
            p("limit", "integer", false, "most events returned; 0 (default) = all pending"),
            p("timeout", "integer", false, "seconds to wait when none is pending (0-300)"),
        ],
    },
    ActionSpec {
        name: "upload_file",
        get: false,
        summary: "Store a file for later sends (image/file segments with file_id)",
        params: &[
            p("type", "string", true, "url | path (on the gateway machine) | data"),
            p("name", "string", false, "file name (defaults from the URL/path, or image.<ext>)"),
            p("url", "string", false, "with type url"),
            p("path", "string", false, "with type path"),
            p("data", "string", false, "with type data: base64"),
            p("sha256", "string", false, "hex SHA-256 the content must have"),
        ],
    },
    ActionSpec {
        name: "get_file",
        get: true,
        summary: "Read a stored file or a received chat image",
        params: &[
            p("file_id", "string", true, "from upload_file, or an image segment of an event"),
            p("type", "string", true, "path | data | url (served by this gateway, needs the token)"),
        ],
    },
    ActionSpec { name: "get_version", get: true, summary: "Implementation and OneBot version", params: &[] },
    ActionSpec { name: "get_supported_actions", get: true, summary: "Action names", params: &[] },
    ActionSpec { name: "get_status", get: true, summary: "Backend connection and login state", params: &[] },
    ActionSpec { name: "get_self_info", get: true, summary: "The bot account", params: &[] },
    ActionSpec {
        name: "get_user_info",
        get: true,
        summary: "One contact",
        params: &[p("user_id", "string", true, "wxid")],
    },
    ActionSpec {
        name: "get_group_info",
        get: true,
        summary: "One chat group",
        params: &[p("group_id", "string", true, "…@chatroom")],
    },
    ActionSpec {
        name: "get_group_member_list",
        get: true,
        summary: "Members of a chat group",
        params: &[p("group_id", "string", true, "…@chatroom")],
    },
    ActionSpec {
        name: "get_group_member_info",
        get: true,
        summary: "One member of a chat group",
        params: &[p("group_id", "string", true, "…@chatroom"), p("user_id", "string", true, "member wxid")],
    },
];

/// The spec of `name`, if it is an action.
pub fn spec(name: &str) -> Option<&'static ActionSpec> {
    ACTIONS.iter().find(|a| a.name == name)
}

/// Runs an action.
pub async fn dispatch(state: &AppState, name: &str, p: &Params) -> ApiResult<Value> {
    match name {
        "send_message" => messages::send_message(state, p).await,
        "delete_message" => recall::delete_message(state, p).await,
        "get_send_job" => crate::jobs::status(state, &p.str("job_id")?).await,
        "cancel_send_job" => crate::jobs::cancel(state, &p.str("job_id")?).await,
        "get_friend_list" => contacts::friend_list(state).await,
        "get_group_list" => contacts::group_list(state).await,
        "get_gh_list" | "get_guild_list" => contacts::gh_list(state).await,
        "get_user_info" => contacts::user_info(state, p).await,
        "get_group_info" => contacts::group_info(state, p).await,
        "get_group_member_list" => contacts::group_member_list(state, p).await,
        "get_group_member_info" => contacts::group_member_info(state, p).await,
        "get_group_id_by_name" => categories::id_by_name(state, p).await,
        "create_group" => categories::create(state, p).await,
        "delete_group" => categories::delete(state, p).await,
        "rename_group" => categories::rename(state, p).await,
        "get_groups" => categories::list(state).await,
        "add_member_to_group" => categories::add_member(state, p).await,
        "remove_member_from_group" => categories::remove_member(state, p).await,
        "get_group_members" => categories::members(state, p).await,
        "get_member_groups" => categories::member_groups(state, p).await,
        "handle_friend_request" => friends::handle(state, p).await,
        "get_latest_events" => events::latest_events(state, p).await,
        "upload_file" => files::upload(state, p).await,
        "get_file" => files::get(state, p).await,
        "get_version" => Ok(meta::version()),
        "get_supported_actions" => Ok(meta::supported_actions()),
        "get_status" => Ok(meta::status(state)),
        "get_self_info" => meta::self_info(state).await,
        other => Err(ApiError::UnsupportedAction(format!(
            "unknown action {other:?}; get_supported_actions lists the actions"
        ))),
    }
}
