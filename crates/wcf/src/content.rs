//! What a message says, by kind: the `content` of every message type WeChat 3.9 delivers
//! through WeChatFerry, read into typed values (`wechat-messages.md` §3).
//!
//! [`parse`] never fails: a kind it does not know, or XML it cannot read, becomes
//! [`Content::Other`] with nothing lost (the caller still has the raw fields). System texts
//! (type 10000) and `<sysmsg>` XML (10002) are read by [`crate::system`].

use crate::message::msg_type;
use crate::xml::{self, Node};

/// Largest `CompressContent` this reader inflates (bigger ones are refused as damaged).
pub const MAX_INFLATED_BYTES: usize = 4 << 20;

/// A received message's content, by kind.
#[derive(Clone, Debug, PartialEq)]
pub enum Content {
    /// Type 1: the text as sent.
    Text(String),
    /// Type 3.
    Image(Image),
    /// Type 34.
    Voice(Voice),
    /// Type 42.
    Card(Card),
    /// Types 43 and 62.
    Video(Video),
    /// Type 47.
    Emoji(Emoji),
    /// Type 48.
    Location(Location),
    /// Type 49 (`<appmsg>`), by `appmsg/type`.
    App(App),
    /// Anything else, or XML that could not be read.
    Other,
}

/// Image attributes (`<img …/>`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Image {
    /// `md5`.
    pub md5: String,
    /// `length` in bytes.
    pub length: u64,
}

/// Voice attributes (`<voicemsg …/>`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Voice {
    /// `voicelength`, milliseconds.
    pub duration_ms: u64,
    /// `length`, bytes of the SILK data.
    pub length: u64,
    /// Speech-to-text (`<voicetrans transtext=…>`) when WeChat made one.
    pub transcript: Option<String>,
}

/// A shared contact card (`<msg username=… nickname=… …/>`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Card {
    /// `username`: a v3 ticket (`v3_…@stranger`), a wxid, or a `gh_` id for official accounts.
    pub username: String,
    /// `nickname`.
    pub nickname: String,
    /// `alias` (WeChat id).
    pub alias: String,
    /// `bigheadimgurl`, else `smallheadimgurl`.
    pub head_url: String,
    /// `province`.
    pub province: String,
    /// `city`.
    pub city: String,
    /// `sex`: 0 unknown, 1 male, 2 female.
    pub sex: i32,
    /// `antispamticket`: the v4 ticket for adding the person.
    pub ticket: String,
}

/// Video attributes (`<videomsg …/>`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Video {
    /// `playlength`, seconds.
    pub seconds: u64,
    /// `length`, bytes.
    pub length: u64,
    /// `md5`.
    pub md5: String,
}

/// Sticker attributes (`<emoji …/>`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Emoji {
    /// `md5`.
    pub md5: String,
    /// `cdnurl` (unescaped), where the sticker can be downloaded; may be empty.
    pub url: String,
    /// `len`, bytes.
    pub length: u64,
    /// `width`.
    pub width: u32,
    /// `height`.
    pub height: u32,
    /// `<gameext type content>` of dice and rock-paper-scissors, when not `0`.
    pub game: Option<(u32, u32)>,
}

/// A shared location (`<location x=… y=… …/>`).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Location {
    /// `x`.
    pub latitude: f64,
    /// `y`.
    pub longitude: f64,
    /// `label`: the address.
    pub label: String,
    /// `poiname`: the place's name.
    pub poiname: String,
    /// `scale`: map zoom.
    pub scale: u32,
}

/// An app message (`<appmsg>`).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct App {
    /// `appmsg/type`.
    pub subtype: u32,
    /// `title`.
    pub title: String,
    /// `des`.
    pub description: String,
    /// `url` (unescaped).
    pub url: String,
    /// `thumburl`.
    pub thumb_url: String,
    /// `sourcedisplayname` (official account or app that made it).
    pub source_name: String,
    /// `sourceusername` (`gh_…`).
    pub source_username: String,
    /// `appinfo/appname`.
    pub app_name: String,
    /// What the subtype carries.
    pub detail: AppDetail,
}

