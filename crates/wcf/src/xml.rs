//! A forgiving XML reader for WeChat's message XML: the whole document as a small tree.
//!
//! WeChat's XML is not always well-formed (`wechat-messages.md` §1.4): it may start with an
//! `<?xml …?>` declaration, carry tabs and newlines, put spaces around `=` in attributes, nest
//! escaped XML or CDATA, and occasionally mismatch end tags. This reader never fails: end tags
//! close the nearest open element of that name (or are ignored), and whatever was read before a
//! syntax error is kept. Element text joins text, CDATA and entity references, trimmed.

use quick_xml::Reader;
use quick_xml::events::Event;

/// Documents larger than this are cut (message XML is a few KiB; chat histories some 100 KiB).
pub const MAX_XML_BYTES: usize = 1 << 20;

/// Deepest nesting kept; deeper elements are flattened into their parent's text.
const MAX_DEPTH: usize = 64;

/// One element.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Node {
    /// Tag name.
    pub name: String,
    /// Attributes in document order (values unescaped).
    pub attrs: Vec<(String, String)>,
    /// Text content (text, CDATA, entities), trimmed.
    pub text: String,
    /// Child elements.
    pub children: Vec<Node>,
}

impl Node {
    /// The first child named `name`.
    pub fn child(&self, name: &str) -> Option<&Node> {
        self.children.iter().find(|c| c.name == name)
    }

    /// Every child named `name`.
    pub fn children_named<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Node> + 'a {
        self.children.iter().filter(move |c| c.name == name)
    }

    /// The element at a `/`-separated path of child names (`"appmsg/refermsg/svrid"`).
    pub fn at(&self, path: &str) -> Option<&Node> {
        path.split('/').filter(|p| !p.is_empty()).try_fold(self, |n, part| n.child(part))
    }

    /// Text at `path` ("" when absent).
    pub fn text_at(&self, path: &str) -> &str {
        self.at(path).map(|n| n.text.as_str()).unwrap_or_default()
    }

    /// An attribute's value.
    pub fn attr(&self, name: &str) -> Option<&str> {
        self.attrs.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }

    /// An attribute's value, "" when absent.
    pub fn attr_or_empty(&self, name: &str) -> &str {
        self.attr(name).unwrap_or_default()
    }

    /// The first element named `name` anywhere below (depth first), or this one.
    pub fn find(&self, name: &str) -> Option<&Node> {
        if self.name == name {
            return Some(self);
        }
        self.children.iter().find_map(|c| c.find(name))
    }
}

fn entity(name: &str) -> Option<char> {
    Some(match name {
        "amp" => '&',
        "lt" => '<',
        "gt" => '>',
        "quot" => '"',
        "apos" => '\'',
        _ => {
            let num = name.strip_prefix('#')?;
            let code = match num.strip_prefix('x').or_else(|| num.strip_prefix('X')) {
                Some(hex) => u32::from_str_radix(hex, 16).ok()?,
                None => num.parse().ok()?,
            };
            char::from_u32(code)?
        }
    })
}

