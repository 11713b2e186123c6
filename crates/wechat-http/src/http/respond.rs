//! Rendering answers, the same for HTTP, WebSocket and quick actions: the OneBot envelope
//! `{status, retcode, data, message, echo}`. Internal failures are logged here, once, with an
//! error id that the answer carries as `wx.error_id`; their details never reach the client.

use std::sync::Arc;

use axum::body::Body;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::error::ApiError;

/// What an action answers with: a value, or JSON text rendered once and shared.
#[derive(Clone, Debug)]
pub enum Data {
    /// A JSON value.
    Value(Value),
    /// Ready JSON text.
    Raw(Arc<str>),
}

impl From<Value> for Data {
    fn from(v: Value) -> Self {
        Self::Value(v)
    }
}

impl Data {
    /// As a JSON value.
    pub fn into_value(self) -> Value {
        match self {
            Self::Value(v) => v,
            Self::Raw(t) => serde_json::from_str(&t).unwrap_or(Value::Null),
        }
    }
}

/// A success envelope as JSON text.
pub fn ok_text(data: &Data, echo: Option<&Value>) -> String {
    let data_text = match data {
        Data::Value(v) => v.to_string(),
        Data::Raw(t) => t.to_string(),
    };
    let mut out = String::with_capacity(data_text.len() + 64);
    out.push_str(r#"{"status":"ok","retcode":0,"data":"#);
    out.push_str(&data_text);
    out.push_str(r#","message":"""#);
    if let Some(e) = echo {
        out.push_str(r#","echo":"#);
        out.push_str(&e.to_string());
    }
    out.push('}');
    out
}

/// A failure envelope; internal details are logged with an error id instead of shown.
pub fn failure(e: &ApiError, echo: Option<Value>) -> Value {
    let mut body = json!({
        "status": "failed",
        "retcode": e.retcode(),
        "data": e.data(),
        "message": e.public_message(),
    });
    if e.is_private() {
        let id = uuid::Uuid::new_v4().simple().to_string()[..12].to_owned();
        tracing::error!(error_id = %id, error = %e, "action failed");
        body["wx.error_id"] = Value::String(id);
    } else {
        tracing::debug!(error = %e, retcode = e.retcode(), "action refused");
    }
    if let Some(echo) = echo {
        body["echo"] = echo;
    }
    body
}

fn json_response(status: StatusCode, text: String) -> Response {
    let mut r = Response::new(Body::from(text));
    *r.status_mut() = status;
    r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    r
}

/// An error as a OneBot envelope with its HTTP status (and `Allow` for 405).
pub fn error_response(e: ApiError, echo: Option<Value>) -> Response {
    let status = e.http_status();
    let allow = if let ApiError::MethodNotAllowed { allow, .. } = &e { Some(*allow) } else { None };
    let mut r = json_response(status, failure(&e, echo).to_string());
    if let Some(allow) = allow {
        r.headers_mut().insert(header::ALLOW, HeaderValue::from_static(allow));
    }
    r
}

/// A success as a OneBot envelope.
pub fn ok_response(data: Data, echo: Option<Value>) -> Response {
    json_response(StatusCode::OK, ok_text(&data, echo.as_ref()))
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        error_response(self, None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raw_and_value_data_render_the_same_envelope() {
        let v = json!([{"user_id": "wxid_a"}]);
        let a: Value = serde_json::from_str(&ok_text(&Data::Value(v.clone()), Some(&json!("e")))).unwrap();
        let b: Value = serde_json::from_str(&ok_text(&Data::Raw(Arc::from(v.to_string())), Some(&json!("e")))).unwrap();
        assert_eq!(a, b);
        assert_eq!(a, json!({"status": "ok", "retcode": 0, "data": v, "message": "", "echo": "e"}));
    }

    #[test]
    fn internal_errors_hide_details_behind_an_id() {
        let f = failure(&ApiError::Database("disk I/O error at /secret/path/wechat-http.db".into()), None);
        assert_eq!(f["retcode"], 31001);
        assert!(!f["message"].as_str().unwrap().contains("/secret"));
        assert_eq!(f["wx.error_id"].as_str().unwrap().len(), 12);
        let f = failure(&ApiError::BadParam("`x` is missing".into()), Some(json!(1)));
        assert!(f.get("wx.error_id").is_none());
        assert_eq!((f["message"].as_str(), f["echo"].as_i64()), (Some("`x` is missing"), Some(1)));
    }
}
