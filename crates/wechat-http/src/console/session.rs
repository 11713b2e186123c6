//! Console sign-ins: a session id in an HttpOnly, SameSite=Strict cookie, held in memory.
//!
//! The access token is exchanged once (`POST /console/session`) for a random 256-bit session
//! id; the token itself never sits in the browser after that and never appears in a URL.
//! Sessions live in memory, so a restart signs everybody out. At most [`MAX_SESSIONS`] are
//! kept (the oldest goes first); failed sign-ins are limited to [`MAX_FAILURES`] a minute for
//! the whole gateway, so a page cannot guess a weak token quickly.

use std::collections::HashMap;
use std::sync::Mutex;

use axum::http::{HeaderMap, header};

use crate::store::now;

/// Name of the session cookie.
pub const COOKIE: &str = "wechat_http_console";
/// Sessions kept at most.
pub const MAX_SESSIONS: usize = 256;
/// Failed sign-ins accepted per minute, gateway-wide.
pub const MAX_FAILURES: usize = 20;

/// The console's sessions.
#[derive(Debug, Default)]
pub struct Sessions {
    live: Mutex<HashMap<String, f64>>,
    failures: Mutex<Vec<f64>>,
}

impl Sessions {
    /// A new session valid for `hours`: `(id, expires_at)`.
    pub fn create(&self, hours: u64) -> (String, f64) {
        let id: String = (0..32).map(|_| format!("{:02x}", rand::random::<u8>())).collect();
        let expires = now() + hours as f64 * 3600.0;
        let mut live = self.live.lock().unwrap_or_else(|p| p.into_inner());
        let t = now();
        live.retain(|_, e| *e > t);
        while live.len() >= MAX_SESSIONS {
            let Some(oldest) = live.iter().min_by(|a, b| a.1.total_cmp(b.1)).map(|(k, _)| k.clone()) else { break };
            live.remove(&oldest);
        }
        live.insert(id.clone(), expires);
        (id, expires)
    }

    /// When session `id` expires, if it is live.
    pub fn expires(&self, id: &str) -> Option<f64> {
        let mut live = self.live.lock().unwrap_or_else(|p| p.into_inner());
        match live.get(id) {
            Some(e) if *e > now() => Some(*e),
            Some(_) => {
                live.remove(id);
                None
            }
            None => None,
        }
    }

    /// Ends session `id`.
    pub fn remove(&self, id: &str) {
        self.live.lock().unwrap_or_else(|p| p.into_inner()).remove(id);
    }

    /// Records a failed sign-in; false when the minute's allowance is used up.
    pub fn failed_attempt(&self) -> bool {
        let mut f = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        let t = now();
        f.retain(|at| t - at < 60.0);
        f.push(t);
        f.len() <= MAX_FAILURES
    }

    /// True while failed sign-ins are over the allowance.
    pub fn locked_out(&self) -> bool {
        let mut f = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        let t = now();
        f.retain(|at| t - at < 60.0);
        f.len() >= MAX_FAILURES
    }
}

/// The session id a request's `Cookie` header carries, if any.
pub fn from_headers(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == COOKIE)
        .map(|(_, v)| v.trim().to_owned())
        .filter(|v| v.len() == 64 && v.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// `Set-Cookie` for a new session.
pub fn set_cookie(id: &str, hours: u64) -> String {
    format!("{COOKIE}={id}; Path=/; HttpOnly; SameSite=Strict; Max-Age={}", hours * 3600)
}

/// `Set-Cookie` that removes the session cookie.
pub fn clear_cookie() -> String {
    format!("{COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0")
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn sessions_expire_and_end() {
        let s = Sessions::default();
        let (id, expires) = s.create(1);
        assert_eq!(id.len(), 64);
        assert!(s.expires(&id).is_some_and(|e| e == expires));
        s.remove(&id);
        assert!(s.expires(&id).is_none());
        s.live.lock().unwrap().insert("old".into(), now() - 1.0);
        assert!(s.expires("old").is_none(), "an expired session is refused");
    }

    #[test]
    fn sessions_are_bounded() {
        let s = Sessions::default();
        let first = s.create(1).0;
        for _ in 0..MAX_SESSIONS {
            s.create(2);
        }
        assert_eq!(s.live.lock().unwrap().len(), MAX_SESSIONS);
        assert!(s.expires(&first).is_none(), "the oldest session made room");
    }

    #[test]
    fn failures_are_limited() {
        let s = Sessions::default();
        for _ in 0..MAX_FAILURES {
            assert!(s.failed_attempt());
        }
        assert!(s.locked_out());
        assert!(!s.failed_attempt());
    }

    #[test]
    fn cookie_is_found_among_others() {
        let id = "ab".repeat(32);
        let mut h = HeaderMap::new();
        h.insert(header::COOKIE, HeaderValue::from_str(&format!("a=1; {COOKIE}={id}; b=2")).unwrap());
        assert_eq!(from_headers(&h).as_deref(), Some(id.as_str()));
        h.insert(header::COOKIE, HeaderValue::from_static("wechat_http_console=../../etc"));
        assert_eq!(from_headers(&h), None);
    }
}
