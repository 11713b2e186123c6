//! Durable broadcast jobs. The receiver list is resolved and de-duplicated once and stored
//! with the (already staged) message; [`JobRunner::step`] handles one receiver: its intent is
//! recorded with its move to `sending`, its outcome with its move to `sent` or `failed`.
//!
//! WeChat being away is not a receiver's fault: while the backend is disconnected or logged
//! out the job waits (`waiting_backend`) and resumes by itself; a send whose outcome is
//! unknown, or one cut off by the outage, is looked up in WeChat's database before anything
//! is sent again. Only errors about the receiver itself fail it. After a crash or restart
//! every unfinished job resumes the same way, so nobody gets the message twice and nobody is
//! skipped.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};

use super::{Item, PartOutcome, deliver, find_in_wechat, parts_for};
use crate::account::Account;
use crate::error::{ApiError, ApiResult};
use crate::store::SentState;
use crate::store::jobs::ReceiverOutcome;

/// What one step did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum JobStep {
    /// A receiver got the message (or was found to have it already).
    Sent(String),
    /// A receiver failed for a reason of its own.
    Failed(String),
    /// WeChat is away (or busy); nothing was decided. Step again once it is back.
    Waiting,
    /// Nobody is left (or the job was cancelled).
    Finished,
}

/// Errors that say "WeChat is away or busy", not "this receiver cannot get it".
fn transient(e: &ApiError) -> bool {
    matches!(
        e,
        ApiError::BackendUnavailable(_)
            | ApiError::NotLoggedIn
            | ApiError::OutcomeUnknown { .. }
            | ApiError::Timeout(_)
    )
}

/// Creates a job (state `running`) for `receivers`; returns its id.
pub async fn create(account: &Account, message_id: &str, items: &[Item], receivers: Vec<String>) -> ApiResult<String> {
    let items = serde_json::to_string(items).map_err(|e| ApiError::Internal(e.to_string()))?;
    account.store.jobs().create(&account.name, message_id, items, receivers).await
}

/// One job being worked on.
pub struct JobRunner {
    account: Arc<Account>,
    job: String,
    message_id: String,
    items: Vec<Item>,
}

impl JobRunner {
    /// Loads job `job` of `account`.
    pub async fn load(account: Arc<Account>, job: &str) -> ApiResult<Self> {
        let head = account
            .store
            .jobs()
            .head(job)
            .await?
            .ok_or_else(|| ApiError::BadParam(format!("job_id {job:?} is unknown")))?;
        let items: Vec<Item> =
            serde_json::from_str(&head.items).map_err(|e| ApiError::Internal(format!("stored job items: {e}")))?;
        Ok(Self { account, job: job.to_owned(), message_id: head.message_id, items })
    }

    /// Handles the next receiver.
    pub async fn step(&mut self) -> ApiResult<JobStep> {
        let jobs = self.account.store.jobs();
        if !self.account.backend.online() {
            jobs.set_active_state(&self.job, "waiting_backend").await?;
            return Ok(JobStep::Waiting);
        }
        let Some(next) = jobs.next(&self.job).await? else {
            jobs.complete(&self.job).await?;
            return Ok(JobStep::Finished);
        };
        jobs.set_active_state(&self.job, "running").await?;
        let receiver = next.receiver.clone();
        let parts = match parts_for(&self.account, &self.items, &receiver).await {
            Ok(p) => p,
            Err(e) if transient(&e) => {
                jobs.set_active_state(&self.job, "waiting_backend").await?;
                return Ok(JobStep::Waiting);
            }
            Err(e) => {
                let outcome = ReceiverOutcome::Failed { retcode: e.retcode(), message: e.public_message() };
                jobs.finish(&self.job, next.idx, Vec::new(), outcome).await?;
                return Ok(JobStep::Failed(receiver));
            }
        };
        // The parts still to send: all of them, or after an interruption those WeChat's
        // database does not show.
        let (rows, todo) = if next.state == "sending" {
            let rows = self.account.store.sent(&self.account.name).parts_to(&self.message_id, &receiver).await?;
            let open: Vec<_> =
                rows.iter().filter(|r| matches!(r.state, SentState::Pending | SentState::Unknown)).cloned().collect();
            let found: HashSet<i64> =
                find_in_wechat(&self.account, &receiver, &open).await?.into_iter().map(|(id, _)| id).collect();
            if !found.is_empty() {
                tracing::info!(job = %self.job, %receiver, parts = found.len(), "already sent before the interruption; not sending again");
            }
            let todo: Vec<usize> = rows
                .iter()
                .enumerate()
                .filter(|(_, r)| r.state != SentState::Sent && !found.contains(&r.id))
                .map(|(i, _)| i)
                .filter(|i| *i < parts.len())
                .collect();
            (rows.iter().map(|r| r.id).collect::<Vec<_>>(), todo)
        } else {
            let intents = parts.iter().map(|p| (p.kind().to_owned(), p.content().to_owned())).collect();
            let ids = jobs.begin(&self.job, next.idx, &self.account.name, &self.message_id, &receiver, intents).await?;
            (ids, (0..parts.len()).collect())
        };
        let to_send: Vec<_> = todo.iter().map(|i| parts[*i].clone()).collect();
        let outcomes = deliver(&self.account, &receiver, &to_send).await;
        let marks: Vec<_> = todo
            .iter()
            .zip(&outcomes)
            .filter_map(|(i, o)| {
                let (state, error) = o.record();
                Some((*rows.get(*i)?, state, error))
            })
            .collect();
        let failure = outcomes.into_iter().find_map(|o| match o {
            PartOutcome::Unknown(e) | PartOutcome::Failed(e) => Some(e),
            _ => None,
        });
        match failure {
            None => {
                jobs.finish(&self.job, next.idx, marks, ReceiverOutcome::Sent).await?;
                Ok(JobStep::Sent(receiver))
            }
            Some(e) if transient(&e) => {
                // The receiver stays `sending`: the next step looks before it sends again.
                self.account.store.sent(&self.account.name).mark(marks).await?;
                jobs.set_active_state(&self.job, "waiting_backend").await?;
                tracing::warn!(job = %self.job, %receiver, error = %e, "WeChat is away; the broadcast waits");
                Ok(JobStep::Waiting)
            }
            Some(e) => {
                let outcome = ReceiverOutcome::Failed { retcode: e.retcode(), message: e.public_message() };
                jobs.finish(&self.job, next.idx, marks, outcome).await?;
                Ok(JobStep::Failed(receiver))
            }
        }
    }

