//! Durable broadcast jobs. The receiver list is resolved and de-duplicated once and stored with
//! the (already staged) message; each receiver goes `pending` → `sending` → `sent` | `failed` |
//! `cancelled`, and its sends are recorded in the same transaction that marks it `sent`.
//!
//! After a crash or restart every running job resumes where it stopped. A receiver found in
//! `sending` (the process died around its send) is first looked up in WeChat's own database:
//! if WeChat recorded an outgoing message to it since the send started, it counts as sent and
//! is not sent again; otherwise it is sent. So nobody gets the message twice and nobody is
//! skipped.

use rusqlite::{OptionalExtension, params};
use serde_json::{Value, json};

use crate::actions::messages::{self, Item, SentPart};
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use crate::store::now;

/// Creates a job (state `running`) with its receivers, in one transaction; returns its id.
pub async fn create(state: &AppState, message_id: &str, items: &[Item], receivers: Vec<String>) -> ApiResult<String> {
    let id = uuid::Uuid::new_v4().simple().to_string();
    let items = serde_json::to_string(items).map_err(|e| ApiError::Internal(e.to_string()))?;
    let (job, mid) = (id.clone(), message_id.to_owned());
    state
        .store
        .run(move |c| {
            let tx = c.transaction()?;
            tx.execute(
                "INSERT INTO send_jobs(id, message_id, items, state, created_at) VALUES (?1, ?2, ?3, 'running', ?4)",
                params![job, mid, items, now()],
            )?;
            {
                let mut stmt = tx.prepare_cached(
                    "INSERT INTO send_job_receivers(job_id, idx, receiver, state) VALUES (?1, ?2, ?3, 'pending')",
                )?;
                for (i, r) in receivers.iter().enumerate() {
                    stmt.execute(params![job, i as i64, r])?;
                }
            }
            tx.commit()?;
            Ok(())
        })
        .await?;
    Ok(id)
}

/// Runs a job in its own task.
pub fn spawn(state: AppState, job: String) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        if let Err(e) = run(&state, &job).await {
            tracing::error!(job, error = %e, "broadcast job stopped; it resumes on the next start");
        }
    })
}

/// Resumes every job that was running when the process stopped.
pub async fn resume_all(state: &AppState) -> ApiResult<()> {
    let jobs: Vec<String> = state
        .store
        .run(|c| {
            let mut stmt = c.prepare("SELECT id FROM send_jobs WHERE state = 'running' ORDER BY created_at")?;
            let ids = stmt.query_map([], |r| r.get(0))?.collect::<Result<_, _>>()?;
            Ok(ids)
        })
        .await?;
    for job in jobs {
        tracing::info!(job, "resuming a broadcast job");
        spawn(state.clone(), job);
    }
    Ok(())
}

struct Next {
    idx: i64,
    receiver: String,
    state: String,
    started_at: Option<f64>,
}

async fn run(state: &AppState, job: &str) -> ApiResult<()> {
    let j = job.to_owned();
    let (message_id, items): (String, String) = state
        .store
        .run(move |c| {
            Ok(c.query_row("SELECT message_id, items FROM send_jobs WHERE id = ?1", [j], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })?)
        })
        .await?;
    let items: Vec<Item> =
        serde_json::from_str(&items).map_err(|e| ApiError::Internal(format!("stored job items: {e}")))?;
    loop {
        let j = job.to_owned();
        let next: Option<Next> = state
            .store
            .run(move |c| {
                let running: Option<String> =
                    c.query_row("SELECT state FROM send_jobs WHERE id = ?1", [&j], |r| r.get(0)).optional()?;
                if running.as_deref() != Some("running") {
                    return Ok(None);
                }
                Ok(c.query_row(
                    "SELECT idx, receiver, state, started_at FROM send_job_receivers
                     WHERE job_id = ?1 AND state IN ('pending', 'sending') ORDER BY idx LIMIT 1",
                    [&j],
                    |r| Ok(Next { idx: r.get(0)?, receiver: r.get(1)?, state: r.get(2)?, started_at: r.get(3)? }),
                )
                .optional()?)
            })
            .await?;
        let Some(next) = next else { break };
        if next.state == "sending"
            && let Some(started) = next.started_at
            && let Some(kind) = already_sent(state, &next.receiver, started, &items).await?
        {
            tracing::info!(job, receiver = next.receiver, "already sent before the restart; not sending again");
            finish(state, job, &message_id, next.idx, &next.receiver, Ok(vec![(kind, String::new())])).await?;
            continue;
        }
        let (j, idx) = (job.to_owned(), next.idx);
        state
            .store
            .run(move |c| {
                c.execute(
                    "UPDATE send_job_receivers SET state = 'sending', started_at = ?3 WHERE job_id = ?1 AND idx = ?2",
                    params![j, idx, now()],
                )?;
                Ok(())
            })
            .await?;
        let outcome = match messages::plan(state, &items, &next.receiver).await {
            Ok(parts) => messages::deliver(state, &next.receiver, parts).await,
            Err(e) => Err((Vec::new(), e)),
        };
        finish(state, job, &message_id, next.idx, &next.receiver, outcome).await?;
    }
    let j = job.to_owned();
    state
        .store
        .run(move |c| {
            c.execute(
                "UPDATE send_jobs SET state = CASE state WHEN 'running' THEN 'done' ELSE state END, finished_at = ?2 WHERE id = ?1",
                params![j, now()],
            )?;
            Ok(())
        })
        .await
}

