//! HTTP routes: actions three ways (`POST /<action>`, `GET /<action>?…` for GET-marked
//! actions, OneBot 12 `POST /`), `/chat_image/<date>/<file>`, `/openapi.json` and `/docs`.
//!
//! Every failure is a OneBot envelope (`status`, `retcode`, `data`, `message`, `echo`); the
//! HTTP status is 200 for a well-formed action, and 401/403/404/405/413/415 where HTTP says so.

use std::collections::HashMap;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Path, Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use onebot::Resp;
use serde_json::{Map, Value};

use crate::actions::{self, Params};
use crate::error::ApiError;
use crate::state::AppState;

mod openapi;

/// The router, with auth on everything except `/docs` and `/openapi.json`.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/", post(root_post).get(root_get))
        .route("/chat_image/{date}/{file}", get(chat_image))
        .route("/files/{file_id}", get(stored_file))
        .route("/{action}", post(action_post).get(action_get))
        .fallback(fallback)
        .layer(middleware::from_fn_with_state(state.clone(), auth))
        .route("/openapi.json", get(|| async { axum::Json(openapi::document()) }))
        .route("/docs", get(|| async { Html(include_str!("docs.html")) }))
        .with_state(state)
}

/// An error as a OneBot envelope with its HTTP status.
pub fn error_response(e: ApiError, echo: Option<Value>) -> Response {
    if matches!(e, ApiError::Internal(_) | ApiError::Database(_) | ApiError::Filesystem(_)) {
        tracing::error!(error = %e, "action failed");
    } else {
        tracing::debug!(error = %e, retcode = e.retcode(), "action refused");
    }
    (e.http_status(), axum::Json(Resp::failed(e.retcode(), e.public_message()).with_echo(echo))).into_response()
}

fn ok_response(data: Value, echo: Option<Value>) -> Response {
    axum::Json(Resp::ok(data).with_echo(echo)).into_response()
}

/// `Authorization: Bearer <token>` (or `Token <token>`), or `?access_token=<token>`.
fn presented_token(headers: &HeaderMap, uri: &axum::http::Uri) -> Option<String> {
    if let Some(v) = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()) {
        let v = v.trim();
        for scheme in ["Bearer ", "bearer ", "Token ", "token "] {
            if let Some(t) = v.strip_prefix(scheme) {
                return Some(t.trim().to_owned());
            }
        }
        return Some(v.to_owned());
    }
    let q: Query<HashMap<String, String>> = Query::try_from_uri(uri).ok()?;
    q.0.get("access_token").cloned()
}

async fn auth(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let token = &state.config.http_server.access_token;
    if token.is_empty() {
        return next.run(req).await;
    }
    match presented_token(req.headers(), req.uri()) {
        None => error_response(ApiError::Unauthorized, None),
        Some(t) if token.matches(&t) => next.run(req).await,
        Some(_) => error_response(ApiError::Forbidden, None),
    }
}

/// Reads a JSON body: 415 for another content type, 413 above the limit, 10001 for bad JSON.
async fn read_json(state: &AppState, req: Request) -> Result<Option<Value>, ApiError> {
    let limit = state.config.http_server.max_body_bytes;
    let content_type = req.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).map(str::to_owned);
    if req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok())
        .is_some_and(|n| n > limit)
    {
        return Err(ApiError::PayloadTooLarge(limit));
    }
    let bytes: Bytes = axum::body::to_bytes(req.into_body(), limit).await.map_err(|e| {
        let mut source: Option<&dyn std::error::Error> = Some(&e);
        while let Some(s) = source {
            if s.to_string().contains("length limit") {
                return ApiError::PayloadTooLarge(limit);
            }
            source = s.source();
        }
        ApiError::BadRequest(format!("cannot read the request body: {e}"))
    })?;
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    if let Some(ct) = content_type {
        let mime = ct.split(';').next().unwrap_or_default().trim().to_ascii_lowercase();
        if mime != "application/json" && !mime.ends_with("+json") {
            return Err(ApiError::UnsupportedMediaType(ct));
        }
    }
    serde_json::from_slice(&bytes)
        .map(Some)
        .map_err(|e| ApiError::BadRequest(format!("the request body is not valid JSON: {e}")))
}

