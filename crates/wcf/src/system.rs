//! System messages: the texts of type 10000 (`wechat-messages.md` §3.12) and the `<sysmsg>` XML
//! of type 10002 (§3.13), read into what happened.
//!
//! System texts name people by their **display name** in the group (or nickname), never by
//! wxid; several names are joined with `、`. Resolving them is the caller's job.

use crate::xml::{self, Node};

/// What a type-10000 text says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SystemText {
    /// `你已添加了X，现在可以开始聊天了。` / `X刚刚把你添加到通讯录，现在可以开始聊天了。`
    FriendAdded {
        /// The new friend's name.
        name: String,
    },
    /// `X开启了朋友验证，你还不是他（她）朋友。…`: X deleted this account.
    FriendGone {
        /// The former friend's name.
        name: String,
    },
    /// Someone (or this account, `inviter: None`) invited people into the group.
    Invited {
        /// Who invited, `None` = this account.
        inviter: Option<String>,
        /// Who joined.
        names: Vec<String>,
    },
    /// This account was invited (`"X"邀请你加入了群聊…`, `"X"邀请你和"Y"加入了群聊`).
    InvitedMe {
        /// Who invited.
        inviter: String,
        /// Others invited together with this account.
        others: Vec<String>,
    },
    /// People joined by scanning a QR code (`sharer: None` = this account's code).
    JoinedByQr {
        /// Who joined.
        names: Vec<String>,
        /// Whose code they scanned.
        sharer: Option<String>,
    },
    /// This account removed people (`你将"X"移出了群聊`).
    Removed {
        /// Who was removed.
        names: Vec<String>,
    },
    /// This account was removed (`你被"X"移出群聊`).
    RemovedMe {
        /// Who removed it.
        operator: String,
    },
    /// The group was renamed (`operator: None` = by this account).
    Renamed {
        /// Who renamed it.
        operator: Option<String>,
        /// The new name.
        name: String,
    },
    /// A pat (`"X" 拍了拍我`, `"X" 拍了拍 "Y"`, `我拍了拍"Y"`, `我拍了拍自己`); `None` = this
    /// account.
    Pat {
        /// Who patted.
        from: Option<String>,
        /// Who was patted.
        patted: Option<String>,
        /// The patter's suffix (`的小脑袋`), if any.
        suffix: String,
    },
    /// `收到红包，请在手机上查看`.
    RedPacket,
    /// `"X" 撤回了一条消息` / `你撤回了一条消息` (WeChat 3.9.12's recall form).
    Recalled {
        /// Who recalled, `None` = this account.
        name: Option<String>,
    },
    /// Anything else.
    Other,
}

/// `"X"` exactly (first and last characters are quotes, ASCII or curly): X.
fn wrapped(s: &str) -> Option<&str> {
    let s = s.trim();
    let s = s.strip_prefix('"').or_else(|| s.strip_prefix('“'))?;
    s.strip_suffix('"').or_else(|| s.strip_suffix('”'))
}

fn names(list: &str) -> Vec<String> {
    list.split('、').map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned).collect()
}

/// `"X"` at the start of `s`: X and what follows (quotes may be ASCII or the curly pair).
fn quoted(s: &str) -> Option<(&str, &str)> {
    let s = s.strip_prefix('"').or_else(|| s.strip_prefix('“'))?;
    let end = s.find(['"', '”'])?;
    let close = s[end..].chars().next()?.len_utf8();
    Some((&s[..end], &s[end + close..]))
}

