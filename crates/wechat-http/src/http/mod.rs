//! HTTP routes: actions three ways (`POST /<action>`, `GET /<action>?…` for GET-marked
//! actions, OneBot 12 `POST /`), the forward WebSocket (`GET /` with `Upgrade`),
//! `/chat_image/…`, `/files/<id>`, `/openapi.json` and `/docs`.
//!
//! Every route is behind [`guard`] (Host, browser, token, URI length). Every failure is a
//! OneBot envelope (`status`, `retcode`, `data`, `message`, `echo`); the HTTP status is 200
//! for a well-formed action, and 400/401/403/404/405/408/413/414/415 where HTTP says so.

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::rejection::PathRejection;
use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::{Path, Request, State, WebSocketUpgrade};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::{Html, Response};
use axum::routing::any;
use serde_json::{Map, Value};

use crate::actions::{self, Params};
use crate::error::ApiError;
use crate::gateway::Gateway;

pub mod envelope;
pub mod guard;
pub mod json;
mod openapi;
pub mod respond;
pub mod server;
pub mod signed;

pub use respond::{Data, error_response, ok_response};

/// The router, every route behind the guard.
pub fn router(gateway: Gateway) -> Router {
    Router::new()
        .route("/", any(root))
        .route("/chat_image/{date}/{file}", any(chat_image))
        .route("/chat_image/{account}/{date}/{file}", any(account_chat_image))
        .route("/files/{file_id}", any(stored_file))
        .route("/onebot/v11/ws", any(crate::onebot11::http::websocket))
        .route("/onebot/v11/ws/{role}", any(crate::onebot11::http::websocket_role))
        .route("/onebot/v11/{action}", any(crate::onebot11::http::action))
        .route("/openapi.json", any(openapi_json))
        .route("/docs", any(docs))
        .merge(crate::console::routes())
        .route("/{action}", any(action))
        .fallback(fallback)
        .layer(axum::middleware::from_fn_with_state(gateway.clone(), guard::guard))
        .with_state(gateway)
}

fn not_allowed(allow: &'static str, message: String) -> Response {
    error_response(ApiError::MethodNotAllowed { message, allow }, None)
}

/// Only GET (and HEAD) here.
fn get_only(method: &Method, what: &str) -> Option<Response> {
    (method != Method::GET && method != Method::HEAD).then(|| not_allowed("GET", format!("{what} is read with GET")))
}

/// Reads a body within the limits: 413 above `http_server.max_body_bytes`, 408 when it does
/// not arrive within `http_server.request_timeout`. Returns the content type and the bytes.
pub(crate) async fn read_body(gateway: &Gateway, req: Request) -> Result<(Option<String>, Bytes), ApiError> {
    let limit = gateway.config.http_server.max_body_bytes;
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
    let timeout = gateway.config.http_server.request_timeout;
    let read = axum::body::to_bytes(req.into_body(), limit);
    let bytes: Bytes = match tokio::time::timeout(std::time::Duration::from_secs(timeout), read).await {
        Err(_) => return Err(ApiError::SlowBody(timeout)),
        Ok(Ok(b)) => b,
        Ok(Err(e)) => {
            let mut source: Option<&dyn std::error::Error> = Some(&e);
            while let Some(s) = source {
                if s.to_string().contains("length limit") {
                    return Err(ApiError::PayloadTooLarge(limit));
                }
                source = s.source();
            }
            return Err(ApiError::BadRequest(format!("cannot read the request body: {e}")));
        }
    };
    Ok((content_type, bytes))
}

/// [`read_json`] for the console's own routes.
pub(crate) async fn read_json_body(gateway: &Gateway, req: Request) -> Result<Option<Value>, ApiError> {
    read_json(gateway, req).await
}

/// Reads a JSON body: 415 for another content type, 413 above the limit, 408 when it does not
/// arrive in time, 10001 for bad JSON (duplicate keys included).
async fn read_json(gateway: &Gateway, req: Request) -> Result<Option<Value>, ApiError> {
    let (content_type, bytes) = read_body(gateway, req).await?;
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    if let Some(ct) = content_type {
        let mime = ct.split(';').next().unwrap_or_default().trim().to_ascii_lowercase();
        if mime != "application/json" && !mime.ends_with("+json") {
            return Err(ApiError::UnsupportedMediaType(ct));
        }
    }
    json::parse(&bytes).map(Some).map_err(|e| ApiError::BadRequest(format!("the request body is not valid JSON: {e}")))
}

