//! Chat-group members as one account knows them, for the member notices.
//!
//! WeChat's system texts name people by display name, never by wxid (`wechat-messages.md`
//! §3.12, §6.4). A name is resolved against the room's members as known **before** the
//! change (this snapshot) and as re-read **after** it (`RoomData`), matching each member's
//! group nickname, then their `Contact` nickname and remark; when a name fits several people,
//! the ones the change added (or removed) win, in order. A name that fits nobody still gives
//! its notice, with the name and an empty `user_id`.
//!
//! WeChat tells other members nothing when someone leaves: [`Rooms::departures`] compares the
//! snapshot with `RoomData` once per upkeep round and reports a member missing in two rounds
//! in a row (a kick notice in between takes the member out of the snapshot first).

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::Account;
use crate::error::ApiResult;
use crate::wechat_db::ContactNames;

/// How long a member change is remembered, so the same join reported in two forms (the
/// 10000 text and the 10002 template) becomes one notice.
const RECENT: Duration = Duration::from_secs(120);
/// Most changes remembered.
const RECENT_MAX: usize = 1024;
/// Upkeep rounds a member must be missing before it counts as a departure.
const MISSING_ROUNDS: u32 = 2;
/// Re-reads of `RoomData` while a join is not visible in it yet.
const REREADS: u32 = 3;

/// A member: wxid and group nickname ("" when none).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Member {
    /// wxid.
    pub wxid: String,
    /// Group nickname (群昵称).
    pub alias: String,
}

fn members_of(data: &wcf::proto::RoomData) -> Vec<Member> {
    data.members.iter().map(|m| Member { wxid: m.wxid.clone(), alias: m.name.clone().unwrap_or_default() }).collect()
}

/// The member snapshot and the recent changes of one account.
#[derive(Debug, Default)]
pub struct Rooms {
    snapshot: Mutex<Option<HashMap<String, Vec<Member>>>>,
    missing: Mutex<HashMap<(String, String), u32>>,
    recent: Mutex<VecDeque<(Instant, String)>>,
}

/// One person a change is about: their wxid ("" when the name fits nobody) and the name the
/// system text used.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Resolved {
    /// wxid, or "".
    pub wxid: String,
    /// The display name.
    pub name: String,
}

fn matches(m: &Member, name: &str, names: &HashMap<String, ContactNames>) -> bool {
    if m.alias == name {
        return true;
    }
    names.get(&m.wxid).is_some_and(|c| c.nickname == name || (!c.remark.is_empty() && c.remark == name))
}

/// Resolves display names of people who joined (`joined`) or left: the changed members first,
/// then anyone in the room (when only one fits); a single name nobody fits takes the single
/// changed member left over. Nothing else is guessed.
pub fn resolve(
    list: &[String],
    before: &[Member],
    after: &[Member],
    names: &HashMap<String, ContactNames>,
    joined: bool,
) -> Vec<Resolved> {
    let (from, to) = if joined { (before, after) } else { (after, before) };
    let known: HashSet<&str> = from.iter().map(|m| m.wxid.as_str()).collect();
    let changed: Vec<&Member> = to.iter().filter(|m| !known.contains(m.wxid.as_str())).collect();
    let mut taken: HashSet<String> = HashSet::new();
    let mut out: Vec<Option<String>> = Vec::with_capacity(list.len());
    for name in list {
        let pick = changed
            .iter()
            .find(|m| !taken.contains(&m.wxid) && matches(m, name, names))
            .map(|m| m.wxid.clone())
            .or_else(|| {
                let all: Vec<&Member> =
                    to.iter().filter(|m| !taken.contains(&m.wxid) && matches(m, name, names)).collect();
                (all.len() == 1).then(|| all[0].wxid.clone())
            });
        if let Some(w) = &pick {
            taken.insert(w.clone());
        }
        out.push(pick);
    }
    let unresolved = out.iter().filter(|o| o.is_none()).count();
    let left: Vec<&Member> = changed.iter().copied().filter(|m| !taken.contains(&m.wxid)).collect();
    if unresolved == 1
        && let [only] = left.as_slice()
        && let Some(o) = out.iter_mut().find(|o| o.is_none())
    {
        *o = Some(only.wxid.clone());
    }
    list.iter().zip(out).map(|(name, w)| Resolved { wxid: w.unwrap_or_default(), name: name.clone() }).collect()
}

