//! Typed access to action parameters, from a JSON body or a query string (where every value is
//! a string). Errors say which parameter is wrong and what it should be.

use serde_json::{Map, Value};

use crate::error::{ApiError, ApiResult};

/// An action's `params`.
#[derive(Clone, Debug, Default)]
pub struct Params(pub Map<String, Value>);

impl Params {
    /// Raw value.
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.0.get(key).filter(|v| !v.is_null())
    }

    /// True when present and not null.
    pub fn has(&self, key: &str) -> bool {
        self.get(key).is_some()
    }

    /// An optional string (numbers are accepted and rendered).
    pub fn opt_str(&self, key: &str) -> ApiResult<Option<String>> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(Value::Number(n)) => Ok(Some(n.to_string())),
            Some(other) => Err(ApiError::BadParam(format!("`{key}` must be a string, not {}", kind(other)))),
        }
    }

    /// A required, non-empty string.
    pub fn str(&self, key: &str) -> ApiResult<String> {
        match self.opt_str(key)? {
            Some(s) if !s.trim().is_empty() => Ok(s),
            Some(_) => Err(ApiError::BadParam(format!("`{key}` must not be empty"))),
            None => Err(ApiError::BadParam(format!("missing parameter `{key}`"))),
        }
    }

    /// The first of several names that is present (aliases).
    pub fn str_any(&self, keys: &[&str]) -> ApiResult<Option<String>> {
        for k in keys {
            if let Some(v) = self.opt_str(k)? {
                return Ok(Some(v));
            }
        }
        Ok(None)
    }

    /// An optional integer (or a string of digits).
    pub fn opt_i64(&self, key: &str) -> ApiResult<Option<i64>> {
        let bad = || ApiError::BadParam(format!("`{key}` must be an integer"));
        match self.get(key) {
            None => Ok(None),
            Some(Value::Number(n)) => n.as_i64().map(Some).ok_or_else(bad),
            Some(Value::String(s)) => s.trim().parse().map(Some).map_err(|_| bad()),
            Some(_) => Err(bad()),
        }
    }

    /// An optional boolean (`true`/`false`, or `1`/`0` and their strings).
    pub fn opt_bool(&self, key: &str) -> ApiResult<Option<bool>> {
        let bad = || ApiError::BadParam(format!("`{key}` must be true or false"));
        match self.get(key) {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(Value::Number(n)) => match n.as_i64() {
                Some(0) => Ok(Some(false)),
                Some(1) => Ok(Some(true)),
                _ => Err(bad()),
            },
            Some(Value::String(s)) => match s.trim() {
                "true" | "1" => Ok(Some(true)),
                "false" | "0" => Ok(Some(false)),
                _ => Err(bad()),
            },
            Some(_) => Err(bad()),
        }
    }

    /// An optional list of strings (a JSON array, or a comma-separated string).
    pub fn opt_str_list(&self, key: &str) -> ApiResult<Option<Vec<String>>> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Array(items)) => items
                .iter()
                .map(|v| match v {
                    Value::String(s) => Ok(s.clone()),
                    Value::Number(n) => Ok(n.to_string()),
                    _ => Err(ApiError::BadParam(format!("`{key}` must be a list of strings"))),
                })
                .collect::<ApiResult<Vec<_>>>()
                .map(Some),
            Some(Value::String(s)) => {
                Ok(Some(s.split(',').map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned).collect()))
            }
            Some(_) => Err(ApiError::BadParam(format!("`{key}` must be a list of strings"))),
        }
    }
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn p(v: Value) -> Params {
        Params(v.as_object().unwrap().clone())
    }

    #[test]
    fn typed_getters_accept_query_strings() {
        let q = p(json!({"n": "2", "b": "true", "l": "a, b", "s": 5}));
        assert_eq!(q.opt_i64("n").unwrap(), Some(2));
        assert_eq!(q.opt_bool("b").unwrap(), Some(true));
        assert_eq!(q.opt_str_list("l").unwrap().unwrap(), ["a", "b"]);
        assert_eq!(q.str("s").unwrap(), "5");
    }

    #[test]
    fn errors_name_the_parameter() {
        let q = p(json!({"n": "x", "b": "maybe", "e": "  ", "o": {}}));
        assert!(q.opt_i64("n").unwrap_err().to_string().contains("`n` must be an integer"));
        assert!(q.opt_bool("b").unwrap_err().to_string().contains("`b` must be true or false"));
        assert!(q.str("e").unwrap_err().to_string().contains("`e` must not be empty"));
        assert!(q.str("missing").unwrap_err().to_string().contains("missing parameter `missing`"));
        assert!(q.str("o").unwrap_err().to_string().contains("not an object"));
    }
}
