//! Receiving, for one account: the inbound message pump (images fetched, friend requests
//! remembered, events emitted in order), reacting to connection changes (identity, contacts,
//! status, the login QR code) and recovering what WeChatFerry could not push meanwhile from
//! WeChat's database. In `poll` mode the database is read on a timer instead.
//!
//! Each worker exposes [`Receiving::step`] / [`Polling::step`]; `run` only loops over it.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use wcf::message::msg_type;
use wcf::{ConnectionState, WxMsg};

use super::Account;
use super::received;
use crate::config::MediaKind;
use crate::config::ReceiveMode;
use crate::events::normalize::{Context, Draft, ImageFetch, MediaState};
use crate::store::FriendRequestRow;

/// Rows read from the database per recovery or poll round.
const ROWS_PER_READ: usize = 5000;

/// What one step did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    /// Handled a pushed message.
    Message,
    /// Handled a connection state change.
    State(ConnectionState),
    /// The receiver stopped.
    Ended,
}

/// The push-mode pump of one account.
pub struct Receiving {
    account: Arc<Account>,
    rx: wcf::Receiver,
    conn: watch::Receiver<ConnectionState>,
    started: bool,
}

impl Receiving {
    /// A pump over `rx` (the account's receiver).
    pub fn new(account: Arc<Account>, rx: wcf::Receiver) -> Self {
        let conn = account.backend.watch();
        Self { account, rx, conn, started: false }
    }

    /// Handles the next connection change or pushed message, in that order of priority, so
    /// identity and recovery come before the pushes that follow a reconnect. The first step
    /// handles the state the link is already in.
    pub async fn step(&mut self) -> Step {
        if !self.started {
            self.started = true;
            let state = *self.conn.borrow_and_update();
            if state != ConnectionState::Disconnected {
                on_state(&self.account, state).await;
                return Step::State(state);
            }
        }
        tokio::select! {
            biased;
            changed = self.conn.changed() => {
                if changed.is_err() {
                    return Step::Ended;
                }
                let state = *self.conn.borrow_and_update();
                on_state(&self.account, state).await;
                Step::State(state)
            }
            m = self.rx.next() => {
                let Some(m) = m else { return Step::Ended };
                process(&self.account, &m).await;
                Step::Message
            }
        }
    }

    /// Steps until the receiver ends or the gateway stops.
    pub async fn run(mut self) {
        let account = self.account.clone();
        loop {
            tokio::select! {
                _ = account.stopped() => return,
                step = self.step() => if step == Step::Ended { return },
            }
        }
    }
}

/// Identity first (every event carries it), then contacts, status and recovery.
async fn on_state(account: &Account, state: ConnectionState) {
    match state {
        ConnectionState::Connected => {
            tracing::info!(account = %account.name, "WeChat connected");
            account.backend.forget_me();
            match learn_identity(account).await {
                Ok(()) => {}
                Err(e) => tracing::warn!(account = %account.name, error = %e, "cannot read the account"),
            }
            if let Err(e) = account.contacts.refresh().await {
                tracing::warn!(account = %account.name, error = %e, "cannot load contacts");
            }
            account.rooms.load(account).await;
            account.status_changed();
            if account.config.wcf.receive_mode == ReceiveMode::Push {
                recover(account).await;
            }
        }
        ConnectionState::LoggedOut => {
            tracing::warn!(account = %account.name, "WeChat is logged out");
            account.status_changed();
            if let Ok(url) = account.backend.client.login_qrcode().await {
                let e = onebot::Event::new(
                    "",
                    crate::store::now(),
                    "notice",
                    "wx.login_callback",
                    Some(onebot::BotSelf::wechat(account.backend.known_wxid())),
                )
                .with("login_url", url)
                .with("wx.account", account.name.clone());
                let body = serde_json::to_value(e).unwrap_or_default();
                account.emit(Draft { body, legacy: None, source: None, account: None }).await;
            }
        }
        ConnectionState::Disconnected => {
            tracing::warn!(account = %account.name, "WeChat disconnected; reconnecting");
            account.status_changed();
        }
    }
}

/// Reads the account (a few tries) and remembers its wxid in the store.
async fn learn_identity(account: &Account) -> crate::error::ApiResult<()> {
    let mut last = None;
    for attempt in 0..3 {
        match account.backend.me().await {
            Ok(me) => {
                account.store.accounts().seen(&account.name, &me.wxid, &me.name).await?;
                return Ok(());
            }
            Err(e) => last = Some(e),
        }
        tokio::time::sleep(Duration::from_millis(100 * (attempt + 1))).await;
    }
    Err(last.expect("three attempts"))
}

