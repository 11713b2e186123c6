//! Received chat images: which message an image file belongs to, for lookups by message and
//! for retention.

use super::sql::args;
use super::{Store, now};
use crate::error::ApiResult;

/// The chat images of one account.
#[derive(Clone, Copy, Debug)]
pub struct ChatImages<'a> {
    pub(super) store: &'a Store,
    pub(super) account: &'a str,
}

impl ChatImages<'_> {
    /// Records that message `msg_id`'s image is at `rel_path` (`<date>/<file>`).
    pub async fn record(&self, msg_id: u64, rel_path: &str) -> ApiResult<()> {
        let (account, rel) = (self.account.to_owned(), rel_path.to_owned());
        self.store
            .write_log(move |t| {
                t.exec(
                    "INSERT INTO chat_images(account, msg_id, rel_path, created_at) VALUES (?1, ?2, ?3, ?4)
                     ON CONFLICT(account, msg_id) DO UPDATE SET rel_path = excluded.rel_path, created_at = excluded.created_at",
                    args![account, msg_id.to_string(), rel, now()],
                )?;
                Ok(())
            })
            .await
    }

    /// Where message `msg_id`'s image was stored.
    pub async fn of_message(&self, msg_id: u64) -> ApiResult<Option<String>> {
        let account = self.account.to_owned();
        self.store
            .read_log(move |t| {
                match t.opt(
                    "SELECT rel_path FROM chat_images WHERE account = ?1 AND msg_id = ?2",
                    args![account, msg_id.to_string()],
                )? {
                    Some(r) => Ok(Some(r.get(0)?)),
                    None => Ok(None),
                }
            })
            .await
    }

    /// Forgets images recorded before `before` (of every account); returns how many.
    pub async fn trim(&self, before: f64) -> ApiResult<usize> {
        self.store
            .write_log(move |t| Ok(t.exec("DELETE FROM chat_images WHERE created_at < ?1", args![before])? as usize))
            .await
    }
}