/// A parsed request envelope.
struct Envelope {
    action: Option<String>,
    params: Params,
    echo: Option<Value>,
}

/// Splits a body into action, params and echo. At `POST /<action>` a body without `params` is
/// itself the params (minus `action`, `echo`, `self`).
fn envelope(state: &AppState, body: Option<Value>, at_root: bool) -> Result<Envelope, (ApiError, Option<Value>)> {
    let mut obj = match body {
        None => Map::new(),
        Some(Value::Object(m)) => m,
        Some(_) => {
            return Err((
                ApiError::BadRequest(
                    "the body must be a JSON object: {\"action\": …, \"params\": {…}, \"echo\": …}".into(),
                ),
                None,
            ));
        }
    };
    let echo = obj.remove("echo");
    let bad = |msg: &str| Err((ApiError::BadRequest(msg.to_owned()), echo.clone()));
    let action = match obj.remove("action") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s),
        Some(_) => return bad("`action` must be a string"),
    };
    if let Some(bot) = obj.remove("self") {
        let me = state.backend.me_cached().map(|m| m.wxid);
        let platform = bot.get("platform").and_then(Value::as_str);
        let user = bot.get("user_id").and_then(Value::as_str);
        let known = platform == Some("wechat") && (me.is_none() || user == me.as_deref());
        if !known {
            return Err((
                ApiError::UnknownSelf(format!(
                    "`self` {bot} is not this bot; use {{\"platform\": \"wechat\", \"user_id\": \"{}\"}}",
                    me.unwrap_or_default()
                )),
                echo,
            ));
        }
    }
    let params = match obj.remove("params") {
        None | Some(Value::Null) if at_root => Map::new(),
        None | Some(Value::Null) => obj,
        Some(Value::Object(m)) => m,
        Some(_) => return bad("`params` must be a JSON object"),
    };
    if at_root && action.is_none() {
        return bad("missing `action`: POST / takes {\"action\": \"<name>\", \"params\": {…}}");
    }
    Ok(Envelope { action, params: Params(params), echo })
}

async fn run(state: &AppState, action: &str, params: Params, echo: Option<Value>) -> Response {
    match actions::dispatch(state, action, &params).await {
        Ok(data) => ok_response(data, echo),
        Err(e) => error_response(e, echo),
    }
}

async fn root_post(State(state): State<AppState>, req: Request) -> Response {
    let body = match read_json(&state, req).await {
        Ok(b) => b,
        Err(e) => return error_response(e, None),
    };
    match envelope(&state, body, true) {
        Ok(env) => run(&state, env.action.as_deref().unwrap_or_default(), env.params, env.echo).await,
        Err((e, echo)) => error_response(e, echo),
    }
}

/// `GET /`: the forward WebSocket when it is an upgrade (auth already checked), else 405.
async fn root_get(
    State(state): State<AppState>,
    Query(query): Query<HashMap<String, String>>,
    upgrade: Result<axum::extract::WebSocketUpgrade, axum::extract::ws::rejection::WebSocketUpgradeRejection>,
) -> Response {
    let Ok(upgrade) = upgrade else {
        return error_response(
            ApiError::MethodNotAllowed(
                "POST OneBot 12 actions to / ({\"action\": …, \"params\": …}), or open a WebSocket here".into(),
            ),
            None,
        );
    };
    if !state.config.websocket.enabled {
        return error_response(
            ApiError::MethodNotAllowed("the forward WebSocket is off (websocket.enabled)".into()),
            None,
        );
    }
    let after = match query.get("last_event_id").map(|v| v.parse::<i64>()) {
        None => state.outbox.latest(),
        Some(Ok(n)) if n >= 0 => n,
        Some(_) => {
            return error_response(ApiError::BadParam("`last_event_id` must be an event id (a number)".into()), None);
        }
    };
    upgrade.on_upgrade(move |socket| crate::delivery::websocket::forward(state, socket, after))
}

