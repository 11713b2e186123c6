use std::time::Duration;

use wcf::{Error, Functions, Receiver, Receiving, RichText};
use wcf_emulator::{Fault, InboundFriendRequest, InboundMessage};

use crate::helpers::{fast_receiver, start, within};

fn rejected(r: Result<impl std::fmt::Debug, Error>, func: Functions, status: i32) {
    match r {
        Err(Error::Rejected { func: f, status: s }) => assert_eq!((f, s), (func, status)),
        other => panic!("expected {func:?} rejected with {status}, got {other:?}"),
    }
}

#[tokio::test]
async fn login_identity_and_info() {
    let env = start().await;
    let c = &env.client;
    assert!(c.is_login().await.unwrap());
    assert_eq!(c.self_wxid().await.unwrap(), "wxid_bot");
    let ui = c.user_info().await.unwrap();
    assert_eq!((ui.wxid.as_str(), ui.name.as_str()), ("wxid_bot", "Demo Bot"));
    assert!(ui.home.ends_with("WeChat Files/"), "{}", ui.home);
    assert_eq!(c.msg_types().await.unwrap().get(&1).map(String::as_str), Some("文字"));
    assert!(matches!(c.login_qrcode().await, Err(Error::Failed { func: Functions::FuncRefreshQrcode })));

    env.emu.wechat().fault(&Fault { kind: "logout".into(), ms: None, func: None }).unwrap();
    assert!(!c.is_login().await.unwrap());
    assert!(c.login_qrcode().await.unwrap().starts_with("http://weixin.qq.com/x/"));
    rejected(c.send_text("hi", "wxid_alice", &[]).await, Functions::FuncSendTxt, -1);
    env.emu.wechat().fault(&Fault { kind: "login".into(), ms: None, func: None }).unwrap();
    assert!(c.is_login().await.unwrap());
}

#[tokio::test]
async fn contacts_and_databases() {
    let env = start().await;
    let c = &env.client;
    let contacts = c.contacts().await.unwrap();
    let alice = contacts.iter().find(|x| x.wxid == "wxid_alice").expect("alice listed");
    assert_eq!((alice.name.as_str(), alice.code.as_str(), alice.gender), ("Alice", "alice_w", 2));
    assert!(contacts.iter().any(|x| x.wxid == "gh_news"));
    assert_eq!(c.contact_info("wxid_bob").await.unwrap().unwrap().name, "Bob");
    assert_eq!(c.contact_info("wxid_nobody").await.unwrap(), None);

    assert_eq!(c.db_names().await.unwrap(), ["MicroMsg.db", "MSG0.db", "MediaMSG0.db"]);
    let tables = c.db_tables("MicroMsg.db").await.unwrap();
    assert!(tables.iter().any(|t| t.name == "ChatRoom" && t.sql.contains("RoomData")));
    let rows =
        c.query("MicroMsg.db", "SELECT UserName, Gender FROM Contact WHERE UserName = 'wxid_alice'").await.unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].get("Gender").and_then(|v| v.as_i64()), Some(2));
    assert!(c.query("MicroMsg.db", "SELECT broken FROM").await.unwrap().is_empty(), "bad SQL gives no rows");

    let members = c.room_members("1001@chatroom").await.unwrap();
    let names: Vec<_> = members.iter().map(|m| (m.wxid.as_str(), m.display_name.as_str())).collect();
    assert_eq!(
        names,
        [("wxid_bot", "Demo Bot"), ("wxid_alice", "Team Alice"), ("wxid_bob", "Bob"), ("wxid_dave", "Dave")]
    );
    assert!(matches!(c.room_members("404@chatroom").await, Err(Error::NotFound(_))));
    assert!(matches!(c.db_key().await, Err(Error::Unsupported { func: Functions::FuncGetDbKey })));
}

