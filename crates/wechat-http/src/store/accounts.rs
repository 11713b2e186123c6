//! Accounts seen by this gateway: the configured name and the wxid WeChat reported, so that
//! actions and channels can name an account by wxid even while its WeChat is away.

use super::sql::args;
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
            .write(move |t| {
                t.exec(
                    "INSERT INTO accounts(name, wxid, nickname, seen_at) VALUES (?1, ?2, ?3, ?4)
                     ON CONFLICT(name) DO UPDATE SET wxid = excluded.wxid, nickname = excluded.nickname, seen_at = excluded.seen_at",
                    args![name, wxid, nickname, now()],
                )?;
                Ok(())
            })
            .await
    }

    /// Every known `(name, wxid, nickname)`.
    pub async fn all(&self) -> ApiResult<Vec<(String, String, String)>> {
        self.store
            .read(|t| {
                let rows = t.query("SELECT name, wxid, nickname FROM accounts ORDER BY name", &[])?;
                Ok(rows
                    .iter()
                    .map(|r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
                    .collect::<Result<_, super::sql::DbError>>()?)
            })
            .await
    }
}
