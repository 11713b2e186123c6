//! `send_message` in all its forms, checked where the sends land: the emulator's sent log.

use serde_json::{Value, json};

use crate::helpers::{PNG, file_server, spawn_app};

fn funcs(sent: &[Value]) -> Vec<(String, String)> {
    sent.iter().map(|s| (s["func"].as_str().unwrap().to_owned(), s["receiver"].as_str().unwrap().to_owned())).collect()
}

#[tokio::test]
async fn v1_text_and_image_by_host_path() {
    let app = spawn_app().await;
    let data = app
        .ok(
            "send_message",
            json!({"detail_type": "private", "send_id": "wxid_alice", "msg_type": 0, "message": "hello"}),
        )
        .await;
    assert!(data["time"].as_f64().unwrap() > 1.7e9);
    assert_eq!(data["message_id"].as_str().unwrap().len(), 32);
    app.ok(
        "send_message",
        json!({"detail_type": "group", "send_id": "1001@chatroom", "msg_type": 0, "message": "hi all"}),
    )
    .await;

    let img = app.path("photo.png");
    std::fs::write(&img, PNG).unwrap();
    for msg_type in [1, 2] {
        app.ok("send_message", json!({"detail_type": "private", "send_id": "wxid_bob", "msg_type": msg_type, "message": img.to_str().unwrap()}))
            .await;
    }
    let sent = app.sent().await;
    assert_eq!(
        funcs(&sent),
        [
            ("send_text".into(), "wxid_alice".into()),
            ("send_text".into(), "1001@chatroom".into()),
            ("send_image".into(), "wxid_bob".into()),
            ("send_image".into(), "wxid_bob".into())
        ]
    );
    assert_eq!(sent[0]["text"], "hello");
    assert_eq!(sent[2]["path"], img.to_str().unwrap());

    let msg = app
        .fails(
            "send_message",
            json!({"detail_type": "private", "send_id": "wxid_bob", "msg_type": 2, "message": "C:\\nope\\missing.png"}),
            34002,
        )
        .await;
    assert!(msg.contains("C:\\nope\\missing.png") && msg.contains("WeChat host"), "{msg}");
    let msg = app
        .fails(
            "send_message",
            json!({"detail_type": "private", "send_id": "wxid_bob", "msg_type": 7, "message": "x"}),
            10003,
        )
        .await;
    assert!(msg.contains("0 (text)") && msg.contains("1/2 (image"), "{msg}");
    app.fails(
        "send_message",
        json!({"detail_type": "private", "send_id": "wxid_bob", "msg_type": "x", "message": "x"}),
        10003,
    )
    .await;
    assert_eq!(app.sent().await.len(), 4, "failed sends send nothing");
}

#[tokio::test]
async fn images_and_files_from_urls() {
    let app = spawn_app().await;
    let files = file_server().await;
    app.ok("send_message", json!({"detail_type": "private", "send_id": "wxid_alice", "msg_type": 2, "message": format!("{files}/image.png")}))
        .await;
    app.ok(
        "send_message",
        json!({"detail_type": "private", "user_id": "wxid_alice", "message": [{"type": "file", "data": {"url": format!("{files}/report.pdf")}}]}),
    )
    .await;
    let sent = app.sent().await;
    let img_path = sent[0]["path"].as_str().unwrap();
    assert_eq!(std::fs::read(img_path).unwrap(), PNG, "the staged file WeChat was given holds the downloaded bytes");
    assert!(img_path.starts_with(app.path("staging").to_str().unwrap()));
    let file_path = sent[1]["path"].as_str().unwrap();
    assert!(file_path.ends_with("report.pdf"), "{file_path}");
    assert_eq!(sent[1]["func"], "send_file");

    let cases = [
        ("/big.png", 33002, "larger than"),
        ("/slow.png", 33002, "timed out"),
        ("/missing", 33002, "404"),
        ("/notes.txt", 10006, "not an image"),
    ];
    for (path, code, needle) in cases {
        let msg = app
            .fails("send_message", json!({"detail_type": "private", "send_id": "wxid_alice", "msg_type": 2, "message": format!("{files}{path}")}), code)
            .await;
        assert!(msg.contains(needle), "{path}: {msg}");
    }
    let msg = app
        .fails("send_message", json!({"detail_type": "private", "user_id": "wxid_alice", "message": [{"type": "image", "data": {"url": "ftp://x/y.png"}}]}), 10003)
        .await;
    assert!(msg.contains("http(s)"));
    assert_eq!(app.sent().await.len(), 2, "nothing sent for the failures");
}

