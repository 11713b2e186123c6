//! One account's contact list, cached from WeChat: refreshed when the backend connects, on a
//! timer and when a lookup misses (at most every few seconds). The friend list is rendered to
//! JSON once per refresh, so `get_friend_list` costs a copy, not a walk over every contact.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use wcf::message::{SPECIAL_ACCOUNTS, is_friend_id, is_official_account, is_room_id};
use wcf::proto::RpcContact;

use crate::error::{ApiError, ApiResult};
use crate::store::MemberType;

/// A miss triggers a refresh only if the cache is older than this.
const MISS_REFRESH_AFTER: Duration = Duration::from_secs(5);

#[derive(Default)]
struct Snapshot {
    list: Arc<Vec<RpcContact>>,
    by_id: HashMap<String, usize>,
    avatars: HashMap<String, String>,
    at: Option<Instant>,
}

/// Cached contacts.
pub struct ContactCache {
    client: wcf::Client,
    snapshot: RwLock<Snapshot>,
    refreshing: tokio::sync::Mutex<()>,
    /// `(generation, self wxid, JSON)` of the rendered friend list.
    friends_json: Mutex<Option<(Instant, String, Arc<str>)>>,
    /// Friends that vanished from the list since the last [`ContactCache::take_removed`].
    removed: Mutex<Vec<RpcContact>>,
}

impl std::fmt::Debug for ContactCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ContactCache").finish_non_exhaustive()
    }
}

/// The name shown for a contact: the remark when set, else the nickname.
pub fn display(c: &RpcContact) -> &str {
    if c.remark.is_empty() { &c.name } else { &c.remark }
}

/// A contact as the user actions return it (OneBot 12 names plus the original's), with its
/// head image URL (`ContactHeadImgUrl`, "" when WeChat has none).
pub fn user_json(c: &RpcContact, avatar: &str) -> serde_json::Value {
    serde_json::json!({
        "user_id": c.wxid,
        "user_name": c.name,
        "user_displayname": display(c),
        "user_remark": c.remark,
        "nickname": c.name,
        "remark": c.remark,
        "avatar": avatar,
        "_code": c.code,
        "_gender": c.gender,
    })
}

/// Who a receiver or category member is, as the contact list says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Known {
    /// In the contact list.
    Contact,
    /// Not in a loaded contact list.
    Unknown,
    /// WeChat is unreachable and no list was ever loaded: only id patterns can tell.
    Unchecked,
}

impl ContactCache {
    /// An empty cache over `client`.
    pub fn new(client: wcf::Client) -> Self {
        Self {
            client,
            snapshot: RwLock::new(Snapshot::default()),
            refreshing: tokio::sync::Mutex::new(()),
            friends_json: Mutex::new(None),
            removed: Mutex::new(Vec::new()),
        }
    }

    /// Reloads from WeChat (contacts and their head images); friends missing from the new
    /// list are kept for [`ContactCache::take_removed`].
    pub async fn refresh(&self) -> ApiResult<()> {
        let _one_at_a_time = self.refreshing.lock().await;
        let list = self.client.contacts().await.map_err(|e| ApiError::from_wcf("list contacts", &e))?;
        let avatars = match crate::wechat_db::avatars(&self.client).await {
            Ok(a) => a,
            Err(e) => {
                tracing::debug!(error = %e, "cannot read head images; contacts carry none");
                HashMap::new()
            }
        };
        let by_id: HashMap<String, usize> = list.iter().enumerate().map(|(i, c)| (c.wxid.clone(), i)).collect();
        let mut snap = self.snapshot.write().unwrap_or_else(|p| p.into_inner());
        if snap.at.is_some() {
            let gone: Vec<RpcContact> =
                snap.list.iter().filter(|c| is_friend_id(&c.wxid) && !by_id.contains_key(&c.wxid)).cloned().collect();
            if !gone.is_empty() {
                self.removed.lock().unwrap_or_else(|p| p.into_inner()).extend(gone);
            }
        }
        *snap = Snapshot { list: Arc::new(list), by_id, avatars, at: Some(Instant::now()) };
        Ok(())
    }

    /// Friends that left the contact list since the last call.
    pub fn take_removed(&self) -> Vec<RpcContact> {
        std::mem::take(&mut *self.removed.lock().unwrap_or_else(|p| p.into_inner()))
    }

    /// A contact's or chat group's head image URL ("" when unknown).
    pub fn avatar(&self, wxid: &str) -> String {
        self.snapshot.read().unwrap_or_else(|p| p.into_inner()).avatars.get(wxid).cloned().unwrap_or_default()
    }

    fn age(&self) -> Option<Duration> {
        self.snapshot.read().unwrap_or_else(|p| p.into_inner()).at.map(|t| t.elapsed())
    }

    /// True once a list was loaded.
    pub fn loaded(&self) -> bool {
        self.age().is_some()
    }

    /// Every contact (loaded on first use).
    pub async fn all(&self) -> ApiResult<Arc<Vec<RpcContact>>> {
        if !self.loaded() {
            self.refresh().await?;
        }
        Ok(self.snapshot.read().unwrap_or_else(|p| p.into_inner()).list.clone())
    }

