//! The message channel: a [`Receiver`] keeps WeChatFerry pushing to us and yields every
//! message once, reconnecting by itself.
//!
//! A supervisor task checks the login, sends `FUNC_ENABLE_RECV_TXT`, dials `port + 1` and reads
//! pushes. When WeChat or the RPC goes away it re-dials both channels with capped exponential
//! backoff (with jitter) and re-enables receiving. The connection state is published on a
//! `watch` channel. Messages seen recently (by id and type) are remembered so a message pushed
//! twice around a reconnect is yielded once; WeChat 3.9.12 re-pushes a recalled message's id
//! as a type-10000 notice, which is another message.

use std::collections::{HashSet, VecDeque};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use prost::Message;
use tokio::sync::{mpsc, watch};

use crate::client::Client;
use crate::proto::{Response, WxMsg, response};
use crate::transport::PairConn;
use crate::{Error, Result};

/// State of the link to WeChat, as the service reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ConnectionState {
    /// Not connected (yet, or any more); retrying.
    Disconnected,
    /// Both channels up and WeChat logged in.
    Connected,
    /// The RPC answers but WeChat is not logged in.
    LoggedOut,
}

/// How the receiver behaves.
#[derive(Clone, Debug)]
pub struct ReceiverOptions {
    /// Also receive Moments (`flag` of `FUNC_ENABLE_RECV_TXT`).
    pub moments: bool,
    /// First retry delay after a failure.
    pub backoff_initial: Duration,
    /// Retry delay cap.
    pub backoff_max: Duration,
    /// How often the login is checked while connected or logged out.
    pub login_poll: Duration,
    /// Messages buffered for a slow consumer before the reader waits.
    pub buffer: usize,
    /// How many recent message ids are remembered for de-duplication.
    pub dedupe_window: usize,
    /// Use the push channel. `false` only tracks the connection and login state (for
    /// WeChatFerry builds without pushes, where messages are polled from the database).
    pub push: bool,
}

impl Default for ReceiverOptions {
    fn default() -> Self {
        Self {
            moments: false,
            backoff_initial: Duration::from_millis(200),
            backoff_max: Duration::from_secs(10),
            login_poll: Duration::from_secs(5),
            buffer: 4096,
            dedupe_window: 4096,
            push: true,
        }
    }
}

/// A stream of pushed messages that survives reconnects. Dropping it stops the supervisor.
#[derive(Debug)]
pub struct Receiver {
    rx: mpsc::Receiver<WxMsg>,
    state: watch::Receiver<ConnectionState>,
    task: tokio::task::JoinHandle<()>,
}

impl Receiver {
    /// Starts receiving through `client`'s address.
    pub fn start(client: Client, options: ReceiverOptions) -> Self {
        let (tx, rx) = mpsc::channel(options.buffer.max(1));
        let (state_tx, state) = watch::channel(ConnectionState::Disconnected);
        let task = tokio::spawn(supervise(client, options, tx, state_tx));
        Self { rx, state, task }
    }

    /// The next message; `None` only if the supervisor stopped.
    pub async fn next(&mut self) -> Option<WxMsg> {
        self.rx.recv().await
    }

    /// A watch of the connection state.
    pub fn state(&self) -> watch::Receiver<ConnectionState> {
        self.state.clone()
    }
}

