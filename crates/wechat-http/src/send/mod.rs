//! The send engine: everything between "send this message to that receiver" and WeChat —
//! staging ([`stage`]), planning ([`plan`]), the account's queue ([`queue`]), delivery with
//! the sent log (intent first, outcome after), broadcast jobs ([`jobs`]), recall ([`recall`])
//! and reconciling sends whose outcome is unknown. HTTP actions call into it; it calls nothing
//! above it.
//!
//! Outcomes are honest: a send whose WeChatFerry call timed out (or whose connection broke
//! while waiting for the answer) is `unknown` — WeChat may have sent it — and answers 33003;
//! it is looked up in WeChat's database afterwards and becomes `sent` (with its `MsgSvrID`)
//! when found there.

use std::collections::{BTreeMap, HashSet};

use crate::account::Account;
use crate::error::{ApiError, ApiResult};
use crate::store::{SentPart, SentState, now};
use crate::wechat_db::OutgoingRow;
use plan::wx_type_of;

pub mod jobs;
pub mod plan;
pub mod queue;
pub mod recall;
pub mod stage;

pub use plan::{Item, Part};

/// Seconds before a part's recorded time a matching WeChat row may be (clock granularity).
const MATCH_BEFORE: i64 = 2;
/// Seconds after it.
const MATCH_AFTER: i64 = 60;
/// Unknown outcomes older than this are given up on (WeChat has no record of them).
const UNKNOWN_GIVE_UP: f64 = 120.0;

/// What happened to one part.
#[derive(Debug)]
pub enum PartOutcome {
    /// WeChat accepted it.
    Sent,
    /// WeChatFerry did not answer: it may have been sent.
    Unknown(ApiError),
    /// WeChat refused it, or it could not be handed over.
    Failed(ApiError),
    /// Not tried: an earlier part did not go through.
    NotAttempted,
}

impl PartOutcome {
    /// The sent-log state and error text.
    pub fn record(&self) -> (SentState, Option<String>) {
        match self {
            Self::Sent => (SentState::Sent, None),
            Self::Unknown(e) => (SentState::Unknown, Some(e.public_message())),
            Self::Failed(e) => (SentState::Failed, Some(e.public_message())),
            Self::NotAttempted => (SentState::Failed, Some("not sent: an earlier part did not go through".into())),
        }
    }
}

/// The first error among outcomes (an unknown outcome wins over a failure after it).
pub fn first_error(outcomes: Vec<PartOutcome>) -> Option<ApiError> {
    outcomes.into_iter().find_map(|o| match o {
        PartOutcome::Unknown(e) | PartOutcome::Failed(e) => Some(e),
        _ => None,
    })
}

/// Plans the sends of `items` for `receiver`, with mention names from the chat group.
pub async fn parts_for(account: &Account, items: &[Item], receiver: &str) -> ApiResult<Vec<Part>> {
    let group = wcf::message::is_room_id(receiver);
    let mentioned = plan::mentioned(items);
    let mut names = std::collections::HashMap::new();
    if group
        && !mentioned.is_empty()
        && let Some(data) = account.db.room_data(&account.backend, receiver).await?
    {
        for m in data.members {
            if let Some(n) = m.name.filter(|n| !n.is_empty()) {
                names.insert(m.wxid, n);
            }
        }
        // Members who are no contacts: their nickname from WeChat's Contact table.
        let missing: Vec<String> = mentioned
            .iter()
            .filter(|w| !names.contains_key(**w) && account.contacts.peek(w).is_none())
            .map(|w| (*w).to_owned())
            .collect();
        if !missing.is_empty() {
            for (w, n) in account.db.names(&account.backend, &missing).await? {
                if !n.nickname.is_empty() {
                    names.insert(w, n.nickname);
                }
            }
        }
    }
    plan::plan(items, receiver, group, |w| {
        names
            .get(w)
            .cloned()
            .or_else(|| account.contacts.peek(w).map(|c| c.name).filter(|n| !n.is_empty()))
            .unwrap_or_else(|| w.to_owned())
    })
}

