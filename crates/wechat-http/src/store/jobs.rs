//! Durable broadcast jobs: the job (its staged message and state) and its receivers, each
//! `pending` → `sending` → `sent` | `failed` | `cancelled`. A receiver's sent-log rows are
//! written in the same transaction that moves it (intent with `sending`, outcome with `sent`).
//!
//! Job states: `running`, `waiting_backend` (WeChat is away; it resumes by itself), `done`,
//! `cancelled`.

use std::collections::HashMap;

use super::sent::{self, SentState};
use super::sql::{DbError, Row, args};
use super::{Store, now};
use crate::error::{ApiError, ApiResult};

/// A job's head row.
#[derive(Clone, Debug, PartialEq)]
pub struct JobHead {
    /// Job id.
    pub id: String,
    /// Account that sends it.
    pub account: String,
    /// The gateway message id shared by every receiver's sends.
    pub message_id: String,
    /// The staged message (JSON).
    pub items: String,
    /// `running`, `waiting_backend`, `done` or `cancelled`.
    pub state: String,
    /// Unix seconds.
    pub created_at: f64,
    /// Unix seconds, when done or cancelled.
    pub finished_at: Option<f64>,
}

/// The next receiver to handle.
#[derive(Clone, Debug, PartialEq)]
pub struct NextReceiver {
    /// Position in the job.
    pub idx: i64,
    /// wxid or room id.
    pub receiver: String,
    /// `pending`, or `sending` when a send to it was interrupted.
    pub state: String,
}

/// A failed receiver.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct FailedReceiver {
    /// wxid or room id.
    pub receiver: String,
    /// The error's retcode.
    pub retcode: i64,
    /// The error's message.
    pub message: String,
}

/// A job with its receiver counts.
#[derive(Clone, Debug, PartialEq)]
pub struct JobStatus {
    /// Head row.
    pub head: JobHead,
    /// Receivers per state.
    pub counts: HashMap<String, i64>,
    /// Failed receivers, in job order.
    pub failed: Vec<FailedReceiver>,
}

/// How a receiver ended.
#[derive(Clone, Debug)]
pub enum ReceiverOutcome {
    /// Every part sent.
    Sent,
    /// Gave up on it.
    Failed {
        /// retcode.
        retcode: i64,
        /// message.
        message: String,
    },
}

/// Broadcast jobs.
#[derive(Clone, Copy, Debug)]
pub struct Jobs<'a> {
    pub(super) store: &'a Store,
}

fn head(r: &Row) -> Result<JobHead, DbError> {
    Ok(JobHead {
        id: r.get(0)?,
        account: r.get(1)?,
        message_id: r.get(2)?,
        items: r.get(3)?,
        state: r.get(4)?,
        created_at: r.get(5)?,
        finished_at: r.get(6)?,
    })
}

const HEAD: &str = "SELECT id, account, message_id, items, state, created_at, finished_at FROM send_jobs";

