//! Background work on WeChat's side: the inbound message pump (images fetched, friend requests
//! remembered), reacting to connection changes, and periodic upkeep.

use std::time::Duration;

use rusqlite::params;
use wcf::message::msg_type;
use wcf::{ConnectionState, WxMsg};

use crate::state::AppState;
use crate::store::{FriendRequestRow, now};

/// Reads every pushed message and handles it, in order. When the backend (re)connects, the
/// messages WeChatFerry could not push meanwhile are recovered from the message database first.
pub async fn pump(state: AppState, mut rx: wcf::Receiver) {
    let mut conn = state.backend.watch();
    loop {
        tokio::select! {
            biased;
            changed = conn.changed() => {
                if changed.is_err() {
                    return;
                }
                if *conn.borrow_and_update() == ConnectionState::Connected {
                    recover(&state).await;
                }
            }
            m = rx.next() => {
                let Some(m) = m else { return };
                process(&state, &m).await;
            }
        }
    }
}

/// `poll` mode: reads new rows of the message database every `wcf.poll_interval_ms`.
pub async fn poll(state: AppState) {
    let mut tick = tokio::time::interval(Duration::from_millis(state.config.wcf.poll_interval_ms));
    let mut last: Option<i64> = None;
    loop {
        tick.tick().await;
        if state.backend.state() != ConnectionState::Connected {
            continue;
        }
        if last.is_none() {
            last = match start_position(&state).await {
                Ok(p) => Some(p),
                Err(e) => {
                    tracing::warn!(error = %e, "cannot read the message database");
                    continue;
                }
            };
        }
        match read_after(&state, last.unwrap_or(0)).await {
            Ok(rows) => {
                for (local, m) in rows {
                    process(&state, &m).await;
                    last = Some(local);
                }
            }
            Err(e) => tracing::warn!(error = %e, "polling the message database failed"),
        }
    }
}

/// The newest `MSG<n>.db` (WeChat starts a new one when the current grows large).
pub async fn msg_db(state: &AppState) -> String {
    let names = state.backend.client.db_names().await.unwrap_or_default();
    names
        .iter()
        .filter_map(|n| Some((n.strip_prefix("MSG")?.strip_suffix(".db")?.parse::<u32>().ok()?, n)))
        .max()
        .map(|(_, n)| n.clone())
        .unwrap_or_else(|| "MSG0.db".into())
}

/// Where reading starts: after the newest message already turned into an event, or (first run)
/// at the end of the database, so history is not replayed.
async fn start_position(state: &AppState) -> Result<i64, crate::error::ApiError> {
    let db = msg_db(state).await;
    let client = &state.backend.client;
    if let Some(id) = state.outbox.last_wx_source().await? {
        let rows = client
            .query(&db, &format!("SELECT localId FROM MSG WHERE MsgSvrID = {id}"))
            .await
            .map_err(|e| state.backend.error("read the message database", &e))?;
        if let Some(local) = rows.first().and_then(|r| r.get("localId")).and_then(|v| v.as_i64()) {
            return Ok(local);
        }
    }
    let rows = client
        .query(&db, "SELECT COALESCE(MAX(localId), 0) AS m FROM MSG")
        .await
        .map_err(|e| state.backend.error("read the message database", &e))?;
    Ok(rows.first().and_then(|r| r.get("m")).and_then(|v| v.as_i64()).unwrap_or(0))
}

/// Message rows after `local_id`, rebuilt as pushes would have carried them.
async fn read_after(state: &AppState, local_id: i64) -> Result<Vec<(i64, WxMsg)>, crate::error::ApiError> {
    let db = msg_db(state).await;
    let me = state.backend.self_id();
    let rows = state
        .backend
        .client
        .query(
            &db,
            &format!(
                "SELECT localId, MsgSvrID, Type, IsSender, CreateTime, StrTalker, StrContent, BytesExtra
                 FROM MSG WHERE localId > {local_id} ORDER BY localId LIMIT 5000"
            ),
        )
        .await
        .map_err(|e| state.backend.error("read the message database", &e))?;
    Ok(rows.iter().filter_map(|r| row_to_msg(r, &me)).collect())
}

fn row_to_msg(r: &wcf::DbRow, me: &str) -> Option<(i64, WxMsg)> {
    use prost::Message;
    let local = r.get("localId")?.as_i64()?;
    let talker = r.get("StrTalker")?.as_text()?;
    let is_self = r.get("IsSender").and_then(|v| v.as_i64()) == Some(1);
    let extra = r
        .get("BytesExtra")
        .and_then(|v| v.as_bytes())
        .and_then(|b| wcf::proto::BytesExtra::decode(b).ok())
        .unwrap_or_default();
    let is_group = wcf::message::is_room_id(&talker);
    let sender = if is_group {
        extra.get(wcf::proto::bytes_extra::SENDER).unwrap_or(if is_self { me } else { "" }).to_owned()
    } else if is_self {
        me.to_owned()
    } else {
        talker.clone()
    };
    let m = WxMsg {
        is_self,
        is_group,
        id: r.get("MsgSvrID")?.as_i64()? as u64,
        r#type: r.get("Type")?.as_i64()? as u32,
        ts: r.get("CreateTime").and_then(|v| v.as_i64()).unwrap_or(0) as u32,
        roomid: talker,
        content: r.get("StrContent").and_then(|v| v.as_text()).unwrap_or_default(),
        sender,
        sign: String::new(),
        thumb: extra.get(wcf::proto::bytes_extra::THUMB).unwrap_or_default().to_owned(),
        extra: extra.get(wcf::proto::bytes_extra::EXTRA).unwrap_or_default().to_owned(),
        xml: extra.get(wcf::proto::bytes_extra::MSG_SOURCE).unwrap_or_default().to_owned(),
    };
    Some((local, m))
}

