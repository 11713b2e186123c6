//! Every message kind: the emulator's typed messages and the captures of
//! `shared/docs/wechat-messages.md` (replayed through `raw`) → the events a webhook receives,
//! their media through `get_file`; the outbound segments and actions → the RPCs WeChat sees.

use base64::Engine as _;
use serde_json::{Value, json};
use wcf_emulator::Fixture;
use wcf_emulator::fixture::{FixtureContact, FixtureMember, FixtureRoom, SelfInfo};

use crate::helpers::*;

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// `expected` is contained in `actual`: every key of an object, every element of a list.
fn contains(actual: &Value, expected: &Value) -> bool {
    match (actual, expected) {
        (Value::Object(a), Value::Object(e)) => e.iter().all(|(k, v)| a.get(k).is_some_and(|x| contains(x, v))),
        (Value::Array(a), Value::Array(e)) => a.len() >= e.len() && e.iter().zip(a).all(|(e, a)| contains(a, e)),
        (Value::Number(a), Value::Number(e)) => a.as_f64() == e.as_f64(),
        _ => actual == expected,
    }
}

/// A gateway whose webhook gets every event; returned once the account has handled a first
/// message (so connecting — contacts, chat-group members — is behind it).
async fn app_with_hook() -> (TestApp, Hook) {
    let mut hook = webhook().await;
    let url = hook.url.clone();
    let app = spawn_with(move |c| {
        c.http_post = vec![hook_target(&url, "")];
        // The emulator serves stickers from 127.0.0.1, like WeChat's CDN would from afar.
        c.media.deny_networks = Vec::new();
        c.media.max_download_bytes = 1 << 20;
    })
    .await;
    app.control("/messages", json!({"from": "wxid_bob", "text": "ready"})).await;
    let (_, e) = hook.next_event().await;
    assert_eq!(e["alt_message"], "ready");
    (app, hook)
}

impl TestApp {
    /// Injects through the control API; its answer.
    async fn inject(&self, body: Value) -> Value {
        self.control("/messages", body).await
    }

    /// `get_file` as `data`: the bytes.
    async fn file_bytes(&self, file_id: &str) -> Vec<u8> {
        let f = self.ok("get_file", json!({"file_id": file_id, "type": "data"})).await;
        base64::engine::general_purpose::STANDARD.decode(f["data"].as_str().unwrap()).unwrap()
    }
}

fn seg(e: &Value, i: usize) -> &Value {
    &e["message"][i]
}

