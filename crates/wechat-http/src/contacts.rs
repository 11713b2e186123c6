//! The contact list, cached from WeChat: refreshed when the backend connects, on a timer and
//! when a lookup misses (at most every few seconds).

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use wcf::proto::RpcContact;

use crate::categories::MemberType;
use crate::error::{ApiError, ApiResult};

/// A miss triggers a refresh only if the cache is older than this.
const MISS_REFRESH_AFTER: Duration = Duration::from_secs(5);

#[derive(Default)]
struct Snapshot {
    list: Arc<Vec<RpcContact>>,
    by_id: HashMap<String, usize>,
    at: Option<Instant>,
}

/// Cached contacts.
pub struct ContactCache {
    client: wcf::Client,
    snapshot: RwLock<Snapshot>,
    refreshing: tokio::sync::Mutex<()>,
}

impl std::fmt::Debug for ContactCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ContactCache").finish_non_exhaustive()
    }
}

impl ContactCache {
    /// An empty cache over `client`.
    pub fn new(client: wcf::Client) -> Self {
        Self { client, snapshot: RwLock::new(Snapshot::default()), refreshing: tokio::sync::Mutex::new(()) }
    }

    /// Reloads from WeChat.
    pub async fn refresh(&self) -> ApiResult<()> {
        let _one_at_a_time = self.refreshing.lock().await;
        let list = self.client.contacts().await.map_err(|e| ApiError::from_wcf("list contacts", &e))?;
        let by_id = list.iter().enumerate().map(|(i, c)| (c.wxid.clone(), i)).collect();
        *self.snapshot.write().unwrap_or_else(|p| p.into_inner()) =
            Snapshot { list: Arc::new(list), by_id, at: Some(Instant::now()) };
        Ok(())
    }

    fn age(&self) -> Option<Duration> {
        self.snapshot.read().unwrap_or_else(|p| p.into_inner()).at.map(|t| t.elapsed())
    }

    /// Every contact (loaded on first use).
    pub async fn all(&self) -> ApiResult<Arc<Vec<RpcContact>>> {
        if self.age().is_none() {
            self.refresh().await?;
        }
        Ok(self.snapshot.read().unwrap_or_else(|p| p.into_inner()).list.clone())
    }

    /// A contact without touching WeChat.
    pub fn peek(&self, wxid: &str) -> Option<RpcContact> {
        let s = self.snapshot.read().unwrap_or_else(|p| p.into_inner());
        s.by_id.get(wxid).map(|&i| s.list[i].clone())
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

    /// Members of a chat group: WeChat's `RoomData` (one query), named from this cache (group
    /// nickname first, then the contact's nickname) instead of reading the whole `Contact` table.
    pub async fn room_members(&self, roomid: &str) -> ApiResult<Vec<wcf::room::RoomMember>> {
        let data = self.client.room_data(roomid).await.map_err(|e| ApiError::from_wcf("read the group members", &e))?;
        let names = data.members.iter().filter_map(|m| Some((m.wxid.clone(), self.peek(&m.wxid)?.name))).collect();
        Ok(wcf::room::room_members(&data, &names))
    }

    /// Decides what a category member id is: from the contact list first, id patterns second.
    pub async fn member_type(&self, id: &str) -> ApiResult<MemberType> {
        let bad = |why: &str| Err(ApiError::BadParam(format!("member_id {id:?} {why}")));
        if id.trim().is_empty() {
            return bad("is empty");
        }
        let known = match self.get(id).await {
            Ok(c) => c,
            Err(ApiError::BackendUnavailable(_)) => None, // patterns decide while WeChat is away
            Err(e) => return Err(e),
        };
        if known.is_some() {
            return if wcf::message::is_room_id(id) {
                Ok(MemberType::GroupChat)
            } else if wcf::message::is_official_account(id) {
                bad("is an official account; categories hold friends and chat groups")
            } else if wcf::message::SPECIAL_ACCOUNTS.contains(&id) {
                bad("is a WeChat system account; categories hold friends and chat groups")
            } else {
                Ok(MemberType::User)
            };
        }
        let custom_id = id.len() >= 6
            && id.len() <= 20
            && id.starts_with(|c: char| c.is_ascii_alphabetic())
            && id.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
        if wcf::message::is_room_id(id) && id.len() > "@chatroom".len() {
            Ok(MemberType::GroupChat)
        } else if wcf::message::is_official_account(id) {
            bad("is an official account; categories hold friends and chat groups")
        } else if id.starts_with("wxid_") || custom_id {
            Ok(MemberType::User)
        } else {
            bad("is neither a known contact nor a wxid / WeChat id / …@chatroom id")
        }
    }
}
