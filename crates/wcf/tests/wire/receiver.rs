use std::time::Duration;

use wcf::{ConnectionState, Receiver};
use wcf_emulator::{Fault, InboundMessage};

use crate::helpers::{client_for, fast_receiver, start, start_emulator, text, within};

async fn wait_state(rx: &Receiver, want: ConnectionState) {
    let mut s = rx.state();
    within(&format!("{want:?}"), s.wait_for(|s| *s == want)).await.unwrap();
}

#[tokio::test]
async fn messages_arrive_in_order_with_their_fields() {
    let env = start().await;
    let mut rx = Receiver::start(env.client.clone(), fast_receiver());
    wait_state(&rx, ConnectionState::Connected).await;
    let w = env.emu.wechat();
    let mut ids = Vec::new();
    for i in 0..200 {
        ids.push(w.inject(&text("wxid_bob", &format!("m{i}"))).unwrap());
    }
    for (i, id) in ids.iter().enumerate() {
        let m = within("message", rx.next()).await.unwrap();
        assert_eq!((m.id, m.content.as_str()), (*id, format!("m{i}").as_str()));
        assert!(!m.is_group && !m.is_self);
        assert_eq!((m.sender.as_str(), m.roomid.as_str(), m.r#type), ("wxid_bob", "wxid_bob", 1));
    }
    let at = w
        .inject(&InboundMessage {
            from: "wxid_alice".into(),
            room: Some("1001@chatroom".into()),
            text: Some("hello".into()),
            at: vec!["wxid_bot".into()],
            ..Default::default()
        })
        .unwrap();
    let m = within("@ message", rx.next()).await.unwrap();
    assert_eq!(m.id, at);
    assert!(m.is_group && wcf::message::is_at(&m, "wxid_bot"));
    assert!(m.content.starts_with("@Demo Bot"), "{}", m.content);
    let all = InboundMessage {
        from: "wxid_alice".into(),
        room: Some("1001@chatroom".into()),
        text: Some("meeting".into()),
        at_all: true,
        ..Default::default()
    };
    w.inject(&all).unwrap();
    let m = within("@all message", rx.next()).await.unwrap();
    assert!(wcf::message::mentions_all(&m.content) && !wcf::message::is_at(&m, "wxid_bot"));
}

#[tokio::test]
async fn dropped_connections_reconnect_and_resume() {
    let env = start().await;
    let mut rx = Receiver::start(env.client.clone(), fast_receiver());
    wait_state(&rx, ConnectionState::Connected).await;
    let w = env.emu.wechat();
    let mut states = rx.state();
    w.fault(&Fault { kind: "drop_connections".into(), ms: None, func: None }).unwrap();
    within("disconnect noticed", states.wait_for(|s| *s == ConnectionState::Disconnected)).await.unwrap();
    within("reconnected", states.wait_for(|s| *s == ConnectionState::Connected)).await.unwrap();
    let id = w.inject(&text("wxid_bob", "after")).unwrap();
    let m = within("message after reconnect", rx.next()).await.unwrap();
    assert_eq!((m.id, m.content.as_str()), (id, "after"));
}

#[tokio::test]
async fn logout_and_login_are_published() {
    let env = start().await;
    let rx = Receiver::start(env.client.clone(), fast_receiver());
    wait_state(&rx, ConnectionState::Connected).await;
    env.emu.wechat().fault(&Fault { kind: "logout".into(), ms: None, func: None }).unwrap();
    wait_state(&rx, ConnectionState::LoggedOut).await;
    env.emu.wechat().fault(&Fault { kind: "login".into(), ms: None, func: None }).unwrap();
    wait_state(&rx, ConnectionState::Connected).await;
}

#[tokio::test]
async fn emulator_restart_resumes_the_stream_without_loss_or_duplicates() {
    let dir = tempfile::tempdir().unwrap();
    let first = start_emulator(dir.path().to_path_buf(), "127.0.0.1:0").await;
    let listen = first.command_addr().to_string();
    let client = client_for(&first.address(), Duration::from_secs(2));
    let mut rx = Receiver::start(client, fast_receiver());
    wait_state(&rx, ConnectionState::Connected).await;
    let mut before = Vec::new();
    for i in 0..5 {
        before.push(first.wechat().inject(&text("wxid_bob", &format!("before {i}"))).unwrap());
    }
    for id in &before {
        assert_eq!(within("before", rx.next()).await.unwrap().id, *id);
    }

    first.shutdown().await;
    let second = start_emulator(dir.path().to_path_buf(), &listen).await;
    // Wait until the client has re-enabled receiving on the new process and holds both channels.
    within("client back on the restarted emulator", async {
        loop {
            let h = second.wechat().health();
            if h.receiving && h.peers == 2 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
    // Same data folder: the restarted WeChat still has the first run's messages.
    assert!(second.wechat().db().msg_by_svr_id(before[0]).unwrap().is_some());
    let mut after = Vec::new();
    for i in 0..5 {
        after.push(second.wechat().inject(&text("wxid_bob", &format!("after {i}"))).unwrap());
    }
    let sentinel = second.wechat().inject(&text("wxid_bob", "sentinel")).unwrap();
    for id in &after {
        let m = within("after", rx.next()).await.unwrap();
        assert_eq!(m.id, *id, "messages pushed after the restart arrive once, in order");
    }
    assert_eq!(within("sentinel", rx.next()).await.unwrap().id, sentinel, "nothing duplicated before the sentinel");
}

#[tokio::test]
async fn receiver_keeps_retrying_while_wechat_is_absent() {
    // Reserve a port pair, then free it: nothing listens there yet.
    let dir = tempfile::tempdir().unwrap();
    let probe = start_emulator(dir.path().to_path_buf(), "127.0.0.1:0").await;
    let listen = probe.command_addr().to_string();
    probe.shutdown().await;
    let client = client_for(&format!("tcp://{listen}"), Duration::from_millis(500));
    let mut rx = Receiver::start(client, fast_receiver());
    let err = rx.state();
    assert_eq!(*err.borrow(), ConnectionState::Disconnected);
    tokio::time::sleep(Duration::from_millis(300)).await; // a few failed attempts
    let emu = start_emulator(dir.path().to_path_buf(), &listen).await;
    wait_state(&rx, ConnectionState::Connected).await;
    assert!(emu.wechat().health().receiving, "the receiver enabled receiving by itself");
    let id = emu.wechat().inject(&text("wxid_bob", "finally")).unwrap();
    assert_eq!(within("message", rx.next()).await.unwrap().id, id);
}
