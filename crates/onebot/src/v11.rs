//! OneBot 11 messages: segments (`{"type", "data"}`) and their CQ-code string form.
//!
//! Escaping follows the OneBot 11 spec (`message/string.md`): in plain text `&`, `[` and `]`
//! become `&amp;`, `&#91;`, `&#93;`; inside a CQ code's parameter values `,` also becomes
//! `&#44;`. Decoding undoes exactly that, and text that only looks like a CQ code (no closing
//! `]`, no type) stays text.

use serde_json::{Map, Value};

/// OneBot 11 return codes used by this gateway.
pub mod retcode {
    /// Success.
    pub const OK: i64 = 0;
    /// Accepted, runs later.
    pub const ASYNC: i64 = 1;
    /// Missing or invalid parameters (go-cqhttp's convention).
    pub const BAD_PARAM: i64 = 100;
    /// The gateway failed.
    pub const FAILED: i64 = 102;
    /// WeChat (the platform) failed or refused.
    pub const PLATFORM: i64 = 103;
    /// Malformed request (WebSocket).
    pub const BAD_REQUEST: i64 = 1400;
    /// Missing token (WebSocket).
    pub const UNAUTHORIZED: i64 = 1401;
    /// Wrong token (WebSocket).
    pub const FORBIDDEN: i64 = 1403;
    /// No such action.
    pub const UNSUPPORTED: i64 = 1404;
}

/// One segment.
#[derive(Clone, Debug, PartialEq)]
pub struct Seg {
    /// `type`.
    pub kind: String,
    /// `data`.
    pub data: Map<String, Value>,
}

impl Seg {
    /// A text segment.
    pub fn text(t: impl Into<String>) -> Self {
        let mut data = Map::new();
        data.insert("text".into(), Value::String(t.into()));
        Self { kind: "text".into(), data }
    }

    /// A segment of `kind` with `data`.
    pub fn new(kind: &str, data: Map<String, Value>) -> Self {
        Self { kind: kind.to_owned(), data }
    }

    /// The `{"type", "data"}` form.
    pub fn to_value(&self) -> Value {
        serde_json::json!({ "type": self.kind, "data": self.data })
    }

    /// A data field as text (numbers and booleans rendered), if present.
    pub fn field(&self, key: &str) -> Option<String> {
        match self.data.get(key)? {
            Value::String(s) => Some(s.clone()),
            Value::Number(n) => Some(n.to_string()),
            Value::Bool(b) => Some(b.to_string()),
            _ => None,
        }
    }
}

/// Escapes plain text for a CQ string.
pub fn escape_text(s: &str) -> String {
    s.replace('&', "&amp;").replace('[', "&#91;").replace(']', "&#93;")
}

/// Escapes a CQ-code parameter value.
pub fn escape_value(s: &str) -> String {
    escape_text(s).replace(',', "&#44;")
}

/// Undoes [`escape_text`] / [`escape_value`].
pub fn unescape(s: &str) -> String {
    s.replace("&#44;", ",").replace("&#91;", "[").replace("&#93;", "]").replace("&amp;", "&")
}

fn value_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// Segments → a CQ string.
pub fn to_cq(segs: &[Seg]) -> String {
    let mut out = String::new();
    for s in segs {
        if s.kind == "text" {
            out.push_str(&escape_text(&s.field("text").unwrap_or_default()));
            continue;
        }
        out.push_str("[CQ:");
        out.push_str(&s.kind);
        for (k, v) in &s.data {
            out.push(',');
            out.push_str(k);
            out.push('=');
            out.push_str(&escape_value(&value_text(v)));
        }
        out.push(']');
    }
    out
}

/// A CQ string → segments (every parameter value is a string, as the string form has it).
pub fn from_cq(s: &str) -> Vec<Seg> {
    let mut out: Vec<Seg> = Vec::new();
    let mut text = String::new();
    let mut rest = s;
    let flush = |text: &mut String, out: &mut Vec<Seg>| {
        if !text.is_empty() {
            out.push(Seg::text(unescape(text)));
            text.clear();
        }
    };
    while let Some(start) = rest.find("[CQ:") {
        let after = &rest[start + 4..];
        let Some(end) = after.find(']') else { break };
        let body = &after[..end];
        let mut parts = body.split(',');
        let kind = parts.next().unwrap_or_default();
        let valid_kind =
            !kind.is_empty() && kind.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.' || c == '-');
        if !valid_kind || body.contains('[') {
            text.push_str(&rest[..start + 4]);
            rest = after;
            continue;
        }
        text.push_str(&rest[..start]);
        flush(&mut text, &mut out);
        let mut data = Map::new();
        for p in parts {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            if !k.is_empty() {
                data.insert(k.to_owned(), Value::String(unescape(v)));
            }
        }
        out.push(Seg { kind: kind.to_owned(), data });
        rest = &after[end + 1..];
    }
    text.push_str(rest);
    flush(&mut text, &mut out);
    out
}

