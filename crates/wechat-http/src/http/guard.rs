//! What every request passes before any handler runs, WebSocket upgrades included:
//!
//! 1. the request line is at most [`MAX_URI_BYTES`] (414 otherwise);
//! 2. DNS rebinding: `Host` must be a loopback name or address, the listen address, or listed
//!    in `http_server.allowed_hosts` (403);
//! 3. browsers: a request with `Sec-Fetch-Site: cross-site` or `same-site`, or with an
//!    `Origin` that is neither this gateway's own nor listed in `http_server.allowed_origins`,
//!    is refused whatever its token (403) — a web page the owner opens must not drive WeChat;
//! 4. the token: `Authorization: Bearer <token>` (scheme in any case; `Token <token>` and a
//!    bare token are accepted too) or `?access_token=<token>`. Missing → 401, wrong → 403,
//!    two `Authorization` headers or a header and a different query token → 400. A signed
//!    media link ([`super::signed`]) opens its one file without the token. A console session
//!    cookie ([`crate::console::session`]) stands in for the token when none is presented;
//!    with it, anything but GET must carry `X-WeChat-Console: 1`.
//!
//! Bot clients (curl, nonebot2, the official clients) send neither `Origin` nor
//! `Sec-Fetch-Site` and are unaffected by 3.

use std::net::IpAddr;

use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::error::ApiError;
use crate::gateway::Gateway;

/// Longest request target accepted.
pub const MAX_URI_BYTES: usize = 8 * 1024;

/// Paths served without a token (still behind the Host and browser checks).
fn is_public(path: &str) -> bool {
    matches!(path, "/docs" | "/openapi.json") || crate::console::is_public(path)
}

/// A malformed percent-escape, or bytes that are not UTF-8.
#[derive(Debug, PartialEq, Eq)]
pub struct BadEncoding;

/// Decodes `%XX` escapes (and `+` as space in queries) strictly: a malformed escape or bytes
/// that are not UTF-8 are an error.
pub fn percent_decode(s: &str, plus_is_space: bool) -> Result<String, BadEncoding> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' => {
                let hex = |c: u8| (c as char).to_digit(16);
                let (Some(h), Some(l)) = (b.get(i + 1).and_then(|c| hex(*c)), b.get(i + 2).and_then(|c| hex(*c)))
                else {
                    return Err(BadEncoding);
                };
                out.push((h * 16 + l) as u8);
                i += 3;
            }
            b'+' if plus_is_space => {
                out.push(b' ');
                i += 1;
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8(out).map_err(|_| BadEncoding)
}

/// The `key=value` pairs of a query string, strictly decoded.
pub fn query_pairs(query: &str) -> Result<Vec<(String, String)>, ApiError> {
    let bad = || {
        ApiError::BadEncoding(
            "the query string has a malformed percent-escape or is not UTF-8; encode parameters as UTF-8 with %XX escapes".into(),
        )
    };
    query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            Ok((percent_decode(k, true).map_err(|_| bad())?, percent_decode(v, true).map_err(|_| bad())?))
        })
        .collect()
}

/// The host part of a `Host` value (`name`, `1.2.3.4`, `::1`), lower-case.
fn host_only(host: &str) -> String {
    let h = host.trim();
    let h = if let Some(rest) = h.strip_prefix('[') {
        rest.split(']').next().unwrap_or_default()
    } else if h.matches(':').count() == 1 {
        h.split(':').next().unwrap_or_default()
    } else {
        h
    };
    h.to_ascii_lowercase()
}

fn host_allowed(gateway: &Gateway, host: &str) -> bool {
    let name = host_only(host);
    if name == "localhost" || name.ends_with(".localhost") {
        return true;
    }
    if let Ok(ip) = name.parse::<IpAddr>() {
        if ip.is_loopback() {
            return true;
        }
        if let Ok(listen) = gateway.config.listen_addr()
            && listen.ip() == ip
        {
            return true;
        }
    }
    // A fleet's other nodes forward to this node's own address.
    if let Some(node) = gateway.config.fleet.node_address.split("://").nth(1) {
        let node = node.trim_end_matches('/').to_ascii_lowercase();
        if host_only(&node) == name {
            return true;
        }
    }
    gateway.config.http_server.allowed_hosts.iter().any(|a| {
        let a = a.trim().to_ascii_lowercase();
        a == name || a == host.trim().to_ascii_lowercase()
    })
}

