//! The web console at `/console`: a single page (HTML, JS and CSS embedded in the binary, no
//! other host contacted) for the people who run the accounts — status and login QR, contacts,
//! categories, broadcasts with live progress, jobs, and a live event tail.
//!
//! Sign-in exchanges the access token for a session cookie ([`session`]); the page then calls
//! the ordinary actions (`POST /<action>`, the same code bots use) and the few read-only
//! views below, all same-origin and behind the same guard as every route. Requests that
//! authenticate by the cookie and change something must also carry `X-WeChat-Console: 1`,
//! which a cross-site form cannot add.
//!
//! | route | what |
//! |---|---|
//! | `GET /console`, `/console/app.js`, `/console/app.css` | the page (no token needed) |
//! | `GET /console/session` | `{signed_in, expires_at}` |
//! | `POST /console/session` `{token}` | signs in: sets the cookie |
//! | `DELETE /console/session` | signs out |
//! | `GET /console/api/overview` | accounts, delivery channels, send queues, warnings |
//! | `GET /console/api/qr?account=` | the login QR code (SVG) of a logged-out account |
//! | `GET /console/api/contacts?account=` | friends, chat groups, official accounts + categories |
//! | `GET /console/api/jobs?account=` | recent broadcast jobs with counts |
//! | `GET /console/api/events?after=&limit=` | events after a sequence (the live tail) |

pub mod qr;
pub mod session;

use std::collections::HashMap;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, header};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use serde_json::{Value, json};
use wcf::message::{SPECIAL_ACCOUNTS, is_official_account, is_room_id};

use crate::account::Account;
use crate::account::contacts::display;
use crate::error::{ApiError, ApiResult};
use crate::gateway::Gateway;
use crate::http::{error_response, ok_response};
use crate::send::plan::Item;

/// The header a cookie-authenticated request that changes state must carry.
pub const CSRF_HEADER: &str = "x-wechat-console";

const INDEX: &str = include_str!("assets/index.html");
const APP_JS: &str = include_str!("assets/app.js");
const APP_CSS: &str = include_str!("assets/app.css");

/// Paths served without a token or session (the page itself and signing in).
pub fn is_public(path: &str) -> bool {
    matches!(path, "/console" | "/console/" | "/console/app.js" | "/console/app.css" | "/console/session")
}

/// The console's routes (mounted under the gateway's guard).
pub fn routes() -> Router<Gateway> {
    Router::new()
        .route("/console", any(page))
        .route("/console/", any(page))
        .route("/console/app.js", any(asset))
        .route("/console/app.css", any(asset))
        .route("/console/session", any(session_route))
        .route("/console/api/{view}", any(view))
}

fn disabled() -> Response {
    error_response(ApiError::NotFound("the console is turned off (console.enabled: false)".into()), None)
}

fn get_only(method: &Method) -> Option<Response> {
    (method != Method::GET && method != Method::HEAD).then(|| {
        error_response(
            ApiError::MethodNotAllowed { message: "this console view is read with GET".into(), allow: "GET" },
            None,
        )
    })
}

/// Headers every console page carries: a strict content policy (only this gateway, or
/// WeChat's avatar hosts when `console.remote_avatars` is on), no framing, no sniffing.
fn secure(mut r: Response, gateway: &Gateway, content_type: &'static str) -> Response {
    let img = if gateway.config.console.remote_avatars { "'self' data: https:" } else { "'self' data:" };
    let csp = format!(
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src {img}; connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    );
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    if let Ok(v) = HeaderValue::from_str(&csp) {
        h.insert(header::CONTENT_SECURITY_POLICY, v);
    }
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert("x-content-type-options", HeaderValue::from_static("nosniff"));
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    r
}

async fn page(State(gateway): State<Gateway>, method: Method) -> Response {
    if !gateway.config.console.enabled {
        return disabled();
    }
    if let Some(r) = get_only(&method) {
        return r;
    }
    secure(INDEX.into_response(), &gateway, "text/html; charset=utf-8")
}

async fn asset(State(gateway): State<Gateway>, method: Method, uri: axum::http::Uri) -> Response {
    if !gateway.config.console.enabled {
        return disabled();
    }
    if let Some(r) = get_only(&method) {
        return r;
    }
    if uri.path().ends_with(".js") {
        secure(APP_JS.into_response(), &gateway, "text/javascript; charset=utf-8")
    } else {
        secure(APP_CSS.into_response(), &gateway, "text/css; charset=utf-8")
    }
}

