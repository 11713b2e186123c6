//! Friend requests (message type 37): the `<msg …/>` XML in `content` carries everything
//! `accept_new_friend` needs (`wcf-protocol.md` §5).

use quick_xml::Reader;
use quick_xml::events::Event;

/// What a friend request says.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FriendRequest {
    /// `encryptusername`: the v3 ticket.
    pub v3: String,
    /// `ticket`: the v4 ticket.
    pub v4: String,
    /// `scene`: how they found this account (pass it back unchanged).
    pub scene: i32,
    /// `fromusername`: the requester's wxid.
    pub wxid: String,
    /// `fromnickname`.
    pub nickname: String,
    /// `content`: the greeting.
    pub greeting: String,
}

/// Why a friend-request XML could not be read.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum FriendRequestError {
    /// Not well-formed XML, or no `<msg>` element.
    #[error("friend request content is not a <msg …/> element: {0}")]
    NotXml(String),
    /// A required attribute is missing.
    #[error("friend request lacks the `{0}` attribute")]
    Missing(&'static str),
}

impl FriendRequest {
    /// Parses the `content` of a type-37 message.
    pub fn parse(content: &str) -> Result<Self, FriendRequestError> {
        let mut reader = Reader::from_str(content);
        loop {
            match reader.read_event() {
                Ok(Event::Start(e)) | Ok(Event::Empty(e)) if e.name().as_ref() == b"msg" => {
                    let mut req = FriendRequest::default();
                    let mut scene = None;
                    for attr in e.attributes() {
                        let attr = attr.map_err(|e| FriendRequestError::NotXml(e.to_string()))?;
                        let value = attr.unescape_value().map_err(|e| FriendRequestError::NotXml(e.to_string()))?;
                        match attr.key.as_ref() {
                            b"encryptusername" => req.v3 = value.into_owned(),
                            b"ticket" => req.v4 = value.into_owned(),
                            b"scene" => scene = value.trim().parse::<i32>().ok(),
                            b"fromusername" => req.wxid = value.into_owned(),
                            b"fromnickname" => req.nickname = value.into_owned(),
                            b"content" => req.greeting = value.into_owned(),
                            _ => {}
                        }
                    }
                    if req.v3.is_empty() {
                        return Err(FriendRequestError::Missing("encryptusername"));
                    }
                    if req.v4.is_empty() {
                        return Err(FriendRequestError::Missing("ticket"));
                    }
                    req.scene = scene.ok_or(FriendRequestError::Missing("scene"))?;
                    return Ok(req);
                }
                Ok(Event::Eof) => return Err(FriendRequestError::NotXml("no <msg> element".into())),
                Ok(_) => {}
                Err(e) => return Err(FriendRequestError::NotXml(e.to_string())),
            }
        }
    }

    /// Renders the request as WeChat puts it in `content` (used by the emulator).
    pub fn to_xml(&self) -> String {
        format!(
            r#"<msg fromusername="{}" encryptusername="{}" fromnickname="{}" content="{}" fullpy="" imagestatus="3" scene="{}" country="CN" sex="0" ticket="{}" opcode="2" />"#,
            xml_escape(&self.wxid),
            xml_escape(&self.v3),
            xml_escape(&self.nickname),
            xml_escape(&self.greeting),
            self.scene,
            xml_escape(&self.v4),
        )
    }
}

/// Escapes text for an XML attribute or element.
pub fn xml_escape(s: &str) -> String {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_captured_shape() {
        let xml = r#"<msg fromusername="wxid_req" encryptusername="v3_020b3826fd03@stranger" fromnickname="yr" content="我是群聊&quot;x&quot;的yr" fullpy="yr" imagestatus="3" scene="14" country="CN" sex="2" alias="" ticket="v4_000b708f0b04@stranger" opcode="2" bigheadimgurl="http://wx.qlogo.cn/a"></msg>"#;
        let r = FriendRequest::parse(xml).unwrap();
        assert_eq!(r.v3, "v3_020b3826fd03@stranger");
        assert_eq!(r.v4, "v4_000b708f0b04@stranger");
        assert_eq!(r.scene, 14);
        assert_eq!(r.wxid, "wxid_req");
        assert_eq!(r.nickname, "yr");
        assert_eq!(r.greeting, "我是群聊\"x\"的yr");
    }

    #[test]
    fn round_trips_through_xml() {
        let r = FriendRequest {
            v3: "v3_a@stranger".into(),
            v4: "v4_b@stranger".into(),
            scene: 30,
            wxid: "wxid_c".into(),
            nickname: "<Tom & Jerry>".into(),
            greeting: "hi \"there\"".into(),
        };
        assert_eq!(FriendRequest::parse(&r.to_xml()).unwrap(), r);
    }

    #[test]
    fn rejects_missing_fields_and_garbage() {
        assert_eq!(
            FriendRequest::parse(r#"<msg ticket="v4" scene="1"/>"#),
            Err(FriendRequestError::Missing("encryptusername"))
        );
        assert_eq!(
            FriendRequest::parse(r#"<msg encryptusername="v3" scene="1"/>"#),
            Err(FriendRequestError::Missing("ticket"))
        );
        assert_eq!(
            FriendRequest::parse(r#"<msg encryptusername="v3" ticket="v4"/>"#),
            Err(FriendRequestError::Missing("scene"))
        );
        assert!(matches!(FriendRequest::parse("hello"), Err(FriendRequestError::NotXml(_))));
    }
}