/// Sends one part through the account's queue.
async fn send_part(account: &Account, receiver: &str, part: &Part) -> Result<(), ApiError> {
    let client = &account.backend.client;
    let (what, result) = match part {
        Part::Text { text, aters } => {
            ("send the text".to_owned(), account.queue.run(client.send_text(text, receiver, aters)).await?)
        }
        Part::Image(path) => (
            format!("send the image {path} (a path on the WeChat host)"),
            account.queue.run(client.send_image(path, receiver)).await?,
        ),
        Part::File(path) | Part::Video(path) => (
            format!("send the file {path} (a path on the WeChat host)"),
            account.queue.run(client.send_file(path, receiver)).await?,
        ),
        Part::Emoji(path) => (
            format!("send the sticker {path} (a path on the WeChat host)"),
            account.queue.run(client.send_emotion(path, receiver)).await?,
        ),
        Part::Link(l) => {
            let rt = wcf::RichText {
                name: l.source.clone(),
                account: l.account.clone(),
                title: l.title.clone(),
                digest: l.description.clone(),
                url: l.url.clone(),
                thumburl: l.thumb_url.clone(),
                receiver: receiver.to_owned(),
            };
            ("send the link card".to_owned(), account.queue.run(client.send_rich_text(&rt)).await?)
        }
        Part::Xml { kind, xml } => {
            ("send the XML message".to_owned(), account.queue.run(client.send_xml(receiver, xml, *kind, None)).await?)
        }
    };
    result.map_err(|e| match &e {
        // The request may have reached WeChat: only its database can tell.
        wcf::Error::Timeout { .. } | wcf::Error::Transport { .. } | wcf::Error::Desync { .. } => {
            ApiError::OutcomeUnknown { detail: e.to_string(), message_id: None }
        }
        _ => account.backend.error(&what, &e),
    })
}

/// Sends the parts in order, stopping at the first that does not go through.
pub async fn deliver(account: &Account, receiver: &str, parts: &[Part]) -> Vec<PartOutcome> {
    let mut out = Vec::with_capacity(parts.len());
    let mut stopped = false;
    for part in parts {
        if stopped {
            out.push(PartOutcome::NotAttempted);
            continue;
        }
        let o = match send_part(account, receiver, part).await {
            Ok(()) => PartOutcome::Sent,
            Err(e @ ApiError::OutcomeUnknown { .. }) => PartOutcome::Unknown(e),
            Err(e) => PartOutcome::Failed(e),
        };
        stopped = !matches!(o, PartOutcome::Sent);
        out.push(o);
    }
    out
}

/// Sends `items` to one receiver now: the intent is recorded first (a store that cannot be
/// written refuses the send before WeChat sees it), then each part, then the outcome.
pub async fn send_to(account: &Account, message_id: &str, receiver: &str, items: &[Item]) -> ApiResult<()> {
    let parts = parts_for(account, items, receiver).await?;
    let log = account.store.sent(&account.name);
    let rows = parts.iter().map(|p| (p.kind().to_owned(), p.content().to_owned())).collect();
    let ids = log.intend(message_id, receiver, rows).await?;
    let outcomes = deliver(account, receiver, &parts).await;
    let marks = ids.iter().zip(&outcomes).map(|(id, o)| {
        let (state, error) = o.record();
        (*id, state, error)
    });
    if let Err(e) = log.mark(marks.collect()).await {
        // The parts stay `pending`; after a restart they are checked against WeChat.
        tracing::error!(account = %account.name, message_id, error = %e, "cannot record a send's outcome");
    }
    match first_error(outcomes) {
        Some(ApiError::OutcomeUnknown { detail, .. }) => {
            schedule_reconcile(account);
            Err(ApiError::OutcomeUnknown { detail, message_id: Some(message_id.to_owned()) })
        }
        Some(e) => Err(e),
        None => Ok(()),
    }
}

/// Looks for sends of unknown outcome in WeChat's database a few seconds from now (WeChat
/// records a message as it sends it; the upkeep looks again every minute).
fn schedule_reconcile(account: &Account) {
    let Some(account) = account.handle() else { return };
    tokio::spawn(async move {
        for wait in [2, 5, 15] {
            tokio::select! {
                _ = account.stopped() => return,
                _ = tokio::time::sleep(std::time::Duration::from_secs(wait)) => {}
            }
            if !account.backend.online() {
                continue;
            }
            match reconcile_unknown(&account).await {
                Ok(n) if n > 0 => {
                    tracing::info!(account = %account.name, parts = n, "a send of unknown outcome was found in WeChat's database");
                }
                Ok(_) => {}
                Err(e) => {
                    tracing::debug!(account = %account.name, error = %e, "cannot reconcile sends of unknown outcome yet")
                }
            }
            if account.store.sent(&account.name).unknown(1).await.map(|u| u.is_empty()).unwrap_or(false) {
                return;
            }
        }
    });
}

/// Where each part of a message this gateway sent stands: `{message_id, parts: [...]}`.
pub async fn sent_status(account: &Account, message_id: &str) -> ApiResult<serde_json::Value> {
    let parts = account.store.sent(&account.name).parts(message_id).await?;
    if parts.is_empty() {
        return Err(ApiError::BadParam(format!(
            "message_id {message_id:?} is not a message this gateway sent (use the message_id send_message returned)"
        )));
    }
    let list: Vec<serde_json::Value> = parts
        .iter()
        .map(|p| {
            serde_json::json!({
                "receiver": p.receiver,
                "part": p.part,
                "kind": p.kind,
                "state": p.state,
                "wx_msg_id": p.wx_msg_id.map(|id| id.to_string()),
                "error": p.error,
            })
        })
        .collect();
    Ok(serde_json::json!({ "message_id": message_id, "parts": list }))
}