fn with_cookie(mut r: Response, cookie: String) -> Response {
    if let Ok(v) = HeaderValue::from_str(&cookie) {
        r.headers_mut().insert(header::SET_COOKIE, v);
    }
    r
}

/// `GET` (am I signed in), `POST {token}` (sign in), `DELETE` (sign out).
async fn session_route(State(gateway): State<Gateway>, req: Request) -> Response {
    if !gateway.config.console.enabled {
        return disabled();
    }
    let sessions = &gateway.console_sessions;
    let current = session::from_headers(req.headers());
    match *req.method() {
        Method::GET | Method::HEAD => {
            let expires = current.as_deref().and_then(|id| sessions.expires(id));
            ok_response(json!({ "signed_in": expires.is_some(), "expires_at": expires }).into(), None)
        }
        Method::POST => {
            if sessions.locked_out() {
                return error_response(ApiError::TooManySignIns(session::MAX_FAILURES), None);
            }
            let body = match crate::http::read_json_body(&gateway, req).await {
                Ok(b) => b.unwrap_or(Value::Null),
                Err(e) => return error_response(e, None),
            };
            let Some(presented) = body.get("token").and_then(Value::as_str) else {
                return error_response(
                    ApiError::BadParam(
                        "sign in with {\"token\": \"<the access token>\"} (http_server.access_token)".into(),
                    ),
                    None,
                );
            };
            let token = &gateway.config.http_server.access_token;
            if !token.is_empty() && !token.matches(presented) {
                if !sessions.failed_attempt() {
                    tracing::warn!("console sign-ins are failing repeatedly; refusing them for a minute");
                }
                return error_response(ApiError::Forbidden, None);
            }
            let hours = gateway.config.console.session_hours;
            let (id, expires) = sessions.create(hours);
            tracing::info!("console signed in");
            with_cookie(
                ok_response(json!({ "signed_in": true, "expires_at": expires }).into(), None),
                session::set_cookie(&id, hours),
            )
        }
        Method::DELETE => {
            if let Some(id) = current {
                sessions.remove(&id);
            }
            with_cookie(ok_response(json!({ "signed_in": false }).into(), None), session::clear_cookie())
        }
        _ => error_response(
            ApiError::MethodNotAllowed {
                message: "/console/session takes GET (status), POST {token} (sign in) or DELETE (sign out)".into(),
                allow: "GET, POST, DELETE",
            },
            None,
        ),
    }
}

async fn view(State(gateway): State<Gateway>, req: Request) -> Response {
    if !gateway.config.console.enabled {
        return disabled();
    }
    if let Some(r) = get_only(req.method()) {
        return r;
    }
    let query: HashMap<String, String> = match crate::http::guard::query_pairs(req.uri().query().unwrap_or_default()) {
        Ok(q) => q.into_iter().collect(),
        Err(e) => return error_response(e, None),
    };
    let name = req.uri().path().trim_start_matches("/console/api/").to_owned();
    let answer = match name.as_str() {
        "overview" => overview(&gateway).await,
        "qr" => return login_qr(&gateway, &query).await,
        "contacts" => match account(&gateway, &query) {
            Ok(a) => contacts(a).await,
            Err(e) => Err(e),
        },
        "jobs" => match account(&gateway, &query) {
            Ok(a) => jobs(a).await,
            Err(e) => Err(e),
        },
        "events" => events(&gateway, &query).await,
        other => Err(ApiError::NotFound(format!(
            "no console view {other:?}; the views are overview, qr, contacts, jobs and events"
        ))),
    };
    match answer {
        Ok(v) => ok_response(v.into(), None),
        Err(e) => error_response(e, None),
    }
}

fn account<'a>(gateway: &'a Gateway, query: &HashMap<String, String>) -> ApiResult<&'a std::sync::Arc<Account>> {
    gateway.route(query.get("account").map(String::as_str).filter(|s| !s.is_empty()))
}