fn origin_listed(gateway: &Gateway, origin: &str) -> bool {
    let o = origin.trim_end_matches('/').to_ascii_lowercase();
    gateway.config.http_server.allowed_origins.iter().any(|a| a.trim_end_matches('/').to_ascii_lowercase() == o)
}

/// Why a browser request is refused, if it is.
fn browser_refusal(gateway: &Gateway, headers: &HeaderMap) -> Option<ApiError> {
    let origin = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok());
    if let Some(o) = origin
        && origin_listed(gateway, o)
    {
        return None;
    }
    let site = headers.get("sec-fetch-site").and_then(|v| v.to_str().ok()).map(str::to_ascii_lowercase);
    if let Some(site) = site.as_deref().filter(|s| *s == "cross-site" || *s == "same-site") {
        return Some(ApiError::BrowserRefused(format!(
            "browser requests from other sites are refused (Sec-Fetch-Site: {site}): a web page must not drive your WeChat account. If the page is yours, list its origin in http_server.allowed_origins"
        )));
    }
    let own =
        headers.get(header::HOST).and_then(|v| v.to_str().ok()).map(|h| format!("http://{}", h.to_ascii_lowercase()));
    match origin {
        Some(o) if Some(o.trim_end_matches('/').to_ascii_lowercase()) != own => {
            Some(ApiError::BrowserRefused(format!(
                "requests from the origin {o:?} are refused: only this gateway's own pages may call it from a browser. If {o} is yours, list it in http_server.allowed_origins"
            )))
        }
        _ => None,
    }
}

/// The token presented, or why the presentation is malformed.
fn presented_token(headers: &HeaderMap, query: &[(String, String)]) -> Result<Option<String>, ApiError> {
    let mut auth = headers.get_all(header::AUTHORIZATION).iter();
    let header_token = match (auth.next(), auth.next()) {
        (None, _) => None,
        (Some(_), Some(_)) => {
            return Err(ApiError::BadAuthorization(
                "two Authorization headers were sent; send exactly one: Authorization: Bearer <token>".into(),
            ));
        }
        (Some(v), None) => {
            let v =
                v.to_str().map_err(|_| ApiError::BadAuthorization("the Authorization header is not text".into()))?;
            let v = v.trim();
            let token = match v.split_once(' ') {
                Some((scheme, t)) if scheme.eq_ignore_ascii_case("bearer") || scheme.eq_ignore_ascii_case("token") => {
                    t.trim()
                }
                _ => v,
            };
            Some(token.to_owned())
        }
    };
    let mut query_tokens = query.iter().filter(|(k, _)| k == "access_token").map(|(_, v)| v.as_str());
    let query_token = query_tokens.next();
    if query_tokens.any(|t| Some(t) != query_token) {
        return Err(ApiError::BadAuthorization("`access_token` is given twice with different values".into()));
    }
    match (header_token, query_token) {
        (Some(h), Some(q)) if h != q => Err(ApiError::BadAuthorization(
            "the Authorization header and ?access_token= carry different tokens; send one of them".into(),
        )),
        (Some(h), _) => Ok(Some(h)),
        (None, q) => Ok(q.map(str::to_owned)),
    }
}

fn cors(resp: &mut Response, origin: &str) {
    if let Ok(v) = HeaderValue::from_str(origin) {
        resp.headers_mut().insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, v);
        resp.headers_mut().insert(header::VARY, HeaderValue::from_static("Origin"));
    }
}

