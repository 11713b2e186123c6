//! Planning: a staged message ([`Item`]s) becomes the WeChat sends ([`Part`]s) for one
//! receiver. Pure: the caller resolves mention names first.
//!
//! Consecutive text, `mention` and `mention_all` items are one text send (a mention inserts
//! `@<group nickname>` + U+2005 and fills `aters`; `mention_all` inserts `@所有人` with
//! `notify@all`); each image, file, video, sticker, link card or XML message is one send;
//! order is kept. The same items always give the same parts, so an interrupted send can be
//! matched part by part.

use crate::error::{ApiError, ApiResult};

/// WeChat's separator after an @name.
pub const AT_SEPARATOR: char = '\u{2005}';

/// A segment with its media already staged where WeChat can read it (stored with broadcast
/// jobs, so it is serialisable; the tags are those stored by earlier releases).
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "t", content = "v", rename_all = "snake_case")]
pub enum Item {
    /// Text.
    Text(String),
    /// An @ of a group member (wxid).
    Mention(String),
    /// @everyone.
    MentionAll,
    /// An image, by its path on the WeChat host.
    Image(String),
    /// A file, by its path on the WeChat host.
    File(String),
    /// A video (sent as a file; WeChat shows a video), by its path on the WeChat host.
    Video(String),
    /// A sticker, by its path on the WeChat host.
    Emoji(String),
    /// A link card (`SEND_RICH_TXT`).
    Link(Link),
    /// Raw app-message XML (`SEND_XML`).
    Xml {
        /// The XML's type (`SEND_XML` `type`).
        kind: i32,
        /// The XML.
        xml: String,
    },
}

/// A link card.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Link {
    /// Title.
    pub title: String,
    /// Digest under the title.
    pub description: String,
    /// Where it opens.
    pub url: String,
    /// Thumbnail URL.
    pub thumb_url: String,
    /// Name shown at the bottom (`source`).
    pub source: String,
    /// Official account (`gh_…`) the name opens.
    pub account: String,
}

impl Item {
    /// True for items that put text into a send.
    pub fn is_text(&self) -> bool {
        matches!(self, Self::Text(_) | Self::Mention(_) | Self::MentionAll)
    }
}

/// One WeChat send.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Part {
    /// `SEND_TXT`.
    Text {
        /// The text with `@name` mentions.
        text: String,
        /// wxids (or `notify@all`) to @.
        aters: Vec<String>,
    },
    /// `SEND_IMG`.
    Image(String),
    /// `SEND_FILE`.
    File(String),
    /// `SEND_FILE` of a video.
    Video(String),
    /// `SEND_EMOTION`.
    Emoji(String),
    /// `SEND_RICH_TXT`.
    Link(Link),
    /// `SEND_XML`.
    Xml {
        /// Its type.
        kind: i32,
        /// The XML.
        xml: String,
    },
}

impl Part {
    /// The sent log's `kind`: `text`, `image`, `file`, `video`, `emoji`, `link` or `xml`.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Text { .. } => "text",
            Self::Image(_) => "image",
            Self::File(_) => "file",
            Self::Video(_) => "video",
            Self::Emoji(_) => "emoji",
            Self::Link(_) => "link",
            Self::Xml { .. } => "xml",
        }
    }

    /// What the sent log keeps: the text, the path, the link's URL or the XML.
    pub fn content(&self) -> &str {
        match self {
            Self::Text { text, .. } => text,
            Self::Image(p) | Self::File(p) | Self::Video(p) | Self::Emoji(p) => p,
            Self::Link(l) => &l.url,
            Self::Xml { xml, .. } => xml,
        }
    }

    /// The WeChat message type this part is recorded as in `MSG`.
    pub fn wx_type(&self) -> i64 {
        wx_type_of(self.kind())
    }
}

/// The WeChat message type a sent-log `kind` is recorded as.
pub fn wx_type_of(kind: &str) -> i64 {
    match kind {
        "text" => 1,
        "image" => 3,
        "video" => 43,
        "emoji" => 47,
        _ => 49,
    }
}

/// The wxids mentioned by `items` (for the caller to look their names up).
pub fn mentioned(items: &[Item]) -> Vec<&str> {
    items.iter().filter_map(|i| if let Item::Mention(w) = i { Some(w.as_str()) } else { None }).collect()
}