/// Subtype-specific fields of an app message.
#[derive(Clone, Debug, Default, PartialEq)]
pub enum AppDetail {
    /// 1, 2, 3, 4, 5, 76, 92 and other link-like cards (title, description, url).
    #[default]
    Link,
    /// 6 (a file; complete) and 74 (`uploading`: the sender is still uploading).
    File(File),
    /// 8: a GIF sticker the sender made.
    Gif {
        /// `appattach/emoticonmd5`.
        md5: String,
    },
    /// 19: forwarded chat history.
    ChatHistory(Vec<HistoryItem>),
    /// 33, 36: mini program.
    MiniProgram(MiniProgram),
    /// 50, 51, 63, 88: channels (视频号) video, card or live.
    Channels(Channels),
    /// 57: a quote-reply; the reply text is the app's `title`.
    Quote(Refer),
    /// 62: pat.
    Pat(Pat),
    /// 87: group announcement.
    Announcement(String),
    /// 2000: money transfer.
    Transfer(Transfer),
    /// 2001: red packet.
    RedPacket,
}

/// A file (`appattach`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct File {
    /// File name (`title`).
    pub name: String,
    /// `appattach/totallen`, bytes.
    pub size: u64,
    /// `appattach/fileext`.
    pub ext: String,
    /// `appmsg/md5` (or `appattach/md5`).
    pub md5: String,
    /// `appattach/overwrite_newmsgid`: the id of the "uploading" message this one completes.
    pub overwrite_id: Option<u64>,
    /// True for subtype 74.
    pub uploading: bool,
}

/// One item of a forwarded chat history (`recordinfo/datalist/dataitem`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HistoryItem {
    /// `datatype` (1 text, 2 image, 8 file, 17 nested history, …; the numbers of other kinds
    /// differ between sources).
    pub datatype: u32,
    /// `sourcename`: who said it.
    pub name: String,
    /// `sourcetime`, as WeChat wrote it.
    pub time: String,
    /// `datadesc`, else `datatitle`, else a bracketed kind name.
    pub text: String,
}

/// A mini program (`weappinfo`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MiniProgram {
    /// `weappinfo/appid`.
    pub appid: String,
    /// `weappinfo/username` (`gh_…@app`).
    pub username: String,
    /// `weappinfo/pagepath`.
    pub pagepath: String,
    /// `weappinfo/weappiconurl`.
    pub icon_url: String,
}

/// A channels (视频号) share (`finderFeed` or `finderLive`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Channels {
    /// Author's nickname.
    pub nickname: String,
    /// Description.
    pub description: String,
    /// First media URL (often expired or version-gated).
    pub url: String,
    /// Cover URL.
    pub cover_url: String,
    /// Thumbnail URL.
    pub thumb_url: String,
    /// `videoPlayDuration`, seconds.
    pub seconds: u64,
    /// `objectId`.
    pub object_id: String,
    /// `objectNonceId`.
    pub nonce_id: String,
    /// True for a live stream (`finderLive`).
    pub live: bool,
}

/// What a quote refers to (`refermsg`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Refer {
    /// `type`: the quoted message's base type.
    pub msg_type: u32,
    /// `svrid`: the quoted message's id.
    pub svr_id: u64,
    /// Who wrote the quoted message: `chatusr`, else `fromusr` (in groups `fromusr` is the room).
    pub sender: String,
    /// `fromusr`.
    pub from: String,
    /// `displayname`.
    pub display_name: String,
    /// The quoted text: the content for text, the title of a quoted app message, else a
    /// bracketed kind name.
    pub text: String,
}

/// A pat (拍一拍).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Pat {
    /// Who patted (wxid).
    pub from: String,
    /// Who was patted (wxid).
    pub patted: String,
    /// The conversation (room id or wxid).
    pub chat: String,
    /// The template, `${wxid}` placeholders unresolved.
    pub template: String,
}

/// A money transfer (`wcpayinfo`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Transfer {
    /// `feedesc` (`￥50.00`).
    pub amount: String,
    /// `pay_memo`.
    pub memo: String,
    /// `paysubtype`: 1 sent/pending, 3 accepted, 4 refunded, 5/7 delayed transfers.
    pub paysubtype: u32,
    /// `transferid`.
    pub transfer_id: String,
    /// `transcationid` (sic).
    pub transaction_id: String,
    /// `receiver_username`.
    pub receiver: String,
    /// `payer_username`.
    pub payer: String,
}

fn num<T: std::str::FromStr + Default>(s: &str) -> T {
    s.trim().parse().unwrap_or_default()
}