/// The guard middleware (see the module documentation).
pub async fn guard(State(gateway): State<Gateway>, req: Request, next: Next) -> Response {
    let uri_len = req.uri().path_and_query().map_or(0, |p| p.as_str().len());
    if uri_len > MAX_URI_BYTES {
        return ApiError::UriTooLong(MAX_URI_BYTES).into_response();
    }
    let headers = req.headers();
    if let Some(host) = headers.get(header::HOST) {
        let host = host.to_str().unwrap_or_default();
        if !host_allowed(&gateway, host) {
            return ApiError::HostRefused(format!(
                "this gateway does not answer to the host name {host:?} (a web page may be trying DNS rebinding); use 127.0.0.1 or localhost, or list the name in http_server.allowed_hosts"
            ))
            .into_response();
        }
    }
    if let Some(refusal) = browser_refusal(&gateway, headers) {
        return refusal.into_response();
    }
    let listed_origin = headers
        .get(header::ORIGIN)
        .and_then(|v| v.to_str().ok())
        .filter(|o| origin_listed(&gateway, o))
        .map(str::to_owned);
    if req.method() == Method::OPTIONS
        && let Some(origin) = &listed_origin
    {
        let mut r = StatusCode::NO_CONTENT.into_response();
        cors(&mut r, origin);
        let h = r.headers_mut();
        h.insert(header::ACCESS_CONTROL_ALLOW_METHODS, HeaderValue::from_static("GET, POST"));
        h.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, HeaderValue::from_static("authorization, content-type"));
        h.insert(header::ACCESS_CONTROL_MAX_AGE, HeaderValue::from_static("600"));
        return r;
    }
    let query = match query_pairs(req.uri().query().unwrap_or_default()) {
        Ok(q) => q,
        Err(e) => return e.into_response(),
    };
    let token = &gateway.config.http_server.access_token;
    let signed_link = super::signed::valid(&gateway, req.uri().path(), &query);
    if !token.is_empty() && !is_public(req.uri().path()) && !signed_link {
        match presented_token(req.headers(), &query) {
            Err(e) => return e.into_response(),
            Ok(None) => match crate::console::session::from_headers(req.headers()) {
                Some(id) if gateway.config.console.enabled && gateway.console_sessions.expires(&id).is_some() => {
                    if !crate::console::csrf_ok(req.method(), req.headers()) {
                        return ApiError::BrowserRefused("a console request that changes something must carry the header X-WeChat-Console: 1 (a page on another site cannot add it)".into())
                        .into_response();
                    }
                }
                _ => return ApiError::Unauthorized.into_response(),
            },
            Ok(Some(t)) if !token.matches(&t) => return ApiError::Forbidden.into_response(),
            Ok(Some(_)) => {}
        }
    }
    let mut resp = next.run(req).await;
    if let Some(origin) = &listed_origin {
        cors(&mut resp, origin);
    }
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strict_percent_decoding() {
        assert_eq!(percent_decode("a%20b+c", true).unwrap(), "a b c");
        assert_eq!(percent_decode("%E4%BD%A0", false).unwrap(), "你");
        assert!(percent_decode("%G1", true).is_err());
        assert!(percent_decode("%4", true).is_err());
        assert!(percent_decode("%FF", true).is_err(), "not UTF-8");
        assert_eq!(
            query_pairs("a=1&b=&c").unwrap(),
            vec![("a".into(), "1".into()), ("b".into(), "".into()), ("c".into(), "".into())]
        );
        assert!(query_pairs("a=%zz").is_err());
    }

    #[test]
    fn hosts_without_ports() {
        assert_eq!(host_only("127.0.0.1:10614"), "127.0.0.1");
        assert_eq!(host_only("[::1]:80"), "::1");
        assert_eq!(host_only("LocalHost"), "localhost");
        assert_eq!(host_only("evil.example:10614"), "evil.example");
    }

    #[test]
    fn tokens_from_header_or_query() {
        let mut h = HeaderMap::new();
        h.insert(header::AUTHORIZATION, HeaderValue::from_static("bearer abc"));
        assert_eq!(presented_token(&h, &[]).unwrap().as_deref(), Some("abc"));
        h.insert(header::AUTHORIZATION, HeaderValue::from_static("BEARER abc"));
        assert_eq!(presented_token(&h, &[("access_token".into(), "abc".into())]).unwrap().as_deref(), Some("abc"));
        assert!(matches!(
            presented_token(&h, &[("access_token".into(), "other".into())]),
            Err(ApiError::BadAuthorization(_))
        ));
        h.append(header::AUTHORIZATION, HeaderValue::from_static("Bearer abc"));
        assert!(matches!(presented_token(&h, &[]), Err(ApiError::BadAuthorization(_))));
        let none = HeaderMap::new();
        assert_eq!(presented_token(&none, &[]).unwrap(), None);
        let q = [("access_token".to_owned(), "a".to_owned()), ("access_token".to_owned(), "b".to_owned())];
        assert!(presented_token(&none, &q).is_err());
    }
}