impl Jobs<'_> {
    /// Creates a `running` job with its receivers, in one transaction; returns its id.
    pub async fn create(
        &self,
        account: &str,
        message_id: &str,
        items: String,
        receivers: Vec<String>,
    ) -> ApiResult<String> {
        let id = uuid::Uuid::new_v4().simple().to_string();
        let (job, account, mid) = (id.clone(), account.to_owned(), message_id.to_owned());
        self.store
            .write(move |t| {
                t.exec(
                    "INSERT INTO send_jobs(id, account, message_id, items, state, created_at) VALUES (?1, ?2, ?3, ?4, 'running', ?5)",
                    args![job.as_str(), account, mid, items, now()],
                )?;
                for (i, r) in receivers.iter().enumerate() {
                    t.exec(
                        "INSERT INTO send_job_receivers(job_id, idx, receiver, state) VALUES (?1, ?2, ?3, 'pending')",
                        args![job.as_str(), i as i64, r],
                    )?;
                }
                Ok(())
            })
            .await?;
        Ok(id)
    }

    /// Jobs that are not finished, oldest first: `(id, account)`.
    pub async fn active(&self) -> ApiResult<Vec<(String, String)>> {
        self.store
            .read(|t| {
                let rows = t.query(
                    "SELECT id, account FROM send_jobs WHERE state IN ('running', 'waiting_backend') ORDER BY created_at",
                    &[],
                )?;
                rows.iter().map(|r| Ok((r.get(0)?, r.get(1)?))).collect()
            })
            .await
    }

    /// A job's head row.
    pub async fn head(&self, id: &str) -> ApiResult<Option<JobHead>> {
        let id = id.to_owned();
        self.store
            .read(move |t| Ok(t.opt(&format!("{HEAD} WHERE id = ?1"), args![id])?.map(|r| head(&r)).transpose()?))
            .await
    }

    /// The next receiver of an unfinished job (an interrupted `sending` one first), or `None`
    /// when the job is finished, cancelled or has nobody left.
    pub async fn next(&self, id: &str) -> ApiResult<Option<NextReceiver>> {
        let id = id.to_owned();
        self.store
            .read(move |t| {
                let state: Option<String> =
                    match t.opt("SELECT state FROM send_jobs WHERE id = ?1", args![id.as_str()])? {
                        Some(r) => Some(r.get(0)?),
                        None => None,
                    };
                if !matches!(state.as_deref(), Some("running" | "waiting_backend")) {
                    return Ok(None);
                }
                let row = t.opt(
                    "SELECT idx, receiver, state FROM send_job_receivers
                     WHERE job_id = ?1 AND state IN ('pending', 'sending') ORDER BY state = 'pending', idx LIMIT 1",
                    args![id],
                )?;
                Ok(match row {
                    Some(r) => Some(NextReceiver { idx: r.get(0)?, receiver: r.get(1)?, state: r.get(2)? }),
                    None => None,
                })
            })
            .await
    }

    /// Sets `running` or `waiting_backend` on an unfinished job.
    pub async fn set_active_state(&self, id: &str, state: &'static str) -> ApiResult<()> {
        let id = id.to_owned();
        self.store
            .write(move |t| {
                t.exec(
                    "UPDATE send_jobs SET state = ?2 WHERE id = ?1 AND state IN ('running', 'waiting_backend')",
                    args![id, state],
                )?;
                Ok(())
            })
            .await
    }

    /// Moves a receiver to `sending` and records the intent of its parts, in one transaction;
    /// returns the sent-log row ids.
    pub async fn begin(
        &self,
        id: &str,
        idx: i64,
        account: &str,
        message_id: &str,
        receiver: &str,
        parts: Vec<(String, String)>,
    ) -> ApiResult<Vec<i64>> {
        let (id, account, mid, receiver) =
            (id.to_owned(), account.to_owned(), message_id.to_owned(), receiver.to_owned());
        self.store
            .write(move |t| {
                t.exec(
                    "UPDATE send_job_receivers SET state = 'sending', started_at = ?3 WHERE job_id = ?1 AND idx = ?2",
                    args![id, idx, now()],
                )?;
                Ok(sent::insert_pending(t, &account, &mid, &receiver, &parts)?)
            })
            .await
    }

    /// Records the outcome of a receiver's parts and the receiver's state, in one transaction.
    pub async fn finish(
        &self,
        id: &str,
        idx: i64,
        parts: Vec<(i64, SentState, Option<String>)>,
        outcome: ReceiverOutcome,
    ) -> ApiResult<()> {
        let id = id.to_owned();
        self.store
            .write(move |t| {
                sent::mark_all(t, &parts)?;
                match &outcome {
                    ReceiverOutcome::Sent => t.exec(
                        "UPDATE send_job_receivers SET state = 'sent' WHERE job_id = ?1 AND idx = ?2",
                        args![id, idx],
                    )?,
                    ReceiverOutcome::Failed { retcode, message } => t.exec(
                        "UPDATE send_job_receivers SET state = 'failed', retcode = ?3, error = ?4 WHERE job_id = ?1 AND idx = ?2",
                        args![id, idx, *retcode, message],
                    )?,
                };
                Ok(())
            })
            .await
    }

    /// Marks a job `done` (unless it was cancelled meanwhile).
    pub async fn complete(&self, id: &str) -> ApiResult<()> {
        let id = id.to_owned();
        self.store
            .write(move |t| {
                t.exec(
                    "UPDATE send_jobs SET state = 'done', finished_at = ?2 WHERE id = ?1 AND state IN ('running', 'waiting_backend')",
                    args![id, now()],
                )?;
                Ok(())
            })
            .await
    }

    /// A job with its counts and failures.
    pub async fn status(&self, id: &str) -> ApiResult<Option<JobStatus>> {
        let id = id.to_owned();
        self.store
            .read(move |t| {
                let Some(h) = t.opt(&format!("{HEAD} WHERE id = ?1"), args![id.as_str()])? else {
                    return Ok(None);
                };
                let head = head(&h)?;
                let mut counts = HashMap::new();
                for r in t.query(
                    "SELECT state, COUNT(*) FROM send_job_receivers WHERE job_id = ?1 GROUP BY state",
                    args![id.as_str()],
                )? {
                    counts.insert(r.get::<String>(0)?, r.get::<i64>(1)?);
                }
                let failed = t
                    .query(
                        "SELECT receiver, retcode, error FROM send_job_receivers WHERE job_id = ?1 AND state = 'failed' ORDER BY idx",
                        args![id],
                    )?
                    .iter()
                    .map(|r| {
                        Ok(FailedReceiver {
                            receiver: r.get(0)?,
                            retcode: r.get::<Option<i64>>(1)?.unwrap_or(0),
                            message: r.get::<Option<String>>(2)?.unwrap_or_default(),
                        })
                    })
                    .collect::<Result<_, DbError>>()?;
                Ok(Some(JobStatus { head, counts, failed }))
            })
            .await
    }

    /// The newest jobs of `account`, newest first.
    pub async fn recent(&self, account: &str, limit: usize) -> ApiResult<Vec<JobHead>> {
        let account = account.to_owned();
        self.store
            .read(move |t| {
                let rows = t.query(
                    &format!("{HEAD} WHERE account = ?1 ORDER BY created_at DESC LIMIT ?2"),
                    args![account, limit as i64],
                )?;
                Ok(rows.iter().map(head).collect::<Result<_, _>>()?)
            })
            .await
    }

    /// Cancels an unfinished job: receivers not yet sent are `cancelled`; returns how many.
    pub async fn cancel(&self, id: &str) -> ApiResult<usize> {
        let id = id.to_owned();
        self.store
            .write(move |t| {
                let st: Option<String> = match t.opt("SELECT state FROM send_jobs WHERE id = ?1", args![id.as_str()])? {
                    Some(r) => Some(r.get(0)?),
                    None => None,
                };
                match st.as_deref() {
                    None => return Err(ApiError::BadParam(format!("job_id {id:?} is unknown"))),
                    Some("running" | "waiting_backend") => {}
                    Some(other) => return Err(ApiError::Logic(format!("job {id} is already {other}"))),
                }
                t.exec(
                    "UPDATE send_jobs SET state = 'cancelled', finished_at = ?2 WHERE id = ?1",
                    args![id.as_str(), now()],
                )?;
                let n = t.exec(
                    "UPDATE send_job_receivers SET state = 'cancelled' WHERE job_id = ?1 AND state = 'pending'",
                    args![id],
                )?;
                Ok(n as usize)
            })
            .await
    }

    /// Deletes jobs that finished before `before`, with their receivers; returns how many.
    pub async fn trim(&self, before: f64) -> ApiResult<usize> {
        self.store
            .write(move |t| {
                t.exec(
                    "DELETE FROM send_job_receivers WHERE job_id IN
                     (SELECT id FROM send_jobs WHERE state IN ('done', 'cancelled') AND finished_at < ?1)",
                    args![before],
                )?;
                let n = t.exec(
                    "DELETE FROM send_jobs WHERE state IN ('done', 'cancelled') AND finished_at < ?1",
                    args![before],
                )?;
                Ok(n as usize)
            })
            .await
    }
}