/// Builds the sends for one receiver. `group` says whether it is a chat group; `name` gives
/// the display name of a mentioned wxid.
pub fn plan(items: &[Item], receiver: &str, group: bool, name: impl Fn(&str) -> String) -> ApiResult<Vec<Part>> {
    let mut parts = Vec::new();
    let mut text = String::new();
    let mut aters: Vec<String> = Vec::new();
    let flush = |text: &mut String, aters: &mut Vec<String>, parts: &mut Vec<Part>| {
        if !text.is_empty() {
            parts.push(Part::Text { text: std::mem::take(text), aters: std::mem::take(aters) });
        }
    };
    for item in items {
        match item {
            Item::Text(t) => text.push_str(t),
            Item::Mention(user) => {
                text.push('@');
                text.push_str(&name(user));
                text.push(AT_SEPARATOR);
                if group && !aters.contains(user) {
                    aters.push(user.clone());
                }
            }
            Item::MentionAll => {
                if !group {
                    return Err(ApiError::BadSegmentData(format!(
                        "mention_all only works in a chat group, and {receiver} is not one"
                    )));
                }
                text.push_str("@所有人");
                text.push(AT_SEPARATOR);
                if !aters.iter().any(|a| a == "notify@all") {
                    aters.push("notify@all".into());
                }
            }
            other => {
                flush(&mut text, &mut aters, &mut parts);
                parts.push(match other {
                    Item::Image(p) => Part::Image(p.clone()),
                    Item::File(p) => Part::File(p.clone()),
                    Item::Video(p) => Part::Video(p.clone()),
                    Item::Emoji(p) => Part::Emoji(p.clone()),
                    Item::Link(l) => Part::Link(l.clone()),
                    Item::Xml { kind, xml } => Part::Xml { kind: *kind, xml: xml.clone() },
                    Item::Text(_) | Item::Mention(_) | Item::MentionAll => unreachable!("handled above"),
                });
            }
        }
    }
    flush(&mut text, &mut aters, &mut parts);
    if parts.is_empty() {
        return Err(ApiError::BadParam("the message is empty".into()));
    }
    Ok(parts)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(w: &str) -> String {
        match w {
            "wxid_a" => "Alice".into(),
            other => other.into(),
        }
    }

    #[test]
    fn text_and_mentions_merge_media_split() {
        let items = vec![
            Item::Text("hi ".into()),
            Item::Mention("wxid_a".into()),
            Item::MentionAll,
            Item::Image("/i.png".into()),
            Item::Text("bye".into()),
            Item::File("/f.pdf".into()),
        ];
        let parts = plan(&items, "1@chatroom", true, names).unwrap();
        assert_eq!(
            parts,
            vec![
                Part::Text {
                    text: "hi @Alice\u{2005}@所有人\u{2005}".into(),
                    aters: vec!["wxid_a".into(), "notify@all".into()]
                },
                Part::Image("/i.png".into()),
                Part::Text { text: "bye".into(), aters: vec![] },
                Part::File("/f.pdf".into()),
            ]
        );
        assert_eq!(plan(&items, "1@chatroom", true, names).unwrap(), parts, "planning is deterministic");
    }

    #[test]
    fn private_mentions_have_no_aters_and_mention_all_is_refused() {
        let parts = plan(&[Item::Mention("wxid_a".into())], "wxid_b", false, names).unwrap();
        assert_eq!(parts, vec![Part::Text { text: "@Alice\u{2005}".into(), aters: vec![] }]);
        assert!(matches!(plan(&[Item::MentionAll], "wxid_b", false, names), Err(ApiError::BadSegmentData(_))));
        assert!(matches!(plan(&[Item::Text(String::new())], "wxid_b", false, names), Err(ApiError::BadParam(_))));
    }

    #[test]
    fn stored_items_keep_their_shape() {
        let json =
            serde_json::to_string(&vec![Item::Text("x".into()), Item::MentionAll, Item::Image("/p".into())]).unwrap();
        assert_eq!(json, r#"[{"t":"text","v":"x"},{"t":"mention_all"},{"t":"image","v":"/p"}]"#);
    }
}