/// Unescapes `&amp;`-style references in `s` (unknown ones are kept as written).
pub fn unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(amp) = rest.find('&') {
        out.push_str(&rest[..amp]);
        let after = &rest[amp + 1..];
        match after.find(';').filter(|&end| end <= 10).and_then(|end| Some((entity(&after[..end])?, end))) {
            Some((c, end)) => {
                out.push(c);
                rest = &after[end + 1..];
            }
            None => {
                out.push('&');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

/// Escapes text for an XML element or attribute value.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
    out
}

fn element(e: &quick_xml::events::BytesStart<'_>) -> Node {
    let name = String::from_utf8_lossy(e.name().as_ref()).into_owned();
    let attrs = e
        .attributes()
        .with_checks(false)
        .flatten()
        .map(|a| {
            let key = String::from_utf8_lossy(a.key.as_ref()).into_owned();
            let raw = String::from_utf8_lossy(&a.value);
            (key, unescape(&raw))
        })
        .collect();
    Node { name, attrs, ..Default::default() }
}

fn finish(mut n: Node) -> Node {
    let trimmed = n.text.trim();
    if trimmed.len() != n.text.len() {
        n.text = trimmed.to_owned();
    }
    n
}

/// Parses `xml` into its root element (the first top-level element; a synthetic root named
/// `""` holding every top-level element when there are several). `None` when there is no
/// element at all.
pub fn parse(xml: &str) -> Option<Node> {
    let xml = if xml.len() > MAX_XML_BYTES {
        let mut cut = MAX_XML_BYTES;
        while !xml.is_char_boundary(cut) {
            cut -= 1;
        }
        &xml[..cut]
    } else {
        xml
    };
    let mut reader = Reader::from_str(xml);
    let config = reader.config_mut();
    config.check_end_names = false;
    config.allow_unmatched_ends = true;
    config.trim_text(false);
    // stack[0] is the synthetic document node.
    let mut stack: Vec<Node> = vec![Node::default()];
    let mut flattened = 0usize;
    loop {
        match reader.read_event() {
            Ok(Event::Start(e)) => {
                if stack.len() > MAX_DEPTH {
                    flattened += 1;
                } else {
                    stack.push(element(&e));
                }
            }
            Ok(Event::Empty(e)) => {
                if stack.len() <= MAX_DEPTH {
                    let n = element(&e);
                    stack.last_mut().expect("document node").children.push(n);
                }
            }
            Ok(Event::End(e)) => {
                if flattened > 0 {
                    flattened -= 1;
                    continue;
                }
                let name = String::from_utf8_lossy(e.name().as_ref()).into_owned();
                // Close up to the nearest open element of this name; ignore a stray end tag.
                if let Some(pos) = stack.iter().rposition(|n| n.name == name).filter(|&p| p > 0) {
                    while stack.len() > pos {
                        let done = finish(stack.pop().expect("len > pos"));
                        stack.last_mut().expect("document node").children.push(done);
                    }
                }
            }
            Ok(Event::Text(t)) => {
                let raw = String::from_utf8_lossy(&t);
                stack.last_mut().expect("document node").text.push_str(&raw);
            }
            Ok(Event::CData(t)) => {
                stack.last_mut().expect("document node").text.push_str(&String::from_utf8_lossy(&t));
            }
            Ok(Event::GeneralRef(r)) => {
                let name = String::from_utf8_lossy(&r);
                let top = stack.last_mut().expect("document node");
                match entity(&name) {
                    Some(c) => top.text.push(c),
                    None => {
                        top.text.push('&');
                        top.text.push_str(&name);
                        top.text.push(';');
                    }
                }
            }
            Ok(Event::Eof) | Err(_) => break,
            Ok(_) => {}
        }
    }
    // Unclosed elements are closed at the end.
    while stack.len() > 1 {
        let done = finish(stack.pop().expect("len > 1"));
        stack.last_mut().expect("document node").children.push(done);
    }
    let mut doc = stack.pop().expect("document node");
    match doc.children.len() {
        0 => None,
        1 => doc.children.pop(),
        _ => Some(finish(doc)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_declaration_cdata_entities_and_spaced_attributes() {
        let x = parse(
            "<?xml version=\"1.0\"?>\n<msg>\n\t<appmsg appid=\"\" sdkver=\"0\">\n\t\t<title><![CDATA[111.txt]]></title>\n\t\t<url>http://a/?x=1&amp;y=2</url>\n\t</appmsg>\n\t<emoji fromusername = \"wxid_a\" len = \"682055\" />\n</msg>",
        )
        .unwrap();
        assert_eq!(x.name, "msg");
        assert_eq!(x.text_at("appmsg/title"), "111.txt");
        assert_eq!(x.text_at("appmsg/url"), "http://a/?x=1&y=2");
        assert_eq!(x.at("appmsg").unwrap().attr("sdkver"), Some("0"));
        let emoji = x.child("emoji").unwrap();
        assert_eq!((emoji.attr("fromusername"), emoji.attr("len")), (Some("wxid_a"), Some("682055")));
    }

    #[test]
    fn never_fails_on_broken_xml() {
        let x = parse("<msg><a>1</b><c>2</c>").unwrap();
        assert_eq!(x.text_at("a"), "1");
        assert_eq!(x.text_at("a/c"), "2", "unclosed elements hold what follows");
        assert!(parse("").is_none());
        assert!(parse("plain text").is_none());
        let x = parse("<a>&unknown; &#x4e2d;&#25991;</a>").unwrap();
        assert_eq!(x.text, "&unknown; 中文");
    }

    #[test]
    fn deep_nesting_is_bounded() {
        let deep = "<a>".repeat(10_000) + "x" + &"</a>".repeat(10_000);
        let x = parse(&deep).unwrap();
        let mut depth = 0;
        let mut n = &x;
        while let Some(c) = n.children.first() {
            n = c;
            depth += 1;
        }
        assert!(depth < MAX_DEPTH);
    }

    #[test]
    fn escaping_round_trips() {
        let s = "a<b>&\"c'";
        assert_eq!(unescape(&escape(s)), s);
        assert_eq!(unescape("&lt;msg&gt;&amp;amp;"), "<msg>&amp;");
        assert_eq!(unescape("AT&T; x & y"), "AT&T; x & y");
    }
}
