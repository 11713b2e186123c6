//! `get_latest_events`: events since the previous call, from a durable cursor, with long-poll.
//! `self_id` narrows the call to one account (with its own cursor).

use std::time::Duration;

use serde_json::Value;

use super::Params;
use crate::error::{ApiError, ApiResult};
use crate::events::outbox::EventFilter;
use crate::gateway::Gateway;

/// The cursor channel of `get_latest_events`.
pub const LATEST_EVENTS_CHANNEL: &str = "get_latest_events";

pub(super) async fn latest_events(gateway: &Gateway, selector: Option<&str>, p: &Params) -> ApiResult<Value> {
    if !gateway.config.http_server.event_enabled {
        return Err(ApiError::UnsupportedAction(
            "get_latest_events is off: set http_server.event_enabled: true in the config".into(),
        ));
    }
    let limit = p.opt_i64("limit")?.unwrap_or(0);
    if limit < 0 {
        return Err(ApiError::BadParam("`limit` must be 0 (all) or more".into()));
    }
    let timeout = p.opt_i64("timeout")?.unwrap_or(0);
    if !(0..=300).contains(&timeout) {
        return Err(ApiError::BadParam("`timeout` must be between 0 and 300 seconds".into()));
    }
    let mut filter = EventFilter { skip_meta: true, accounts: None };
    let channel = match selector.map(str::trim).filter(|s| !s.is_empty()) {
        Some(sel) => {
            let account = gateway.route(Some(sel))?;
            filter.accounts = Some([account.name.clone()].into());
            format!("{LATEST_EVENTS_CHANNEL}:{}", account.name)
        }
        None => LATEST_EVENTS_CHANNEL.to_owned(),
    };
    // Shown with the other channels (console overview): its backlog and last delivery.
    let stats = gateway.channels.register(&channel, "long_poll", &channel);
    let outbox = &gateway.outbox;
    let mut cursor = outbox.cursor(&channel, outbox.latest()).await?;
    let buffer = gateway.config.http_server.event_buffer_size as i64;
    let latest = outbox.latest();
    if buffer > 0 && latest - cursor > buffer {
        // Only the newest `event_buffer_size` events are kept for polling.
        cursor = latest - buffer;
    }
    let take = if limit == 0 { 10_000 } else { limit as usize };
    let mut watch = outbox.watch();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(timeout as u64);
    loop {
        let batch = outbox.after(cursor, take, &filter).await?;
        if !batch.events.is_empty() {
            let last = batch.events.last().map_or(batch.upto, |e| e.seq);
            outbox.save_cursor(&channel, last).await?;
            stats.ok();
            return Ok(Value::Array(batch.events.iter().map(|e| e.value()).collect()));
        }
        if batch.upto > cursor {
            cursor = batch.upto;
            outbox.save_cursor(&channel, cursor).await?;
            continue;
        }
        if tokio::time::timeout_at(deadline, watch.changed()).await.is_err() {
            return Ok(Value::Array(Vec::new()));
        }
    }
}
