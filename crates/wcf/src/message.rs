//! Pure helpers over pushed messages ([`WxMsg`]): @-detection, chat ids, message types.

use crate::proto::WxMsg;

/// Well-known WeChat message types (`get_msg_types`, `wcf-protocol.md` §4.4).
pub mod msg_type {
    /// Moments post (after `refresh_pyq`).
    pub const MOMENTS: u32 = 0;
    /// Plain text.
    pub const TEXT: u32 = 1;
    /// Image (`<msg><img …/></msg>`; `thumb`/`extra` are `.dat` paths).
    pub const IMAGE: u32 = 3;
    /// Voice (SILK; fetch with `get_audio_msg`).
    pub const VOICE: u32 = 34;
    /// Friend request (`<msg fromusername=… encryptusername=… ticket=… scene=…/>`).
    pub const FRIEND_REQUEST: u32 = 37;
    /// Contact card.
    pub const CARD: u32 = 42;
    /// Video.
    pub const VIDEO: u32 = 43;
    /// Emoji / sticker.
    pub const EMOJI: u32 = 47;
    /// Location.
    pub const LOCATION: u32 = 48;
    /// App message (file, link, transfer, quote… subtype in `<appmsg><type>`).
    pub const APP: u32 = 49;
    /// VoIP call notice.
    pub const VOIP: u32 = 50;
    /// Status sync ("微信初始化"): a client signal, not a message.
    pub const STATUS_NOTIFY: u32 = 51;
    /// Short video ("小视频"), handled like [`VIDEO`].
    pub const SHORT_VIDEO: u32 = 62;
    /// System text ("你已添加了…", red packets).
    pub const SYSTEM: u32 = 10000;
    /// `<sysmsg>` XML: recalls and similar system events.
    pub const SYS_XML: u32 = 10002;
}

/// Ids that are not people: the special accounts of `wcf-protocol.md` §6.2.
pub const SPECIAL_ACCOUNTS: [&str; 6] = ["fmessage", "medianote", "floatbottle", "filehelper", "newsapp", "weixin"];

/// True for a chat-group id (`…@chatroom`).
pub fn is_room_id(id: &str) -> bool {
    id.ends_with("@chatroom")
}

/// True for an official/service account id (`gh_…`).
pub fn is_official_account(id: &str) -> bool {
    id.starts_with("gh_")
}

/// True for a contact that `get_friends` counts as a friend.
pub fn is_friend_id(id: &str) -> bool {
    !is_room_id(id) && !is_official_account(id) && !SPECIAL_ACCOUNTS.contains(&id)
}

/// The wxids listed in the message source's `<atuserlist>` (comma-separated, maybe in CDATA).
pub fn at_list(xml: &str) -> Vec<String> {
    let Some(start) = xml.find("<atuserlist>") else { return Vec::new() };
    let rest = &xml[start + "<atuserlist>".len()..];
    let Some(end) = rest.find("</atuserlist>") else { return Vec::new() };
    let inner = rest[..end].trim();
    let inner = inner.strip_prefix("<![CDATA[").and_then(|s| s.strip_suffix("]]>")).unwrap_or(inner);
    inner.split(',').map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned).collect()
}

/// True when the text contains an @all (`@所有人`, `@all`, `@All`), as the official client checks.
pub fn mentions_all(content: &str) -> bool {
    ["@所有人", "@all", "@All"].iter().any(|p| content.contains(p))
}

/// True when `msg` is a group message that @-mentions `wxid` personally.
///
/// Follows the official client's rule (group message, `wxid` in `<atuserlist>`, and the text is
/// not an @all), except that ids are compared whole: `wxid_a` does not match `wxid_ab`.
pub fn is_at(msg: &WxMsg, wxid: &str) -> bool {
    msg.is_group && !mentions_all(&msg.content) && at_list(&msg.xml).iter().any(|w| w == wxid)
}

/// The conversation a message belongs to: the room for group messages, otherwise the peer.
pub fn chat_id(msg: &WxMsg) -> &str {
    if msg.is_group || (msg.is_self && !msg.roomid.is_empty()) { &msg.roomid } else { &msg.sender }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn group(content: &str, xml: &str) -> WxMsg {
        WxMsg {
            is_group: true,
            roomid: "1@chatroom".into(),
            sender: "wxid_x".into(),
            content: content.into(),
            xml: xml.into(),
            ..Default::default()
        }
    }

    #[test]
    fn at_list_handles_cdata_and_plain() {
        assert_eq!(
            at_list("<msgsource><atuserlist><![CDATA[wxid_a,wxid_b]]></atuserlist></msgsource>"),
            ["wxid_a", "wxid_b"]
        );
        assert_eq!(at_list("<msgsource><atuserlist>,wxid_a</atuserlist></msgsource>"), ["wxid_a"]);
        assert!(at_list("<msgsource></msgsource>").is_empty());
    }

    #[test]
    fn is_at_requires_group_exact_id_and_not_all() {
        let xml = "<msgsource><atuserlist>wxid_ab</atuserlist></msgsource>";
        assert!(is_at(&group("@bot hi", xml), "wxid_ab"));
        assert!(!is_at(&group("@bot hi", xml), "wxid_a"));
        assert!(!is_at(&group("@所有人 hi", xml), "wxid_ab"));
        let mut private = group("@bot hi", xml);
        private.is_group = false;
        assert!(!is_at(&private, "wxid_ab"));
    }

    #[test]
    fn classification() {
        assert!(is_room_id("123@chatroom"));
        assert!(is_official_account("gh_abc"));
        assert!(is_friend_id("wxid_abc"));
        assert!(!is_friend_id("filehelper"));
        assert!(!is_friend_id("gh_abc"));
    }

    #[test]
    fn chat_id_rules() {
        let g = group("x", "");
        assert_eq!(chat_id(&g), "1@chatroom");
        let p = WxMsg { sender: "wxid_peer".into(), roomid: "wxid_peer".into(), ..Default::default() };
        assert_eq!(chat_id(&p), "wxid_peer");
        let mine = WxMsg { is_self: true, sender: "wxid_me".into(), roomid: "wxid_peer".into(), ..Default::default() };
        assert_eq!(chat_id(&mine), "wxid_peer");
    }
}
