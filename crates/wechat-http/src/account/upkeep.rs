//! Periodic work of one account, one [`step`] a minute: chat-group members compared (silent
//! leaves), contacts refreshed every ten minutes (friends who are gone), sends whose outcome
//! is unknown reconciled against WeChat's database.

use std::sync::Arc;
use std::time::Duration;

use super::Account;

/// Every how many steps the contact list is reloaded.
const CONTACTS_EVERY: u64 = 10;

/// One round of upkeep (`n` counts rounds from 0).
pub async fn step(account: &Account, n: u64) {
    if n == 0 {
        match account.store.sent(&account.name).pending_to_unknown().await {
            Ok(0) => {}
            Ok(k) => {
                tracing::warn!(account = %account.name, parts = k, "sends interrupted by the last stop are checked against WeChat")
            }
            Err(e) => tracing::warn!(account = %account.name, error = %e, "cannot check interrupted sends"),
        }
    }
    if !account.backend.online() {
        return;
    }
    if n > 0 && n.is_multiple_of(CONTACTS_EVERY) {
        let _ = account.contacts.refresh().await;
    }
    super::system::emit_list_changes(account).await;
    match crate::send::reconcile_unknown(account).await {
        Ok(0) => {}
        Ok(k) => {
            tracing::info!(account = %account.name, parts = k, "sends of unknown outcome found in WeChat's database")
        }
        Err(e) => tracing::debug!(account = %account.name, error = %e, "cannot reconcile sends of unknown outcome"),
    }
}

/// Steps every `every` until the gateway stops.
pub async fn run(account: Arc<Account>, every: Duration) {
    let mut tick = tokio::time::interval(every);
    let mut n = 0;
    loop {
        tokio::select! {
            _ = account.stopped() => return,
            _ = tick.tick() => {}
        }
        step(&account, n).await;
        n += 1;
    }
}