/// Emits what WeChatFerry could not push while the link was down: the rows after the newest
/// message that became an event.
async fn recover(account: &Account) {
    let Ok(Some(last)) = account.store.events().last_wx_source(&account.name).await else { return };
    let start = match account.db.local_id_of(&account.backend, last).await {
        Ok(Some(local)) => local,
        Ok(None) => match account.db.max_local_id(&account.backend).await {
            Ok(m) => m,
            Err(e) => {
                tracing::warn!(account = %account.name, error = %e, "cannot recover messages missed while disconnected");
                return;
            }
        },
        Err(e) => {
            tracing::warn!(account = %account.name, error = %e, "cannot recover messages missed while disconnected");
            return;
        }
    };
    match account.db.rows_after(&account.backend, start, ROWS_PER_READ).await {
        Ok(rows) => {
            if !rows.is_empty() {
                tracing::info!(account = %account.name, count = rows.len(), "recovering messages that arrived while disconnected");
            }
            for (_, m) in rows {
                process(account, &m).await;
            }
        }
        Err(e) => {
            tracing::warn!(account = %account.name, error = %e, "cannot recover messages missed while disconnected")
        }
    }
}

/// `poll` mode: reads new rows of the message database every `wcf.poll_interval_ms`.
pub struct Polling {
    account: Arc<Account>,
    last: Option<i64>,
    tick: tokio::time::Interval,
}

impl Polling {
    /// A poller for `account`.
    pub fn new(account: Arc<Account>) -> Self {
        let tick = tokio::time::interval(Duration::from_millis(account.config.wcf.poll_interval_ms));
        Self { account, last: None, tick }
    }

    /// Waits for the next tick and handles the rows that arrived since the last one; returns
    /// how many.
    pub async fn step(&mut self) -> usize {
        self.tick.tick().await;
        let account = &self.account;
        if !account.backend.online() || account.backend.self_id().is_empty() {
            return 0;
        }
        if self.last.is_none() {
            self.last = match start_position(account).await {
                Ok(p) => Some(p),
                Err(e) => {
                    tracing::warn!(account = %account.name, error = %e, "cannot read the message database");
                    return 0;
                }
            };
        }
        match account.db.rows_after(&account.backend, self.last.unwrap_or(0), ROWS_PER_READ).await {
            Ok(rows) => {
                let n = rows.len();
                for (local, m) in rows {
                    process(account, &m).await;
                    self.last = Some(local);
                }
                n
            }
            Err(e) => {
                tracing::warn!(account = %account.name, error = %e, "polling the message database failed");
                0
            }
        }
    }

    /// Steps until the gateway stops.
    pub async fn run(mut self) {
        let account = self.account.clone();
        loop {
            tokio::select! {
                _ = account.stopped() => return,
                _ = self.step() => {}
            }
        }
    }
}

/// Where polling starts: after the newest message already turned into an event, or (first
/// run) at the end of the database, so history is not replayed.
async fn start_position(account: &Account) -> crate::error::ApiResult<i64> {
    if let Some(id) = account.store.events().last_wx_source(&account.name).await?
        && let Some(local) = account.db.local_id_of(&account.backend, id).await?
    {
        return Ok(local);
    }
    account.db.max_local_id(&account.backend).await
}

/// Handles one inbound message and emits its events (never before the account's wxid is
/// known: every event carries it).
pub async fn process(account: &Account, pushed: &WxMsg) {
    let mut me = account.backend.self_id();
    if me.is_empty() {
        if let Err(e) = learn_identity(account).await {
            tracing::error!(account = %account.name, id = pushed.id, error = %e, "a message arrived but the account's wxid is unknown; it is recovered after the next reconnect");
            return;
        }
        me = account.backend.self_id();
    }
    // A group content may carry its sender as a `wxid:\n` prefix (wechat-messages.md §1.2).
    let stripped;
    let m = match pushed
        .is_group
        .then(|| wcf::content::strip_group_prefix(&pushed.content, &pushed.sender, &pushed.roomid))
    {
        Some(rest) if rest.len() != pushed.content.len() => {
            stripped = WxMsg { content: rest.to_owned(), ..pushed.clone() };
            &stripped
        }
        _ => pushed,
    };
    let room_name = m.is_group.then(|| account.contacts.peek(&m.roomid).map(|c| c.name)).flatten();
    let sender = account.contacts.peek(&m.sender);
    let mut ctx = Context {
        self_id: me,
        account: account.name.clone(),
        base_url: account.events.base_url.clone(),
        image_prefix: account.media.url_prefix().to_owned(),
        room_name,
        sender_name: sender.as_ref().map(|c| super::contacts::display(c).to_owned()),
        sender_is_friend: sender.is_some_and(|c| wcf::message::is_friend_id(&c.wxid)),
        legacy: account.events.legacy,
        ..Default::default()
    };
    inbound(account, m, &mut ctx).await;
    for mut draft in crate::events::normalize::normalize(m, &ctx) {
        draft.account = Some(account.name.clone());
        draft.source = draft.source.map(|s| format!("wx:{}:{}", account.name, s.trim_start_matches("wx:")));
        if let Err(e) = account.outbox.submit(draft).await {
            tracing::error!(account = %account.name, error = %e, "an event could not be queued");
        }
    }
}