impl futures_core::Stream for Receiver {
    type Item = WxMsg;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<WxMsg>> {
        self.rx.poll_recv(cx)
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Remembers the last `cap` `(message id, type)` pairs.
struct Dedupe {
    order: VecDeque<(u64, u32)>,
    seen: HashSet<(u64, u32)>,
    cap: usize,
}

impl Dedupe {
    fn new(cap: usize) -> Self {
        Self { order: VecDeque::with_capacity(cap), seen: HashSet::with_capacity(cap), cap }
    }

    /// True if message `id` of type `kind` is new (id 0 is never de-duplicated).
    fn admit(&mut self, id: u64, kind: u32) -> bool {
        if id == 0 || self.cap == 0 {
            return true;
        }
        if !self.seen.insert((id, kind)) {
            return false;
        }
        self.order.push_back((id, kind));
        if self.order.len() > self.cap
            && let Some(old) = self.order.pop_front()
        {
            self.seen.remove(&old);
        }
        true
    }
}

enum Ended {
    ConsumerGone,
    LoggedOut,
    Failed(Error),
}

async fn supervise(
    client: Client,
    options: ReceiverOptions,
    tx: mpsc::Sender<WxMsg>,
    state: watch::Sender<ConnectionState>,
) {
    let mut dedupe = Dedupe::new(options.dedupe_window);
    let mut backoff = options.backoff_initial;
    let mut failures = 0u32;
    loop {
        let mut connected = false;
        let ended = session(&client, &options, &tx, &state, &mut dedupe, &mut connected).await;
        if connected {
            backoff = options.backoff_initial;
            failures = 0;
        }
        let delay = match ended {
            Ended::ConsumerGone => return,
            Ended::LoggedOut => {
                state.send_replace(ConnectionState::LoggedOut);
                options.login_poll
            }
            Ended::Failed(e) => {
                state.send_replace(ConnectionState::Disconnected);
                failures += 1;
                if failures == 1 || failures.is_multiple_of(20) {
                    tracing::warn!(error = %e, retry_in = ?backoff, "WeChatFerry is not reachable; retrying");
                } else {
                    tracing::debug!(error = %e, retry_in = ?backoff, "WeChatFerry still not reachable");
                }
                let d = jitter(backoff);
                backoff = (backoff * 2).min(options.backoff_max);
                d
            }
        };
        tokio::select! {
            _ = tokio::time::sleep(delay) => {}
            _ = tx.closed() => return,
        }
    }
}

fn jitter(d: Duration) -> Duration {
    // ±20 %, so many gateways restarted together do not retry in lockstep.
    let f: f64 = rand::random_range(0.8..1.2);
    d.mul_f64(f)
}

async fn session(
    client: &Client,
    options: &ReceiverOptions,
    tx: &mpsc::Sender<WxMsg>,
    state: &watch::Sender<ConnectionState>,
    dedupe: &mut Dedupe,
    connected: &mut bool,
) -> Ended {
    if !options.push {
        return watch_login(client, options, tx, state, connected).await;
    }
    let setup = async {
        if !client.is_login().await? {
            return Ok(None);
        }
        client.enable_receiving(options.moments).await?;
        let addr = &client.endpoints().message;
        let conn =
            tokio::time::timeout(client.options().call_timeout, PairConn::dial(addr, client.options().max_frame))
                .await
                .map_err(|_| Error::Connect {
                    addr: addr.clone(),
                    source: std::sync::Arc::new(crate::TransportError::HandshakeTimeout),
                })?
                .map_err(|e| Error::Connect { addr: addr.clone(), source: std::sync::Arc::new(e) })?;
        Result::<_>::Ok(Some(conn))
    };
    let mut conn = match setup.await {
        Ok(Some(conn)) => conn,
        Ok(None) => return Ended::LoggedOut,
        Err(e) => return Ended::Failed(e),
    };
    *connected = true;
    state.send_replace(ConnectionState::Connected);
    tracing::info!(peer = %conn.peer_addr(), "receiving WeChat messages");
    let mut poll = tokio::time::interval(options.login_poll);
    poll.tick().await;
    loop {
        tokio::select! {
            frame = conn.recv() => {
                let frame = match frame {
                    Ok(f) => f,
                    Err(e) => return Ended::Failed(Error::Transport {
                        func: crate::proto::Functions::FuncEnableRecvTxt,
                        source: std::sync::Arc::new(e),
                    }),
                };
                match Response::decode(frame.as_slice()) {
                    Ok(Response { msg: Some(response::Msg::Wxmsg(m)), .. }) => {
                        if dedupe.admit(m.id, m.r#type) && tx.send(m).await.is_err() {
                            return Ended::ConsumerGone;
                        }
                    }
                    Ok(_) => tracing::debug!("ignoring a push without a message"),
                    Err(e) => tracing::warn!(error = %e, "undecodable push; skipped"),
                }
            }
            _ = poll.tick() => match client.is_login().await {
                Ok(true) => {}
                Ok(false) => return Ended::LoggedOut,
                Err(e) => return Ended::Failed(e),
            },
            _ = tx.closed() => return Ended::ConsumerGone,
        }
    }
}

/// Without a push channel: publish the login state until something fails.
async fn watch_login(
    client: &Client,
    options: &ReceiverOptions,
    tx: &mpsc::Sender<WxMsg>,
    state: &watch::Sender<ConnectionState>,
    connected: &mut bool,
) -> Ended {
    let mut poll = tokio::time::interval(options.login_poll);
    loop {
        match client.is_login().await {
            Ok(true) => {
                if !*connected {
                    *connected = true;
                    state.send_replace(ConnectionState::Connected);
                }
            }
            Ok(false) => return Ended::LoggedOut,
            Err(e) => return Ended::Failed(e),
        }
        tokio::select! {
            _ = poll.tick() => {}
            _ = tx.closed() => return Ended::ConsumerGone,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dedupe_forgets_beyond_window() {
        let mut d = Dedupe::new(2);
        assert!(d.admit(1, 1));
        assert!(!d.admit(1, 1));
        assert!(d.admit(2, 1));
        assert!(d.admit(3, 1));
        assert!(d.admit(1, 1), "1 fell out of the window");
        assert!(d.admit(0, 1) && d.admit(0, 1), "id 0 is never deduplicated");
        assert!(d.admit(1, 10000), "a recall re-using the id is another message");
    }

    #[test]
    fn jitter_stays_within_bounds() {
        for _ in 0..100 {
            let j = jitter(Duration::from_millis(1000));
            assert!(j >= Duration::from_millis(800) && j <= Duration::from_millis(1200));
        }
    }
}