    /// Steps until the job is finished or the gateway stops; while WeChat is away, waits for
    /// it to come back.
    pub async fn run(mut self) {
        let account = self.account.clone();
        let mut state = account.backend.watch();
        loop {
            if account.stopping() {
                return;
            }
            let step = tokio::select! {
                _ = account.stopped() => return,
                s = self.step() => s,
            };
            match step {
                Ok(JobStep::Finished) => return,
                Ok(JobStep::Sent(_) | JobStep::Failed(_)) => {}
                Ok(JobStep::Waiting) => {
                    tokio::select! {
                        _ = account.stopped() => return,
                        _ = async {
                            // Back online, or a second to let a busy queue or WeChat settle.
                            if account.backend.online() {
                                tokio::time::sleep(Duration::from_secs(1)).await;
                            } else {
                                while state.changed().await.is_ok() && !account.backend.online() {}
                            }
                        } => {}
                    }
                }
                Err(e) => {
                    tracing::error!(job = %self.job, error = %e, "broadcast job step failed; retrying in 5 s");
                    tokio::select! {
                        _ = account.stopped() => return,
                        _ = tokio::time::sleep(Duration::from_secs(5)) => {}
                    }
                }
            }
        }
    }
}

/// Runs a job in its own task.
pub fn spawn(account: Arc<Account>, job: String) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        match JobRunner::load(account, &job).await {
            Ok(runner) => runner.run().await,
            Err(e) => tracing::error!(job, error = %e, "cannot load a broadcast job; it resumes on the next start"),
        }
    })
}

/// Progress of a job: `{job_id, message_id, state, total, sent, pending, cancelled, failed}`.
pub async fn status(account: &Account, job: &str) -> ApiResult<Value> {
    let Some(s) = account.store.jobs().status(job).await?.filter(|s| s.head.account == account.name) else {
        return Err(ApiError::BadParam(format!("job_id {job:?} is unknown")));
    };
    let n = |k: &str| s.counts.get(k).copied().unwrap_or(0);
    Ok(json!({
        "job_id": job,
        "message_id": s.head.message_id,
        "state": s.head.state,
        "total": s.counts.values().sum::<i64>(),
        "sent": n("sent"),
        "pending": n("pending") + n("sending"),
        "cancelled": n("cancelled"),
        "failed": s.failed,
        "created_at": s.head.created_at,
        "finished_at": s.head.finished_at,
    }))
}

/// Cancels an unfinished job of `account`: receivers not yet sent are `cancelled`.
pub async fn cancel(account: &Account, job: &str) -> ApiResult<Value> {
    match account.store.jobs().head(job).await? {
        Some(h) if h.account == account.name => {}
        _ => return Err(ApiError::BadParam(format!("job_id {job:?} is unknown"))),
    }
    let cancelled = account.store.jobs().cancel(job).await?;
    Ok(json!({ "cancelled": cancelled }))
}