#[tokio::test]
async fn segments_mentions_and_order() {
    let app = spawn_app().await;
    let img = app.path("seg.png");
    std::fs::write(&img, PNG).unwrap();
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD.encode(PNG);
    app.ok(
        "send_message",
        json!({
            "detail_type": "group",
            "group_id": "1001@chatroom",
            "message": [
                {"type": "text", "data": {"text": "hi "}},
                {"type": "mention", "data": {"user_id": "wxid_alice"}},
                {"type": "text", "data": {"text": "and "}},
                {"type": "mention_all", "data": {}},
                {"type": "image", "data": {"path": img.to_str().unwrap()}},
                {"type": "text", "data": {"text": "after the image"}},
                {"type": "image", "data": {"data": b64}},
            ]
        }),
    )
    .await;
    let sent = app.sent().await;
    let kinds: Vec<&str> = sent.iter().map(|s| s["func"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["send_text", "send_image", "send_text", "send_image"], "as few sends as possible, in order");
    assert_eq!(sent[0]["text"], "hi @Team Alice\u{2005}and @所有人\u{2005}");
    assert_eq!(sent[0]["aters"], json!(["wxid_alice", "notify@all"]));
    assert_eq!(sent[2]["text"], "after the image");
    assert_eq!(std::fs::read(sent[3]["path"].as_str().unwrap()).unwrap(), PNG);

    // A plain string is one text segment; the GET form works too.
    app.ok("send_message", json!({"message_type": "private", "user_id": "wxid_bob", "message": "plain"})).await;
    let (_, r) = app.get("/send_message?detail_type=private&user_id=wxid_bob&message=via%20get&echo=g").await;
    assert_eq!((r["retcode"].as_i64(), r["echo"].as_str()), (Some(0), Some("g")));
    let sent = app.sent().await;
    assert_eq!((sent[4]["text"].as_str(), sent[5]["text"].as_str()), (Some("plain"), Some("via get")));

    let bad = |message: Value| json!({"detail_type": "group", "group_id": "1001@chatroom", "message": message});
    assert!(
        app.fails("send_message", bad(json!([{"type": "reply", "data": {"message_id": "1"}}])), 10005)
            .await
            .contains("quote")
    );
    assert!(
        app.fails("send_message", bad(json!([{"type": "location", "data": {}}])), 10005).await.contains("location")
    );
    assert!(app.fails("send_message", bad(json!([{"type": "text", "data": {}}])), 10006).await.contains("data.text"));
    assert!(app.fails("send_message", bad(json!([{"type": "image", "data": {}}])), 10006).await.contains("data.url"));
    assert!(
        app.fails("send_message", bad(json!([{"type": "image", "data": {"data": "%%%"}}])), 10006)
            .await
            .contains("base64")
    );
    assert!(app.fails("send_message", bad(json!([])), 10003).await.contains("no segments"));
    assert!(app.fails("send_message", bad(json!(42)), 10003).await.contains("string or a list"));
    app.fails(
        "send_message",
        json!({"detail_type": "private", "user_id": "wxid_bob", "message": [{"type": "mention_all", "data": {}}]}),
        10006,
    )
    .await;
    assert!(
        app.fails("send_message", json!({"detail_type": "group", "group_id": "wxid_bob", "message": "x"}), 10003)
            .await
            .contains("@chatroom")
    );
    assert!(
        app.fails("send_message", json!({"detail_type": "private", "user_id": "1001@chatroom", "message": "x"}), 10003)
            .await
            .contains("chat group")
    );
    assert!(
        app.fails("send_message", json!({"detail_type": "channel", "user_id": "wxid_bob", "message": "x"}), 10003)
            .await
            .contains("private or group")
    );
    assert!(
        app.fails("send_message", json!({"detail_type": "private", "message": "x"}), 10003).await.contains("receiver")
    );
    assert!(
        app.fails("send_message", json!({"detail_type": "private", "user_id": "wxid_bob"}), 10003)
            .await
            .contains("`message`")
    );
    assert_eq!(app.sent().await.len(), 6, "no failed request sent anything");
}

#[tokio::test]
async fn broadcast_to_categories_reaches_each_receiver_once() {
    let app = spawn_app().await;
    let mut ids = Vec::new();
    for (name, members) in [
        ("A", vec!["wxid_alice", "wxid_bob"]),
        ("B", vec!["wxid_bob", "1001@chatroom"]),
        ("C", vec!["1001@chatroom", "wxid_alice", "wxid_carol"]),
    ] {
        let id = app.ok("create_group", json!({"group_name": name})).await["id"].as_str().unwrap().to_owned();
        for m in members {
            app.ok("add_member_to_group", json!({"group_id": id, "member_id": m})).await;
        }
        ids.push(id);
    }
    let data = app.ok("send_message", json!({"group_ids": ids, "message": "news"})).await;
    assert_eq!((data["sent"].as_u64(), data["failed"].clone()), (Some(4), json!([])));
    let mut receivers: Vec<String> =
        app.sent().await.iter().map(|s| s["receiver"].as_str().unwrap().to_owned()).collect();
    receivers.sort();
    assert_eq!(receivers, ["1001@chatroom", "wxid_alice", "wxid_bob", "wxid_carol"]);
    assert!(app.fails("send_message", json!({"group_ids": [], "message": "x"}), 10003).await.contains("empty"));
    assert!(
        app.fails("send_message", json!({"group_ids": ["nope"], "message": "x"}), 10003).await.contains("not found")
    );
}
