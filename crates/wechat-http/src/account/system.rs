//! What a system message is about, resolved for one account before it becomes events: who
//! joined or left a group (display names → wxids, see [`super::rooms`]), who patted whom,
//! renamed a group or recalled a message; and the notices that come from comparing lists
//! rather than from a message (silent leaves, friends who are gone).

use std::collections::HashMap;

use onebot::{BotSelf, Event};
use wcf::WxMsg;
use wcf::content::{AppDetail, Content};
use wcf::message::msg_type;
use wcf::system::{SysMsg, SystemText};

use super::Account;
use super::rooms::{Member, resolve, resolve_one};
use crate::events::normalize::{Context, Draft, MemberChange};
use crate::wechat_db::ContactNames;

/// Everyone of `a` and `b`, once.
fn union(a: &[Member], b: &[Member]) -> Vec<Member> {
    let mut out = a.to_vec();
    for m in b {
        if !out.iter().any(|x| x.wxid == m.wxid) {
            out.push(m.clone());
        }
    }
    out
}

async fn names_of(account: &Account, members: &[Member]) -> HashMap<String, ContactNames> {
    let ids: Vec<String> = members.iter().map(|m| m.wxid.clone()).collect();
    match account.db.names(&account.backend, &ids).await {
        Ok(n) => n,
        Err(e) => {
            tracing::debug!(account = %account.name, error = %e, "cannot read member names");
            HashMap::new()
        }
    }
}

/// Keeps the changes not reported in the last two minutes (one join can come as a text and
/// as a template).
fn fresh(account: &Account, room: &str, changes: Vec<MemberChange>) -> Vec<MemberChange> {
    changes
        .into_iter()
        .filter(|c| {
            let who = if c.user_id.is_empty() { format!("name:{}", c.name) } else { c.user_id.clone() };
            !account.rooms.seen_recently(&format!("member:{room}:{who}:{}", c.increase))
        })
        .collect()
}

/// Fills `ctx` for system messages (10000 texts, 10002 `<sysmsg>`, app-message pats).
pub async fn resolve_into(account: &Account, m: &WxMsg, ctx: &mut Context) {
    let me = ctx.self_id.clone();
    let room = m.roomid.as_str();
    match m.r#type {
        msg_type::SYSTEM => {
            let text = wcf::system::parse_text(&m.content);
            match &text {
                SystemText::FriendAdded { .. } => {
                    let _ = account.contacts.refresh().await;
                }
                SystemText::FriendGone { .. } => {
                    let peer = if m.is_group { &m.sender } else { &m.roomid };
                    account.rooms.seen_recently(&format!("friend:{peer}:false"));
                    let _ = account.contacts.refresh().await;
                }
                _ => {}
            }
            if !m.is_group {
                if let SystemText::Recalled { name } = &text {
                    ctx.actor = Some(if name.is_none() { me.clone() } else { m.roomid.clone() });
                }
                if let SystemText::Pat { from, patted, .. } = &text {
                    ctx.actor = Some(if from.is_none() { me.clone() } else { m.roomid.clone() });
                    ctx.target = Some(if patted.is_none() { me } else { m.roomid.clone() });
                }
                return;
            }
            let before = account.rooms.before(account, room).await;
            let joined = matches!(
                text,
                SystemText::Invited { .. } | SystemText::InvitedMe { .. } | SystemText::JoinedByQr { .. }
            );
            let changes_members = joined || matches!(text, SystemText::Removed { .. } | SystemText::RemovedMe { .. });
            let after = if changes_members || matches!(text, SystemText::Renamed { .. }) {
                account.rooms.reread(account, room, &before, joined).await
            } else {
                before.clone()
            };
            let everyone = union(&before, &after);
            let names = names_of(account, &everyone).await;
            let who = |name: &Option<String>| match name {
                None => me.clone(),
                Some(n) => resolve_one(n, &everyone, &names),
            };
            let change =
                |increase: bool, sub_type: &'static str, operator: &str, list: &[String]| -> Vec<MemberChange> {
                    resolve(list, &before, &after, &names, increase)
                        .into_iter()
                        .map(|r| MemberChange {
                            increase,
                            sub_type,
                            user_id: r.wxid,
                            name: r.name,
                            operator_id: operator.to_owned(),
                        })
                        .collect()
                };
            let changes = match &text {
                SystemText::Invited { inviter, names: list } => change(true, "invite", &who(inviter), list),
                SystemText::InvitedMe { inviter, others } => {
                    let op = who(&Some(inviter.clone()));
                    let mut v = vec![MemberChange {
                        increase: true,
                        sub_type: "invite",
                        user_id: me.clone(),
                        name: String::new(),
                        operator_id: op.clone(),
                    }];
                    v.extend(change(true, "invite", &op, others));
                    v
                }
                SystemText::JoinedByQr { names: list, sharer } => change(true, "join", &who(sharer), list),
                SystemText::Removed { names: list } => change(false, "kick", &me, list),
                SystemText::RemovedMe { operator } => vec![MemberChange {
                    increase: false,
                    sub_type: "kick",
                    user_id: me.clone(),
                    name: String::new(),
                    operator_id: resolve_one(operator, &everyone, &names),
                }],
                SystemText::Renamed { operator, .. } => {
                    ctx.actor = Some(who(operator));
                    let _ = account.contacts.refresh().await;
                    Vec::new()
                }
                SystemText::Pat { from, patted, .. } => {
                    ctx.actor = Some(who(from));
                    ctx.target = Some(who(patted));
                    Vec::new()
                }
                SystemText::Recalled { name } => {
                    ctx.actor = Some(who(name));
                    Vec::new()
                }
                _ => Vec::new(),
            };
            ctx.members = fresh(account, room, changes);
        }
        msg_type::SYS_XML => match wcf::system::parse_sysmsg(&m.content) {
            Some(t @ SysMsg::Template { .. }) if m.is_group => {
                let SysMsg::Template { template, .. } = &t else { return };
                let before = account.rooms.before(account, room).await;
                // The template carries wxids: who joined, and who invited or shared the code.
                let (list, actor, sub_type) = if template.contains("$names$") {
                    (t.link("names"), t.link("username"), "invite")
                } else if template.contains("$adder$") {
                    (t.link("adder"), t.link("from"), "join")
                } else {
                    (&[][..], &[][..], "join")
                };
                if list.is_empty() {
                    return;
                }
                account.rooms.reread(account, room, &before, true).await;
                let op = actor.first().map(|(w, _)| w.clone()).unwrap_or_else(|| me.clone());
                let changes = list
                    .iter()
                    .map(|(w, n)| MemberChange {
                        increase: true,
                        sub_type,
                        user_id: w.clone(),
                        name: n.clone(),
                        operator_id: op.clone(),
                    })
                    .collect();
                ctx.members = fresh(account, room, changes);
            }
            Some(SysMsg::Pat(p)) => pat_names(account, m, ctx, &[p.from.clone(), p.patted.clone()]).await,
            _ => {}
        },
        msg_type::APP => {
            if let Content::App(a) = wcf::content::parse(m.r#type, &m.content)
                && let AppDetail::Pat(p) = a.detail
            {
                pat_names(account, m, ctx, &[p.from, p.patted]).await;
            }
        }
        _ => {}
    }
}