/// Matches sent-log parts to WeChat's own outgoing rows (same receiver): for each part, in
/// order, the first unclaimed row of its type created from [`MATCH_BEFORE`] s before it was
/// recorded (texts must also be equal). Returns `(part row id, MsgSvrID)`.
pub fn match_rows(parts: &[SentPart], rows: &[OutgoingRow], taken: &HashSet<i64>) -> Vec<(i64, i64)> {
    let mut taken = taken.clone();
    let mut out = Vec::new();
    for p in parts {
        let since = p.sent_at.floor() as i64 - MATCH_BEFORE;
        let until = p.sent_at.ceil() as i64 + MATCH_AFTER;
        let want = wx_type_of(&p.kind);
        let found = rows.iter().find(|r| {
            r.create_time >= since
                && r.create_time <= until
                && r.msg_type == want
                && !taken.contains(&r.svr_id)
                && (p.kind != "text" || r.content == p.content)
        });
        if let Some(r) = found {
            taken.insert(r.svr_id);
            out.push((p.id, r.svr_id));
        }
    }
    out
}

/// Looks `parts` (all to `receiver`) up in WeChat's database and records the ids found;
/// returns `(part row id, MsgSvrID)` for each found.
pub async fn find_in_wechat(account: &Account, receiver: &str, parts: &[SentPart]) -> ApiResult<Vec<(i64, i64)>> {
    if parts.is_empty() {
        return Ok(Vec::new());
    }
    let from = parts.iter().map(|p| p.sent_at).fold(f64::MAX, f64::min).floor() as i64 - MATCH_BEFORE;
    let to = parts.iter().map(|p| p.sent_at).fold(0.0, f64::max).ceil() as i64 + MATCH_AFTER;
    let rows = account.db.outgoing(&account.backend, receiver, from, to).await?;
    let log = account.store.sent(&account.name);
    let taken = log.taken_wx_ids(receiver, from as f64 - 3600.0).await?;
    let found = match_rows(parts, &rows, &taken);
    for (id, wx) in &found {
        log.set_wx_id(*id, *wx).await?;
    }
    Ok(found)
}

/// Reconciles parts whose outcome is `unknown` with WeChat's database: found → `sent` with
/// its MsgSvrID; still missing after two minutes → `failed`. Returns how many were found.
pub async fn reconcile_unknown(account: &Account) -> ApiResult<usize> {
    let log = account.store.sent(&account.name);
    let unknown = log.unknown(500).await?;
    let mut by_receiver: BTreeMap<String, Vec<SentPart>> = BTreeMap::new();
    for p in unknown {
        by_receiver.entry(p.receiver.clone()).or_default().push(p);
    }
    let mut found = 0;
    for (receiver, parts) in by_receiver {
        found += find_in_wechat(account, &receiver, &parts).await?.len();
    }
    log.unknown_to_failed(now() - UNKNOWN_GIVE_UP).await?;
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn part(id: i64, kind: &str, content: &str, at: f64) -> SentPart {
        SentPart {
            id,
            message_id: "m".into(),
            receiver: "wxid_b".into(),
            part: id,
            kind: kind.into(),
            content: content.into(),
            state: SentState::Unknown,
            sent_at: at,
            wx_msg_id: None,
            error: None,
        }
    }

    fn row(svr_id: i64, msg_type: i64, content: &str, t: i64) -> OutgoingRow {
        OutgoingRow { svr_id, msg_type, content: content.into(), create_time: t }
    }

    #[test]
    fn matching_takes_each_row_once_in_order() {
        let parts =
            [part(1, "text", "hi", 100.5), part(2, "image", "/a.png", 100.6), part(3, "image", "/b.png", 100.7)];
        let rows = [
            row(10, 1, "old", 90),
            row(11, 1, "hi", 100),
            row(12, 3, "", 101),
            row(13, 3, "", 101),
            row(14, 3, "", 102),
        ];
        assert_eq!(match_rows(&parts, &rows, &HashSet::new()), vec![(1, 11), (2, 12), (3, 13)]);
        let taken = HashSet::from([12]);
        assert_eq!(match_rows(&parts, &rows, &taken), vec![(1, 11), (2, 13), (3, 14)], "taken rows are skipped");
        assert!(
            match_rows(&[part(1, "text", "other", 100.0)], &rows, &HashSet::new()).is_empty(),
            "texts must be equal"
        );
        assert!(
            match_rows(&[part(1, "text", "hi", 200.0)], &rows, &HashSet::new()).is_empty(),
            "too early for this part"
        );
    }
}