#[tokio::test]
async fn sends_are_recorded_with_their_conventions() {
    let env = start().await;
    let c = &env.client;
    let w = env.emu.wechat();
    c.send_text("hello @Alice", "1001@chatroom", &["wxid_alice".into()]).await.unwrap();
    rejected(c.send_text("", "wxid_alice", &[]).await, Functions::FuncSendTxt, -1);
    rejected(c.send_text("x", "", &[]).await, Functions::FuncSendTxt, -1);

    let img = env.dir.path().join("a.png");
    std::fs::write(&img, wcf_emulator::wechat::DEFAULT_PNG).unwrap();
    let img = img.to_str().unwrap();
    c.send_image(img, "wxid_alice").await.unwrap();
    rejected(c.send_image("/nope/missing.png", "wxid_alice").await, Functions::FuncSendImg, -2);
    rejected(c.send_image(img, "").await, Functions::FuncSendImg, -1);
    c.send_file(img, "wxid_bob").await.unwrap();
    rejected(c.send_file("/nope/x.bin", "wxid_bob").await, Functions::FuncSendFile, -2);
    c.send_emotion(img, "wxid_bob").await.unwrap();
    c.send_xml("wxid_bob", "<msg/>", 21, None).await.unwrap();
    rejected(c.send_xml("wxid_bob", "", 21, None).await, Functions::FuncSendXml, -1);
    let rt = RichText {
        title: "T".into(),
        url: "https://example.invalid/".into(),
        receiver: "wxid_bob".into(),
        ..Default::default()
    };
    c.send_rich_text(&rt).await.unwrap();
    rejected(
        c.send_rich_text(&RichText { receiver: String::new(), ..rt.clone() }).await,
        Functions::FuncSendRichTxt,
        -1,
    );
    c.send_pat("1001@chatroom", "wxid_alice").await.unwrap();
    rejected(c.send_pat("", "wxid_alice").await, Functions::FuncSendPatMsg, -1);

    let sent = w.sent();
    let funcs: Vec<_> = sent.iter().map(|s| s.func.as_str()).collect();
    assert_eq!(
        funcs,
        ["send_text", "send_image", "send_file", "send_emotion", "send_xml", "send_rich_text", "send_pat"]
    );
    assert_eq!(sent[0].aters.as_deref(), Some(&["wxid_alice".to_owned()][..]));
    assert_eq!(sent[1].path.as_deref(), Some(img));
    assert!(sent.windows(2).all(|p| p[0].ts <= p[1].ts));

    // Each send is an MSG row with IsSender = 1 and its MsgSvrID.
    let id: u64 = sent[0].id.parse().unwrap();
    let rows = c
        .query("MSG0.db", &format!("SELECT IsSender, StrTalker, StrContent FROM MSG WHERE MsgSvrID = {id}"))
        .await
        .unwrap();
    assert_eq!(rows[0].get("IsSender").and_then(|v| v.as_i64()), Some(1));
    assert_eq!(rows[0].get("StrContent").and_then(|v| v.as_text()).as_deref(), Some("hello @Alice"));

    c.forward(id, "wxid_carol").await.unwrap();
    rejected(c.forward(12345, "wxid_carol").await, Functions::FuncForwardMsg, -1);
    let rec = w.sent().last().unwrap().clone();
    assert_eq!((rec.func.as_str(), rec.receiver.as_str()), ("forward_msg", "wxid_carol"));
    assert_eq!(rec.detail.unwrap()["forwarded_id"], id.to_string());
}