#[tokio::test]
async fn media_kinds_arrive_with_files_get_file_serves_byte_for_byte() {
    let (app, mut hook) = app_with_hook().await;
    // Voice: fetched on arrival (media.auto_download has voice).
    let audio = b"ID3\x04\0\0\0\0\0\0 a voice note".to_vec();
    let r = app
        .inject(json!({"from": "wxid_bob", "type": "voice", "audio_base64": b64(&audio), "duration_ms": 2500}))
        .await;
    let (_, e) = hook.next_event().await;
    assert_eq!(e["message_id"], r["id"]);
    let v = seg(&e, 0);
    assert_eq!((v["type"].as_str(), v["data"]["wx.duration"].as_f64()), (Some("voice"), Some(2.5)), "{e}");
    assert_eq!(e["alt_message"], "[语音 3s]");
    assert_eq!(app.file_bytes(v["data"]["file_id"].as_str().unwrap()).await, audio);

    // Video: fetched on the first get_file (not in auto_download); the cover at once.
    let video = b"\0\0\0\x18ftypisom a short video".to_vec();
    let cover = b"\xFF\xD8\xFF\xE0 cover".to_vec();
    app.inject(json!({"from": "wxid_bob", "room": "1001@chatroom", "type": "video", "video_base64": b64(&video), "thumb_base64": b64(&cover), "duration_ms": 4000})).await;
    let (_, e) = hook.next_event().await;
    let v = seg(&e, 0);
    assert_eq!((v["type"].as_str(), v["data"]["wx.duration"].as_u64()), (Some("video"), Some(4)), "{e}");
    assert_eq!(v["data"]["wx.size"], video.len());
    assert_eq!(e["alt_message"], "[视频 4s]");
    assert_eq!(
        app.file_bytes(v["data"]["file_id"].as_str().unwrap()).await,
        video,
        "downloaded through DOWNLOAD_ATTACH"
    );
    assert_eq!(app.file_bytes(v["data"]["wx.thumb_file_id"].as_str().unwrap()).await, cover);

    // File: lazily, keeping its name.
    let body = b"%PDF-1.4 quarterly numbers".to_vec();
    app.inject(json!({"from": "wxid_alice", "type": "file", "file_base64": b64(&body), "name": "report.pdf"})).await;
    let (_, e) = hook.next_event().await;
    let f = seg(&e, 0);
    assert_eq!(
        (f["type"].as_str(), f["data"]["name"].as_str(), f["data"]["size"].as_u64()),
        (Some("file"), Some("report.pdf"), Some(body.len() as u64)),
        "{e}"
    );
    assert_eq!(f["data"]["wx.md5"].as_str().unwrap().len(), 32);
    assert_eq!(e["alt_message"], "[文件 report.pdf]");
    let id = f["data"]["file_id"].as_str().unwrap();
    let meta = app.ok("get_file", json!({"file_id": id, "type": "url"})).await;
    assert_eq!(meta["name"], "report.pdf");
    let rsp = app.http.get(meta["url"].as_str().unwrap()).bearer_auth(TOKEN).send().await.unwrap();
    assert_eq!(rsp.bytes().await.unwrap().as_ref(), body.as_slice(), "/files/<id> serves it too");
    // A received file is sendable by its id.
    app.ok("send_message", json!({"user_id": "wxid_bob", "message": [{"type": "file", "data": {"file_id": id}}]}))
        .await;
    assert_eq!(app.sent().await.last().unwrap()["func"], "send_file");

    // Sticker: fetched from its cdnurl.
    let gif = wcf_emulator::kinds::DEFAULT_GIF.to_vec();
    app.inject(json!({"from": "wxid_bob", "type": "emoji", "emoji_base64": b64(&gif)})).await;
    let (_, e) = hook.next_event().await;
    let s = seg(&e, 0);
    assert_eq!(s["type"], "wx.emoji", "{e}");
    assert!(s["data"]["url"].as_str().unwrap().contains("/cdn/emoji/"), "{s}");
    assert!(s["data"].get("wx.fetch_error").is_none(), "{s}");
    assert_eq!(app.file_bytes(s["data"]["file_id"].as_str().unwrap()).await, gif);

    // Expired media: the event still arrives; get_file says why.
    app.inject(json!({"from": "wxid_bob", "type": "video", "unavailable": true})).await;
    let (_, e) = hook.next_event().await;
    let id = seg(&e, 0)["data"]["file_id"].as_str().unwrap().to_owned();
    let msg = app.fails("get_file", json!({"file_id": id, "type": "data"}), 34002).await;
    assert!(msg.contains("expired on WeChat's servers"), "{msg}");
}

