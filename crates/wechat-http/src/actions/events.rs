//! `get_latest_events`: events since the previous call, from a durable cursor, with long-poll.

use std::time::Duration;

use serde_json::Value;

use super::Params;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

/// The cursor channel of `get_latest_events`.
pub const LATEST_EVENTS_CHANNEL: &str = "get_latest_events";

pub(super) async fn latest_events(state: &AppState, p: &Params) -> ApiResult<Value> {
    if !state.config.http_server.event_enabled {
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
    let outbox = &state.outbox;
    let mut cursor = outbox.cursor(LATEST_EVENTS_CHANNEL, outbox.latest()).await?;
    let buffer = state.config.http_server.event_buffer_size as i64;
    let latest = outbox.latest();
    if buffer > 0 && latest - cursor > buffer {
        // Only the newest `event_buffer_size` events are kept for polling.
        cursor = latest - buffer;
    }
    let take = if limit == 0 { 10_000 } else { limit as usize };
    let mut watch = outbox.watch();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(timeout as u64);
    loop {
        let events = outbox.after(cursor, take, true).await?;
        if let Some(last) = events.last() {
            outbox.save_cursor(LATEST_EVENTS_CHANNEL, last.seq).await?;
            return Ok(Value::Array(events.iter().map(|e| e.value()).collect()));
        }
        if tokio::time::timeout_at(deadline, watch.changed()).await.is_err() {
            return Ok(Value::Array(Vec::new()));
        }
    }
}