/// Strips the `sender:\n` prefix some group contents carry (`wechat-messages.md` §1.2): only
/// when XML follows it, or it is exactly the sender's or the room's id. Text that merely
/// contains `:\n` is kept.
pub fn strip_group_prefix<'a>(content: &'a str, sender: &str, room: &str) -> &'a str {
    let Some((head, rest)) = content.split_once(":\n") else { return content };
    let id_like = !head.is_empty() && head.bytes().all(|b| b.is_ascii_alphanumeric() || b"_-@.".contains(&b));
    if !id_like {
        return content;
    }
    if rest.trim_start().starts_with('<')
        || (!sender.is_empty() && head == sender)
        || (!room.is_empty() && head == room)
    {
        rest
    } else {
        content
    }
}

/// `CompressContent` of an `MSG` row: an lz4 block without a size header; the XML with
/// trailing NULs removed. `None` when it is not valid lz4 or inflates beyond
/// [`MAX_INFLATED_BYTES`].
pub fn inflate(compressed: &[u8]) -> Option<String> {
    if compressed.is_empty() {
        return None;
    }
    let mut size = (compressed.len() * 8).clamp(4096, MAX_INFLATED_BYTES);
    loop {
        match lz4_flex::block::decompress(compressed, size) {
            Ok(out) => {
                let text = String::from_utf8_lossy(&out);
                return Some(text.trim_end_matches('\0').to_owned());
            }
            Err(lz4_flex::block::DecompressError::OutputTooSmall { .. }) if size < MAX_INFLATED_BYTES => {
                size = (size * 4).min(MAX_INFLATED_BYTES);
            }
            Err(_) => return None,
        }
    }
}

/// The reverse of [`inflate`], as WeChat stores type-49 rows.
pub fn deflate(text: &str) -> Vec<u8> {
    lz4_flex::block::compress(text.as_bytes())
}

/// Reads `content` of a message of base type `msg_type`.
pub fn parse(msg_type: u32, content: &str) -> Content {
    if msg_type == msg_type::TEXT {
        return Content::Text(content.to_owned());
    }
    let Some(root) = xml::parse(content) else { return Content::Other };
    match msg_type {
        msg_type::IMAGE => root.find("img").map_or(Content::Other, |n| {
            Content::Image(Image { md5: n.attr_or_empty("md5").to_owned(), length: num(n.attr_or_empty("length")) })
        }),
        msg_type::VOICE => root.find("voicemsg").map_or(Content::Other, |n| {
            Content::Voice(Voice {
                duration_ms: num(n.attr_or_empty("voicelength")),
                length: num(n.attr_or_empty("length")),
                transcript: root
                    .find("voicetrans")
                    .and_then(|t| t.attr("transtext"))
                    .filter(|t| !t.is_empty())
                    .map(str::to_owned),
            })
        }),
        msg_type::CARD => {
            let n = root.find("msg").unwrap_or(&root);
            if n.attr("username").is_none() {
                return Content::Other;
            }
            let a = |k: &str| n.attr_or_empty(k).to_owned();
            let head =
                if n.attr_or_empty("bigheadimgurl").is_empty() { a("smallheadimgurl") } else { a("bigheadimgurl") };
            Content::Card(Card {
                username: a("username"),
                nickname: a("nickname"),
                alias: a("alias"),
                head_url: head,
                province: a("province"),
                city: a("city"),
                sex: num(n.attr_or_empty("sex")),
                ticket: a("antispamticket"),
            })
        }
        msg_type::VIDEO | msg_type::SHORT_VIDEO => root.find("videomsg").map_or(Content::Other, |n| {
            Content::Video(Video {
                seconds: num(n.attr_or_empty("playlength")),
                length: num(n.attr_or_empty("length")),
                md5: n.attr_or_empty("md5").to_owned(),
            })
        }),
        msg_type::EMOJI => root.find("emoji").map_or(Content::Other, |n| {
            let game = root.find("gameext").and_then(|g| {
                let t: u32 = num(g.attr_or_empty("type"));
                (t != 0).then(|| (t, num(g.attr_or_empty("content"))))
            });
            Content::Emoji(Emoji {
                md5: n.attr_or_empty("md5").to_owned(),
                url: xml::unescape(n.attr_or_empty("cdnurl")),
                length: num(n.attr_or_empty("len")),
                width: num(n.attr_or_empty("width")),
                height: num(n.attr_or_empty("height")),
                game,
            })
        }),
        msg_type::LOCATION => root.find("location").map_or(Content::Other, |n| {
            Content::Location(Location {
                latitude: num(n.attr_or_empty("x")),
                longitude: num(n.attr_or_empty("y")),
                label: n.attr_or_empty("label").to_owned(),
                poiname: n.attr_or_empty("poiname").to_owned(),
                scale: num(n.attr_or_empty("scale")),
            })
        }),
        msg_type::APP => root.find("appmsg").map_or(Content::Other, |a| Content::App(app(&root, a))),
        _ => Content::Other,
    }
}