#[tokio::test]
async fn every_other_kind_becomes_its_segment_or_notice() {
    let (app, mut hook) = app_with_hook().await;
    let quoted = app.inject(json!({"from": "wxid_alice", "room": "1001@chatroom", "text": "lunch at noon?"})).await;
    hook.next_event().await;
    let cases: Vec<(Value, Value)> = vec![
        (
            json!({"from": "wxid_bob", "type": "location", "latitude": 22.543096, "longitude": 114.057865, "label": "深圳市福田区", "poiname": "市民中心"}),
            json!({"message": [{"type": "location", "data": {"latitude": 22.543096, "longitude": 114.057865, "title": "市民中心", "content": "深圳市福田区"}}], "alt_message": "[位置 市民中心]"}),
        ),
        (
            json!({"from": "wxid_bob", "type": "link", "title": "Rust 1.95", "description": "released", "url": "https://blog.rust-lang.org/x?a=1&b=2", "thumb_url": "https://img/x.png", "source_name": "Rust Blog"}),
            json!({"message": [{"type": "wx.link", "data": {"title": "Rust 1.95", "description": "released", "url": "https://blog.rust-lang.org/x?a=1&b=2", "thumb_url": "https://img/x.png", "source_name": "Rust Blog", "wx.app_type": 5}}], "alt_message": "[链接 Rust 1.95]"}),
        ),
        (
            json!({"from": "wxid_bob", "room": "1001@chatroom", "type": "quote", "quoted_id": quoted["id"], "text": "yes!"}),
            json!({"detail_type": "group", "message": [{"type": "reply", "data": {"message_id": quoted["id"], "user_id": "wxid_alice"}}, {"type": "text", "data": {"text": "yes!"}}], "alt_message": "[引用 Team Alice: lunch at noon?] yes!"}),
        ),
        (
            json!({"from": "wxid_bob", "type": "card", "card_user": "wxid_carol"}),
            json!({"message": [{"type": "wx.card", "data": {"user_id": "wxid_carol", "nickname": "Carol", "gender": 2}}], "alt_message": "[名片 Carol]"}),
        ),
        (
            json!({"from": "wxid_bob", "type": "mini_program", "title": "Ride", "appid": "wx1234", "app_username": "gh_abc@app", "pagepath": "pages/home"}),
            json!({"message": [{"type": "wx.mini_program", "data": {"title": "Ride", "appid": "wx1234", "username": "gh_abc@app", "pagepath": "pages/home"}}], "alt_message": "[小程序 Ride]"}),
        ),
        (
            json!({"from": "wxid_bob", "type": "channels", "nickname": "Cooking", "description": "noodles", "url": "https://finder/v.mp4", "thumb_url": "https://finder/c.jpg"}),
            json!({"message": [{"type": "wx.channels", "data": {"nickname": "Cooking", "description": "noodles", "url": "https://finder/v.mp4", "cover_url": "https://finder/c.jpg", "duration": 29}}], "alt_message": "[视频号 Cooking]"}),
        ),
        (
            json!({"from": "wxid_bob", "type": "chat_history", "items": [{"name": "Bob", "text": "first"}, {"name": "Alice", "text": "second <b>&"}]}),
            json!({"message": [{"type": "wx.chat_history", "data": {"title": "Bob的聊天记录", "items": [{"user_name": "Bob", "text": "first"}, {"user_name": "Alice", "text": "second <b>&"}]}}]}),
        ),
        (
            json!({"from": "wxid_bob", "type": "red_packet"}),
            json!({"type": "notice", "detail_type": "wx.red_packet", "user_id": "wxid_bob", "text": "收到红包，请在手机上查看"}),
        ),
        (
            json!({"from": "wxid_bob", "type": "red_packet", "form": "appmsg"}),
            json!({"type": "notice", "detail_type": "wx.red_packet", "user_id": "wxid_bob", "text": "我给你发了一个红包，赶紧去拆!"}),
        ),
        (
            json!({"from": "wxid_alice", "room": "1001@chatroom", "type": "pat"}),
            json!({"type": "notice", "detail_type": "wx.pat", "group_id": "1001@chatroom", "user_id": "wxid_bot", "operator_id": "wxid_alice", "wx.text": "\"Team Alice\" 拍了拍我"}),
        ),
        (
            json!({"from": "wxid_alice", "room": "1001@chatroom", "type": "pat", "patted": "wxid_bob", "form": "sysmsg"}),
            json!({"type": "notice", "detail_type": "wx.pat", "group_id": "1001@chatroom", "user_id": "wxid_bob", "operator_id": "wxid_alice", "wx.text": "\"Team Alice\" 拍了拍 \"Bob\""}),
        ),
        (
            json!({"from": "wxid_alice", "room": "1001@chatroom", "type": "pat", "form": "appmsg"}),
            json!({"type": "notice", "detail_type": "wx.pat", "user_id": "wxid_bot", "operator_id": "wxid_alice", "wx.text": "\"Team Alice\" 拍了拍 \"我\""}),
        ),
        (
            json!({"from": "wxid_alice", "room": "1001@chatroom", "type": "announcement", "text": "Friday: demo day"}),
            json!({"type": "notice", "detail_type": "wx.group_announcement", "group_id": "1001@chatroom", "operator_id": "wxid_alice", "text": "Friday: demo day"}),
        ),
        (
            json!({"from": "wxid_alice", "room": "1001@chatroom", "type": "announcement", "text": "v2", "form": "sysmsg"}),
            json!({"type": "notice", "detail_type": "wx.group_announcement", "group_id": "1001@chatroom", "text": "v2"}),
        ),
        (
            json!({"from": "wxid_bob", "type": "system", "text": "群主\"Bob\"已解散该群聊"}),
            json!({"type": "notice", "detail_type": "wx.system", "message": "群主\"Bob\"已解散该群聊"}),
        ),
        (
            json!({"from": "wxid_bob", "type": "file", "name": "big.iso", "file_base64": b64(b"iso"), "uploading_notice": true}),
            json!({"type": "notice", "detail_type": "wx.file_uploading", "user_id": "wxid_bob", "name": "big.iso", "size": 3}),
        ),
    ];
    for (inject, want) in cases {
        app.inject(inject.clone()).await;
        let (_, e) = hook.next_event().await;
        assert!(contains(&e, &want), "{inject}\n  gave {e}\n  want {want}");
    }
    // The file after its uploading notice points back to it.
    let (_, e) = hook.next_event().await;
    assert_eq!(seg(&e, 0)["type"], "file", "{e}");
    assert!(seg(&e, 0)["data"]["wx.overwrite_message_id"].is_string(), "{e}");

    let t = app.inject(json!({"from": "wxid_bob", "type": "transfer", "amount": "88.00", "memo": "dinner"})).await;
    let (_, e) = hook.next_event().await;
    assert!(
        contains(
            &e,
            &json!({"detail_type": "wx.transfer", "user_id": "wxid_bob", "amount": "￥88.00", "memo": "dinner", "transfer_id": t["transfer_id"], "transaction_id": t["transaction_id"]})
        ),
        "{e}"
    );
    // 39.5.2 cannot accept it, and says so; the request reached WeChat.
    let msg = app
        .fails(
            "wx.receive_transfer",
            json!({"user_id": "wxid_bob", "transfer_id": t["transfer_id"], "transaction_id": t["transaction_id"]}),
            34003,
        )
        .await;
    assert!(msg.contains("cannot accept transfers"), "{msg}");
    let rec = app.sent().await.pop().unwrap();
    assert_eq!(rec["func"], "receive_transfer");
    assert_eq!(rec["detail"]["transfer_id"], t["transfer_id"]);
}