/// Marks one receiver and records its sends, in one transaction.
async fn finish(
    state: &AppState,
    job: &str,
    message_id: &str,
    idx: i64,
    receiver: &str,
    outcome: Result<Vec<SentPart>, (Vec<SentPart>, ApiError)>,
) -> ApiResult<()> {
    let (sent, error) = match outcome {
        Ok(sent) => (sent, None),
        Err((sent, e)) => (sent, Some((e.retcode(), e.public_message()))),
    };
    let (job, message_id, receiver) = (job.to_owned(), message_id.to_owned(), receiver.to_owned());
    state
        .store
        .run_log(move |c| {
            let tx = c.transaction()?;
            {
                let mut stmt = tx.prepare_cached(
                    "INSERT OR IGNORE INTO sent_messages(message_id, part, receiver, kind, content, sent_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                )?;
                for (i, (kind, content)) in sent.iter().enumerate() {
                    // Parts are numbered per receiver: idx * 100 + part.
                    stmt.execute(params![message_id, idx * 100 + i as i64, receiver, kind, content, now()])?;
                }
            }
            match &error {
                None => tx.execute(
                    "UPDATE send_job_receivers SET state = 'sent' WHERE job_id = ?1 AND idx = ?2",
                    params![job, idx],
                )?,
                Some((code, msg)) => tx.execute(
                    "UPDATE send_job_receivers SET state = 'failed', retcode = ?3, error = ?4 WHERE job_id = ?1 AND idx = ?2",
                    params![job, idx, code, msg],
                )?,
            };
            tx.commit()?;
            Ok(())
        })
        .await
}

/// Whether WeChat recorded an outgoing message to `receiver` since `started` that matches the
/// job's first send (so a send interrupted by a crash is not repeated).
async fn already_sent(
    state: &AppState,
    receiver: &str,
    started: f64,
    items: &[Item],
) -> ApiResult<Option<&'static str>> {
    let first = items.first().map(|i| match i {
        Item::Image(_) => ("image", 3),
        Item::File(_) => ("file", 49),
        Item::Text(_) | Item::Mention(_) | Item::MentionAll => ("text", 1),
    });
    let Some((kind, wx_type)) = first else { return Ok(None) };
    let db = crate::bridge::msg_db(state).await;
    let sql = format!(
        "SELECT COUNT(*) AS n FROM MSG WHERE StrTalker = '{}' AND IsSender = 1 AND Type = {wx_type} AND CreateTime >= {}",
        receiver.replace('\'', "''"),
        started.floor() as i64 - 1
    );
    let rows = state
        .backend
        .client
        .query(&db, &sql)
        .await
        .map_err(|e| state.backend.error("check WeChat's database for an interrupted send", &e))?;
    let n = rows.first().and_then(|r| r.get("n")).and_then(|v| v.as_i64()).unwrap_or(0);
    Ok((n > 0).then_some(kind))
}

/// Progress of a job: `{job_id, message_id, state, total, sent, pending, cancelled, failed: [...]}`.
pub async fn status(state: &AppState, job: &str) -> ApiResult<Value> {
    let j = job.to_owned();
    let found = state
        .store
        .run(move |c| {
            let head: Option<(String, String)> = c
                .query_row("SELECT message_id, state FROM send_jobs WHERE id = ?1", [&j], |r| Ok((r.get(0)?, r.get(1)?)))
                .optional()?;
            let Some((message_id, job_state)) = head else { return Ok(None) };
            let mut counts = std::collections::HashMap::new();
            let mut stmt = c.prepare_cached("SELECT state, COUNT(*) FROM send_job_receivers WHERE job_id = ?1 GROUP BY state")?;
            for row in stmt.query_map([&j], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))? {
                let (s, n) = row?;
                counts.insert(s, n);
            }
            let mut stmt = c.prepare_cached(
                "SELECT receiver, retcode, error FROM send_job_receivers WHERE job_id = ?1 AND state = 'failed' ORDER BY idx",
            )?;
            let failed: Vec<Value> = stmt
                .query_map([&j], |r| {
                    Ok(json!({ "receiver": r.get::<_, String>(0)?, "retcode": r.get::<_, i64>(1)?, "message": r.get::<_, String>(2)? }))
                })?
                .collect::<Result<_, _>>()?;
            Ok(Some((message_id, job_state, counts, failed)))
        })
        .await?;
    let Some((message_id, job_state, counts, failed)) = found else {
        return Err(ApiError::BadParam(format!("job_id {job:?} is unknown")));
    };
    let n = |s: &str| counts.get(s).copied().unwrap_or(0);
    Ok(json!({
        "job_id": job,
        "message_id": message_id,
        "state": job_state,
        "total": counts.values().sum::<i64>(),
        "sent": n("sent"),
        "pending": n("pending") + n("sending"),
        "cancelled": n("cancelled"),
        "failed": failed,
    }))
}

/// Cancels a running job: receivers not yet sent are marked `cancelled`.
pub async fn cancel(state: &AppState, job: &str) -> ApiResult<Value> {
    let j = job.to_owned();
    let cancelled = state
        .store
        .run(move |c| {
            let tx = c.transaction()?;
            let st: Option<String> =
                tx.query_row("SELECT state FROM send_jobs WHERE id = ?1", [&j], |r| r.get(0)).optional()?;
            match st.as_deref() {
                None => return Err(ApiError::BadParam(format!("job_id {j:?} is unknown"))),
                Some("running") => {}
                Some(other) => return Err(ApiError::Logic(format!("job {j} is already {other}"))),
            }
            tx.execute("UPDATE send_jobs SET state = 'cancelled', finished_at = ?2 WHERE id = ?1", params![j, now()])?;
            let n = tx.execute(
                "UPDATE send_job_receivers SET state = 'cancelled' WHERE job_id = ?1 AND state = 'pending'",
                [&j],
            )?;
            tx.commit()?;
            Ok(n)
        })
        .await?;
    Ok(json!({ "cancelled": cancelled }))
}