fn app(root: &Node, a: &Node) -> App {
    let subtype: u32 = num(a.text_at("type"));
    let t = |p: &str| a.text_at(p).to_owned();
    let detail = match subtype {
        6 | 74 => AppDetail::File(File {
            name: t("title"),
            size: num(a.text_at("appattach/totallen")),
            ext: t("appattach/fileext"),
            md5: if a.text_at("md5").is_empty() { t("appattach/md5") } else { t("md5") },
            overwrite_id: a.text_at("appattach/overwrite_newmsgid").parse().ok().filter(|&v: &u64| v != 0),
            uploading: subtype == 74,
        }),
        8 => AppDetail::Gif { md5: t("appattach/emoticonmd5") },
        19 | 40 => AppDetail::ChatHistory(history(a)),
        33 | 36 => AppDetail::MiniProgram(MiniProgram {
            appid: t("weappinfo/appid"),
            username: t("weappinfo/username"),
            pagepath: t("weappinfo/pagepath"),
            icon_url: t("weappinfo/weappiconurl"),
        }),
        50 | 51 | 63 | 88 => AppDetail::Channels(channels(a)),
        57 => AppDetail::Quote(refer(a.child("refermsg"))),
        62 => AppDetail::Pat(app_pat(a)),
        87 => AppDetail::Announcement(if a.text_at("textannouncement").is_empty() {
            t("announcement")
        } else {
            t("textannouncement")
        }),
        2000 => AppDetail::Transfer(Transfer {
            amount: t("wcpayinfo/feedesc"),
            memo: t("wcpayinfo/pay_memo"),
            paysubtype: num(a.text_at("wcpayinfo/paysubtype")),
            transfer_id: t("wcpayinfo/transferid"),
            transaction_id: t("wcpayinfo/transcationid"),
            receiver: t("wcpayinfo/receiver_username"),
            payer: t("wcpayinfo/payer_username"),
        }),
        2001 => AppDetail::RedPacket,
        _ => AppDetail::Link,
    };
    App {
        subtype,
        title: t("title"),
        description: t("des"),
        url: t("url"),
        thumb_url: t("thumburl"),
        source_name: t("sourcedisplayname"),
        source_username: t("sourceusername"),
        app_name: root.text_at("appinfo/appname").to_owned(),
        detail,
    }
}

/// A bracketed name for a message kind, as chat clients show it in previews.
pub fn kind_label(msg_type: u32) -> &'static str {
    match msg_type {
        msg_type::TEXT => "[文字]",
        msg_type::IMAGE => "[图片]",
        msg_type::VOICE => "[语音]",
        msg_type::CARD => "[名片]",
        msg_type::VIDEO | msg_type::SHORT_VIDEO => "[视频]",
        msg_type::EMOJI => "[动画表情]",
        msg_type::LOCATION => "[位置]",
        msg_type::APP => "[链接]",
        _ => "[消息]",
    }
}

fn refer(r: Option<&Node>) -> Refer {
    let Some(r) = r else { return Refer::default() };
    let msg_type: u32 = num(r.text_at("type"));
    let from = r.text_at("fromusr").to_owned();
    let chat = r.text_at("chatusr");
    let raw = r.text_at("content");
    let text = match msg_type {
        msg_type::TEXT => raw.to_owned(),
        msg_type::APP => {
            // The quoted app message's XML, escaped or not; a quoted quote gives its title.
            let inner = xml::unescape(raw);
            xml::parse(&inner)
                .and_then(|n| n.find("appmsg").map(|a| a.text_at("title").to_owned()))
                .filter(|t| !t.is_empty())
                .unwrap_or_else(|| kind_label(msg_type).to_owned())
        }
        other => kind_label(other).to_owned(),
    };
    Refer {
        msg_type,
        svr_id: num(r.text_at("svrid")),
        sender: if chat.is_empty() { from.clone() } else { chat.to_owned() },
        from,
        display_name: r.text_at("displayname").to_owned(),
        text,
    }
}