#[tokio::test]
async fn wx_get_message_reads_what_a_quote_refers_to() {
    let (app, mut hook) = app_with_hook().await;
    let original = app
        .inject(json!({"from": "wxid_bob", "type": "link", "title": "Read me", "url": "https://example.org/a"}))
        .await;
    hook.next_event().await;
    let quote =
        app.inject(json!({"from": "wxid_alice", "type": "quote", "quoted_id": original["id"], "text": "nice"})).await;
    let (_, e) = hook.next_event().await;
    let reply = &seg(&e, 0)["data"];
    assert_eq!(reply["message_id"], original["id"], "{e}");
    // The quoted message (an app message, stored lz4-compressed) comes back as its event.
    let got = app.ok("wx.get_message", json!({"message_id": reply["message_id"]})).await;
    assert!(
        contains(
            &got,
            &json!({"message_id": original["id"], "user_id": "wxid_bob", "message": [{"type": "wx.link", "data": {"title": "Read me", "url": "https://example.org/a"}}]})
        ),
        "{got}"
    );
    let again = app.ok("wx.get_message", json!({"message_id": quote["id"]})).await;
    assert_eq!(again["message"], e["message"], "the same event as pushed");
    // The bot's own messages too, by the id send_message returned.
    let sent = app.ok("send_message", json!({"user_id": "wxid_bob", "message": "from the bot"})).await;
    let own = app.ok("wx.get_message", json!({"message_id": sent["message_id"]})).await;
    assert_eq!((own["wx.is_self"].as_bool(), own["alt_message"].as_str()), (Some(true), Some("from the bot")), "{own}");
    assert!(
        app.fails("wx.get_message", json!({"message_id": "123"}), 10003).await.contains("not in WeChat's database")
    );
    assert!(app.fails("wx.get_message", json!({"message_id": "nope"}), 10003).await.contains("neither"));
    app.fails("wx.get_message", json!({}), 10003).await;
}