/// The member of `members` a display name fits (the first when several do), or "".
pub fn resolve_one(name: &str, members: &[Member], names: &HashMap<String, ContactNames>) -> String {
    members.iter().find(|m| matches(m, name, names)).map(|m| m.wxid.clone()).unwrap_or_default()
}

impl Rooms {
    /// Nothing known yet.
    pub fn new() -> Self {
        Self::default()
    }

    async fn ensure_loaded(&self, account: &Account) -> ApiResult<()> {
        if self.snapshot.lock().unwrap_or_else(|p| p.into_inner()).is_some() {
            return Ok(());
        }
        let all = account.db.all_room_data(&account.backend).await?;
        let map = all.iter().map(|(room, data)| (room.clone(), members_of(data))).collect();
        let mut snap = self.snapshot.lock().unwrap_or_else(|p| p.into_inner());
        if snap.is_none() {
            *snap = Some(map);
        }
        Ok(())
    }

    /// Loads every room's members (once); later calls are free.
    pub async fn load(&self, account: &Account) {
        if let Err(e) = self.ensure_loaded(account).await {
            tracing::debug!(account = %account.name, error = %e, "cannot read chat-group members yet");
        }
    }

    /// The members of `room` as known before the change now being handled.
    pub async fn before(&self, account: &Account, room: &str) -> Vec<Member> {
        self.load(account).await;
        let snap = self.snapshot.lock().unwrap_or_else(|p| p.into_inner());
        snap.as_ref().and_then(|m| m.get(room).cloned()).unwrap_or_default()
    }