/// The event a stored message makes (the first, for messages that make several), without
/// side effects: for `wx.get_message`. The bot's own messages are rendered too.
pub async fn event_of(account: &Account, stored: &WxMsg) -> Option<serde_json::Value> {
    let me = account.backend.self_id();
    let m = WxMsg {
        is_self: false,
        content: if stored.is_group {
            wcf::content::strip_group_prefix(&stored.content, &stored.sender, &stored.roomid).to_owned()
        } else {
            stored.content.clone()
        },
        ..stored.clone()
    };
    let mut ctx = Context {
        self_id: me,
        account: account.name.clone(),
        base_url: account.events.base_url.clone(),
        image_prefix: account.media.url_prefix().to_owned(),
        room_name: m.is_group.then(|| account.contacts.peek(&m.roomid).map(|c| c.name)).flatten(),
        sender_name: account.contacts.name_of(&m.sender),
        ..Default::default()
    };
    if m.r#type == msg_type::IMAGE
        && let Ok(Some(rel)) = account.store.chat_images(&account.name).of_message(m.id).await
    {
        ctx.image = ImageFetch::Fetched(rel);
    }
    for kind in [MediaKind::Voice, MediaKind::Video, MediaKind::VideoThumb, MediaKind::File, MediaKind::Emoji] {
        let id = received::file_id(&account.name, kind, m.id);
        if let Ok(Some(f)) = account.store.files(&account.name).get(&id).await
            && f.path.is_file()
        {
            ctx.media.push((kind, MediaState::Ready));
        }
    }
    let mut body = crate::events::normalize::normalize(&m, &ctx).into_iter().next()?.body;
    body["wx.is_self"] = serde_json::Value::Bool(stored.is_self);
    Some(body)
}

/// Whether a medium of this size is fetched on arrival.
fn eager(account: &Account, kind: MediaKind, m: &WxMsg) -> bool {
    let media = &account.settings.media;
    media.auto_download.contains(&kind) && received::declared(m, kind).0 <= media.auto_download_max_bytes
}

async fn fetch_media(account: &Account, m: &WxMsg, kind: MediaKind, ctx: &mut Context) {
    let state = if eager(account, kind, m) || kind == MediaKind::VideoThumb {
        match received::fetch(account, kind, m).await {
            Ok(_) => MediaState::Ready,
            Err(e) => {
                tracing::warn!(account = %account.name, id = m.id, kind = kind.name(), error = %e, "cannot fetch a received medium");
                MediaState::Failed(e.public_message())
            }
        }
    } else {
        MediaState::Later
    };
    ctx.media.push((kind, state));
}

/// Side effects of a message before its events: fetch media, remember friend requests,
/// resolve who system messages are about.
async fn inbound(account: &Account, m: &WxMsg, ctx: &mut Context) {
    if m.is_self && !matches!(m.r#type, msg_type::SYSTEM | msg_type::SYS_XML) {
        return;
    }
    match m.r#type {
        msg_type::IMAGE if !eager(account, MediaKind::Image, m) => {}
        msg_type::IMAGE if m.extra.is_empty() => {
            ctx.image = ImageFetch::Failed("WeChat gave no path for the image (the message carries none)".into())
        }
        msg_type::IMAGE => {
            ctx.image = match account.media.fetch_chat_image(&account.backend.client, m.id, &m.extra).await {
                Ok(rel) => {
                    if let Err(e) = account.store.chat_images(&account.name).record(m.id, &rel).await {
                        tracing::warn!(account = %account.name, error = %e, "cannot record a chat image");
                    }
                    ImageFetch::Fetched(rel)
                }
                Err(e) => {
                    tracing::warn!(account = %account.name, id = m.id, error = %e, "cannot fetch a chat image");
                    ImageFetch::Failed(e.public_message())
                }
            }
        }
        msg_type::VOICE => fetch_media(account, m, MediaKind::Voice, ctx).await,
        msg_type::VIDEO | msg_type::SHORT_VIDEO => {
            fetch_media(account, m, MediaKind::VideoThumb, ctx).await;
            fetch_media(account, m, MediaKind::Video, ctx).await;
        }
        msg_type::EMOJI => fetch_media(account, m, MediaKind::Emoji, ctx).await,
        msg_type::APP => {
            if let wcf::content::Content::App(a) = wcf::content::parse(m.r#type, &m.content) {
                match a.detail {
                    wcf::content::AppDetail::File(f) if !f.uploading => {
                        fetch_media(account, m, MediaKind::File, ctx).await
                    }
                    wcf::content::AppDetail::Pat(_) => super::system::resolve_into(account, m, ctx).await,
                    _ => {}
                }
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
                if let Err(e) = account.store.friend_requests(&account.name).save(row).await {
                    tracing::warn!(account = %account.name, error = %e, "cannot store a friend request");
                }
            }
            Err(e) => tracing::warn!(account = %account.name, error = %e, "unreadable friend request"),
        },
        msg_type::SYSTEM | msg_type::SYS_XML => super::system::resolve_into(account, m, ctx).await,
        _ => {}
    }
}