/// Reads a type-10000 text.
pub fn parse_text(text: &str) -> SystemText {
    let t = text.trim();
    if let Some(rest) = t.strip_prefix("你已添加了")
        && let Some((name, _)) = rest.split_once('，')
    {
        return SystemText::FriendAdded { name: name.to_owned() };
    }
    if let Some(name) = t.strip_suffix("刚刚把你添加到通讯录，现在可以开始聊天了。") {
        return SystemText::FriendAdded { name: name.to_owned() };
    }
    if let Some((name, _)) = t.split_once("开启了朋友验证，你还不是他（她）朋友")
        && !name.is_empty()
    {
        return SystemText::FriendGone { name: name.to_owned() };
    }
    if t.contains("收到红包，请在手机上查看") {
        return SystemText::RedPacket;
    }
    if t == "你撤回了一条消息" {
        return SystemText::Recalled { name: None };
    }
    if let Some(rest) = t.strip_prefix("你邀请")
        && let Some(end) = rest.find("加入了群聊")
        && let Some(who) = wrapped(&rest[..end])
    {
        // `你邀请"A、B"加入了群聊` (maybe followed by `  撤销` / `$revoke$`).
        return SystemText::Invited { inviter: None, names: names(who) };
    }
    if let Some(rest) = t.strip_prefix("你将")
        && let Some(who) = rest.strip_suffix("移出了群聊")
        && let Some(who) = wrapped(who)
    {
        return SystemText::Removed { names: names(who) };
    }
    if let Some(rest) = t.strip_prefix("你被")
        && let Some((op, tail)) = quoted(rest)
        && tail.starts_with("移出群聊")
    {
        return SystemText::RemovedMe { operator: op.to_owned() };
    }
    if let Some(rest) = t.strip_prefix("你修改群名为") {
        return SystemText::Renamed { operator: None, name: unquote_name(rest) };
    }
    if let Some(rest) = t.strip_prefix("我拍了拍") {
        return match quoted(rest) {
            Some((who, suffix)) => {
                SystemText::Pat { from: None, patted: Some(who.to_owned()), suffix: suffix.trim().to_owned() }
            }
            None => SystemText::Pat {
                from: None,
                patted: None,
                suffix: rest.strip_prefix("自己").unwrap_or(rest).trim().to_owned(),
            },
        };
    }
    let Some((first, rest)) = quoted(t.strip_prefix(' ').unwrap_or(t)) else { return SystemText::Other };
    let first = first.trim();
    if let Some(after) = rest.strip_prefix("邀请你加入了群聊") {
        let others = after.split_once('：').map(|(_, l)| names(l)).unwrap_or_default();
        return SystemText::InvitedMe { inviter: first.to_owned(), others };
    }
    if let Some(after) = rest.strip_prefix("邀请你和")
        && let Some((others, tail)) = quoted(after)
        && tail.starts_with("加入了群聊")
    {
        return SystemText::InvitedMe { inviter: first.to_owned(), others: names(others) };
    }
    if let Some(after) = rest.strip_prefix("邀请")
        && let Some(end) = after.rfind("加入了群聊")
        && let Some(who) = wrapped(&after[..end])
    {
        return SystemText::Invited { inviter: Some(first.to_owned()), names: names(who) };
    }
    if rest.starts_with("通过扫描你分享的二维码加入群聊") {
        return SystemText::JoinedByQr { names: names(first), sharer: None };
    }
    if let Some(after) = rest.strip_prefix("通过扫描")
        && let Some((sharer, tail)) = quoted(after)
        && tail.starts_with("分享的二维码加入群聊")
    {
        return SystemText::JoinedByQr { names: names(first), sharer: Some(sharer.to_owned()) };
    }
    if let Some(after) = rest.strip_prefix("修改群名为") {
        return SystemText::Renamed { operator: Some(first.to_owned()), name: unquote_name(after) };
    }
    if let Some(after) = rest.trim_start().strip_prefix("拍了拍") {
        let after = after.trim_start();
        if let Some(suffix) = after.strip_prefix('我') {
            return SystemText::Pat { from: Some(first.to_owned()), patted: None, suffix: suffix.trim().to_owned() };
        }
        if let Some(suffix) = after.strip_prefix("自己") {
            return SystemText::Pat {
                from: Some(first.to_owned()),
                patted: Some(first.to_owned()),
                suffix: suffix.trim().to_owned(),
            };
        }
        if let Some((who, suffix)) = quoted(after) {
            return SystemText::Pat {
                from: Some(first.to_owned()),
                patted: Some(who.to_owned()),
                suffix: suffix.trim().to_owned(),
            };
        }
    }
    if rest.trim_start().starts_with("撤回了一条消息") {
        return SystemText::Recalled { name: Some(first.to_owned()) };
    }
    SystemText::Other
}