    /// Re-reads `room` from WeChat (a few times while `expect_new` and nobody new shows up
    /// yet); the snapshot takes the fresh list.
    pub async fn reread(&self, account: &Account, room: &str, before: &[Member], expect_new: bool) -> Vec<Member> {
        let mut after = Vec::new();
        for attempt in 0..=REREADS {
            match account.db.room_data(&account.backend, room).await {
                Ok(Some(data)) => after = members_of(&data),
                Ok(None) => after = Vec::new(),
                Err(e) => {
                    tracing::debug!(account = %account.name, room, error = %e, "cannot re-read chat-group members");
                    return before.to_vec();
                }
            }
            let grew = after.iter().any(|m| !before.iter().any(|b| b.wxid == m.wxid));
            if !expect_new || grew || attempt == REREADS {
                break;
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        let mut snap = self.snapshot.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(map) = snap.as_mut() {
            map.insert(room.to_owned(), after.clone());
        }
        let mut missing = self.missing.lock().unwrap_or_else(|p| p.into_inner());
        missing.retain(|(r, _), _| r != room);
        after
    }

    /// True when `key` was noted in the last two minutes; notes it either way.
    pub fn seen_recently(&self, key: &str) -> bool {
        let now = Instant::now();
        let mut recent = self.recent.lock().unwrap_or_else(|p| p.into_inner());
        while recent.front().is_some_and(|(t, _)| now.duration_since(*t) > RECENT) || recent.len() >= RECENT_MAX {
            recent.pop_front();
        }
        if recent.iter().any(|(_, k)| k == key) {
            return true;
        }
        recent.push_back((now, key.to_owned()));
        false
    }

    /// One upkeep round: members gone from `RoomData` for [`MISSING_ROUNDS`] rounds without a
    /// notice, as `(room, member)`.
    pub async fn departures(&self, account: &Account) -> ApiResult<Vec<(String, Member)>> {
        self.ensure_loaded(account).await?;
        let fresh = account.db.all_room_data(&account.backend).await?;
        let mut snap = self.snapshot.lock().unwrap_or_else(|p| p.into_inner());
        let Some(map) = snap.as_mut() else { return Ok(Vec::new()) };
        let mut missing = self.missing.lock().unwrap_or_else(|p| p.into_inner());
        let mut gone_for_good = Vec::new();
        map.retain(|room, _| fresh.contains_key(room));
        for (room, data) in &fresh {
            let now = members_of(data);
            let known = map.entry(room.clone()).or_insert_with(|| now.clone());
            let mut keep = now.clone();
            for m in known.iter() {
                if now.iter().any(|n| n.wxid == m.wxid) {
                    missing.remove(&(room.clone(), m.wxid.clone()));
                    continue;
                }
                let rounds = missing.entry((room.clone(), m.wxid.clone())).or_insert(0);
                *rounds += 1;
                if *rounds >= MISSING_ROUNDS {
                    missing.remove(&(room.clone(), m.wxid.clone()));
                    gone_for_good.push((room.clone(), m.clone()));
                } else {
                    keep.push(m.clone());
                }
            }
            *known = keep;
        }
        missing.retain(|(r, _), _| map.contains_key(r));
        Ok(gone_for_good)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(w: &str, alias: &str) -> Member {
        Member { wxid: w.into(), alias: alias.into() }
    }

    fn names(v: &[(&str, &str)]) -> HashMap<String, ContactNames> {
        v.iter()
            .map(|(w, n)| (w.to_string(), ContactNames { nickname: n.to_string(), remark: String::new() }))
            .collect()
    }

    fn ids(r: &[Resolved]) -> Vec<&str> {
        r.iter().map(|x| x.wxid.as_str()).collect()
    }

    #[test]
    fn newcomers_are_found_by_nickname_and_the_diff_breaks_ties() {
        let before = vec![m("wxid_old", ""), m("wxid_alice1", "")];
        let after = vec![m("wxid_old", ""), m("wxid_alice1", ""), m("wxid_alice2", ""), m("wxid_bob", "")];
        let n = names(&[("wxid_alice1", "Alice"), ("wxid_alice2", "Alice"), ("wxid_bob", "Bob")]);
        let r = resolve(&["Alice".into(), "Bob".into()], &before, &after, &n, true);
        assert_eq!(ids(&r), ["wxid_alice2", "wxid_bob"], "the Alice who is new, not the one already there");
    }

    #[test]
    fn group_nicknames_match_and_unknown_names_take_the_leftover_newcomer() {
        let before = vec![m("wxid_a", "")];
        let after = vec![m("wxid_a", ""), m("wxid_b", "Boss"), m("wxid_c", "")];
        let r = resolve(&["Boss".into(), "Stranger".into()], &before, &after, &HashMap::new(), true);
        assert_eq!(ids(&r), ["wxid_b", "wxid_c"]);
        // Two unknown names and two newcomers: which is which is not known, so nobody is guessed.
        let after = vec![m("wxid_a", ""), m("wxid_c", ""), m("wxid_d", "")];
        let r = resolve(&["X".into(), "Y".into()], &before, &after, &HashMap::new(), true);
        assert_eq!(ids(&r), ["", ""]);
        assert_eq!(r[1].name, "Y");
    }

    #[test]
    fn kicks_resolve_against_who_was_there() {
        let before = vec![m("wxid_a", "Anna"), m("wxid_b", ""), m("wxid_c", "")];
        let after = vec![m("wxid_a", "Anna"), m("wxid_c", "")];
        let n = names(&[("wxid_b", "Anna"), ("wxid_c", "Cy")]);
        let r = resolve(&["Anna".into()], &before, &after, &n, false);
        assert_eq!(ids(&r), ["wxid_b"], "the Anna who left, though another member is called Anna too");
    }

    #[test]
    fn recent_changes_are_remembered() {
        let rooms = Rooms::new();
        assert!(!rooms.seen_recently("join:r:w"));
        assert!(rooms.seen_recently("join:r:w"));
        assert!(!rooms.seen_recently("join:r:x"));
    }
}
