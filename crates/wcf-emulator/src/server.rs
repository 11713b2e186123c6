//! The two WeChatFerry channels: the command loop (request → exactly one reply, in order) and
//! the push loop (`Response{func: FUNC_ENABLE_RECV_TXT, wxmsg}` on port + 1).

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use prost::Message;
use tokio::sync::mpsc;
use wcf::proto::{Functions, Response, WxMsg, response};
use wcf::transport::{PairConn, PairListener};

use crate::wechat::{AfterReply, WeChat};

/// Serves command peers one at a time, for ever.
pub(crate) async fn command_loop(listener: PairListener, wechat: Arc<WeChat>) {
    let mut kick = wechat.kick_cmd();
    while let Some(mut conn) = listener.accept().await {
        kick.borrow_and_update();
        wechat.cmd_peer.store(true, Ordering::SeqCst);
        tracing::debug!(peer = %conn.peer_addr(), "command peer connected");
        loop {
            let body = tokio::select! {
                r = conn.recv() => match r {
                    Ok(b) => b,
                    Err(e) => {
                        tracing::debug!(error = %e, "command peer gone");
                        break;
                    }
                },
                _ = kick.changed() => {
                    tracing::debug!("dropping the command peer (fault)");
                    break;
                }
            };
            if let Some(stall) = wechat.stall_remaining(&body) {
                // A stalled WeChat: the request is answered late, as a hung RPC would.
                tokio::time::sleep(stall).await;
            }
            let (reply, after) = wechat.handle(&body);
            if let Err(e) = conn.send(&reply).await {
                tracing::debug!(error = %e, "command peer gone while replying");
                break;
            }
            if after == AfterReply::DropPeer {
                tracing::info!("FUNC_SHUTDOWN received: dropping this peer, still serving (real WeChatFerry stops)");
                tokio::time::sleep(Duration::from_millis(100)).await;
                break;
            }
        }
        wechat.cmd_peer.store(false, Ordering::SeqCst);
    }
}

struct Peer {
    writer: wcf::transport::FrameWriter,
    _guard: wcf::transport::PeerGuard,
    closed: tokio::sync::oneshot::Receiver<()>,
}

fn attach(conn: PairConn) -> Peer {
    let (mut reader, writer, guard) = conn.split();
    let (tx, closed) = tokio::sync::oneshot::channel();
    tokio::spawn(async move {
        // Nothing is expected from a message peer; reading tells us when it leaves.
        while reader.recv().await.is_ok() {}
        let _ = tx.send(());
    });
    Peer { writer, _guard: guard, closed }
}

/// Pushes queued messages to the message peer. Like WeChatFerry, a message waits up to
/// `push_timeout` for a peer and is dropped after that.
pub(crate) async fn push_loop(
    listener: PairListener,
    wechat: Arc<WeChat>,
    mut queue: mpsc::UnboundedReceiver<WxMsg>,
    push_timeout: Duration,
) {
    let mut kick = wechat.kick_msg();
    let mut peer: Option<Peer> = None;
    let mut pending: Vec<Vec<u8>> = Vec::new();
    let mut deadline = tokio::time::Instant::now();
    let mut batch = Vec::new();
    loop {
        let has_peer = peer.is_some();
        tokio::select! {
            conn = listener.accept() => {
                let Some(conn) = conn else { return };
                tracing::debug!(peer = %conn.peer_addr(), "message peer connected");
                peer = Some(attach(conn));
                wechat.msg_peer.store(true, Ordering::SeqCst);
            }
            _ = async { (&mut peer.as_mut().expect("guarded").closed).await }, if has_peer => {
                tracing::debug!("message peer gone");
                peer = None;
                wechat.msg_peer.store(false, Ordering::SeqCst);
            }
            _ = kick.changed() => {
                if peer.take().is_some() {
                    tracing::debug!("dropping the message peer");
                }
                wechat.msg_peer.store(false, Ordering::SeqCst);
            }
            m = queue.recv(), if pending.is_empty() => {
                let Some(m) = m else { return };
                pending.push(encode(m));
                while pending.len() < 256 {
                    match queue.try_recv() {
                        Ok(m) => pending.push(encode(m)),
                        Err(_) => break,
                    }
                }
                deadline = tokio::time::Instant::now() + push_timeout;
            }
            _ = tokio::time::sleep_until(deadline), if !pending.is_empty() && !has_peer => {
                tracing::warn!(dropped = pending.len(), "no message peer connected in time; messages dropped (as WeChatFerry does)");
                pending.clear();
            }
        }
        if let (Some(p), false) = (peer.as_mut(), pending.is_empty()) {
            batch.clear();
            for body in &pending {
                batch.extend_from_slice(&wcf::transport::encode_frame(body));
            }
            match p.writer.send_raw(&batch).await {
                Ok(()) => pending.clear(),
                Err(e) => {
                    tracing::debug!(error = %e, "message peer gone while pushing; will retry with the next peer");
                    peer = None;
                    wechat.msg_peer.store(false, Ordering::SeqCst);
                    deadline = tokio::time::Instant::now() + push_timeout;
                }
            }
        }
    }
}

fn encode(m: WxMsg) -> Vec<u8> {
    Response { func: Functions::FuncEnableRecvTxt as i32, msg: Some(response::Msg::Wxmsg(m)) }.encode_to_vec()
}