/// The new group name after `修改群名为`: in curly quotes `“…”`, or ASCII quotes.
fn unquote_name(s: &str) -> String {
    let s = s.trim();
    let inner = s
        .strip_prefix('“')
        .and_then(|r| r.strip_suffix('”'))
        .or_else(|| s.strip_prefix('"').and_then(|r| r.strip_suffix('"')))
        .unwrap_or(s);
    inner.to_owned()
}

/// What a type-10002 `<sysmsg>` says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SysMsg {
    /// `revokemsg`.
    Revoke {
        /// `session`: the conversation.
        session: String,
        /// `newmsgid`: the recalled message's id.
        recalled: u64,
        /// `replacemsg`: the text shown instead.
        text: String,
    },
    /// `pat`.
    Pat(crate::content::Pat),
    /// `sysmsgtemplate`: rendered text and the people it links, by link name.
    Template {
        /// `content_template/@type` (`tmpl_type_profile`, `tmpl_type_profilewithrevokeqrcode`, …).
        kind: String,
        /// The template (`"$username$"邀请"$names$"加入了群聊`).
        template: String,
        /// The template with every link replaced by its names.
        text: String,
        /// `(link name, [(wxid, nickname)])`.
        links: Vec<(String, Vec<(String, String)>)>,
    },
    /// `mmchatroombarannouncememt` (sic): a new group announcement.
    Announcement {
        /// The text.
        text: String,
    },
    /// Any other `type`.
    Other {
        /// `sysmsg/@type`.
        kind: String,
    },
}

impl SysMsg {
    /// For a template: the members of link `name`.
    pub fn link(&self, name: &str) -> &[(String, String)] {
        match self {
            SysMsg::Template { links, .. } => {
                links.iter().find(|(n, _)| n == name).map(|(_, m)| m.as_slice()).unwrap_or_default()
            }
            _ => &[],
        }
    }
}

/// Reads a type-10002 content (a `room:\n` prefix, if any, already stripped). `None` when it is
/// not `<sysmsg>`.
pub fn parse_sysmsg(content: &str) -> Option<SysMsg> {
    let root = xml::parse(content)?;
    let sys = root.find("sysmsg")?;
    let kind = sys.attr_or_empty("type").to_owned();
    Some(match kind.as_str() {
        "revokemsg" => {
            let r = sys.child("revokemsg").unwrap_or(sys);
            SysMsg::Revoke {
                session: r.text_at("session").to_owned(),
                recalled: r.text_at("newmsgid").trim().parse().unwrap_or(0),
                text: r.text_at("replacemsg").to_owned(),
            }
        }
        "pat" => {
            let p = sys.child("pat").unwrap_or(sys);
            SysMsg::Pat(crate::content::Pat {
                from: p.text_at("fromusername").to_owned(),
                patted: p.text_at("pattedusername").to_owned(),
                chat: p.text_at("chatusername").to_owned(),
                template: p.text_at("template").to_owned(),
            })
        }
        "sysmsgtemplate" => template(sys),
        "mmchatroombarannouncememt" => {
            SysMsg::Announcement { text: sys.text_at("mmchatroombarannouncememt/content").to_owned() }
        }
        _ => SysMsg::Other { kind },
    })
}

fn template(sys: &Node) -> SysMsg {
    let Some(ct) = sys.at("sysmsgtemplate/content_template") else {
        return SysMsg::Other { kind: "sysmsgtemplate".into() };
    };
    let template = ct.text_at("template").to_owned();
    let mut links = Vec::new();
    let mut text = template.clone();
    if let Some(list) = ct.child("link_list") {
        for link in list.children_named("link") {
            let name = link.attr_or_empty("name").to_owned();
            let members: Vec<(String, String)> = link
                .at("memberlist")
                .map(|ml| {
                    ml.children_named("member")
                        .map(|m| (m.text_at("username").to_owned(), m.text_at("nickname").to_owned()))
                        .collect()
                })
                .unwrap_or_default();
            let sep = link.child("separator").map(|s| s.text.as_str()).filter(|s| !s.is_empty()).unwrap_or("、");
            let shown = if link.attr("hidden") == Some("1") {
                String::new()
            } else if members.is_empty() {
                link.text_at("title").to_owned()
            } else {
                members.iter().map(|(_, n)| n.as_str()).collect::<Vec<_>>().join(sep)
            };
            text = text.replace(&format!("${name}$"), &shown);
            links.push((name, members));
        }
    }
    SysMsg::Template { kind: ct.attr_or_empty("type").to_owned(), template, text: text.trim().to_owned(), links }
}