async fn run(gateway: &Gateway, action: &str, call: envelope::Call) -> Response {
    let echo = call.echo.clone();
    match actions::dispatch(gateway, action, call).await {
        Ok(data) => ok_response(data, echo),
        Err(e) => error_response(e, echo),
    }
}

/// `/`: OneBot 12 actions (POST) or the forward WebSocket (GET with `Upgrade`).
async fn root(
    State(gateway): State<Gateway>,
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
    req: Request,
) -> Response {
    match *req.method() {
        Method::POST => {
            let forwarded_by = forwarded_by(&req);
            let body = match read_json(&gateway, req).await {
                Ok(b) => b,
                Err(e) => return error_response(e, None),
            };
            match envelope::parse(body, false) {
                Ok(call) => match call.action.clone() {
                    Some(a) if forwarded_by.is_some() => run(&gateway, &a, envelope::Call { forwarded_by, ..call }).await,
                    Some(a) => run(&gateway, &a, call).await,
                    None => error_response(
                        ApiError::BadRequest("missing `action`: POST / takes {\"action\": \"<name>\", \"params\": {…}}".into()),
                        call.echo,
                    ),
                },
                Err((e, echo)) => error_response(e, echo),
            }
        }
        Method::GET | Method::HEAD => match upgrade {
            Ok(upgrade) => crate::delivery::websocket::accept_forward(gateway, upgrade, req),
            // Plain GET is not an operation here; GET with Upgrade opens the WebSocket.
            Err(_) => not_allowed(
                "POST",
                "POST OneBot 12 actions to / ({\"action\": …, \"params\": …}), or open a WebSocket here (GET with Upgrade: websocket)".into(),
            ),
        },
        _ => not_allowed("POST", "POST OneBot 12 actions to /, or open a WebSocket with GET + Upgrade".into()),
    }
}

/// The fleet node that forwarded this request, if any.
fn forwarded_by(req: &Request) -> Option<String> {
    req.headers().get(crate::fleet::FORWARDED_HEADER).and_then(|v| v.to_str().ok()).map(str::to_owned)
}

fn unknown_path(action: &str) -> Response {
    let mut r = error_response(
        ApiError::UnsupportedAction(format!("no action {action:?} at /{action}; GET /openapi.json lists the actions")),
        None,
    );
    *r.status_mut() = StatusCode::NOT_FOUND;
    r
}

fn bad_path() -> Response {
    error_response(ApiError::BadEncoding("the path has a malformed percent-escape or is not UTF-8".into()), None)
}

/// `/<action>`: POST with a JSON body, or GET with query parameters for GET-marked actions.
async fn action(State(gateway): State<Gateway>, path: Result<Path<String>, PathRejection>, req: Request) -> Response {
    let Ok(Path(action)) = path else { return bad_path() };
    let Some(spec) = actions::spec(&action) else { return unknown_path(&action) };
    let allow = if spec.get { "GET, POST" } else { "POST" };
    match *req.method() {
        Method::POST => {
            let body = match read_json(&gateway, req).await {
                Ok(b) => b,
                Err(e) => return error_response(e, None),
            };
            match envelope::parse(body, true) {
                Ok(call) => {
                    if let Some(named) = call.action.as_deref().filter(|a| *a != action) {
                        return error_response(
                            ApiError::UnsupportedAction(format!(
                                "the body names action {named:?} but the path is /{action}; make them equal or omit `action`"
                            )),
                            call.echo,
                        );
                    }
                    run(&gateway, &action, call).await
                }
                Err((e, echo)) => error_response(e, echo),
            }
        }
        Method::GET | Method::HEAD if spec.get => {
            let pairs = match guard::query_pairs(req.uri().query().unwrap_or_default()) {
                Ok(p) => p,
                Err(e) => return error_response(e, None),
            };
            let mut params = Map::new();
            let mut echo = None;
            let mut selector = None;
            for (k, v) in pairs {
                match k.as_str() {
                    "access_token" => {}
                    "echo" => echo = Some(Value::String(v)),
                    "self_id" => selector = Some(v),
                    _ => {
                        params.insert(k, Value::String(v));
                    }
                }
            }
            let call = envelope::Call { action: None, params: Params(params), echo, selector, forwarded_by: None };
            run(&gateway, &action, call).await
        }
        Method::GET | Method::HEAD => not_allowed("POST", format!("{action} changes state: use POST /{action}")),
        _ => not_allowed(allow, format!("/{action} takes {allow}")),
    }
}