/// Names for a pat template's `${wxid}` placeholders ("我" for the bot, as WeChat shows it).
async fn pat_names(account: &Account, m: &WxMsg, ctx: &mut Context, ids: &[String]) {
    let members: Vec<Member> = ids.iter().map(|w| Member { wxid: w.clone(), alias: String::new() }).collect();
    let aliases: HashMap<String, String> = if m.is_group {
        account.rooms.before(account, &m.roomid).await.into_iter().map(|x| (x.wxid, x.alias)).collect()
    } else {
        HashMap::new()
    };
    let names = names_of(account, &members).await;
    for w in ids {
        let name = if *w == ctx.self_id {
            "我".to_owned()
        } else {
            aliases
                .get(w)
                .filter(|a| !a.is_empty())
                .cloned()
                .or_else(|| names.get(w).map(|n| n.nickname.clone()))
                .unwrap_or_else(|| w.clone())
        };
        ctx.names.insert(w.clone(), name);
    }
}

fn event(account: &Account, detail: &str) -> Event {
    Event::new("", crate::store::now(), "notice", detail, Some(BotSelf::wechat(account.backend.self_id())))
}

/// Emits `group_member_decrease` (`leave`) for members gone without a notice, and
/// `friend_decrease` for friends gone from the contact list.
pub async fn emit_list_changes(account: &Account) {
    match account.rooms.departures(account).await {
        Ok(gone) => {
            for (room, member) in gone {
                if account.rooms.seen_recently(&format!("member:{room}:{}:false", member.wxid)) {
                    continue;
                }
                let e = event(account, "group_member_decrease")
                    .with("sub_type", "leave")
                    .with("group_id", room)
                    .with("user_id", member.wxid.clone())
                    .with("operator_id", member.wxid)
                    .with("wx.display_name", member.alias);
                account
                    .emit(Draft {
                        body: serde_json::to_value(e).unwrap_or_default(),
                        legacy: None,
                        source: None,
                        account: None,
                    })
                    .await;
            }
        }
        Err(e) => tracing::debug!(account = %account.name, error = %e, "cannot compare chat-group members"),
    }
    for c in account.contacts.take_removed() {
        if account.rooms.seen_recently(&format!("friend:{}:false", c.wxid)) {
            continue;
        }
        let e = event(account, "friend_decrease").with("user_id", c.wxid.clone()).with("wx.display_name", c.name);
        account
            .emit(Draft {
                body: serde_json::to_value(e).unwrap_or_default(),
                legacy: None,
                source: None,
                account: None,
            })
            .await;
    }
}