/// Emits what WeChatFerry could not push while the link was down.
async fn recover(state: &AppState) {
    if state.config.wcf.receive_mode == crate::config::ReceiveMode::Poll {
        return; // the poller reads the database anyway
    }
    let Ok(Some(_)) = state.outbox.last_wx_source().await else { return };
    let start = match start_position(state).await {
        Ok(s) => s,
        Err(e) => {
            tracing::warn!(error = %e, "cannot recover messages missed while disconnected");
            return;
        }
    };
    match read_after(state, start).await {
        Ok(rows) => {
            if !rows.is_empty() {
                tracing::info!(count = rows.len(), "recovering messages that arrived while disconnected");
            }
            for (_, m) in rows {
                process(state, &m).await;
            }
        }
        Err(e) => tracing::warn!(error = %e, "cannot recover messages missed while disconnected"),
    }
}

/// Handles one inbound message and emits its event.
pub async fn process(state: &AppState, m: &WxMsg) {
    let image = inbound(state, m).await;
    let me = state.backend.self_id();
    let room_name = m.is_group.then(|| state.contacts.peek(&m.roomid).map(|c| c.name)).flatten();
    let sender = state.contacts.peek(&m.sender);
    let ctx = crate::events::normalize::Context {
        self_id: me,
        base_url: state.config.http_server.http_address.trim_end_matches('/').to_owned(),
        image,
        room_name,
        sender_name: sender.as_ref().map(|c| if c.remark.is_empty() { c.name.clone() } else { c.remark.clone() }),
        sender_is_friend: sender.is_some_and(|c| wcf::message::is_friend_id(&c.wxid)),
        legacy: state.config.http_post.iter().any(|t| t.format == crate::config::EventFormat::Legacy),
    };
    if let Some(draft) = crate::events::normalize::normalize(m, &ctx)
        && let Err(e) = state.outbox.submit(draft).await
    {
        tracing::error!(error = %e, "an event could not be queued");
    }
}

/// Side effects of a message before its event: fetch images, remember friend requests.
/// Returns the `<date>/<file>` of a fetched image.
pub async fn inbound(state: &AppState, m: &WxMsg) -> Option<String> {
    match m.r#type {
        msg_type::IMAGE if !m.extra.is_empty() => {
            match state.media.fetch_chat_image(&state.backend.client, m.id, &m.extra).await {
                Ok(rel) => {
                    let id = m.id.to_string();
                    let row = rel.clone();
                    let saved = state
                        .store
                        .run_log(move |c| {
                            c.execute(
                                "INSERT OR REPLACE INTO chat_images(msg_id, rel_path, created_at) VALUES (?1, ?2, ?3)",
                                params![id, row, now()],
                            )?;
                            Ok(())
                        })
                        .await;
                    if let Err(e) = saved {
                        tracing::warn!(error = %e, "cannot record a chat image");
                    }
                    Some(rel)
                }
                Err(e) => {
                    tracing::warn!(id = m.id, error = %e, "cannot fetch a chat image");
                    None
                }
            }
        }
        msg_type::FRIEND_REQUEST => {
            match wcf::friend_request::FriendRequest::parse(&m.content) {
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
            }
            None
        }
        msg_type::SYSTEM if m.content.starts_with("你已添加了") => {
            let _ = state.contacts.refresh().await;
            None
        }
        _ => None,
    }
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
            ConnectionState::LoggedOut => {
                tracing::warn!("WeChat is logged out");
                if let Ok(url) = state.backend.client.login_qrcode().await {
                    let me = state.backend.self_id();
                    let e = onebot::Event::new(
                        "",
                        crate::store::now(),
                        "notice",
                        "wx.login_callback",
                        Some(onebot::BotSelf::wechat(me)),
                    )
                    .with("login_url", url);
                    let body = serde_json::to_value(e).unwrap_or_default();
                    crate::events::emit(&state, crate::events::normalize::Draft { body, legacy: None, source: None })
                        .await;
                }
            }
            ConnectionState::Disconnected => tracing::warn!("WeChat disconnected; reconnecting"),
        }
        crate::events::emit(&state, crate::events::status_update(&state)).await;
        if watch.changed().await.is_err() {
            return;
        }
    }
}

/// Refreshes contacts every 10 minutes, purges old chat images every hour, applies event
/// retention every minute.
pub async fn upkeep(state: AppState) {
    let mut tick = tokio::time::interval(Duration::from_secs(60));
    let mut n = 0u64;
    loop {
        tick.tick().await;
        let retention = &state.config.events;
        match state.outbox.trim(retention.retention_count, retention.retention_hours).await {
            Ok(0) => {}
            Ok(removed) => tracing::info!(removed, "old events removed from the outbox (events.retention_*)"),
            Err(e) => tracing::warn!(error = %e, "event retention failed"),
        }
        if n > 0 && n.is_multiple_of(10) && state.backend.state() == ConnectionState::Connected {
            let _ = state.contacts.refresh().await;
        }
        if n.is_multiple_of(60) {
            let removed = state.media.purge_old_images();
            if removed > 0 {
                tracing::info!(removed, "purged chat image folders older than img_valid_duration");
            }
        }
        n += 1;
    }
}