fn history(a: &Node) -> Vec<HistoryItem> {
    let Some(item) = a.child("recorditem") else { return Vec::new() };
    // CDATA, escaped text, or (rarely) literal elements.
    let parsed;
    let info = match item.child("recordinfo") {
        Some(n) => n,
        None => {
            // CDATA holds the XML as is; an escaped form starts with `&lt;`.
            let text =
                if item.text.trim_start().starts_with("&lt;") { xml::unescape(&item.text) } else { item.text.clone() };
            parsed = xml::parse(&text);
            match parsed.as_ref().and_then(|n| n.find("recordinfo")) {
                Some(n) => n,
                None => return Vec::new(),
            }
        }
    };
    let Some(list) = info.child("datalist") else { return Vec::new() };
    list.children_named("dataitem")
        .map(|d| {
            let datatype: u32 = num(d.attr_or_empty("datatype"));
            let text = [d.text_at("datadesc"), d.text_at("datatitle")]
                .into_iter()
                .find(|s| !s.is_empty())
                .map(str::to_owned)
                .unwrap_or_else(|| history_label(datatype).to_owned());
            HistoryItem {
                datatype,
                name: d.text_at("sourcename").to_owned(),
                time: d.text_at("sourcetime").to_owned(),
                text,
            }
        })
        .collect()
}

/// Labels for chat-history item types both sources agree on (§3.8.4).
fn history_label(datatype: u32) -> &'static str {
    match datatype {
        1 => "[文字]",
        2 => "[图片]",
        8 => "[文件]",
        17 => "[聊天记录]",
        19 => "[小程序]",
        22 | 23 => "[视频号]",
        37 => "[动画表情]",
        _ => "[消息]",
    }
}

fn channels(a: &Node) -> Channels {
    if let Some(live) = a.child("finderLive") {
        return Channels {
            nickname: live.text_at("nickname").to_owned(),
            description: live.text_at("desc").to_owned(),
            cover_url: live.text_at("headUrl").to_owned(),
            live: true,
            ..Default::default()
        };
    }
    let Some(f) = a.child("finderFeed").or_else(|| a.child("findernamecard")) else { return Channels::default() };
    let media = f.at("mediaList/media");
    let m = |p: &str| media.map(|n| n.text_at(p).to_owned()).unwrap_or_default();
    Channels {
        nickname: f.text_at("nickname").to_owned(),
        description: f.text_at("desc").to_owned(),
        url: m("url"),
        cover_url: m("coverUrl"),
        thumb_url: m("thumbUrl"),
        seconds: num(&m("videoPlayDuration")),
        object_id: f.text_at("objectId").to_owned(),
        nonce_id: f.text_at("objectNonceId").to_owned(),
        live: false,
    }
}

fn app_pat(a: &Node) -> Pat {
    let record = a.at("patMsg/records/record");
    let r = |p: &str| record.map(|n| n.text_at(p).to_owned()).unwrap_or_default();
    let template = if r("templete").is_empty() { r("template") } else { r("templete") };
    Pat { from: r("fromUser"), patted: r("pattedUser"), chat: a.text_at("patMsg/chatUser").to_owned(), template }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_rule() {
        assert_eq!(strip_group_prefix("wxid_a:\n<msg/>", "wxid_a", "1@chatroom"), "<msg/>");
        assert_eq!(strip_group_prefix("1@chatroom:\n<sysmsg/>", "", "1@chatroom"), "<sysmsg/>");
        assert_eq!(strip_group_prefix("wxid_a:\nhello", "wxid_a", "r@chatroom"), "hello");
        assert_eq!(strip_group_prefix("note:\nbuy milk", "wxid_a", "r@chatroom"), "note:\nbuy milk");
        assert_eq!(strip_group_prefix("看这个:\n<b>", "wxid_a", ""), "看这个:\n<b>");
    }

    #[test]
    fn compress_content_round_trips_and_refuses_garbage() {
        let xml = "<msg><appmsg><title>hi</title><type>57</type></appmsg></msg>".repeat(50);
        let packed = deflate(&xml);
        assert!(packed.len() < xml.len());
        assert_eq!(inflate(&packed).as_deref(), Some(xml.as_str()));
        let mut with_nul = xml.clone().into_bytes();
        with_nul.extend([0, 0, 0]);
        assert_eq!(inflate(&lz4_flex::block::compress(&with_nul)).as_deref(), Some(xml.as_str()));
        assert_eq!(inflate(&[0xff, 0xff, 0xff]), None);
        assert_eq!(inflate(&[]), None);
        // A bomb: a tiny input claiming far more than the cap.
        let bomb = lz4_flex::block::compress(&vec![b'a'; MAX_INFLATED_BYTES + 10]);
        assert_eq!(inflate(&bomb), None);
    }
}
