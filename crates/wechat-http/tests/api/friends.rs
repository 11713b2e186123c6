//! `handle_friend_request` against requests injected at the emulator.

use std::time::Duration;

use serde_json::json;

use crate::helpers::{spawn_app, within};

#[tokio::test]
async fn approve_reject_and_errors() {
    let app = spawn_app().await;
    let t = app
        .control(
            "/friend_requests",
            json!({"wxid": "wxid_newbie", "nickname": "Newbie", "greeting": "hi", "scene": 14}),
        )
        .await;
    let flag = t["v4"].as_str().unwrap().to_owned();
    // The gateway remembers the request from the push, so `flag` alone is enough.
    within("request stored", async {
        loop {
            let (_, r) = app.action("handle_friend_request", json!({"flag": flag, "approve": true})).await;
            if r["retcode"] == 0 {
                break;
            }
            assert_eq!(r["retcode"], 10003, "{r}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    let u = app.ok("get_user_info", json!({"user_id": "wxid_newbie"})).await;
    assert_eq!(u["user_name"], "Newbie");
    assert!(
        app.fails("handle_friend_request", json!({"flag": flag, "approve": true}), 10003)
            .await
            .contains("already approved")
    );

    // Reject: recorded, nothing sent to WeChat.
    let t2 = app.control("/friend_requests", json!({"wxid": "wxid_spam", "nickname": "Spam", "greeting": "buy"})).await;
    app.ok(
        "handle_friend_request",
        json!({"flag": t2["v4"], "ticket_v3": t2["v3"], "scene": t2["scene"], "approve": false, "remark": "spam"}),
    )
    .await;
    app.fails("get_user_info", json!({"user_id": "wxid_spam"}), 10003).await;

    // Explicit tickets that WeChat does not know: WeChat refuses.
    let msg = app
        .fails(
            "handle_friend_request",
            json!({"flag": "v4_bogus", "ticket_v3": "v3_bogus", "scene": 30, "approve": "true"}),
            34002,
        )
        .await;
    assert!(msg.contains("refused"), "{msg}");
    assert!(app.fails("handle_friend_request", json!({"flag": "v4_unknown"}), 10003).await.contains("ticket_v3"));
    app.fails("handle_friend_request", json!({}), 10003).await;
    app.fails("handle_friend_request", json!({"flag": "v4_x", "ticket_v3": "v3", "scene": "x"}), 10003).await;
    app.fails(
        "handle_friend_request",
        json!({"flag": "v4_x", "ticket_v3": "v3", "scene": 1, "approve": "maybe"}),
        10003,
    )
    .await;
}
