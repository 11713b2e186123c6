//! The one parser of action envelopes, for HTTP bodies and WebSocket frames alike:
//! `{"action", "params", "echo", "self"}`. `self` (`{platform: "wechat", user_id}`) picks the
//! account; a `self_id` parameter does the same for clients that cannot send `self`.

use serde_json::{Map, Value};

use crate::actions::Params;
use crate::error::ApiError;

/// A parsed request.
#[derive(Clone, Debug, Default)]
pub struct Call {
    /// The action (`None` when the body did not name one: the path does).
    pub action: Option<String>,
    /// Parameters.
    pub params: Params,
    /// Returned unchanged.
    pub echo: Option<Value>,
    /// The account named by `self.user_id` or `self_id`.
    pub selector: Option<String>,
    /// The fleet node that forwarded this call (header `X-WeChat-Http-Forwarded-By`).
    pub forwarded_by: Option<String>,
}

/// Parses an envelope object. With `flat_params` (at `POST /<action>`) a body without
/// `params` is itself the params. On failure the echo is returned with the error, so the
/// answer carries it.
pub fn parse(body: Option<Value>, flat_params: bool) -> Result<Call, (ApiError, Option<Value>)> {
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
    let mut selector = match obj.remove("self") {
        None | Some(Value::Null) => None,
        Some(Value::Object(bot)) => {
            let platform = bot.get("platform").and_then(Value::as_str);
            if platform != Some("wechat") {
                return Err((
                    ApiError::UnknownSelf(format!(
                        "`self.platform` is {}, but this gateway serves WeChat: use {{\"platform\": \"wechat\", \"user_id\": <wxid>}}",
                        platform.map(|p| format!("{p:?}")).unwrap_or_else(|| "missing".into())
                    )),
                    echo,
                ));
            }
            match bot.get("user_id") {
                Some(Value::String(u)) => Some(u.clone()),
                _ => return bad("`self.user_id` must be the wxid (a string) of the account"),
            }
        }
        Some(_) => return bad("`self` must be an object {\"platform\": \"wechat\", \"user_id\": <wxid>}"),
    };
    let mut params = match obj.remove("params") {
        None | Some(Value::Null) if !flat_params => Map::new(),
        None | Some(Value::Null) => obj,
        Some(Value::Object(m)) => m,
        Some(_) => return bad("`params` must be a JSON object"),
    };
    match params.remove("self_id") {
        None | Some(Value::Null) => {}
        Some(Value::String(s)) if selector.is_none() => selector = Some(s),
        Some(Value::Number(n)) if selector.is_none() => selector = Some(n.to_string()),
        Some(Value::String(_) | Value::Number(_)) => {}
        Some(_) => return bad("`self_id` must be the account's wxid or name (a string)"),
    }
    Ok(Call { action, params: Params(params), echo, selector, forwarded_by: None })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn self_and_self_id_pick_the_account() {
        let c =
            parse(Some(json!({"action": "a", "self": {"platform": "wechat", "user_id": "wxid_b"}, "echo": 1})), false)
                .unwrap();
        assert_eq!((c.action.as_deref(), c.selector.as_deref(), c.echo), (Some("a"), Some("wxid_b"), Some(json!(1))));
        let c = parse(Some(json!({"params": {"self_id": "shop", "x": 1}})), false).unwrap();
        assert_eq!(c.selector.as_deref(), Some("shop"));
        assert!(c.params.get("self_id").is_none() && c.params.has("x"));
        let c = parse(Some(json!({"group_name": "flat", "self_id": "shop"})), true).unwrap();
        assert_eq!((c.selector.as_deref(), c.params.get("group_name")), (Some("shop"), Some(&json!("flat"))));
        let (e, echo) =
            parse(Some(json!({"self": {"platform": "qq", "user_id": "1"}, "echo": "e"})), false).unwrap_err();
        assert_eq!((e.retcode(), echo), (10102, Some(json!("e"))));
        assert_eq!(parse(Some(json!({"self": "x"})), false).unwrap_err().0.retcode(), 10001);
        assert_eq!(parse(Some(json!({"params": 3})), false).unwrap_err().0.retcode(), 10001);
        assert_eq!(parse(Some(json!([1])), false).unwrap_err().0.retcode(), 10001);
        assert_eq!(parse(Some(json!({"action": 5})), false).unwrap_err().0.retcode(), 10001);
    }
}
