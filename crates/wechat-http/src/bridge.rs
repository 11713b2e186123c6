//! Background work on WeChat's side: the inbound message pump (images fetched, friend requests
//! remembered), reacting to connection changes, and periodic upkeep.

use std::time::Duration;

use rusqlite::params;
use wcf::message::msg_type;
use wcf::{ConnectionState, WxMsg};

use crate::state::AppState;
use crate::store::{FriendRequestRow, now};

/// Reads every pushed message and handles it, in order.
pub async fn pump(state: AppState, mut rx: wcf::Receiver) {
    while let Some(m) = rx.next().await {
        inbound(&state, &m).await;
    }
}

/// Handles one inbound message.
pub async fn inbound(state: &AppState, m: &WxMsg) {
    match m.r#type {
        msg_type::IMAGE if !m.extra.is_empty() => {
            match state.media.fetch_chat_image(&state.backend.client, m.id, &m.extra).await {
                Ok(rel) => {
                    let id = m.id.to_string();
                    let saved = state
                        .store
                        .run(move |c| {
                            c.execute(
                                "INSERT OR REPLACE INTO chat_images(msg_id, rel_path, created_at) VALUES (?1, ?2, ?3)",
                                params![id, rel, now()],
                            )?;
                            Ok(())
                        })
                        .await;
                    if let Err(e) = saved {
                        tracing::warn!(error = %e, "cannot record a chat image");
                    }
                }
                Err(e) => tracing::warn!(id = m.id, error = %e, "cannot fetch a chat image"),
            }
        }
        msg_type::FRIEND_REQUEST => match wcf::friend_request::FriendRequest::parse(&m.content) {
            Ok(r) => {
                let row = FriendRequestRow {
                    flag: r.v4,
                    ticket_v3: r.v3,
                    scene: r.scene,
                    user_id: r.wxid,
                    nickname: r.nickname,
                    greeting: r.greeting,
                    state: "pending".into(),
                };
                if let Err(e) = state.store.save_friend_request(row).await {
                    tracing::warn!(error = %e, "cannot store a friend request");
                }
            }
            Err(e) => tracing::warn!(error = %e, "unreadable friend request"),
        },
        msg_type::SYSTEM if m.content.starts_with("你已添加了") => {
            let _ = state.contacts.refresh().await;
        }
        _ => {}
    }
}

/// The relative `/chat_image` path of a received image, if it was fetched.
pub async fn chat_image_of(state: &AppState, id: u64) -> Option<String> {
    let id = id.to_string();
    state
        .store
        .run(move |c| {
            use rusqlite::OptionalExtension;
            Ok(c.query_row("SELECT rel_path FROM chat_images WHERE msg_id = ?1", [id], |r| r.get(0)).optional()?)
        })
        .await
        .ok()
        .flatten()
}

/// Refreshes identity and contacts whenever the backend (re)connects; logs state changes.
pub async fn follow_backend(state: AppState) {
    let mut watch = state.backend.watch();
    loop {
        let current = *watch.borrow_and_update();
        match current {
            ConnectionState::Connected => {
                tracing::info!("WeChat connected");
                state.backend.forget_me();
                if let Err(e) = state.backend.me().await {
                    tracing::warn!(error = %e, "cannot read the account");
                }
                if let Err(e) = state.contacts.refresh().await {
                    tracing::warn!(error = %e, "cannot load contacts");
                }
            }
            ConnectionState::LoggedOut => tracing::warn!("WeChat is logged out"),
            ConnectionState::Disconnected => {}
        }
        if watch.changed().await.is_err() {
            return;
        }
    }
}

/// Refreshes contacts every 10 minutes and purges old chat images every hour.
pub async fn upkeep(state: AppState) {
    let mut tick = tokio::time::interval(Duration::from_secs(600));
    let mut n = 0u64;
    loop {
        tick.tick().await;
        if n > 0 && state.backend.state() == ConnectionState::Connected {
            let _ = state.contacts.refresh().await;
        }
        if n.is_multiple_of(6) {
            let removed = state.media.purge_old_images();
            if removed > 0 {
                tracing::info!(removed, "purged chat image folders older than img_valid_duration");
            }
        }
        n += 1;
    }
}
