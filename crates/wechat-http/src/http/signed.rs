//! Signed links to received media, for clients that fetch a URL without sending a token
//! (OneBot 11 frameworks download `image.url` as it is): `…?expires=<unix s>&sig=<hex>`, the
//! HMAC-SHA256 of the path and expiry keyed by the access token. A link opens one file until
//! it expires (`img_valid_duration` days, when the file is purged anyway); the token itself
//! never appears in a URL. With an empty token every route is open and links are plain.

use hmac::{Hmac, Mac};

use crate::gateway::Gateway;

fn signature(token: &str, path: &str, expires: u64) -> String {
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(token.as_bytes()).expect("any key length");
    mac.update(b"wechat-http media link\n");
    mac.update(path.as_bytes());
    mac.update(b"\n");
    mac.update(expires.to_string().as_bytes());
    mac.finalize().into_bytes().iter().map(|b| format!("{b:02x}")).collect()
}

/// The paths links are made for.
pub fn signable(path: &str) -> bool {
    path.starts_with("/files/") || path.starts_with("/chat_image/")
}

/// `http_address` + `path`, signed.
pub fn link(gateway: &Gateway, path: &str) -> String {
    let base = gateway.config.http_server.http_address.trim_end_matches('/');
    let token = gateway.config.http_server.access_token.expose();
    if token.is_empty() {
        return format!("{base}{path}");
    }
    let expires = crate::store::now() as u64 + gateway.config.img_valid_duration.max(1) * 86_400;
    format!("{base}{path}?expires={expires}&sig={}", signature(token, path, expires))
}

/// Whether `query` carries a valid, unexpired signature for `path`.
pub fn valid(gateway: &Gateway, path: &str, query: &[(String, String)]) -> bool {
    let get = |k: &str| query.iter().find(|(key, _)| key == k).map(|(_, v)| v.as_str());
    let (Some(expires), Some(sig)) = (get("expires").and_then(|e| e.parse::<u64>().ok()), get("sig")) else {
        return false;
    };
    let token = gateway.config.http_server.access_token.expose();
    if !signable(path) || token.is_empty() || expires < crate::store::now() as u64 {
        return false;
    }
    let want = signature(token, path, expires);
    subtle::ConstantTimeEq::ct_eq(want.as_bytes(), sig.as_bytes()).into()
}
