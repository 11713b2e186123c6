//! The numeric ids of OneBot 11, cached: WeChat ids ⇄ numbers (the store keeps them; see
//! [`crate::store::numeric_ids`]). Chat ids are few (contacts and groups) and all stay cached;
//! message ids are bounded in memory (the store has them all).

use std::collections::HashMap;
use std::sync::RwLock;

use crate::error::{ApiError, ApiResult};
use crate::store::{IdKind, Store};

/// Message ids kept in memory at most (each way).
const MESSAGES_CACHED: usize = 100_000;

#[derive(Debug, Default)]
struct Two {
    to_num: HashMap<String, i64>,
    to_wx: HashMap<i64, String>,
}

/// The cache over the store's id table.
#[derive(Debug, Default)]
pub struct Ids {
    chats: RwLock<Two>,
    messages: RwLock<Two>,
}

impl Ids {
    /// Nothing cached yet.
    pub fn new() -> Self {
        Self::default()
    }

    fn table(&self, kind: IdKind) -> &RwLock<Two> {
        match kind {
            IdKind::Chat => &self.chats,
            IdKind::Message => &self.messages,
        }
    }

    fn remember(&self, kind: IdKind, wx: &str, num: i64) {
        let mut t = self.table(kind).write().unwrap_or_else(|p| p.into_inner());
        if kind == IdKind::Message && t.to_num.len() >= MESSAGES_CACHED {
            t.to_num.clear();
            t.to_wx.clear();
        }
        t.to_num.insert(wx.to_owned(), num);
        t.to_wx.insert(num, wx.to_owned());
    }

    /// The numbers of `ids` ("" → 0), assigning new ones durably before answering.
    pub async fn numbers(&self, store: &Store, kind: IdKind, ids: &[&str]) -> ApiResult<Vec<i64>> {
        let mut out = vec![0; ids.len()];
        let mut missing = Vec::new();
        {
            let t = self.table(kind).read().unwrap_or_else(|p| p.into_inner());
            for (i, id) in ids.iter().enumerate() {
                if id.is_empty() {
                    continue;
                }
                match t.to_num.get(*id) {
                    Some(n) => out[i] = *n,
                    None => missing.push(i),
                }
            }
        }
        if missing.is_empty() {
            return Ok(out);
        }
        let wanted: Vec<String> = missing.iter().map(|&i| ids[i].to_owned()).collect();
        let got = store.numeric_ids().assign(kind, wanted).await?;
        for (&i, n) in missing.iter().zip(got) {
            self.remember(kind, ids[i], n);
            out[i] = n;
        }
        Ok(out)
    }

    /// The number of one id (0 for "").
    pub async fn number(&self, store: &Store, kind: IdKind, id: &str) -> ApiResult<i64> {
        Ok(self.numbers(store, kind, &[id]).await?[0])
    }

    /// The WeChat id a number stands for, `None` if it was never handed out.
    pub async fn wechat(&self, store: &Store, kind: IdKind, num: i64) -> ApiResult<Option<String>> {
        if let Some(w) = self.table(kind).read().unwrap_or_else(|p| p.into_inner()).to_wx.get(&num) {
            return Ok(Some(w.clone()));
        }
        let found = store.numeric_ids().lookup(kind, num).await?;
        if let Some(w) = &found {
            self.remember(kind, w, num);
        }
        Ok(found)
    }

    /// A chat id a request gives: a number handed out before, or (for people who type) a
    /// WeChat id as it is. Errors name the parameter.
    pub async fn chat_param(&self, store: &Store, key: &str, v: &serde_json::Value) -> ApiResult<String> {
        let num = match v {
            serde_json::Value::Number(n) => n.as_i64(),
            serde_json::Value::String(s) => match s.trim().parse::<i64>() {
                Ok(n) => Some(n),
                Err(_) if !s.trim().is_empty() => return Ok(s.trim().to_owned()),
                Err(_) => None,
            },
            _ => None,
        };
        let Some(num) = num else {
            return Err(ApiError::BadParam(format!("`{key}` must be a number (from an event or a list action)")));
        };
        self.wechat(store, IdKind::Chat, num).await?.ok_or_else(|| {
            ApiError::BadParam(format!(
                "`{key}` {num} is not an id this gateway handed out; use the ids of events, get_friend_list or get_group_list"
            ))
        })
    }

    /// A message id a request gives (a number handed out before).
    pub async fn message_param(&self, store: &Store, key: &str, v: &serde_json::Value) -> ApiResult<String> {
        let num = match v {
            serde_json::Value::Number(n) => n.as_i64(),
            serde_json::Value::String(s) => s.trim().parse::<i64>().ok(),
            _ => None,
        }
        .ok_or_else(|| {
            ApiError::BadParam(format!("`{key}` must be a message id (a number from an event or a send)"))
        })?;
        self.wechat(store, IdKind::Message, num)
            .await?
            .ok_or_else(|| ApiError::BadParam(format!("`{key}` {num} is not a message id this gateway handed out")))
    }
}