/// Accounts, delivery channels with their backlog, send queues and warnings.
async fn overview(gateway: &Gateway) -> ApiResult<Value> {
    let accounts: Vec<Value> = gateway
        .accounts
        .iter()
        .map(|a| {
            let mut v = json!({
                "name": a.name,
                "wxid": a.backend.known_wxid(),
                "nickname": a.backend.me_cached().map(|m| m.name).unwrap_or_default(),
                "state": a.backend.state_name(),
                "send_queue": a.queue.depth(),
            });
            if let Some(fleet) = &gateway.fleet {
                // Driven elsewhere: as its node last reported it.
                let lease = fleet.account_lease(&a.name);
                if !a.driving() {
                    v["state"] = json!(lease.as_ref().map_or("unheld", |l| l.state.as_str()));
                }
                v["node"] = json!(lease.map(|l| l.holder));
                v["here"] = json!(a.driving());
            }
            v
        })
        .collect();
    let latest = gateway.outbox.latest();
    let cursors = gateway.outbox.cursors().await.unwrap_or_default();
    let channels: Vec<Value> = gateway
        .channels
        .all()
        .iter()
        .map(|c| {
            let mut v = c.to_json();
            let backlog = cursors.get(&c.channel).map(|at| (latest - at).max(0));
            v["backlog"] = json!(backlog);
            v
        })
        .collect();
    let mut channels = channels;
    if gateway.fleet.is_some() {
        for c in &mut channels {
            let name = c["channel"].as_str().unwrap_or_default().to_owned();
            c["here"] = json!(gateway.holds_channel(&name));
        }
    }
    Ok(json!({
        "fleet": gateway.fleet.as_ref().map(|f| f.status()),
        "accounts": accounts,
        "channels": channels,
        "latest_event": latest,
        "store": if gateway.store.healthy() { "ok" } else { "failing" },
        "warnings": gateway.current_warnings(),
        "websocket_clients": gateway.websocket_clients.load(std::sync::atomic::Ordering::SeqCst),
    }))
}