/// A file read for serving, with its sniffed type.
async fn serve_file(path: std::path::PathBuf, max: u64, disposition: Option<String>) -> Response {
    match crate::fsx::read_regular_async(path, max).await {
        Ok(bytes) => {
            let mime = crate::account::media::sniff_image(&bytes).map(|(m, _)| m).unwrap_or("application/octet-stream");
            let mut r = Response::new(Body::from(bytes));
            r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(mime));
            r.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("private, max-age=86400"));
            r.headers_mut().insert("x-content-type-options", HeaderValue::from_static("nosniff"));
            if let Some(d) = disposition.and_then(|d| HeaderValue::from_str(&d).ok()) {
                r.headers_mut().insert(header::CONTENT_DISPOSITION, d);
            }
            r
        }
        Err(e) => error_response(ApiError::Filesystem(e.to_string()), None),
    }
}

async fn chat_image_of(gateway: &Gateway, prefix: &str, date: &str, file: &str) -> Response {
    let not_found = || error_response(ApiError::NotFound(format!("no chat image {prefix}{date}/{file}")), None);
    let Some(account) = gateway.accounts.iter().find(|a| a.media.url_prefix() == prefix) else { return not_found() };
    match account.media.chat_image(date, file) {
        Ok(p) => serve_file(p, 256 * 1024 * 1024, None).await,
        Err(e) => error_response(e, None),
    }
}

async fn chat_image(
    State(gateway): State<Gateway>,
    method: Method,
    path: Result<Path<(String, String)>, PathRejection>,
) -> Response {
    if let Some(r) = get_only(&method, "a chat image") {
        return r;
    }
    let Ok(Path((date, file))) = path else { return bad_path() };
    chat_image_of(&gateway, "", &date, &file).await
}

async fn account_chat_image(
    State(gateway): State<Gateway>,
    method: Method,
    path: Result<Path<(String, String, String)>, PathRejection>,
) -> Response {
    if let Some(r) = get_only(&method, "a chat image") {
        return r;
    }
    let Ok(Path((account, date, file))) = path else { return bad_path() };
    chat_image_of(&gateway, &format!("{account}/"), &date, &file).await
}

/// `GET /files/<file_id>`: a file stored with `upload_file`.
async fn stored_file(
    State(gateway): State<Gateway>,
    method: Method,
    path: Result<Path<String>, PathRejection>,
) -> Response {
    if let Some(r) = get_only(&method, "a stored file") {
        return r;
    }
    let Ok(Path(file_id)) = path else { return bad_path() };
    let not_found = || error_response(ApiError::NotFound(format!("no stored file {file_id:?}")), None);
    if file_id.contains(['/', '\\', '.']) || file_id.is_empty() {
        return not_found();
    }
    for account in &gateway.accounts {
        let received = crate::account::received::parse_file_id(&account.name, &file_id).is_some();
        let found = if received {
            match crate::files::find(account, &file_id).await {
                Ok(f) => Some(f),
                Err(e) => return error_response(e, None),
            }
        } else {
            account.store.files(&account.name).get(&file_id).await.ok().flatten()
        };
        if let Some(f) = found {
            let name = f.name.replace(['"', '\\'], "");
            let disposition = if name.is_ascii() {
                format!("attachment; filename=\"{name}\"")
            } else {
                let encoded: String = name.bytes().map(|b| format!("%{b:02X}")).collect();
                format!("attachment; filename*=UTF-8''{encoded}")
            };
            let media = &gateway.config.media;
            return serve_file(f.path, media.max_upload_bytes.max(media.max_download_bytes), Some(disposition)).await;
        }
    }
    not_found()
}

async fn openapi_json(method: Method) -> Response {
    if let Some(r) = get_only(&method, "the API document") {
        return r;
    }
    axum::response::IntoResponse::into_response(axum::Json(openapi::document()))
}

async fn docs(method: Method) -> Response {
    if let Some(r) = get_only(&method, "the API docs page") {
        return r;
    }
    axum::response::IntoResponse::into_response(Html(include_str!("docs.html")))
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
