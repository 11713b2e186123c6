//! Events: WeChat messages and state changes turned into OneBot 12 (and legacy) events,
//! committed to the durable [`outbox::Outbox`] before any delivery channel sees it.

pub mod normalize;
pub mod outbox;

use serde_json::{Value, json};

use crate::gateway::Gateway;
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
pub fn heartbeat_event(gateway: &Gateway, legacy: bool) -> Value {
    let secs = gateway.config.heart_beat_interval;
    let status = gateway.status();
    if legacy {
        json!({ "id": uuid::Uuid::new_v4().to_string(), "time": now(), "type": "meta", "detail_type": "heart_beat", "sub_type": "", "interval": secs, "status": status })
    } else {
        json!({ "id": uuid::Uuid::new_v4().to_string(), "time": now(), "type": "meta", "detail_type": "heartbeat", "sub_type": "", "interval": secs * 1000, "status": status })
    }
}

/// `meta` / `status_update` with the current `get_status` data (stored: webhooks get it too).
pub fn status_update(gateway: &Gateway) -> Draft {
    Draft {
        body: json!({ "time": now(), "type": "meta", "detail_type": "status_update", "sub_type": "", "status": gateway.status() }),
        legacy: None,
        source: None,
        account: None,
    }
}

/// Commits an event; logs a failure (the caller has nothing better to do with it).
pub async fn emit(gateway: &Gateway, draft: Draft) -> Option<i64> {
    match gateway.outbox.append(draft).await {
        Ok(seq) => seq,
        Err(e) => {
            tracing::error!(error = %e, "an event could not be stored");
            None
        }
    }
}
