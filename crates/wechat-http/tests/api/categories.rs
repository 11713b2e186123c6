//! The nine category (分组) actions, their errors, and durability across a restart.

use serde_json::json;

use crate::helpers::spawn_app;

#[tokio::test]
async fn category_lifecycle_and_errors() {
    let mut app = spawn_app().await;
    let vip = app.ok("create_group", json!({"group_name": "VIP"})).await;
    let vip_id = vip["id"].as_str().unwrap().to_owned();
    assert_eq!(vip["name"], "VIP");
    assert_eq!(vip_id.len(), 36, "a UUID");
    let msg = app.fails("create_group", json!({"group_name": "VIP"}), 10003).await;
    assert!(msg.contains("already exists"), "{msg}");
    assert!(app.fails("create_group", json!({"group_name": "  "}), 10003).await.contains("must not be empty"));
    assert!(app.fails("create_group", json!({}), 10003).await.contains("group_name"));

    assert_eq!(app.ok("get_group_id_by_name", json!({"group_name": "VIP"})).await, json!({"group_id": vip_id}));
    let (_, via_get) = app.get("/get_group_id_by_name?group_name=VIP").await;
    assert_eq!(via_get["data"]["group_id"], vip_id.as_str());
    assert!(
        app.fails("get_group_id_by_name", json!({"group_name": "nope"}), 10003).await.contains("no category named")
    );

    let friends = app.ok("create_group", json!({"group_name": "Friends"})).await;
    let friends_id = friends["id"].as_str().unwrap().to_owned();
    assert_eq!(
        app.ok("get_groups", json!({})).await,
        json!([{"id": vip_id, "name": "VIP"}, {"id": friends_id, "name": "Friends"}])
    );

    // Members are friends and chat groups of the account, typed from the contact list.
    for m in ["wxid_alice", "1001@chatroom", "wxid_bob", "wxid_carol", "1002@chatroom"] {
        app.ok("add_member_to_group", json!({"group_id": vip_id, "member_id": m})).await;
    }
    let members = app.ok("get_group_members", json!({"group_id": vip_id})).await;
    assert_eq!(
        members,
        json!([
            {"id": "wxid_alice", "type": "user"},
            {"id": "1001@chatroom", "type": "group_chat"},
            {"id": "wxid_bob", "type": "user"},
            {"id": "wxid_carol", "type": "user"},
            {"id": "1002@chatroom", "type": "group_chat"},
        ])
    );
    for stranger in ["wxid_unknown_but_valid", "custom_id1", "555@chatroom"] {
        let msg = app.fails("add_member_to_group", json!({"group_id": vip_id, "member_id": stranger}), 10003).await;
        assert!(msg.contains("not a contact of this account"), "{msg}");
    }
    assert_eq!(app.ok("get_group_members", json!({"group_name": "VIP"})).await, members);
    let (_, via_get) = app.get(&format!("/get_group_members?group_id={vip_id}")).await;
    assert_eq!(via_get["data"], members);
    assert!(
        app.fails("add_member_to_group", json!({"group_id": vip_id, "member_id": "wxid_alice"}), 10003)
            .await
            .contains("already in")
    );
    for bad in ["gh_news", "filehelper", "!!", "a b c d e f"] {
        app.fails("add_member_to_group", json!({"group_id": vip_id, "member_id": bad}), 10003).await;
    }
    assert!(
        app.fails("add_member_to_group", json!({"group_id": "no-such-id", "member_id": "wxid_alice"}), 10003)
            .await
            .contains("not found")
    );
    app.ok("add_member_to_group", json!({"group_id": friends_id, "member_id": "wxid_alice"})).await;
    assert_eq!(
        app.ok("get_member_groups", json!({"member_id": "wxid_alice"})).await,
        json!([{"id": vip_id, "name": "VIP"}, {"id": friends_id, "name": "Friends"}])
    );
    assert_eq!(app.ok("get_member_groups", json!({"member_id": "wxid_nobody"})).await, json!([]));

    app.ok("remove_member_from_group", json!({"group_id": vip_id, "member_id": "wxid_carol"})).await;
    assert!(
        app.fails("remove_member_from_group", json!({"group_id": vip_id, "member_id": "wxid_carol"}), 10003)
            .await
            .contains("not in")
    );

    app.ok("rename_group", json!({"group_id": vip_id, "new_name": "VIP"})).await; // same name: no-op
    assert!(
        app.fails("rename_group", json!({"group_id": vip_id, "new_name": "Friends"}), 10003)
            .await
            .contains("already exists")
    );
    app.ok("rename_group", json!({"group_id": vip_id, "new_name": "Gold"})).await;
    app.fails("rename_group", json!({"group_id": "no-such-id", "new_name": "X"}), 10003).await;
    app.fails("rename_group", json!({"group_id": vip_id}), 10003).await;
    for invisible in ["V\u{200B}IP", "Gold\u{202E}", "a\u{0007}b", "\u{FEFF}x"] {
        let msg = app.fails("create_group", json!({"group_name": invisible}), 10003).await;
        assert!(msg.contains("invisible character"), "{msg}");
        app.fails("rename_group", json!({"group_id": vip_id, "new_name": invisible}), 10003).await;
    }

    // Everything acknowledged survives a restart.
    app.restart().await;
    assert_eq!(
        app.ok("get_groups", json!({})).await,
        json!([{"id": vip_id, "name": "Gold"}, {"id": friends_id, "name": "Friends"}])
    );
    assert_eq!(app.ok("get_group_members", json!({"group_id": vip_id})).await.as_array().unwrap().len(), 4);

    // Deleting removes memberships; by id or by name.
    app.ok("delete_group", json!({"group_name": "Gold"})).await;
    assert_eq!(
        app.ok("get_member_groups", json!({"member_id": "wxid_alice"})).await,
        json!([{"id": friends_id, "name": "Friends"}])
    );
    app.ok("delete_group", json!({"group_id": friends_id})).await;
    app.fails("delete_group", json!({"group_id": friends_id}), 10003).await;
    assert!(app.fails("delete_group", json!({}), 10003).await.contains("group_id"));
    assert_eq!(app.ok("get_groups", json!({})).await, json!([]));
}

#[tokio::test]
async fn id_patterns_decide_only_while_wechat_was_never_reachable() {
    // A gateway whose WeChat is not there (and never was): patterns are all it has.
    let dir = tempfile::tempdir().unwrap();
    let mut config = crate::helpers::test_config(dir.path(), "tcp://127.0.0.1:9");
    config.wcf.call_timeout_ms = 300;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let running = wechat_http::start(config, listener).await.unwrap();
    let base = format!("http://{}", running.addr());
    let http = reqwest::Client::new();
    let call = |action: &'static str, params: serde_json::Value| {
        let (http, url) = (http.clone(), format!("{base}/{action}"));
        async move {
            http.post(url)
                .bearer_auth(crate::helpers::TOKEN)
                .json(&json!({ "params": params }))
                .send()
                .await
                .unwrap()
                .json::<serde_json::Value>()
                .await
                .unwrap()
        }
    };
    let id = call("create_group", json!({"group_name": "offline"})).await["data"]["id"].as_str().unwrap().to_owned();
    for ok in ["wxid_someone", "custom_id1", "555@chatroom"] {
        assert_eq!(call("add_member_to_group", json!({"group_id": id, "member_id": ok})).await["retcode"], 0, "{ok}");
    }
    for bad in ["!!", "a b", "gh_news"] {
        assert_eq!(
            call("add_member_to_group", json!({"group_id": id, "member_id": bad})).await["retcode"],
            10003,
            "{bad}"
        );
    }
    running.shutdown().await;
}