/// The login QR code of a logged-out account, as SVG (`REFRESH_QRCODE` gives the URL).
async fn login_qr(gateway: &Gateway, query: &HashMap<String, String>) -> Response {
    let a = match account(gateway, query) {
        Ok(a) => a,
        Err(e) => return error_response(e, None),
    };
    if let Some(fleet) = &gateway.fleet
        && !a.driving()
    {
        let node = fleet.account_lease(&a.name).map(|l| l.holder).unwrap_or_else(|| "no node".into());
        return error_response(
            ApiError::BackendUnavailable(format!(
                "account {} is driven by {node}; open the console of that node for its login QR code",
                a.name
            )),
            None,
        );
    }
    if a.backend.online() {
        return error_response(
            ApiError::Logic(format!("account {} is logged in; there is no QR code to scan", a.name)),
            None,
        );
    }
    let url = match a.backend.client.login_qrcode().await {
        Ok(url) if !url.is_empty() => url,
        Ok(_) => {
            return error_response(ApiError::Logic("WeChat gave no login QR code (already logged in?)".into()), None);
        }
        Err(e) => {
            return error_response(ApiError::BackendUnavailable(format!("cannot get the login QR code: {e}")), None);
        }
    };
    let Some(svg) = qr::svg(&url) else {
        return error_response(
            ApiError::Internal(format!("the login URL does not fit a QR code ({} bytes)", url.len())),
            None,
        );
    };
    let mut r = secure(svg.into_response(), gateway, "image/svg+xml");
    r.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

/// Friends, chat groups and official accounts, each with the categories it is in.
async fn contacts(a: &Account) -> ApiResult<Value> {
    let all = a.contacts.all().await?;
    let me = a.backend.known_wxid();
    let cats = a.store.categories(&a.name);
    let mut member_of: HashMap<String, Vec<Value>> = HashMap::new();
    for c in cats.list().await? {
        for m in cats.members(&c.id).await? {
            member_of.entry(m.id).or_default().push(json!({ "id": c.id, "name": c.name }));
        }
    }
    let rows: Vec<Value> = all
        .iter()
        .filter(|c| c.wxid != me && !SPECIAL_ACCOUNTS.contains(&c.wxid.as_str()))
        .map(|c| {
            let kind = if is_room_id(&c.wxid) {
                "group_chat"
            } else if is_official_account(&c.wxid) {
                "official"
            } else {
                "user"
            };
            let avatar = if a.settings.console.remote_avatars { a.contacts.avatar(&c.wxid) } else { String::new() };
            json!({
                "id": c.wxid,
                "type": kind,
                "nickname": c.name,
                "remark": c.remark,
                "display": display(c),
                "avatar": avatar,
                "categories": member_of.get(&c.wxid).cloned().unwrap_or_default(),
            })
        })
        .collect();
    Ok(Value::Array(rows))
}

/// The first text of a staged message (as stored with its job), for the jobs list.
fn first_text(items: &str) -> String {
    let items: Vec<Item> = serde_json::from_str(items).unwrap_or_default();
    items.into_iter().find_map(|i| if let Item::Text(t) = i { Some(t) } else { None }).unwrap_or_default()
}

/// The kinds of a staged message's items (`text`, `image`, `file`, …), each once, in order.
fn item_kinds(items: &str) -> Vec<String> {
    let items: Vec<Value> = serde_json::from_str(items).unwrap_or_default();
    let mut kinds: Vec<String> = Vec::new();
    for kind in items.iter().filter_map(|i| i.get("t").and_then(Value::as_str)) {
        if !kinds.iter().any(|k| k == kind) {
            kinds.push(kind.to_owned());
        }
    }
    kinds
}

/// Recent broadcast jobs with their counts, newest first.
async fn jobs(a: &Account) -> ApiResult<Value> {
    let mut out = Vec::new();
    for head in a.store.jobs().recent(&a.name, 50).await? {
        let mut status = crate::send::jobs::status(a, &head.id).await?;
        let preview = first_text(&head.items);
        status["text"] = json!(preview.chars().take(80).collect::<String>());
        status["kinds"] = json!(item_kinds(&head.items));
        out.push(status);
    }
    Ok(Value::Array(out))
}

/// A line of the event tail: what happened, where, who, and the text.
fn event_line(seq: i64, account: Option<&str>, e: &Value) -> Value {
    let s = |k: &str| e.get(k).and_then(Value::as_str).unwrap_or_default().to_owned();
    let text = match e.get("alt_message").and_then(Value::as_str) {
        Some(t) => t.to_owned(),
        None => e
            .get("message")
            .and_then(Value::as_array)
            .map(|segs| {
                segs.iter()
                    .filter_map(|seg| seg.get("data").and_then(|d| d.get("text")).and_then(Value::as_str))
                    .collect::<String>()
            })
            .unwrap_or_default(),
    };
    json!({
        "seq": seq,
        "time": e.get("time"),
        "type": s("type"),
        "detail_type": s("detail_type"),
        "account": account,
        "sender": s("user_id"),
        "group": s("group_id"),
        "text": text.chars().take(500).collect::<String>(),
    })
}

/// Events after `after` (default: the last 50), at most `limit` (≤ 200).
async fn events(gateway: &Gateway, query: &HashMap<String, String>) -> ApiResult<Value> {
    let num = |k: &str| -> ApiResult<Option<i64>> {
        query
            .get(k)
            .filter(|v| !v.is_empty())
            .map(|v| v.parse::<i64>().map_err(|_| ApiError::BadParam(format!("{k} must be a whole number, not {v:?}"))))
            .transpose()
    };
    let latest = gateway.outbox.latest();
    let limit = num("limit")?.unwrap_or(100).clamp(1, 200) as usize;
    let after = num("after")?.unwrap_or(latest - 50).max(0);
    let batch = gateway.outbox.after(after, limit, &Default::default()).await?;
    let lines: Vec<Value> = batch.events.iter().map(|e| event_line(e.seq, e.account.as_deref(), &e.value())).collect();
    Ok(json!({ "events": lines, "upto": batch.upto.max(after), "latest": latest }))
}

/// Refuses a cookie-authenticated request that changes state without [`CSRF_HEADER`].
pub fn csrf_ok(method: &Method, headers: &axum::http::HeaderMap) -> bool {
    matches!(*method, Method::GET | Method::HEAD) || headers.get(CSRF_HEADER).is_some_and(|v| v.as_bytes() == b"1")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_lines_carry_sender_and_text() {
        let e = json!({"type": "message", "detail_type": "group", "user_id": "wxid_a", "group_id": "1@chatroom",
                       "message": [{"type": "text", "data": {"text": "hi "}}, {"type": "mention", "data": {"user_id": "x"}},
                                   {"type": "text", "data": {"text": "there"}}]});
        let line = event_line(7, Some("default"), &e);
        assert_eq!(line["text"], "hi there");
        assert_eq!(line["sender"], "wxid_a");
        assert_eq!(line["seq"], 7);
        let e = json!({"type": "message", "alt_message": "[图片]", "message": []});
        assert_eq!(event_line(1, None, &e)["text"], "[图片]");
    }

    #[test]
    fn first_text_of_staged_items() {
        let items = serde_json::to_string(&[Item::Image("/x.png".into()), Item::Text("weekly news".into())]).unwrap();
        assert_eq!(first_text(&items), "weekly news");
        assert_eq!(first_text("not json"), "");
        assert_eq!(item_kinds(&items), ["image", "text"]);
    }

    #[test]
    fn only_the_page_and_sign_in_are_public() {
        assert!(is_public("/console") && is_public("/console/app.js") && is_public("/console/session"));
        assert!(!is_public("/console/api/overview") && !is_public("/console/api/qr"));
    }
}
