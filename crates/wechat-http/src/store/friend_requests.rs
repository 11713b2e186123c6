//! Friend requests received, and how they were handled. Handling claims a request first
//! (`pending` → `handling` in one statement), so of two racing answers exactly one proceeds.

use super::sql::args;
use super::{Store, now};
use crate::error::{ApiError, ApiResult};

/// A friend request as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FriendRequestRow {
    /// v4 ticket (the OneBot `flag`).
    pub flag: String,
    /// v3 ticket.
    pub ticket_v3: String,
    /// Scene.
    pub scene: i32,
    /// Requester.
    pub user_id: String,
    /// Requester's nickname.
    pub nickname: String,
    /// Greeting.
    pub greeting: String,
    /// `pending`, `handling`, `approved` or `rejected`.
    pub state: String,
}

/// The friend requests of one account.
#[derive(Clone, Copy, Debug)]
pub struct FriendRequests<'a> {
    pub(super) store: &'a Store,
    pub(super) account: &'a str,
}

impl FriendRequests<'_> {
    /// Stores a received request (a repeat refreshes its tickets while it is pending).
    pub async fn save(&self, req: FriendRequestRow) -> ApiResult<()> {
        let account = self.account.to_owned();
        self.store
            .write(move |t| {
                t.exec(
                    "INSERT INTO friend_requests(account, flag, ticket_v3, scene, user_id, nickname, greeting, received_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
                     ON CONFLICT(account, flag) DO UPDATE SET ticket_v3 = excluded.ticket_v3, scene = excluded.scene
                     WHERE friend_requests.state = 'pending'",
                    args![account, req.flag, req.ticket_v3, req.scene, req.user_id, req.nickname, req.greeting, now()],
                )?;
                Ok(())
            })
            .await
    }

    /// A stored request by its `flag`.
    pub async fn get(&self, flag: &str) -> ApiResult<Option<FriendRequestRow>> {
        let (account, flag) = (self.account.to_owned(), flag.to_owned());
        self.store
            .read(move |t| {
                let Some(r) = t.opt(
                    "SELECT flag, ticket_v3, scene, user_id, nickname, greeting, state FROM friend_requests
                     WHERE account = ?1 AND flag = ?2",
                    args![account, flag],
                )?
                else {
                    return Ok(None);
                };
                Ok(Some(FriendRequestRow {
                    flag: r.get(0)?,
                    ticket_v3: r.get(1)?,
                    scene: r.get(2)?,
                    user_id: r.get(3)?,
                    nickname: r.get(4)?,
                    greeting: r.get(5)?,
                    state: r.get(6)?,
                }))
            })
            .await
    }

    /// Claims a request for handling (recording it first when it was never seen). Fails with
    /// 10003 when it is being or was already handled.
    pub async fn claim(&self, req: FriendRequestRow) -> ApiResult<()> {
        let account = self.account.to_owned();
        self.store
            .write(move |t| {
                t.exec(
                    "INSERT INTO friend_requests(account, flag, ticket_v3, scene, user_id, nickname, greeting, received_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) ON CONFLICT DO NOTHING",
                    args![&account, &req.flag, &req.ticket_v3, req.scene, &req.user_id, &req.nickname, &req.greeting, now()],
                )?;
                let n = t.exec(
                    "UPDATE friend_requests SET state = 'handling' WHERE account = ?1 AND flag = ?2 AND state = 'pending'",
                    args![&account, &req.flag],
                )?;
                if n == 0 {
                    let state: String = t
                        .one("SELECT state FROM friend_requests WHERE account = ?1 AND flag = ?2", args![&account, &req.flag])?
                        .get(0)?;
                    let what = if state == "handling" { "is being handled by another request".to_owned() } else { format!("was already {state}") };
                    return Err(ApiError::BadParam(format!("this friend request {what}")));
                }
                Ok(())
            })
            .await
    }

    /// Finishes a claimed request as `approved` or `rejected`.
    pub async fn settle(&self, flag: &str, state: &'static str, remark: Option<String>) -> ApiResult<()> {
        let (account, flag) = (self.account.to_owned(), flag.to_owned());
        self.store
            .write(move |t| {
                t.exec(
                    "UPDATE friend_requests SET state = ?3, remark = ?4, handled_at = ?5 WHERE account = ?1 AND flag = ?2",
                    args![account, flag, state, remark, now()],
                )?;
                Ok(())
            })
            .await
    }

    /// Returns a claimed request to `pending` (the answer failed; it may be tried again).
    pub async fn release(&self, flag: &str) -> ApiResult<()> {
        let (account, flag) = (self.account.to_owned(), flag.to_owned());
        self.store
            .write(move |t| {
                t.exec(
                    "UPDATE friend_requests SET state = 'pending' WHERE account = ?1 AND flag = ?2 AND state = 'handling'",
                    args![account, flag],
                )?;
                Ok(())
            })
            .await
    }

    /// Forgets requests received before `before` that are no longer pending (every account).
    pub async fn trim(&self, before: f64) -> ApiResult<usize> {
        self.store
            .write(move |t| {
                Ok(t.exec(
                    "DELETE FROM friend_requests WHERE received_at < ?1 AND state IN ('approved', 'rejected')",
                    args![before],
                )? as usize)
            })
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn round_trip_and_exactly_one_claim() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let fr = store.friend_requests("default");
        let req = FriendRequestRow {
            flag: "v4".into(),
            ticket_v3: "v3".into(),
            scene: 14,
            user_id: "wxid_a".into(),
            nickname: "A".into(),
            greeting: "hi".into(),
            state: "pending".into(),
        };
        fr.save(req.clone()).await.unwrap();
        assert_eq!(fr.get("v4").await.unwrap(), Some(req.clone()));
        assert!(store.friend_requests("other").get("v4").await.unwrap().is_none());
        let (a, b) = tokio::join!(fr.claim(req.clone()), fr.claim(req.clone()));
        assert!(a.is_ok() ^ b.is_ok(), "exactly one claim wins: {a:?} {b:?}");
        fr.settle("v4", "approved", Some("friend".into())).await.unwrap();
        assert_eq!(fr.get("v4").await.unwrap().unwrap().state, "approved");
        assert!(fr.claim(req).await.unwrap_err().to_string().contains("already approved"));
        assert_eq!(fr.get("nope").await.unwrap(), None);
    }
}
