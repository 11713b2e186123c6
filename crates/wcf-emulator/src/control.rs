//! The control API (HTTP/JSON on loopback) that tests, benchmarks and the demo drive.
//!
//! | route | body | answer |
//! |---|---|---|
//! | `POST /messages` | `{from, room?, type?, …}` (every kind: see the emulator README) or `{raw: {…}}` | `{id, ids, …}` |
//! | `GET /cdn/emoji/<md5>` | – | a sticker's bytes (the `cdnurl` of emoji messages) |
//! | `DELETE /contacts/<wxid>` | – | `{removed}`: a friend leaves the contact list |
//! | `POST /friend_requests` | `{wxid, nickname, greeting, scene?}` | `{v3, v4, scene}` |
//! | `GET /sent` / `DELETE /sent` | – | every send, oldest first / `{cleared}` |
//! | `POST /faults` | `{kind: drop_connections\|logout\|login\|stall, ms?}` | `{ok: true}` |
//! | `GET /health` | – | `{logged_in, peers, receiving}` |
//!
//! Errors are HTTP 400 (bad input) or 500 with `{"error": "<what to fix>"}`.

use std::sync::Arc;

use axum::Router;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Json, Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use serde_json::json;

use crate::kinds::InboundMessage;
use crate::wechat::{ControlError, Fault, InboundFriendRequest, WeChat};

/// The control router.
pub fn router(wechat: Arc<WeChat>) -> Router {
    Router::new()
        .route("/messages", post(post_message))
        .route("/friend_requests", post(post_friend_request))
        .route("/cdn/emoji/{md5}", get(get_emoji))
        .route("/contacts/{wxid}", delete(delete_contact))
        .route("/sent", get(get_sent).delete(delete_sent))
        .route("/faults", post(post_fault))
        .route("/health", get(health))
        .fallback(|| async { error(StatusCode::NOT_FOUND, "no such control route: see the emulator README".into()) })
        .with_state(wechat)
}

fn error(code: StatusCode, message: String) -> Response {
    (code, Json(json!({ "error": message }))).into_response()
}

impl IntoResponse for ControlError {
    fn into_response(self) -> Response {
        let code = match self {
            ControlError::Invalid(_) => StatusCode::BAD_REQUEST,
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        };
        error(code, self.to_string())
    }
}

fn body<T>(r: Result<Json<T>, JsonRejection>) -> Result<T, ControlError> {
    r.map(|Json(v)| v).map_err(|e| ControlError::Invalid(format!("invalid JSON body: {}", e.body_text())))
}

async fn post_message(
    State(w): State<Arc<WeChat>>,
    req: Result<Json<InboundMessage>, JsonRejection>,
) -> Result<Json<serde_json::Value>, ControlError> {
    Ok(Json(w.apply(&body(req)?)?.to_json()))
}

async fn get_emoji(State(w): State<Arc<WeChat>>, Path(md5): Path<String>) -> Response {
    match w.emoji(&md5) {
        Some(bytes) => ([(axum::http::header::CONTENT_TYPE, "application/octet-stream")], bytes).into_response(),
        None => error(StatusCode::NOT_FOUND, format!("no sticker {md5}")),
    }
}

async fn delete_contact(
    State(w): State<Arc<WeChat>>,
    Path(wxid): Path<String>,
) -> Result<Json<serde_json::Value>, ControlError> {
    Ok(Json(json!({ "removed": w.remove_contact(&wxid)? })))
}

async fn post_friend_request(
    State(w): State<Arc<WeChat>>,
    req: Result<Json<InboundFriendRequest>, JsonRejection>,
) -> Result<Json<crate::wechat::FriendTickets>, ControlError> {
    Ok(Json(w.friend_request(&body(req)?)?))
}

async fn get_sent(State(w): State<Arc<WeChat>>) -> Json<Vec<crate::wechat::SentRecord>> {
    Json(w.sent())
}

async fn delete_sent(State(w): State<Arc<WeChat>>) -> Json<serde_json::Value> {
    w.clear_sent();
    Json(json!({ "cleared": true }))
}

async fn post_fault(
    State(w): State<Arc<WeChat>>,
    req: Result<Json<Fault>, JsonRejection>,
) -> Result<Json<serde_json::Value>, ControlError> {
    w.fault(&body(req)?)?;
    Ok(Json(json!({ "ok": true })))
}

async fn health(State(w): State<Arc<WeChat>>) -> Json<crate::wechat::Health> {
    Json(w.health())
}
