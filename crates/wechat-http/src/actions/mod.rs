//! Every action: the table (name, GET allowed, parameters, summary) that drives routing,
//! `get_supported_actions` and `/openapi.json`, and the dispatcher, which picks the account
//! an action is for (`self`, `self_id`, the only one, `default_account`) and calls its
//! handler. Handlers are thin: they read parameters and call the send engine, the stores and
//! the account's parts.

use std::sync::Arc;

use crate::account::Account;
use crate::error::{ApiError, ApiResult};
use crate::gateway::Gateway;
use crate::http::Data;
use crate::http::envelope::Call;

mod categories;
mod contacts;
pub mod events;
mod files;
mod friends;
mod messages;
pub mod meta;
pub mod params;
mod wechat;

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
                "a string, or OneBot 12 segments: text, mention, mention_all, image, file, video, wx.emoji, wx.link, wx.xml",
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
        name: "wx.get_sent_message",
        get: true,
        summary: "Where each part of a sent message stands: sent, unknown (33003: WeChat may have sent it), failed",
        params: &[p("message_id", "string", true, "the message_id send_message returned")],
    },
    ActionSpec {
        name: "delete_message",
        get: false,
        summary: "Recall a message this gateway sent",
        params: &[p("message_id", "string", true, "the message_id send_message returned")],
    },
    ActionSpec {
        name: "wx.get_message",
        get: true,
        summary: "The event of a stored message (from WeChat's database), e.g. the one a quote refers to",
        params: &[p("message_id", "string", true, "a message id from an event, or one send_message returned")],
    },
    ActionSpec {
        name: "wx.forward_message",
        get: false,
        summary: "Forward a message WeChat has (received or sent) to a friend or chat group",
        params: &[
            p("message_id", "string", true, "a message id from an event, or one send_message returned"),
            p("user_id", "string", false, "friend wxid; or give group_id"),
            p("group_id", "string", false, "chat group …@chatroom; or give user_id"),
        ],
    },
    ActionSpec {
        name: "wx.send_pat",
        get: false,
        summary: "Pat (拍一拍) a member of a chat group",
        params: &[p("group_id", "string", true, "…@chatroom"), p("user_id", "string", true, "member wxid")],
    },
    ActionSpec {
        name: "wx.add_group_member",
        get: false,
        summary: "Add friends to a chat group directly (small groups; WeChat asks for an invitation in large ones)",
        params: &[p("group_id", "string", true, "…@chatroom"), p("user_ids", "array", true, "wxids (at most 40)")],
    },
    ActionSpec {
        name: "wx.invite_group_member",
        get: false,
        summary: "Invite friends to a chat group (each gets an invitation card)",
        params: &[p("group_id", "string", true, "…@chatroom"), p("user_ids", "array", true, "wxids (at most 40)")],
    },
    ActionSpec {
        name: "wx.delete_group_member",
        get: false,
        summary: "Remove members from a chat group the account owns or manages",
        params: &[p("group_id", "string", true, "…@chatroom"), p("user_ids", "array", true, "wxids (at most 40)")],
    },
    ActionSpec {
        name: "wx.receive_transfer",
        get: false,
        summary: "Accept a money transfer (WeChatFerry 39.5.2 cannot: it answers 34003)",
        params: &[
            p("user_id", "string", true, "the payer (user_id of the wx.transfer notice)"),
            p("transfer_id", "string", true, "from the wx.transfer notice"),
            p("transaction_id", "string", true, "from the wx.transfer notice"),
        ],
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

/// Actions that are about the gateway, not one account: no `self` needed.
pub const META_ACTIONS: &[&str] = &["get_version", "get_supported_actions", "get_status", "get_latest_events"];

/// The spec of `name`, if it is an action.
pub fn spec(name: &str) -> Option<&'static ActionSpec> {
    ACTIONS.iter().find(|a| a.name == name)
}

/// Runs an action.
pub async fn dispatch(gateway: &Gateway, name: &str, call: Call) -> ApiResult<Data> {
    let p = &call.params;
    match name {
        "get_version" => return Ok(meta::version().into()),
        "get_supported_actions" => return Ok(meta::supported_actions().into()),
        "get_status" => return Ok(gateway.status().into()),
        "get_latest_events" => {
            return events::latest_events(gateway, call.selector.as_deref(), p).await.map(Data::from);
        }
        _ if spec(name).is_none() => {
            return Err(ApiError::UnsupportedAction(format!(
                "unknown action {name:?}; get_supported_actions lists the actions"
            )));
        }
        _ => {}
    }
    let account: &Arc<Account> = gateway.route(call.selector.as_deref())?;
    // In a fleet, the node that drives the account runs its actions.
    if let Some(fleet) = &gateway.fleet
        && !account.driving()
    {
        return fleet.forward(gateway, &account.name, name, &call).await;
    }
    let a = account.as_ref();
    Ok(match name {
        "send_message" => messages::send_message(account, p).await?,
        "delete_message" => crate::send::recall::delete_message(a, &p.str("message_id")?).await?,
        "wx.get_sent_message" => crate::send::sent_status(a, &p.str("message_id")?).await?,
        "get_send_job" => crate::send::jobs::status(a, &p.str("job_id")?).await?,
        "cancel_send_job" => crate::send::jobs::cancel(a, &p.str("job_id")?).await?,
        "wx.get_message" => wechat::get_message(a, p).await?,
        "wx.forward_message" => wechat::forward_message(a, p).await?,
        "wx.send_pat" => wechat::send_pat(a, p).await?,
        "wx.add_group_member" | "wx.invite_group_member" | "wx.delete_group_member" => {
            wechat::members(a, p, name).await?
        }
        "wx.receive_transfer" => wechat::receive_transfer(a, p).await?,
        "get_friend_list" => return contacts::friend_list(a).await,
        "get_group_list" => contacts::group_list(a).await?,
        "get_gh_list" | "get_guild_list" => contacts::gh_list(a).await?,
        "get_user_info" => contacts::user_info(a, p).await?,
        "get_group_info" => contacts::group_info(a, p).await?,
        "get_group_member_list" => contacts::group_member_list(a, p).await?,
        "get_group_member_info" => contacts::group_member_info(a, p).await?,
        "get_group_id_by_name" => categories::id_by_name(a, p).await?,
        "create_group" => categories::create(a, p).await?,
        "delete_group" => categories::delete(a, p).await?,
        "rename_group" => categories::rename(a, p).await?,
        "get_groups" => categories::list(a).await?,
        "add_member_to_group" => categories::add_member(a, p).await?,
        "remove_member_from_group" => categories::remove_member(a, p).await?,
        "get_group_members" => categories::members(a, p).await?,
        "get_member_groups" => categories::member_groups(a, p).await?,
        "handle_friend_request" => friends::handle(a, p).await?,
        "upload_file" => files::upload(a, p).await?,
        "get_file" => files::get(a, p).await?,
        "get_self_info" => meta::self_info(a).await?,
        other => {
            return Err(ApiError::Internal(format!("action {other:?} is listed but has no handler")));
        }
    }
    .into())
}