#[tokio::test]
async fn outbound_segments_and_actions_reach_wechat_with_the_right_calls() {
    let app = spawn_app().await;
    let mp4 = b64(b"\0\0\0\x18ftypisom clip");
    let gif = b64(wcf_emulator::kinds::DEFAULT_GIF);
    let r = app
        .ok(
            "send_message",
            json!({"group_id": "1001@chatroom", "message": [
                {"type": "wx.link", "data": {"title": "Docs", "description": "read them", "url": "https://example.org/docs", "thumb_url": "https://example.org/t.png", "source": "Example"}},
                {"type": "wx.emoji", "data": {"data": gif}},
                {"type": "video", "data": {"data": mp4, "name": "clip.mp4"}},
                {"type": "wx.xml", "data": {"type": 33, "xml": "<msg><appmsg><title>mini</title><type>33</type></appmsg></msg>"}},
            ]}),
        )
        .await;
    let sent = app.sent().await;
    let funcs: Vec<&str> = sent.iter().map(|s| s["func"].as_str().unwrap()).collect();
    assert_eq!(funcs, ["send_rich_text", "send_emotion", "send_file", "send_xml"]);
    assert_eq!(
        sent[0]["detail"],
        json!({"name": "Example", "account": "", "title": "Docs", "digest": "read them", "url": "https://example.org/docs", "thumburl": "https://example.org/t.png"})
    );
    assert!(sent[1]["path"].as_str().unwrap().ends_with(".gif"), "{}", sent[1]);
    assert!(sent[2]["path"].as_str().unwrap().ends_with("clip.mp4"), "{}", sent[2]);
    assert_eq!(sent[3]["detail"]["type"], 33);
    let status = app.ok("wx.get_sent_message", json!({"message_id": r["message_id"]})).await;
    let kinds: Vec<&str> = status["parts"].as_array().unwrap().iter().map(|p| p["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["link", "emoji", "video", "xml"]);
    assert!(status["parts"].as_array().unwrap().iter().all(|p| p["state"] == "sent"), "{status}");

    // What WeChatFerry cannot send says so, and sends nothing.
    for (s, why) in [
        (json!({"type": "voice", "data": {"file_id": "x"}}), "voice messages"),
        (json!({"type": "location", "data": {"latitude": 1, "longitude": 2, "title": "", "content": ""}}), "location"),
        (json!({"type": "reply", "data": {"message_id": "1"}}), "quote"),
        (json!({"type": "wx.dice", "data": {}}), "not supported"),
    ] {
        let msg = app
            .fails(
                "send_message",
                json!({"user_id": "wxid_bob", "message": [s, {"type": "text", "data": {"text": "x"}}]}),
                10005,
            )
            .await;
        assert!(msg.contains(why), "{msg}");
    }
    for (s, why) in [
        (json!({"type": "wx.link", "data": {"title": "t"}}), "data.url"),
        (json!({"type": "wx.link", "data": {"title": "t", "url": "ftp://x"}}), "http(s)"),
        (json!({"type": "wx.xml", "data": {"xml": "not xml"}}), "not XML"),
        (json!({"type": "wx.xml", "data": {"type": "x", "xml": "<msg/>"}}), "integer"),
        (json!({"type": "wx.emoji", "data": {"data": b64(b"not an image")}}), "not an image"),
        (json!({"type": "video", "data": {}}), "needs data.file_id"),
    ] {
        let msg = app.fails("send_message", json!({"user_id": "wxid_bob", "message": [s]}), 10006).await;
        assert!(msg.contains(why), "{msg}");
    }
    assert_eq!(app.sent().await.len(), 4, "nothing more was sent");

    // Actions.
    let pushed = app.inject(json!({"from": "wxid_bob", "text": "forward me"})).await;
    app.ok("wx.forward_message", json!({"message_id": pushed["id"], "group_id": "1001@chatroom"})).await;
    app.ok("wx.send_pat", json!({"group_id": "1001@chatroom", "user_id": "wxid_bob"})).await;
    app.ok("wx.invite_group_member", json!({"group_id": "1002@chatroom", "user_ids": ["wxid_alice"]})).await;
    app.ok("wx.add_group_member", json!({"group_id": "1002@chatroom", "user_ids": ["wxid_bob"]})).await;
    app.ok("wx.delete_group_member", json!({"group_id": "1002@chatroom", "user_ids": ["wxid_bob"]})).await;
    let sent = app.sent().await;
    let tail: Vec<(&str, &str)> =
        sent[4..].iter().map(|s| (s["func"].as_str().unwrap(), s["receiver"].as_str().unwrap())).collect();
    assert_eq!(
        tail,
        [
            ("forward_msg", "1001@chatroom"),
            ("send_pat", "1001@chatroom"),
            ("invite_room_members", "1002@chatroom"),
            ("add_room_members", "1002@chatroom"),
            ("del_room_members", "1002@chatroom"),
        ]
    );
    assert_eq!(sent[4]["detail"]["forwarded_id"], pushed["id"]);
    assert_eq!(sent[5]["detail"]["wxid"], "wxid_bob");
    assert_eq!(sent[6]["detail"]["wxids"], json!(["wxid_alice"]));
    // Bad input answers clearly and sends nothing.
    assert!(
        app.fails("wx.forward_message", json!({"message_id": "1", "group_id": "1001@chatroom"}), 10003)
            .await
            .contains("not in WeChat's database")
    );
    assert!(app.fails("wx.forward_message", json!({"message_id": pushed["id"]}), 10003).await.contains("receiver"));
    assert!(
        app.fails("wx.forward_message", json!({"message_id": pushed["id"], "user_id": "wxid_nobody"}), 10003)
            .await
            .contains("not a contact")
    );
    assert!(
        app.fails("wx.send_pat", json!({"group_id": "wxid_bob", "user_id": "wxid_bob"}), 10003)
            .await
            .contains("@chatroom")
    );
    assert!(
        app.fails("wx.add_group_member", json!({"group_id": "1001@chatroom", "user_ids": []}), 10003)
            .await
            .contains("user_ids")
    );
    assert!(
        app.fails("wx.add_group_member", json!({"group_id": "404@chatroom", "user_ids": ["wxid_bob"]}), 10003)
            .await
            .contains("not one of this account's")
    );
    assert!(
        app.fails("wx.delete_group_member", json!({"group_id": "1001@chatroom", "user_ids": ["wxid_bot"]}), 10003)
            .await
            .contains("itself")
    );
    assert_eq!(app.sent().await.len(), 9, "nothing more was sent");
    let actions = app.ok("get_supported_actions", json!({})).await;
    for a in [
        "wx.get_message",
        "wx.forward_message",
        "wx.send_pat",
        "wx.add_group_member",
        "wx.invite_group_member",
        "wx.delete_group_member",
        "wx.receive_transfer",
    ] {
        assert!(actions.as_array().unwrap().iter().any(|x| x == a), "{a} listed");
    }
}

#[tokio::test]
async fn joins_kicks_leaves_and_renames_name_the_right_people() {
    let (app, mut hook) = app_with_hook().await;
    // Two newcomers by QR code; one shares a name with a member already there (Bob).
    app.inject(json!({"from": "wxid_alice", "room": "1001@chatroom", "type": "join", "members": [
        {"wxid": "wxid_bob2", "nickname": "Bob"}, {"wxid": "wxid_erin", "nickname": "Erin"}]}))
        .await;
    let a = hook.next_of("group_member_increase").await;
    let b = hook.next_of("group_member_increase").await;
    assert!(
        contains(
            &a,
            &json!({"sub_type": "join", "group_id": "1001@chatroom", "user_id": "wxid_bob2", "operator_id": "wxid_alice", "wx.display_name": "Bob"})
        ),
        "the new Bob, not the old one: {a}"
    );
    assert!(contains(&b, &json!({"user_id": "wxid_erin", "wx.display_name": "Erin"})), "{b}");
    // An invitation by Alice, in the template form that carries wxids, and its text form: one notice.
    app.inject(json!({"from": "wxid_alice", "room": "1001@chatroom", "type": "invite", "members": [{"wxid": "wxid_finn", "nickname": "Finn"}], "form": "sysmsg"})).await;
    let c = hook.next_of("group_member_increase").await;
    assert!(contains(&c, &json!({"sub_type": "invite", "user_id": "wxid_finn", "operator_id": "wxid_alice"})), "{c}");
    app.inject(json!({"raw": {"type": 10000, "content": "\"Team Alice\"邀请\"Finn\"加入了群聊", "sender": "wxid_alice", "roomid": "1001@chatroom"}})).await;
    app.inject(json!({"from": "wxid_bob", "room": "1001@chatroom", "text": "marker"})).await;
    let (_, next) = hook.next_event().await;
    assert_eq!(next["alt_message"], "marker", "the same join in its text form made no second notice: {next}");
    // A name nobody has: the notice still comes, with the name.
    app.inject(json!({"from": "wxid_alice", "room": "1001@chatroom", "type": "invite", "members": [{"wxid": "wxid_gus", "nickname": "Gus"}, {"wxid": "wxid_hal", "nickname": "Hal"}], "names": ["G.", "H."]})).await;
    let g = hook.next_of("group_member_increase").await;
    let h = hook.next_of("group_member_increase").await;
    assert_eq!(
        (g["user_id"].as_str(), h["user_id"].as_str()),
        (Some(""), Some("")),
        "two unknown names, two newcomers: no guessing"
    );
    assert_eq!((g["wx.display_name"].as_str(), h["wx.display_name"].as_str()), (Some("G."), Some("H.")));
    // The members are what WeChat says now, names included.
    let members = app.ok("get_group_member_list", json!({"group_id": "1001@chatroom"})).await;
    let erin = members.as_array().unwrap().iter().find(|m| m["user_id"] == "wxid_erin").unwrap();
    assert_eq!((erin["user_name"].as_str(), erin["user_displayname"].as_str()), (Some("Erin"), Some("")), "{erin}");

    // The bot removes someone; someone leaves silently; the bot is removed.
    app.ok("wx.delete_group_member", json!({"group_id": "1001@chatroom", "user_ids": ["wxid_erin"]})).await;
    let k = hook.next_of("group_member_decrease").await;
    assert!(
        contains(
            &k,
            &json!({"sub_type": "kick", "user_id": "wxid_erin", "operator_id": "wxid_bot", "wx.display_name": "Erin"})
        ),
        "{k}"
    );
    app.inject(json!({"from": "wxid_dave", "room": "1001@chatroom", "type": "leave"})).await;
    let account = app.gateway().accounts[0].clone();
    // WeChat says nothing about a leave: upkeep compares the members, twice to be sure.
    wechat_http::account::upkeep::step(&account, 1).await;
    wechat_http::account::upkeep::step(&account, 2).await;
    let l = hook.next_of("group_member_decrease").await;
    assert!(
        contains(
            &l,
            &json!({"sub_type": "leave", "group_id": "1001@chatroom", "user_id": "wxid_dave", "operator_id": "wxid_dave"})
        ),
        "{l}"
    );
    // A rename by Alice.
    app.inject(json!({"from": "wxid_alice", "room": "1001@chatroom", "type": "rename", "name": "Team 2026"})).await;
    let n = hook.next_of("wx.group_name_change").await;
    assert!(
        contains(&n, &json!({"group_id": "1001@chatroom", "operator_id": "wxid_alice", "name": "Team 2026"})),
        "{n}"
    );
    assert_eq!(app.ok("get_group_info", json!({"group_id": "1001@chatroom"})).await["group_name"], "Team 2026");
    app.inject(
        json!({"from": "wxid_alice", "room": "1001@chatroom", "type": "kick", "members": [{"wxid": "wxid_bot"}]}),
    )
    .await;
    let me = hook.next_of("group_member_decrease").await;
    assert!(contains(&me, &json!({"sub_type": "kick", "user_id": "wxid_bot", "operator_id": "wxid_alice"})), "{me}");
    // No more leaves are invented afterwards.
    wechat_http::account::upkeep::step(&account, 3).await;
    wechat_http::account::upkeep::step(&account, 4).await;
    app.inject(json!({"from": "wxid_bob", "text": "end"})).await;
    let (_, last) = hook.next_event().await;
    assert_eq!(last["alt_message"], "end", "{last}");
}

#[tokio::test]
async fn a_friend_who_is_gone_gives_friend_decrease() {
    let (app, mut hook) = app_with_hook().await;
    let r = app.http.delete(format!("{}/contacts/wxid_carol", app.control)).send().await.unwrap();
    assert_eq!(r.json::<Value>().await.unwrap()["removed"], true);
    let account = app.gateway().accounts[0].clone();
    wechat_http::account::upkeep::step(&account, 10).await;
    let d = hook.next_of("friend_decrease").await;
    assert_eq!((d["user_id"].as_str(), d["wx.display_name"].as_str()), (Some("wxid_carol"), Some("Carol")));
    // The text WeChat shows when a message to a former friend bounces: one notice, not two.
    app.inject(json!({"from": "wxid_bob", "type": "system", "text": "Bob开启了朋友验证，你还不是他（她）朋友。请先发送朋友验证请求，对方验证通过后，才能聊天。"})).await;
    let t = hook.next_of("friend_decrease").await;
    assert_eq!(t["user_id"], "wxid_bob");
    wechat_http::account::upkeep::step(&account, 20).await;
    app.inject(json!({"from": "wxid_alice", "text": "end"})).await;
    let (_, e) = hook.next_event().await;
    assert_eq!(e["alt_message"], "end", "{e}");
}

#[tokio::test]
async fn emulator_control_refuses_bad_kinds_clearly() {
    let app = spawn_app().await;
    for (body, why) in [
        (json!({"from": "wxid_bob", "type": "hologram"}), "unknown message `type`"),
        (json!({"from": "wxid_bob", "type": "location", "latitude": 99.0, "longitude": 1.0}), "within ±90"),
        (json!({"from": "wxid_bob", "type": "quote", "quoted_id": "1", "text": "x"}), "not in WeChat's database"),
        (json!({"from": "wxid_bob", "type": "join", "members": [{"wxid": "wxid_x"}]}), "needs the `room`"),
        (
            json!({"from": "wxid_bob", "room": "1001@chatroom", "type": "join", "members": [{"wxid": "wxid_bob"}]}),
            "already a member",
        ),
        (json!({"from": "wxid_bob", "type": "file", "name": "../x"}), "without folders"),
        (
            json!({"raw": {"type": 1, "content": "x", "sender": "wxid_bob", "files": {"/etc/passwd": "eA=="}}}),
            "outside the emulator's data folder",
        ),
    ] {
        let r = app.http.post(format!("{}/messages", app.control)).json(&body).send().await.unwrap();
        assert_eq!(r.status(), 400, "{body}");
        let msg = r.json::<Value>().await.unwrap()["error"].as_str().unwrap().to_owned();
        assert!(msg.contains(why), "{body}: {msg}");
    }
}

/// The account of the captures (`wxid_self01`), its two friends and their group.
fn capture_fixture() -> Fixture {
    let c = |w: &str, n: &str| FixtureContact { wxid: w.into(), name: n.into(), ..Default::default() };
    Fixture {
        self_info: SelfInfo { wxid: "wxid_self01".into(), name: "Self".into(), ..Default::default() },
        contacts: vec![c("wxid_aaa01", "张三"), c("wxid_bbb02", "李四"), c("12345678901@chatroom", "Group")],
        chatrooms: vec![FixtureRoom {
            roomid: "12345678901@chatroom".into(),
            name: "Group".into(),
            owner: "wxid_aaa01".into(),
            members: ["wxid_self01", "wxid_aaa01"]
                .iter()
                .map(|w| FixtureMember { wxid: (*w).into(), alias: String::new() })
                .collect(),
        }],
    }
}

#[tokio::test]
async fn captures_from_the_messages_document_replay_into_their_events() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/captures");
    let index: Value = serde_json::from_str(&std::fs::read_to_string(root.join("index.json")).unwrap()).unwrap();
    let mut hook = webhook().await;
    let url = hook.url.clone();
    let app = spawn_fixture(capture_fixture(), std::time::Duration::from_secs(5), move |c| {
        c.http_post = vec![hook_target(&url, "")];
    })
    .await;
    // The self id differs from the other tests' `wxid_bot`: wait for it.
    within("the capture account", async {
        while app.ok("get_self_info", json!({})).await["user_id"] != "wxid_self01" {
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    })
    .await;
    let audio = b"ID3 captured voice".to_vec();
    let captures = index["captures"].as_array().unwrap();
    assert!(captures.len() >= 20);
    for cap in captures {
        let content = std::fs::read_to_string(root.join(cap["file"].as_str().unwrap())).unwrap();
        let mut raw = json!({"type": cap["type"], "content": content, "sender": "wxid_aaa01"});
        if cap["room"] == true {
            raw["roomid"] = json!("12345678901@chatroom");
        }
        if cap["audio"] == true {
            raw["audio_base64"] = json!(b64(&audio));
        }
        let r = app.control("/messages", json!({ "raw": raw })).await;
        let (_, e) = hook.next_event().await;
        assert!(
            contains(&e, &cap["expect"]),
            "{}: {}\n  gave {e}\n  want {}",
            cap["name"],
            cap["source"],
            cap["expect"]
        );
        if e["type"] == "message" {
            assert_eq!(e["message_id"], r["id"], "{}", cap["name"]);
        }
        if cap["audio"] == true {
            let id = e["message"][0]["data"]["file_id"].as_str().unwrap();
            assert_eq!(app.file_bytes(id).await, audio, "the voice of {}", cap["name"]);
        }
    }
    // Both group-prefix forms of a recall (wechat-messages.md §1.2): the same notice.
    for prefix in ["", "12345678901@chatroom:\n"] {
        let content = format!(
            "{prefix}<sysmsg type=\"revokemsg\"><revokemsg><session>12345678901@chatroom</session><msgid>1</msgid><newmsgid>42</newmsgid><replacemsg><![CDATA[\"张三\" 撤回了一条消息]]></replacemsg></revokemsg></sysmsg>"
        );
        app.control("/messages", json!({"raw": {"type": 10002, "content": content, "sender": "wxid_aaa01", "roomid": "12345678901@chatroom"}})).await;
        let (_, e) = hook.next_event().await;
        assert!(
            contains(
                &e,
                &json!({"detail_type": "group_message_delete", "message_id": "42", "group_id": "12345678901@chatroom"})
            ),
            "{prefix:?}: {e}"
        );
    }
    // WeChat 3.9.12's recall: a system text that re-uses the recalled message's id.
    let m = app.control("/messages", json!({"raw": {"type": 1, "content": "oops", "sender": "wxid_aaa01"}})).await;
    hook.next_event().await;
    app.control(
        "/messages",
        json!({"raw": {"type": 10000, "id": m["id"], "content": "\"张三\" 撤回了一条消息", "sender": "wxid_aaa01"}}),
    )
    .await;
    let (_, e) = hook.next_event().await;
    assert!(
        contains(&e, &json!({"detail_type": "private_message_delete", "message_id": m["id"], "user_id": "wxid_aaa01"})),
        "{e}"
    );
}