/// A message as a request gives it: a CQ string (plain text with `auto_escape`), one segment
/// object, or a list of segments. An error says what is wrong.
pub fn parse_message(v: &Value, auto_escape: bool) -> Result<Vec<Seg>, String> {
    let one = |v: &Value| -> Result<Seg, String> {
        let o = v.as_object().ok_or("a segment must be an object {\"type\": ..., \"data\": {...}}")?;
        let kind = o.get("type").and_then(Value::as_str).ok_or("a segment needs a string `type`")?;
        let data = match o.get("data") {
            None | Some(Value::Null) => Map::new(),
            Some(Value::Object(m)) => m.clone(),
            Some(_) => return Err(format!("`data` of a {kind} segment must be an object")),
        };
        Ok(Seg { kind: kind.to_owned(), data })
    };
    match v {
        Value::String(s) if auto_escape => Ok(vec![Seg::text(s.clone())]),
        Value::String(s) => Ok(from_cq(s)),
        Value::Array(items) => {
            items.iter().enumerate().map(|(i, v)| one(v).map_err(|e| format!("message[{i}]: {e}"))).collect()
        }
        Value::Object(_) => Ok(vec![one(v)?]),
        _ => Err("`message` must be a string (CQ codes) or a list of segments".into()),
    }
}

/// WeChat's classic emoticons, as they appear in text (`[微笑]`), numbered for `face`
/// segments by their position here (this numbering is WeChat's panel order, not QQ's).
pub const WECHAT_FACES: &[&str] = &[
    "微笑",
    "撇嘴",
    "色",
    "发呆",
    "得意",
    "流泪",
    "害羞",
    "闭嘴",
    "睡",
    "大哭",
    "尴尬",
    "发怒",
    "调皮",
    "呲牙",
    "惊讶",
    "难过",
    "囧",
    "抓狂",
    "吐",
    "偷笑",
    "愉快",
    "白眼",
    "傲慢",
    "困",
    "惊恐",
    "憨笑",
    "悠闲",
    "咒骂",
    "疑问",
    "嘘",
    "晕",
    "衰",
    "骷髅",
    "敲打",
    "再见",
    "擦汗",
    "抠鼻",
    "鼓掌",
    "坏笑",
    "右哼哼",
    "鄙视",
    "委屈",
    "快哭了",
    "亲亲",
    "可怜",
    "笑脸",
    "生病",
    "脸红",
    "破涕为笑",
    "恐惧",
    "失望",
    "无语",
    "嘿哈",
    "捂脸",
    "奸笑",
    "机智",
    "皱眉",
    "耶",
    "吃瓜",
    "加油",
    "汗",
    "天啊",
    "Emm",
    "社会社会",
    "旺柴",
    "好的",
    "打脸",
    "哇",
    "翻白眼",
    "666",
    "让我看看",
    "叹气",
    "苦涩",
    "裂开",
    "嘴唇",
    "爱心",
    "心碎",
    "拥抱",
    "强",
    "弱",
    "握手",
    "胜利",
    "抱拳",
    "勾引",
    "拳头",
    "OK",
    "合十",
    "啤酒",
    "咖啡",
    "蛋糕",
    "玫瑰",
    "凋谢",
    "菜刀",
    "炸弹",
    "便便",
    "月亮",
    "太阳",
    "庆祝",
    "礼物",
    "红包",
    "發",
    "福",
    "烟花",
    "爆竹",
    "猪头",
    "跳跳",
    "发抖",
    "转圈",
];

