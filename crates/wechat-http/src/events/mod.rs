//! Events: WeChat messages and state changes turned into OneBot 12 (and legacy) events,
//! committed to the durable [`outbox::Outbox`] before any delivery channel sees them.

pub mod normalize;
pub mod outbox;

use serde_json::{Value, json};

use crate::state::AppState;
use crate::store::now;
use normalize::Draft;

/// `meta` / `connect`: the first frame of every WebSocket.
pub fn connect_event() -> Value {
    json!({
        "id": uuid::Uuid::new_v4().to_string(),
        "time": now(),
        "type": "meta",
        "detail_type": "connect",
        "sub_type": "",
        "version": { "impl": "wechat-http", "version": env!("CARGO_PKG_VERSION"), "onebot_version": "12" },
    })
}

/// `meta` / `heartbeat` (not stored): `interval` in milliseconds for OneBot 12; the legacy
/// shape is `detail_type: heart_beat` with `interval` in seconds.
pub fn heartbeat_event(state: &AppState, legacy: bool) -> Value {
    let secs = state.config.heart_beat_interval;
    let status = crate::actions::meta::status(state);
    if legacy {
        json!({ "id": uuid::Uuid::new_v4().to_string(), "time": now(), "type": "meta", "detail_type": "heart_beat", "sub_type": "", "interval": secs, "status": status })
    } else {
        json!({ "id": uuid::Uuid::new_v4().to_string(), "time": now(), "type": "meta", "detail_type": "heartbeat", "sub_type": "", "interval": secs * 1000, "status": status })
    }
}

/// `meta` / `status_update` with the current `get_status` data (stored: webhooks get it too).
pub fn status_update(state: &AppState) -> Draft {
    Draft {
        body: json!({ "time": now(), "type": "meta", "detail_type": "status_update", "sub_type": "", "status": crate::actions::meta::status(state) }),
        legacy: None,
        source: None,
    }
}

/// Commits an event; logs a failure (the caller has nothing better to do with it).
pub async fn emit(state: &AppState, draft: Draft) -> Option<i64> {
    match state.outbox.append(draft).await {
        Ok(seq) => seq,
        Err(e) => {
            tracing::error!(error = %e, "an event could not be stored");
            None
        }
    }
}