/// Replaces `${wxid}` placeholders of a pat template with names from `name_of`.
pub fn render_pat(template: &str, name_of: impl Fn(&str) -> String) -> String {
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        match after.find('}') {
            Some(end) => {
                out.push_str(&name_of(&after[..end]));
                rest = &after[end + 1..];
            }
            None => {
                out.push_str(&rest[start..]);
                rest = "";
            }
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn every_known_text() {
        use SystemText::*;
        let cases: Vec<(&str, SystemText)> = vec![
            ("你已添加了张三，现在可以开始聊天了。", FriendAdded { name: "张三".into() }),
            ("张三刚刚把你添加到通讯录，现在可以开始聊天了。", FriendAdded { name: "张三".into() }),
            (
                "张三开启了朋友验证，你还不是他（她）朋友。请先发送朋友验证请求，对方验证通过后，才能聊天。",
                FriendGone { name: "张三".into() },
            ),
            ("你邀请\"李四、王五\"加入了群聊  撤销", Invited { inviter: None, names: s(&["李四", "王五"]) }),
            (
                "\"张三\"邀请你加入了群聊，群聊参与人还有：李四、王五",
                InvitedMe { inviter: "张三".into(), others: s(&["李四", "王五"]) },
            ),
            ("\"张三\"邀请你和\"李四\"加入了群聊", InvitedMe { inviter: "张三".into(), others: s(&["李四"]) }),
            (
                "\"张三\"邀请\"李四、王五\"加入了群聊",
                Invited { inviter: Some("张三".into()), names: s(&["李四", "王五"]) },
            ),
            ("\" 李四\"通过扫描你分享的二维码加入群聊", JoinedByQr { names: s(&["李四"]), sharer: None }),
            (
                "\" 李四\"通过扫描\"张三\"分享的二维码加入群聊",
                JoinedByQr { names: s(&["李四"]), sharer: Some("张三".into()) },
            ),
            ("你将\"李四\"移出了群聊", Removed { names: s(&["李四"]) }),
            ("你被\"张三\"移出群聊", RemovedMe { operator: "张三".into() }),
            ("\"张三\"修改群名为“周末爬山”", Renamed { operator: Some("张三".into()), name: "周末爬山".into() }),
            ("你修改群名为“新名字”", Renamed { operator: None, name: "新名字".into() }),
            ("\"张三\" 拍了拍我", Pat { from: Some("张三".into()), patted: None, suffix: String::new() }),
            (
                "\"张三\" 拍了拍 \"李四\" 的小脑袋",
                Pat { from: Some("张三".into()), patted: Some("李四".into()), suffix: "的小脑袋".into() },
            ),
            ("我拍了拍自己", Pat { from: None, patted: None, suffix: String::new() }),
            ("我拍了拍\"李四\"", Pat { from: None, patted: Some("李四".into()), suffix: String::new() }),
            ("收到红包，请在手机上查看", RedPacket),
            ("\"张三\" 撤回了一条消息", Recalled { name: Some("张三".into()) }),
            ("你撤回了一条消息", Recalled { name: None }),
            ("群主\"张三\"已解散该群聊", Other),
            ("随便什么", Other),
        ];
        for (text, want) in cases {
            assert_eq!(parse_text(text), want, "{text}");
        }
    }

    #[test]
    fn names_with_quotes_inside_invites() {
        // A newcomer whose display name itself contains 邀请: the last 加入了群聊 ends the list.
        assert_eq!(
            parse_text("\"A\"邀请\"邀请者B\"加入了群聊"),
            SystemText::Invited { inviter: Some("A".into()), names: s(&["邀请者B"]) }
        );
    }

    #[test]
    fn sysmsg_forms() {
        let revoke = "<sysmsg type=\"revokemsg\"><revokemsg><session>wxid_aaa01</session><msgid>1636598298</msgid><newmsgid>8957146552862694275</newmsgid><replacemsg><![CDATA[\"张三\" 撤回了一条消息]]></replacemsg></revokemsg></sysmsg>";
        assert_eq!(
            parse_sysmsg(revoke),
            Some(SysMsg::Revoke {
                session: "wxid_aaa01".into(),
                recalled: 8957146552862694275,
                text: "\"张三\" 撤回了一条消息".into()
            })
        );
        let pat = "<sysmsg type=\"pat\">\n<pat>\n  <fromusername>wxid_aaa01</fromusername>\n  <chatusername>12345678901@chatroom</chatusername>\n  <pattedusername>wxid_self01</pattedusername>\n  <patsuffix><![CDATA[]]></patsuffix>\n  <patsuffixversion>0</patsuffixversion>\n  <template><![CDATA[\"${wxid_aaa01}\" 拍了拍我]]></template>\n</pat>\n</sysmsg>";
        let Some(SysMsg::Pat(p)) = parse_sysmsg(pat) else { panic!("pat") };
        assert_eq!(
            (p.from.as_str(), p.patted.as_str(), p.chat.as_str()),
            ("wxid_aaa01", "wxid_self01", "12345678901@chatroom")
        );
        assert_eq!(
            render_pat(&p.template, |w| if w == "wxid_aaa01" { "张三".into() } else { w.into() }),
            "\"张三\" 拍了拍我"
        );
        assert_eq!(parse_sysmsg("not xml"), None);
        let tmpl = "<sysmsg type=\"sysmsgtemplate\">\n\t<sysmsgtemplate>\n\t\t<content_template type=\"tmpl_type_profile\">\n\t\t\t<plain><![CDATA[]]></plain>\n\t\t\t<template><![CDATA[\"$username$\"邀请\"$names$\"加入了群聊]]></template>\n\t\t\t<link_list>\n\t\t\t\t<link name=\"username\" type=\"link_profile\">\n\t\t\t\t\t<memberlist><member><username><![CDATA[wxid_aaa01]]></username><nickname><![CDATA[张三]]></nickname></member></memberlist>\n\t\t\t\t</link>\n\t\t\t\t<link name=\"names\" type=\"link_profile\">\n\t\t\t\t\t<memberlist><member><username><![CDATA[wxid_bbb02]]></username><nickname><![CDATA[李四]]></nickname></member><member><username><![CDATA[wxid_ccc03]]></username><nickname><![CDATA[王五]]></nickname></member></memberlist>\n\t\t\t\t\t<separator><![CDATA[、]]></separator>\n\t\t\t\t</link>\n\t\t\t</link_list>\n\t\t</content_template>\n\t</sysmsgtemplate>\n</sysmsg>";
        let t = parse_sysmsg(tmpl).unwrap();
        let SysMsg::Template { text, .. } = &t else { panic!("template") };
        assert_eq!(text, "\"张三\"邀请\"李四、王五\"加入了群聊");
        assert_eq!(t.link("username"), &[("wxid_aaa01".to_string(), "张三".to_string())]);
        assert_eq!(t.link("names").len(), 2);
        assert_eq!(parse_text(text), SystemText::Invited { inviter: Some("张三".into()), names: s(&["李四", "王五"]) });
        assert_eq!(parse_sysmsg("<sysmsg type=\"secmsg\"/>"), Some(SysMsg::Other { kind: "secmsg".into() }));
    }
}

#[cfg(test)]
mod capture_tests {
    use super::*;

    #[test]
    fn the_join_template_capture() {
        let raw = include_str!("../../../tests/captures/join_template_ipad.xml");
        let content = crate::content::strip_group_prefix(raw, "wxid_aaa01", "12345678901@chatroom");
        let t = parse_sysmsg(content).expect("a sysmsg");
        let SysMsg::Template { template, text, .. } = &t else { panic!("{t:?}") };
        assert!(template.contains("$names$"), "{template}");
        assert_eq!(text, "\"张三\"邀请\"李四\"加入了群聊");
        assert_eq!(t.link("names"), &[("wxid_bbb02".to_string(), "李四".to_string())]);
        assert_eq!(t.link("username")[0].0, "wxid_aaa01");
    }
}