    /// The friend list as JSON (rendered once per refresh), `me` excluded.
    pub async fn friends_json(&self, me: &str) -> ApiResult<Arc<str>> {
        let list = self.all().await?;
        let generation = self.snapshot.read().unwrap_or_else(|p| p.into_inner()).at.unwrap_or_else(Instant::now);
        let mut cached = self.friends_json.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((g, m, json)) = cached.as_ref()
            && *g == generation
            && m == me
        {
            return Ok(json.clone());
        }
        let friends: Vec<serde_json::Value> = {
            let snap = self.snapshot.read().unwrap_or_else(|p| p.into_inner());
            let avatar = |w: &str| snap.avatars.get(w).map(String::as_str).unwrap_or_default();
            list.iter()
                .filter(|c| is_friend_id(&c.wxid) && c.wxid != me)
                .map(|c| user_json(c, avatar(&c.wxid)))
                .collect()
        };
        let json: Arc<str> = Arc::from(serde_json::Value::Array(friends).to_string());
        *cached = Some((generation, me.to_owned(), json.clone()));
        Ok(json)
    }

    /// A contact without touching WeChat.
    pub fn peek(&self, wxid: &str) -> Option<RpcContact> {
        let s = self.snapshot.read().unwrap_or_else(|p| p.into_inner());
        s.by_id.get(wxid).map(|&i| s.list[i].clone())
    }

    /// A contact's display name without touching WeChat.
    pub fn name_of(&self, wxid: &str) -> Option<String> {
        self.peek(wxid).map(|c| display(&c).to_owned()).filter(|n| !n.is_empty())
    }

    /// A contact; a miss refreshes the cache when it is older than a few seconds.
    pub async fn get(&self, wxid: &str) -> ApiResult<Option<RpcContact>> {
        if let Some(c) = self.peek(wxid) {
            return Ok(Some(c));
        }
        if self.age().is_none_or(|a| a > MISS_REFRESH_AFTER) {
            self.refresh().await?;
        }
        Ok(self.peek(wxid))
    }

    /// Whether `id` is a contact of the account: from the list when it can be loaded, and
    /// [`Known::Unchecked`] only while WeChat is unreachable and no list was ever loaded.
    pub async fn knows(&self, id: &str) -> ApiResult<Known> {
        match self.get(id).await {
            Ok(Some(_)) => Ok(Known::Contact),
            Ok(None) => Ok(Known::Unknown),
            Err(ApiError::BackendUnavailable(_)) if self.loaded() => {
                Ok(if self.peek(id).is_some() { Known::Contact } else { Known::Unknown })
            }
            Err(ApiError::BackendUnavailable(_)) => Ok(Known::Unchecked),
            Err(e) => Err(e),
        }
    }

    /// Checks that `id` can receive messages from this account: a contact or chat group of
    /// it (id patterns decide only while WeChat is unreachable and no list was loaded).
    pub async fn check_receiver(&self, id: &str) -> ApiResult<()> {
        match self.knows(id).await? {
            Known::Contact => Ok(()),
            Known::Unknown => Err(ApiError::BadParam(format!(
                "{id:?} is not a contact of this account (nor one of its chat groups); get_friend_list and get_group_list list them"
            ))),
            Known::Unchecked if id_pattern(id).is_some() || SPECIAL_ACCOUNTS.contains(&id) => Ok(()),
            Known::Unchecked => {
                Err(ApiError::BadParam(format!("{id:?} is neither a wxid, a WeChat id nor a …@chatroom id")))
            }
        }
    }

    /// Decides what a category member id is: it must be a friend or chat group of the account
    /// (id patterns decide only while WeChat is unreachable and no list was loaded).
    pub async fn member_type(&self, id: &str) -> ApiResult<MemberType> {
        let bad = |why: &str| Err(ApiError::BadParam(format!("member_id {id:?} {why}")));
        if id.trim().is_empty() {
            return bad("is empty");
        }
        if is_official_account(id) {
            return bad("is an official account; categories hold friends and chat groups");
        }
        if SPECIAL_ACCOUNTS.contains(&id) {
            return bad("is a WeChat system account; categories hold friends and chat groups");
        }
        match self.knows(id).await? {
            Known::Contact => Ok(if is_room_id(id) { MemberType::GroupChat } else { MemberType::User }),
            Known::Unknown => bad("is not a contact of this account (nor one of its chat groups)"),
            Known::Unchecked => match id_pattern(id) {
                Some(kind) => Ok(kind),
                None => bad("is neither a wxid, a WeChat id nor a …@chatroom id"),
            },
        }
    }
}

/// What an id looks like: a chat group, a `wxid_…` or a custom WeChat id (6-20 characters).
fn id_pattern(id: &str) -> Option<MemberType> {
    let custom_id = id.len() >= 6
        && id.len() <= 20
        && id.starts_with(|c: char| c.is_ascii_alphabetic())
        && id.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if is_room_id(id) && id.len() > "@chatroom".len() {
        Some(MemberType::GroupChat)
    } else if id.starts_with("wxid_") || custom_id {
        Some(MemberType::User)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn id_patterns() {
        assert_eq!(id_pattern("123@chatroom"), Some(MemberType::GroupChat));
        assert_eq!(id_pattern("@chatroom"), None);
        assert_eq!(id_pattern("wxid_abc"), Some(MemberType::User));
        assert_eq!(id_pattern("alice_w"), Some(MemberType::User));
        assert_eq!(id_pattern("a b"), None);
        assert_eq!(id_pattern("x"), None);
    }
}