/// Splits text into `text` and `face` segments at WeChat emoticons (`[微笑]`).
pub fn split_faces(text: &str) -> Vec<Seg> {
    let mut out = Vec::new();
    let mut plain = String::new();
    let mut rest = text;
    while let Some(open) = rest.find('[') {
        let after = &rest[open + 1..];
        let found = after.find(']').and_then(|close| {
            let name = &after[..close];
            WECHAT_FACES.iter().position(|f| *f == name).map(|id| (id, close))
        });
        match found {
            Some((id, close)) => {
                plain.push_str(&rest[..open]);
                if !plain.is_empty() {
                    out.push(Seg::text(std::mem::take(&mut plain)));
                }
                let mut data = Map::new();
                data.insert("id".into(), Value::String(id.to_string()));
                data.insert("wx_name".into(), Value::String(WECHAT_FACES[id].to_owned()));
                out.push(Seg { kind: "face".into(), data });
                rest = &after[close + 1..];
            }
            None => {
                plain.push_str(&rest[..open + 1]);
                rest = after;
            }
        }
    }
    plain.push_str(rest);
    if !plain.is_empty() {
        out.push(Seg::text(plain));
    }
    out
}

/// The text WeChat shows for `face` id `id` (`[微笑]`).
pub fn face_text(id: &str) -> Option<String> {
    let n: usize = id.trim().parse().ok()?;
    WECHAT_FACES.get(n).map(|f| format!("[{f}]"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn cq_round_trip_with_escapes() {
        let segs = vec![
            Seg::text("a [b] & c, d"),
            Seg::new("at", json!({"qq": "10001"}).as_object().unwrap().clone()),
            Seg::new("image", json!({"file": "https://x/a.png?a=1,b=[2]&c"}).as_object().unwrap().clone()),
        ];
        let cq = to_cq(&segs);
        assert_eq!(
            cq,
            "a &#91;b&#93; &amp; c, d[CQ:at,qq=10001][CQ:image,file=https://x/a.png?a=1&#44;b=&#91;2&#93;&amp;c]"
        );
        assert_eq!(from_cq(&cq), segs);
    }

    #[test]
    fn golden_strings_from_the_spec() {
        assert_eq!(
            from_cq("[CQ:face,id=178]看看我刚拍的照片[CQ:image,file=123.jpg]"),
            vec![
                Seg::new("face", json!({"id": "178"}).as_object().unwrap().clone()),
                Seg::text("看看我刚拍的照片"),
                Seg::new("image", json!({"file": "123.jpg"}).as_object().unwrap().clone()),
            ]
        );
        assert_eq!(from_cq("[CQ:shake]"), vec![Seg::new("shake", Map::new())]);
        assert_eq!(to_cq(&[Seg::new("at", json!({"qq": "all"}).as_object().unwrap().clone())]), "[CQ:at,qq=all]");
        assert_eq!(to_cq(&[Seg::new("reply", json!({"id": 5}).as_object().unwrap().clone())]), "[CQ:reply,id=5]");
    }

    #[test]
    fn things_that_only_look_like_cq_codes_stay_text() {
        assert_eq!(from_cq("[CQ:"), vec![Seg::text("[CQ:")]);
        assert_eq!(from_cq("x [CQ:] y"), vec![Seg::text("x [CQ:] y")]);
        assert_eq!(from_cq("[CQ:a b]"), vec![Seg::text("[CQ:a b]")]);
        assert_eq!(from_cq("&#91;CQ:at,qq=1&#93;"), vec![Seg::text("[CQ:at,qq=1]")]);
        assert!(from_cq("").is_empty());
    }

    #[test]
    fn messages_in_every_form() {
        assert_eq!(parse_message(&json!("[CQ:at,qq=1] hi"), false).unwrap().len(), 2);
        assert_eq!(parse_message(&json!("[CQ:at,qq=1] hi"), true).unwrap(), vec![Seg::text("[CQ:at,qq=1] hi")]);
        assert_eq!(
            parse_message(&json!({"type": "text", "data": {"text": "x"}}), false).unwrap(),
            vec![Seg::text("x")]
        );
        assert!(parse_message(&json!([{"data": {}}]), false).unwrap_err().contains("message[0]"));
        assert!(parse_message(&json!(5), false).is_err());
    }

    #[test]
    fn faces_split_out_of_text() {
        let s = split_faces("hi[微笑][not a face]x[OK]");
        assert_eq!(s.len(), 4);
        assert_eq!(s[1].field("id").as_deref(), Some("0"));
        assert_eq!(s[2], Seg::text("[not a face]x"));
        assert_eq!(face_text(&s[3].field("id").unwrap()).as_deref(), Some("[OK]"));
        assert_eq!(face_text("9999"), None);
    }
}
