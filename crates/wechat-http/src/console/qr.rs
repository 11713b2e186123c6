//! The login QR code as an SVG image (drawn from `qrcodegen`'s modules, one path).

use qrcodegen::{QrCode, QrCodeEcc};

/// `text` as a QR code in SVG (4-module quiet zone), or `None` when it is too long to encode.
pub fn svg(text: &str) -> Option<String> {
    let code = QrCode::encode_text(text, QrCodeEcc::Medium).ok()?;
    let size = code.size();
    let border = 4;
    let mut path = String::new();
    for y in 0..size {
        for x in 0..size {
            if code.get_module(x, y) {
                path.push_str(&format!("M{},{}h1v1h-1z", x + border, y + border));
            }
        }
    }
    let dim = size + 2 * border;
    Some(format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {dim} {dim}\" width=\"{px}\" height=\"{px}\" shape-rendering=\"crispEdges\"><rect width=\"100%\" height=\"100%\" fill=\"#fff\"/><path d=\"{path}\" fill=\"#000\"/></svg>",
        px = dim * 8
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_login_url_becomes_an_svg_with_modules() {
        let s = svg("http://weixin.qq.com/x/abcdef0123456789").unwrap();
        assert!(s.starts_with("<svg") && s.ends_with("</svg>"));
        // Version 3 (29 modules) + quiet zone, and the three finder patterns are drawn.
        assert!(s.contains("viewBox=\"0 0 37 37\""), "{}", &s[..120]);
        assert!(s.matches('M').count() > 100);
        assert!(svg(&"x".repeat(5000)).is_none());
    }
}