fn unknown_path(action: &str) -> Response {
    let mut r = error_response(
        ApiError::UnsupportedAction(format!("no action {action:?} at /{action}; GET /openapi.json lists the actions")),
        None,
    );
    *r.status_mut() = StatusCode::NOT_FOUND;
    r
}

async fn action_post(State(state): State<AppState>, Path(action): Path<String>, req: Request) -> Response {
    if actions::spec(&action).is_none() {
        return unknown_path(&action);
    }
    let body = match read_json(&state, req).await {
        Ok(b) => b,
        Err(e) => return error_response(e, None),
    };
    match envelope(&state, body, false) {
        Ok(env) => {
            if let Some(named) = env.action.as_deref().filter(|a| *a != action) {
                return error_response(
                    ApiError::UnsupportedAction(format!(
                        "the body names action {named:?} but the path is /{action}; make them equal or omit `action`"
                    )),
                    env.echo,
                );
            }
            run(&state, &action, env.params, env.echo).await
        }
        Err((e, echo)) => error_response(e, echo),
    }
}

async fn action_get(
    State(state): State<AppState>,
    Path(action): Path<String>,
    Query(query): Query<Vec<(String, String)>>,
) -> Response {
    let Some(spec) = actions::spec(&action) else { return unknown_path(&action) };
    if !spec.get {
        return error_response(ApiError::MethodNotAllowed(format!("{action} changes state: use POST /{action}")), None);
    }
    let mut params = Map::new();
    let mut echo = None;
    for (k, v) in query {
        match k.as_str() {
            "access_token" => {}
            "echo" => echo = Some(Value::String(v)),
            _ => {
                params.insert(k, Value::String(v));
            }
        }
    }
    run(&state, &action, Params(params), echo).await
}

async fn chat_image(State(state): State<AppState>, Path((date, file)): Path<(String, String)>) -> Response {
    let path = match state.media.chat_image(&date, &file) {
        Ok(p) => p,
        Err(e) => return error_response(e, None),
    };
    match tokio::fs::read(&path).await {
        Ok(bytes) => {
            let mime = crate::media::sniff_image(&bytes).map(|(m, _)| m).unwrap_or("application/octet-stream");
            let mut r = Response::new(Body::from(bytes));
            r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(mime));
            r.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("private, max-age=86400"));
            r
        }
        Err(e) => error_response(ApiError::Filesystem(format!("cannot read chat image: {e}")), None),
    }
}

/// `GET /files/<file_id>`: a file stored with `upload_file`.
async fn stored_file(State(state): State<AppState>, Path(file_id): Path<String>) -> Response {
    if file_id.contains(['/', '\\', '.']) {
        return error_response(ApiError::NotFound(format!("no stored file {file_id:?}")), None);
    }
    let f = match crate::files::find(&state, &file_id).await {
        Ok(f) => f,
        Err(_) => return error_response(ApiError::NotFound(format!("no stored file {file_id:?}")), None),
    };
    match tokio::fs::read(&f.path).await {
        Ok(bytes) => {
            let mime = crate::media::sniff_image(&bytes).map(|(m, _)| m).unwrap_or("application/octet-stream");
            let mut r = Response::new(Body::from(bytes));
            r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(mime));
            if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{}\"", f.name.replace('"', ""))) {
                r.headers_mut().insert(header::CONTENT_DISPOSITION, v);
            }
            r
        }
        Err(e) => error_response(ApiError::Filesystem(format!("cannot read a stored file: {e}")), None),
    }
}

async fn fallback(method: Method, uri: axum::http::Uri) -> Response {
    let mut r = error_response(
        ApiError::UnsupportedAction(format!(
            "{method} {} is not an endpoint; GET /openapi.json lists them",
            uri.path()
        )),
        None,
    );
    *r.status_mut() = StatusCode::NOT_FOUND;
    r
}