#[tokio::test]
async fn revoke_friend_accept_and_receiving_switches() {
    let env = start().await;
    let c = &env.client;
    let w = env.emu.wechat();
    let mut rx = Receiver::start(c.clone(), fast_receiver());
    let mut state = rx.state();
    within("connected", state.wait_for(|s| *s == wcf::ConnectionState::Connected)).await.unwrap();
    assert_eq!(c.enable_receiving(false).await.unwrap(), Receiving::AlreadyEnabled);

    c.send_text("oops", "wxid_alice", &[]).await.unwrap();
    let id: u64 = w.sent()[0].id.parse().unwrap();
    c.revoke(id).await.unwrap();
    rejected(c.revoke(42).await, Functions::FuncRevokeMsg, 0);
    assert_eq!(w.sent().last().unwrap().func, "revoke");
    let m = within("recall notice", rx.next()).await.unwrap();
    assert_eq!(m.r#type, 10002);
    assert!(m.content.contains(&id.to_string()) && m.is_self);

    let t = w
        .friend_request(&InboundFriendRequest {
            wxid: "wxid_new".into(),
            nickname: "Newbie".into(),
            greeting: "hi!".into(),
            scene: Some(14),
        })
        .unwrap();
    let m = within("friend request", rx.next()).await.unwrap();
    assert_eq!(m.r#type, 37);
    let fr = wcf::friend_request::FriendRequest::parse(&m.content).unwrap();
    assert_eq!(
        (fr.v3.as_str(), fr.v4.as_str(), fr.scene, fr.wxid.as_str()),
        (t.v3.as_str(), t.v4.as_str(), 14, "wxid_new")
    );
    rejected(c.accept_friend(&t.v3, "v4_wrong", 14).await, Functions::FuncAcceptFriend, 0);
    c.accept_friend(&fr.v3, &fr.v4, fr.scene).await.unwrap();
    let m = within("friend added", rx.next()).await.unwrap();
    assert_eq!((m.r#type, m.content.as_str()), (10000, "你已添加了Newbie，现在可以开始聊天了。"));
    assert_eq!(c.contact_info("wxid_new").await.unwrap().unwrap().name, "Newbie");

    // 39.5.2's RECV_TRANSFER is a stub answering -1; the request is still recorded.
    rejected(c.receive_transfer("wxid_alice", "tf1", "ta1").await, Functions::FuncRecvTransfer, -1);
    let rec = env.emu.wechat().sent().last().unwrap().clone();
    assert_eq!(rec.func, "receive_transfer");
    assert_eq!(
        rec.detail.unwrap(),
        serde_json::json!({"wxid": "wxid_alice", "transfer_id": "tf1", "transaction_id": "ta1"})
    );
    rejected(c.refresh_moments(0).await, Functions::FuncRefreshPyq, -1);

    drop(rx);
    c.disable_receiving().await.unwrap();
    c.disable_receiving().await.unwrap(); // status 1 "was not on" is fine too
    assert_eq!(c.enable_receiving(true).await.unwrap(), Receiving::Enabled);
    c.refresh_moments(0).await.unwrap();
}

#[tokio::test]
async fn images_download_decrypt_ocr_and_audio() {
    let env = start().await;
    let c = &env.client;
    let w = env.emu.wechat();
    let mut rx = Receiver::start(c.clone(), fast_receiver());
    within("connected", rx.state().wait_for(|s| *s == wcf::ConnectionState::Connected)).await.unwrap();

    let jpeg = [0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x10, b'J', b'F', b'I', b'F', 0x00, 0x01, 0x02];
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD.encode(jpeg);
    let id = w
        .inject(&InboundMessage {
            from: "wxid_alice".into(),
            room: Some("1001@chatroom".into()),
            kind: Some("image".into()),
            image_base64: Some(b64),
            ..Default::default()
        })
        .unwrap();
    let m = within("image message", rx.next()).await.unwrap();
    assert_eq!((m.id, m.r#type, m.is_group, m.sender.as_str()), (id, 3, true, "wxid_alice"));
    assert!(
        m.extra.contains("/WeChat Files/wxid_bot/FileStorage/MsgAttach/") && m.extra.ends_with(".dat"),
        "{}",
        m.extra
    );
    assert!(std::path::Path::new(&m.thumb).is_file(), "thumbnail exists at once");
    assert!(!std::path::Path::new(&m.extra).exists(), "full image only after DOWNLOAD_ATTACH");

    rejected(c.download_attach(999, "", &m.extra).await, Functions::FuncDownloadAttach, -1);
    c.download_attach(id, "", &m.extra).await.unwrap();
    c.download_attach(id, "", &m.extra).await.unwrap(); // already there: still 0
    let out_dir = env.dir.path().join("out");
    let out = c.decrypt_image(&m.extra, out_dir.to_str().unwrap()).await.unwrap();
    assert!(out.ends_with(".jpg"), "{out}");
    assert_eq!(std::fs::read(&out).unwrap(), jpeg);
    assert!(matches!(c.decrypt_image("/nope.dat", "").await, Err(Error::Failed { .. })));
    assert_eq!(c.ocr(&out).await.unwrap(), "wcf-emulator OCR");
    rejected(c.ocr("/nope.png").await, Functions::FuncExecOcr, -1);

    let voice = w
        .inject(&InboundMessage { from: "wxid_bob".into(), kind: Some("voice".into()), ..Default::default() })
        .unwrap();
    let mp3 = c.audio_msg(voice, out_dir.to_str().unwrap()).await.unwrap();
    assert!(mp3.ends_with(&format!("{voice}.mp3")) && std::path::Path::new(&mp3).is_file());
    assert!(matches!(c.audio_msg(id, out_dir.to_str().unwrap()).await, Err(Error::Failed { .. })));
}

#[tokio::test]
async fn room_member_management() {
    let env = start().await;
    let c = &env.client;
    let ids = |v: Vec<wcf::room::RoomMember>| v.into_iter().map(|m| m.wxid).collect::<Vec<_>>();
    c.add_room_members("1002@chatroom", &["wxid_alice".into(), "wxid_bob".into()]).await.unwrap();
    assert_eq!(
        ids(c.room_members("1002@chatroom").await.unwrap()),
        ["wxid_bot", "wxid_carol", "wxid_alice", "wxid_bob"]
    );
    c.delete_room_members("1002@chatroom", &["wxid_carol".into()]).await.unwrap();
    // An invitation sends a card; nobody joins until they accept it.
    c.invite_room_members("1002@chatroom", &[" wxid_dave ".into()]).await.unwrap();
    assert_eq!(ids(c.room_members("1002@chatroom").await.unwrap()), ["wxid_bot", "wxid_alice", "wxid_bob"]);
    let funcs: Vec<String> = env.emu.wechat().sent().iter().map(|r| r.func.clone()).collect();
    assert_eq!(funcs, ["add_room_members", "del_room_members", "invite_room_members"]);
    let cards = c
        .query(
            "MSG0.db",
            "SELECT SubType, StrContent, CompressContent FROM MSG WHERE StrTalker = 'wxid_dave' AND IsSender = 1",
        )
        .await
        .unwrap();
    assert_eq!(cards.len(), 1);
    assert_eq!(cards[0].get("SubType").and_then(|v| v.as_i64()), Some(5));
    let xml = wcf::content::inflate(cards[0].get("CompressContent").and_then(|v| v.as_bytes()).unwrap()).unwrap();
    assert!(xml.contains("<title>邀请你加入群聊</title>"), "{xml}");
    rejected(c.add_room_members("404@chatroom", &["wxid_alice".into()]).await, Functions::FuncAddRoomMembers, -1);
    rejected(c.delete_room_members("1002@chatroom", &[]).await, Functions::FuncDelRoomMembers, -1);
}

#[tokio::test]
async fn shutdown_drops_the_peer_but_the_emulator_keeps_serving() {
    let env = start().await;
    env.client.shutdown_server().await.unwrap();
    // The next call dials again.
    let again = within("re-dial", async {
        loop {
            match env.client.self_wxid().await {
                Ok(w) => break w,
                Err(e) if e.is_connection() => tokio::time::sleep(Duration::from_millis(20)).await,
                Err(e) => panic!("{e}"),
            }
        }
    })
    .await;
    assert_eq!(again, "wxid_bot");
}

#[tokio::test]
async fn a_late_reply_never_answers_the_next_call() {
    let env = start().await;
    let client = crate::helpers::client_for(&env.emu.address(), Duration::from_millis(300));
    assert!(client.is_login().await.unwrap());
    env.emu.wechat().fault(&Fault { kind: "stall".into(), ms: Some(1200), func: None }).unwrap();
    assert!(matches!(client.is_login().await, Err(Error::Timeout { func: Functions::FuncIsLogin, .. })));
    // While the stalled peer still holds the socket, calls fail as connection errors; once it
    // is gone, the first successful answer must be the answer to *this* call.
    let wxid = within("recovery", async {
        loop {
            match client.self_wxid().await {
                Ok(w) => break w,
                Err(e) if e.is_connection() => tokio::time::sleep(Duration::from_millis(50)).await,
                Err(e) => panic!("unexpected error after a timeout: {e}"),
            }
        }
    })
    .await;
    assert_eq!(wxid, "wxid_bot");
}
