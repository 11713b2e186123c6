//! Accounts seen by this gateway: the configured name and the wxid WeChat reported, so that
//! actions and channels can name an account by wxid even while its WeChat is away.

use rusqlite::params;

use super::{Store, now};
use crate::error::ApiResult;

/// The account table.
#[derive(Clone, Copy, Debug)]
pub struct Accounts<'a> {
    pub(super) store: &'a Store,
}

impl Accounts<'_> {
    /// Records the identity of account `name`.
    pub async fn seen(&self, name: &str, wxid: &str, nickname: &str) -> ApiResult<()> {
        let (name, wxid, nickname) = (name.to_owned(), wxid.to_owned(), nickname.to_owned());
        self.store
            .write(move |c| {
                c.execute(
                    "INSERT INTO accounts(name, wxid, nickname, seen_at) VALUES (?1, ?2, ?3, ?4)
                     ON CONFLICT(name) DO UPDATE SET wxid = excluded.wxid, nickname = excluded.nickname, seen_at = excluded.seen_at",
                    params![name, wxid, nickname, now()],
                )?;
                Ok(())
            })
            .await
    }

    /// Every known `(name, wxid, nickname)`.
    pub async fn all(&self) -> ApiResult<Vec<(String, String, String)>> {
        self.store
            .read(|c| {
                let mut stmt = c.prepare_cached("SELECT name, wxid, nickname FROM accounts ORDER BY name")?;
                let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
                Ok(rows.collect::<Result<_, _>>()?)
            })
            .await
    }
}
