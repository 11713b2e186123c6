//! Contact lists and OneBot user/group queries.

use serde_json::json;

use crate::helpers::spawn_app;

#[tokio::test]
async fn lists_split_friends_groups_and_official_accounts() {
    let app = spawn_app().await;
    let friends = app.ok("get_friend_list", json!({})).await;
    let ids: Vec<&str> = friends.as_array().unwrap().iter().map(|f| f["user_id"].as_str().unwrap()).collect();
    assert_eq!(
        ids,
        ["wxid_alice", "wxid_bob", "wxid_carol", "wxid_jj4mhsji9tjk22"],
        "no self, rooms, gh_ or system accounts"
    );
    let alice = &friends[0];
    assert_eq!(alice["user_name"], "Alice");
    assert_eq!(alice["nickname"], "Alice");
    assert_eq!(alice["remark"], "Alice (work)");
    assert_eq!(alice["user_remark"], "Alice (work)");
    assert_eq!(alice["user_displayname"], "Alice (work)");
    assert_eq!(alice["_code"], "alice_w");
    assert_eq!(alice["_gender"], 2);

    let avatar = alice["avatar"].as_str().unwrap();
    assert!(avatar.starts_with("https://wx.qlogo.cn/mmhead/") && avatar.ends_with("/0"), "big head image: {avatar}");

    let mut groups = app.ok("get_group_list", json!({})).await;
    for g in groups.as_array_mut().unwrap() {
        let a = g.as_object_mut().unwrap().remove("avatar").unwrap();
        assert!(a.as_str().unwrap().starts_with("https://wx.qlogo.cn/mmhead/"), "groups carry their head image: {a}");
    }
    assert_eq!(
        groups,
        json!([
            {"group_id": "1001@chatroom", "group_name": "Team chat", "member_count": 4},
            {"group_id": "1002@chatroom", "group_name": "Family", "member_count": 2},
        ])
    );
    let gh = app.ok("get_gh_list", json!({})).await;
    assert_eq!(
        gh,
        json!([{"guild_id": "gh_news", "guild_name": "Daily News", "_code": ""}, {"guild_id": "gh_weather", "guild_name": "Weather", "_code": ""}])
    );
    assert_eq!(app.ok("get_guild_list", json!({})).await, gh);
    let (_, via_get) = app.get("/get_friend_list?echo=g").await;
    assert_eq!((via_get["data"].clone(), via_get["echo"].clone()), (friends, json!("g")));
}

#[tokio::test]
async fn user_and_group_queries() {
    let app = spawn_app().await;
    let u = app.ok("get_user_info", json!({"user_id": "wxid_bob"})).await;
    assert_eq!((u["user_id"].as_str(), u["user_name"].as_str()), (Some("wxid_bob"), Some("Bob")));
    let msg = app.fails("get_user_info", json!({"user_id": "wxid_stranger"}), 10003).await;
    assert!(msg.contains("not a contact"));
    app.fails("get_user_info", json!({}), 10003).await;

    let g = app.ok("get_group_info", json!({"group_id": "1001@chatroom"})).await;
    assert_eq!((g["group_id"].as_str(), g["group_name"].as_str()), (Some("1001@chatroom"), Some("Team chat")));
    assert!(g["avatar"].as_str().unwrap().starts_with("https://wx.qlogo.cn/"), "{g}");
    assert!(app.fails("get_group_info", json!({"group_id": "wxid_bob"}), 10003).await.contains("@chatroom"));
    app.fails("get_group_info", json!({"group_id": "999@chatroom"}), 10003).await;

    let members = app.ok("get_group_member_list", json!({"group_id": "1001@chatroom"})).await;
    let ids: Vec<&str> = members.as_array().unwrap().iter().map(|m| m["user_id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["wxid_bot", "wxid_alice", "wxid_bob", "wxid_dave"]);
    assert_eq!(members[1]["user_displayname"], "Team Alice");
    assert_eq!(members[1]["user_name"], "Alice");
    let one = app.ok("get_group_member_info", json!({"group_id": "1001@chatroom", "user_id": "wxid_dave"})).await;
    assert_eq!(one["user_displayname"], "Dave");
    assert!(
        app.fails("get_group_member_info", json!({"group_id": "1001@chatroom", "user_id": "wxid_carol"}), 10003)
            .await
            .contains("not a member")
    );
}
