//! Events: the common envelope; type-specific fields are flattened in.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::action::BotSelf;

/// A OneBot 12 event.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// Unique id (string).
    pub id: String,
    /// Unix time in seconds (fractional).
    pub time: f64,
    /// `message`, `notice`, `request` or `meta`.
    #[serde(rename = "type")]
    pub kind: String,
    /// e.g. `private`, `group`, `heartbeat`.
    pub detail_type: String,
    /// "" when there is none.
    #[serde(default)]
    pub sub_type: String,
    /// The bot (every non-meta event).
    #[serde(default, rename = "self", skip_serializing_if = "Option::is_none")]
    pub bot_self: Option<BotSelf>,
    /// Type-specific and extension (`wx.`) fields.
    #[serde(flatten)]
    pub fields: Map<String, Value>,
}

impl Event {
    /// A new event with no extra fields.
    pub fn new(id: impl Into<String>, time: f64, kind: &str, detail_type: &str, bot_self: Option<BotSelf>) -> Self {
        Self {
            id: id.into(),
            time,
            kind: kind.into(),
            detail_type: detail_type.into(),
            sub_type: String::new(),
            bot_self,
            fields: Map::new(),
        }
    }

    /// Adds a field.
    pub fn with(mut self, key: &str, value: impl Into<Value>) -> Self {
        self.fields.insert(key.into(), value.into());
        self
    }

    /// True for `meta` events.
    pub fn is_meta(&self) -> bool {
        self.kind == "meta"
    }
}
