//! Message segments: `{"type": ..., "data": {...}}`.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value, json};

/// A message: a list of segments.
pub type Message = Vec<Segment>;

/// One message segment. Types this crate does not model are kept as [`Segment::Other`].
#[derive(Clone, Debug, PartialEq)]
pub enum Segment {
    /// Plain text.
    Text {
        /// The text.
        text: String,
    },
    /// An @ of one user.
    Mention {
        /// Who.
        user_id: String,
    },
    /// An @ of everyone.
    MentionAll,
    /// An image, by `file_id` and/or extension fields (`url`, `path`, `data`).
    Image {
        /// File id ("" when given by url/path).
        file_id: String,
        /// Extension data (`url`, `path`, …), kept as given.
        extra: Map<String, Value>,
    },
    /// A file, like [`Segment::Image`].
    File {
        /// File id.
        file_id: String,
        /// Extension data.
        extra: Map<String, Value>,
    },
    /// A quote of an earlier message.
    Reply {
        /// The quoted message id.
        message_id: String,
        /// Its author, if known.
        user_id: Option<String>,
    },
    /// Any other segment type.
    Other {
        /// Segment type.
        kind: String,
        /// Its data.
        data: Map<String, Value>,
    },
}

impl Segment {
    /// A text segment.
    pub fn text(text: impl Into<String>) -> Self {
        Self::Text { text: text.into() }
    }

    /// A mention segment.
    pub fn mention(user_id: impl Into<String>) -> Self {
        Self::Mention { user_id: user_id.into() }
    }

    /// The segment's `type`.
    pub fn kind(&self) -> &str {
        match self {
            Self::Text { .. } => "text",
            Self::Mention { .. } => "mention",
            Self::MentionAll => "mention_all",
            Self::Image { .. } => "image",
            Self::File { .. } => "file",
            Self::Reply { .. } => "reply",
            Self::Other { kind, .. } => kind,
        }
    }

    /// The segment as its `{type, data}` JSON.
    pub fn to_value(&self) -> Value {
        let data = match self {
            Self::Text { text } => json!({ "text": text }),
            Self::Mention { user_id } => json!({ "user_id": user_id }),
            Self::MentionAll => json!({}),
            Self::Image { file_id, extra } | Self::File { file_id, extra } => {
                let mut m = extra.clone();
                m.insert("file_id".into(), Value::String(file_id.clone()));
                Value::Object(m)
            }
            Self::Reply { message_id, user_id } => {
                let mut m = Map::new();
                m.insert("message_id".into(), Value::String(message_id.clone()));
                if let Some(u) = user_id {
                    m.insert("user_id".into(), Value::String(u.clone()));
                }
                Value::Object(m)
            }
            Self::Other { data, .. } => Value::Object(data.clone()),
        };
        json!({ "type": self.kind(), "data": data })
    }

    /// Parses `{type, data}`; an error says which field is wrong.
    pub fn from_value(v: &Value) -> Result<Self, String> {
        let obj = v.as_object().ok_or("a segment must be an object {\"type\": ..., \"data\": {...}}")?;
        let kind = obj.get("type").and_then(Value::as_str).ok_or("a segment needs a string `type`")?;
        let data = match obj.get("data") {
            None | Some(Value::Null) => Map::new(),
            Some(Value::Object(m)) => m.clone(),
            Some(_) => return Err(format!("`data` of a {kind} segment must be an object")),
        };
        let string = |key: &str| -> Result<String, String> {
            match data.get(key) {
                Some(Value::String(s)) => Ok(s.clone()),
                Some(Value::Number(n)) => Ok(n.to_string()),
                _ => Err(format!("a {kind} segment needs a string `data.{key}`")),
            }
        };
        Ok(match kind {
            "text" => Self::Text { text: string("text")? },
            "mention" => Self::Mention { user_id: string("user_id")? },
            "mention_all" => Self::MentionAll,
            "image" | "file" => {
                let mut extra = data.clone();
                let file_id = match extra.remove("file_id") {
                    Some(Value::String(s)) => s,
                    None | Some(Value::Null) => String::new(),
                    Some(_) => return Err(format!("`data.file_id` of a {kind} segment must be a string")),
                };
                if kind == "image" { Self::Image { file_id, extra } } else { Self::File { file_id, extra } }
            }
            "reply" => Self::Reply {
                message_id: string("message_id")?,
                user_id: data.get("user_id").and_then(Value::as_str).map(str::to_owned),
            },
            other => Self::Other { kind: other.to_owned(), data },
        })
    }
}

impl Serialize for Segment {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.to_value().serialize(s)
    }
}

impl<'de> Deserialize<'de> for Segment {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = Value::deserialize(d)?;
        Self::from_value(&v).map_err(serde::de::Error::custom)
    }
}

/// Plain-text rendering of a message (`alt_message`).
pub fn alt_message(message: &[Segment]) -> String {
    message
        .iter()
        .map(|s| match s {
            Segment::Text { text } => text.clone(),
            Segment::Mention { user_id } => format!("@{user_id}"),
            Segment::MentionAll => "@all".into(),
            Segment::Image { .. } => "[image]".into(),
            Segment::File { .. } => "[file]".into(),
            Segment::Reply { .. } => String::new(),
            Segment::Other { kind, .. } => format!("[{kind}]"),
        })
        .collect()
}
