//! The control API (HTTP/JSON on loopback) that tests, benchmarks and the demo drive.
//!
//! | route | body | answer |
//! |---|---|---|
//! | `POST /messages` | `{from, room?, type?: text\|image\|voice, text?, image_base64?, at?, at_all?}` | `{id}` |
//! | `POST /friend_requests` | `{wxid, nickname, greeting, scene?}` | `{v3, v4, scene}` |
//! | `GET /sent` / `DELETE /sent` | – | every send, oldest first / `{cleared}` |
//! | `POST /faults` | `{kind: drop_connections\|logout\|login\|stall, ms?}` | `{ok: true}` |
//! | `GET /health` | – | `{logged_in, peers, receiving}` |
//!
//! Errors are HTTP 400 (bad input) or 500 with `{"error": "<what to fix>"}`.

use std::sync::Arc;

use axum::Router;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Json, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::json;

use crate::wechat::{ControlError, Fault, InboundFriendRequest, InboundMessage, WeChat};

/// The control router.
pub fn router(wechat: Arc<WeChat>) -> Router {
    Router::new()
        .route("/messages", post(post_message))
        .route("/friend_requests", post(post_friend_request))
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
    let id = w.inject(&body(req)?)?;
    Ok(Json(json!({ "id": id.to_string() })))
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
