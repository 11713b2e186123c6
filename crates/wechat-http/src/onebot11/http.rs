//! The OneBot 11 HTTP API (`GET|POST /onebot/v11/<action>`) and forward WebSocket upgrades,
//! behind the same guard as every route. Bodies are JSON or `application/x-www-form-urlencoded`
//! (as go-cqhttp takes them); GET takes the query. HTTP status: 200 for an answered action,
//! 404 for an unknown one, 400 for a body that cannot be read, 406 for another content type,
//! 413 above `http_server.max_body_bytes`.

use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::{Path, Request, State, WebSocketUpgrade};
use axum::http::{Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value};

use super::actions::{Request as ActionRequest, answer, failure};
use crate::delivery::websocket::Role;
use crate::error::ApiError;
use crate::gateway::Gateway;

fn reply(status: StatusCode, body: Value) -> Response {
    (status, [(header::CONTENT_TYPE, "application/json")], body.to_string()).into_response()
}

fn refused(e: ApiError) -> Response {
    let status = match &e {
        ApiError::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
        ApiError::UnsupportedMediaType(_) => StatusCode::NOT_ACCEPTABLE,
        ApiError::SlowBody(_) => StatusCode::REQUEST_TIMEOUT,
        _ => StatusCode::BAD_REQUEST,
    };
    reply(status, failure(&e, None))
}

fn pairs_to_params(pairs: Vec<(String, String)>) -> Map<String, Value> {
    pairs.into_iter().map(|(k, v)| (k, Value::String(v))).collect()
}

/// `/onebot/v11/<action>`.
pub async fn action(State(gateway): State<Gateway>, Path(name): Path<String>, req: Request) -> Response {
    if !gateway.config.onebot11.enabled {
        return reply(
            StatusCode::NOT_FOUND,
            failure(&ApiError::NotFound("OneBot 11 is off (onebot11.enabled)".into()), None),
        );
    }
    let query = match crate::http::guard::query_pairs(req.uri().query().unwrap_or_default()) {
        Ok(q) => q,
        Err(e) => return refused(e),
    };
    let mut params = pairs_to_params(query.into_iter().filter(|(k, _)| k != "access_token").collect());
    match *req.method() {
        Method::GET | Method::HEAD => {}
        Method::POST => {
            let (ct, bytes) = match crate::http::read_body(&gateway, req).await {
                Ok(b) => b,
                Err(e) => return refused(e),
            };
            let mime = ct
                .as_deref()
                .unwrap_or("application/json")
                .split(';')
                .next()
                .unwrap_or_default()
                .trim()
                .to_ascii_lowercase();
            if !bytes.iter().all(u8::is_ascii_whitespace) {
                let body = match mime.as_str() {
                    "application/json" => match crate::http::json::parse(&bytes) {
                        Ok(Value::Object(m)) => m,
                        Ok(_) => {
                            return refused(ApiError::BadRequest(
                                "the JSON body must be an object of parameters".into(),
                            ));
                        }
                        Err(e) => {
                            return refused(ApiError::BadRequest(format!("the request body is not valid JSON: {e}")));
                        }
                    },
                    "application/x-www-form-urlencoded" => {
                        let text = String::from_utf8_lossy(&bytes);
                        match crate::http::guard::query_pairs(&text) {
                            Ok(p) => pairs_to_params(p),
                            Err(e) => return refused(e),
                        }
                    }
                    _ => return refused(ApiError::UnsupportedMediaType(mime)),
                };
                params.extend(body);
            }
        }
        _ => {
            return reply(
                StatusCode::METHOD_NOT_ALLOWED,
                failure(&ApiError::BadRequest("OneBot 11 actions take GET or POST".into()), None),
            );
        }
    }
    let body = answer(&gateway, ActionRequest { action: name, params, account: None }, None).await;
    let status =
        if body["retcode"] == onebot::v11::retcode::UNSUPPORTED { StatusCode::NOT_FOUND } else { StatusCode::OK };
    reply(status, body)
}

fn upgrade_or(
    gateway: Gateway,
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
    req: Request,
    role: Role,
) -> Response {
    if !gateway.config.onebot11.enabled {
        return reply(
            StatusCode::NOT_FOUND,
            failure(&ApiError::NotFound("OneBot 11 is off (onebot11.enabled)".into()), None),
        );
    }
    match upgrade {
        Ok(u) => crate::delivery::websocket::accept_forward_v11(gateway, u, req, role),
        Err(_) => reply(
            StatusCode::BAD_REQUEST,
            failure(
                &ApiError::BadRequest("this is a WebSocket endpoint: open it with GET and Upgrade: websocket".into()),
                None,
            ),
        ),
    }
}

/// `/onebot/v11/ws` (events and actions).
pub async fn websocket(
    State(gateway): State<Gateway>,
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
    req: Request,
) -> Response {
    upgrade_or(gateway, upgrade, req, Role::Universal)
}

/// `/onebot/v11/ws/api` and `/onebot/v11/ws/event`.
pub async fn websocket_role(
    State(gateway): State<Gateway>,
    Path(role): Path<String>,
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
    req: Request,
) -> Response {
    let role = match role.as_str() {
        "api" => Role::Api,
        "event" => Role::Event,
        other => {
            return reply(
                StatusCode::NOT_FOUND,
                failure(
                    &ApiError::NotFound(format!(
                        "no OneBot 11 WebSocket /onebot/v11/ws/{other}: use ws, ws/api or ws/event"
                    )),
                    None,
                ),
            );
        }
    };
    upgrade_or(gateway, upgrade, req, role)
}
