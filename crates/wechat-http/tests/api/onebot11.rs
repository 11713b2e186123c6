//! OneBot 11 beside OneBot 12: the HTTP API, the forward WebSocket, HTTP POST with quick
//! operations, reverse WebSocket headers, numeric ids (stable across a SIGKILL), signed links.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message as WsMessage;

use crate::helpers::*;

impl TestApp {
    /// `POST /onebot/v11/<action>` with a JSON body: (HTTP status, body).
    async fn v11(&self, action: &str, params: Value) -> (u16, Value) {
        let r = self
            .http
            .post(format!("{}/onebot/v11/{action}", self.base))
            .bearer_auth(TOKEN)
            .json(&params)
            .send()
            .await
            .unwrap();
        (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
    }

    async fn v11_ok(&self, action: &str, params: Value) -> Value {
        let (status, r) = self.v11(action, params.clone()).await;
        assert_eq!(
            (status, r["status"].as_str(), r["retcode"].as_i64()),
            (200, Some("ok"), Some(0)),
            "{action} {params}: {r}"
        );
        r["data"].clone()
    }

    async fn v11_fails(&self, action: &str, params: Value, retcode: i64) -> String {
        let (_, r) = self.v11(action, params.clone()).await;
        assert_eq!(
            (r["status"].as_str(), r["retcode"].as_i64()),
            (Some("failed"), Some(retcode)),
            "{action} {params}: {r}"
        );
        assert_eq!(r["message"], r["wording"]);
        r["message"].as_str().unwrap().to_owned()
    }
}

async fn ws(
    app: &TestApp,
    path: &str,
) -> tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>> {
    let url = format!("ws://{}{path}", app.base.trim_start_matches("http://"));
    let mut req = tokio_tungstenite::tungstenite::client::IntoClientRequest::into_client_request(url).unwrap();
    req.headers_mut().insert("authorization", format!("Bearer {TOKEN}").parse().unwrap());
    tokio_tungstenite::connect_async(req).await.unwrap().0
}

async fn next_json<S>(ws: &mut S, what: &str) -> Value
where
    S: futures_util::Stream<Item = Result<WsMessage, tokio_tungstenite::tungstenite::Error>> + Unpin,
{
    within(what, async {
        loop {
            if let WsMessage::Text(t) = ws.next().await.unwrap().unwrap() {
                break serde_json::from_str::<Value>(&t).unwrap();
            }
        }
    })
    .await
}

/// The next frame that is an event (`post_type`) other than a heartbeat.
async fn next_event<S>(ws: &mut S) -> Value
where
    S: futures_util::Stream<Item = Result<WsMessage, tokio_tungstenite::tungstenite::Error>> + Unpin,
{
    loop {
        let v = next_json(ws, "a OneBot 11 event").await;
        if v.get("post_type").is_some() && v["meta_event_type"] != "heartbeat" {
            return v;
        }
    }
}

#[tokio::test]
async fn http_api_speaks_onebot_11_with_numeric_ids() {
    let app = spawn_app().await;
    let me = app.v11_ok("get_login_info", json!({})).await;
    assert!(me["user_id"].as_i64().unwrap() >= 10_000_001, "{me}");
    assert_eq!((me["nickname"].as_str(), me["wx_id"].as_str()), (Some("Demo Bot"), Some("wxid_bot")));
    let friends = app.v11_ok("get_friend_list", json!({})).await;
    let alice = friends.as_array().unwrap().iter().find(|f| f["wx_id"] == "wxid_alice").unwrap().clone();
    let alice_id = alice["user_id"].as_i64().unwrap();
    assert_eq!(alice["nickname"], "Alice");
    let again = app.v11_ok("get_stranger_info", json!({"user_id": alice_id})).await;
    assert_eq!(
        (again["user_id"].as_i64(), again["sex"].as_str(), again["wx_id"].as_str()),
        (Some(alice_id), Some("female"), Some("wxid_alice"))
    );
    let groups = app.v11_ok("get_group_list", json!({})).await;
    let team = groups.as_array().unwrap().iter().find(|g| g["wx_id"] == "1001@chatroom").unwrap()["group_id"]
        .as_i64()
        .unwrap();
    let info = app.v11_ok("get_group_info", json!({"group_id": team})).await;
    assert_eq!((info["group_name"].as_str(), info["member_count"].as_i64()), (Some("Team chat"), Some(4)));
    let members = app.v11_ok("get_group_member_list", json!({"group_id": team})).await;
    let a = members.as_array().unwrap().iter().find(|m| m["wx_id"] == "wxid_alice").unwrap();
    assert_eq!(
        (a["user_id"].as_i64(), a["card"].as_str(), a["group_id"].as_i64()),
        (Some(alice_id), Some("Team Alice"), Some(team))
    );
    let one = app.v11_ok("get_group_member_info", json!({"group_id": team, "user_id": alice_id})).await;
    assert_eq!(one["nickname"], "Alice");

    // Sending: a CQ string with an @, a WeChat emoticon and an image as base64.
    let png = base64::Engine::encode(&base64::engine::general_purpose::STANDARD, PNG);
    let r = app
        .v11_ok("send_group_msg", json!({"group_id": team, "message": format!("[CQ:at,qq={alice_id}] hi [CQ:face,id=0][CQ:image,file=base64://{png}]")}))
        .await;
    let msg_id = r["message_id"].as_i64().unwrap();
    assert!(msg_id > 0 && msg_id <= i32::MAX as i64);
    let sent = app.sent().await;
    assert_eq!(sent[0]["func"], "send_text");
    assert_eq!(
        (sent[0]["text"].as_str(), sent[0]["aters"].clone()),
        (Some("@Team Alice\u{2005} hi [微笑]"), json!(["wxid_alice"]))
    );
    assert_eq!(sent[1]["func"], "send_image");
    // The same as segments, to a friend; a reply segment is dropped (WeChat cannot quote).
    app.v11_ok("send_msg", json!({"user_id": alice_id, "message": [{"type": "reply", "data": {"id": msg_id}}, {"type": "text", "data": {"text": "ok"}}]})).await;
    assert_eq!(app.sent().await.last().unwrap()["text"], "ok");
    // auto_escape sends CQ codes as text; form bodies and GET work as go-cqhttp's do.
    app.v11_ok("send_private_msg", json!({"user_id": alice_id, "message": "[CQ:face,id=0]", "auto_escape": true}))
        .await;
    assert_eq!(app.sent().await.last().unwrap()["text"], "[CQ:face,id=0]");
    let form = app
        .http
        .post(format!("{}/onebot/v11/send_private_msg", app.base))
        .bearer_auth(TOKEN)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("user_id={alice_id}&message=via%20form"))
        .send()
        .await
        .unwrap();
    assert_eq!(form.json::<Value>().await.unwrap()["status"], "ok");
    assert_eq!(app.sent().await.last().unwrap()["text"], "via form");
    let get =
        app.http.get(format!("{}/onebot/v11/get_version_info", app.base)).bearer_auth(TOKEN).send().await.unwrap();
    assert_eq!(get.json::<Value>().await.unwrap()["data"]["protocol_version"], "v11");
    // Recall what we sent.
    app.v11_ok("delete_msg", json!({"message_id": msg_id})).await;
    assert!(app.sent().await.iter().any(|s| s["func"] == "revoke"));

    // Errors: retcodes as OneBot 11 has them, messages that say what to fix.
    let (status, r) = app.v11("set_group_ban", json!({})).await;
    assert_eq!((status, r["retcode"].as_i64()), (404, Some(1404)), "{r}");
    assert!(r["message"].as_str().unwrap().contains("no equivalent on WeChat"));
    let (status, r) = app.v11("no_such_action", json!({})).await;
    assert_eq!((status, r["retcode"].as_i64()), (404, Some(1404)));
    assert!(
        app.v11_fails("send_private_msg", json!({"user_id": 99, "message": "x"}), 100)
            .await
            .contains("not an id this gateway handed out")
    );
    assert!(app.v11_fails("send_private_msg", json!({"user_id": alice_id}), 100).await.contains("message"));
    assert!(
        app.v11_fails(
            "send_private_msg",
            json!({"user_id": alice_id, "message": [{"type": "record", "data": {"file": "x"}}]}),
            100
        )
        .await
        .contains("voice")
    );
    assert!(
        app.v11_fails("send_private_msg", json!({"user_id": alice_id, "message": "[CQ:face,id=9999]"}), 100)
            .await
            .contains("emoticons")
    );
    assert!(app.v11_fails("delete_msg", json!({"message_id": 123456}), 100).await.contains("handed out"));
    let (status, _) = {
        let r = app
            .http
            .post(format!("{}/onebot/v11/get_status", app.base))
            .bearer_auth(TOKEN)
            .header("content-type", "text/plain")
            .body("x")
            .send()
            .await
            .unwrap();
        (r.status().as_u16(), ())
    };
    assert_eq!(status, 406);
    // The same guard as every route: no token, a browser.
    let r = app.http.post(format!("{}/onebot/v11/get_status", app.base)).json(&json!({})).send().await.unwrap();
    assert_eq!(r.status(), 401);
    let r = app
        .http
        .post(format!("{}/onebot/v11/get_status", app.base))
        .bearer_auth(TOKEN)
        .header("origin", "https://evil.example")
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    assert_eq!(app.v11_ok("can_send_record", json!({})).await["yes"], false);
}

#[tokio::test]
async fn forward_websocket_carries_events_and_actions() {
    let app = spawn_app().await;
    let mut socket = ws(&app, "/onebot/v11/ws").await;
    let life = next_json(&mut socket, "lifecycle").await;
    assert_eq!(
        (life["post_type"].as_str(), life["meta_event_type"].as_str(), life["sub_type"].as_str()),
        (Some("meta_event"), Some("lifecycle"), Some("connect"))
    );
    let self_id = life["self_id"].as_i64().unwrap();
    let w = app.emu.wechat();
    w.inject(&wcf_emulator::InboundMessage {
        from: "wxid_alice".into(),
        room: Some("1001@chatroom".into()),
        text: Some("hi [微笑] & more".into()),
        at: vec!["wxid_bot".into()],
        ..Default::default()
    })
    .unwrap();
    let e = next_event(&mut socket).await;
    assert_eq!(
        (e["post_type"].as_str(), e["message_type"].as_str(), e["sub_type"].as_str()),
        (Some("message"), Some("group"), Some("normal")),
        "{e}"
    );
    assert_eq!(e["self_id"].as_i64(), Some(self_id));
    assert!(e["message_id"].as_i64().unwrap() > 0 && e["user_id"].is_i64() && e["group_id"].is_i64());
    assert_eq!((e["user_wx_id"].as_str(), e["group_wx_id"].as_str()), (Some("wxid_alice"), Some("1001@chatroom")));
    assert_eq!(e["message"][0], json!({"type": "at", "data": {"qq": self_id.to_string(), "wx_id": "wxid_bot"}}), "{e}");
    assert_eq!(e["message"][2]["type"], "face");
    assert_eq!(
        e["raw_message"],
        format!("[CQ:at,qq={self_id},wx_id=wxid_bot]hi [CQ:face,id=0,wx_name=微笑] &amp; more")
    );
    assert_eq!(
        (e["sender"]["user_id"].as_i64(), e["sender"]["wx_id"].as_str()),
        (e["user_id"].as_i64(), Some("wxid_alice"))
    );
    let alice = e["user_id"].as_i64().unwrap();
    // An action over the same socket, with echo.
    socket
        .send(WsMessage::Text(
            json!({"action": "send_private_msg", "params": {"user_id": alice, "message": "pong"}, "echo": {"n": 1}})
                .to_string()
                .into(),
        ))
        .await
        .unwrap();
    let rsp = loop {
        let v = next_json(&mut socket, "the answer").await;
        if v.get("echo").is_some() {
            break v;
        }
    };
    assert_eq!((rsp["status"].as_str(), rsp["echo"].clone()), (Some("ok"), json!({"n": 1})), "{rsp}");
    assert_eq!(app.sent().await.last().unwrap()["text"], "pong");
    socket.send(WsMessage::Text("not json".into())).await.unwrap();
    let bad = next_json(&mut socket, "the answer to garbage").await;
    assert_eq!(bad["retcode"], 1400);

    // Notices and requests in their OneBot 11 shapes.
    w.inject(&wcf_emulator::InboundMessage {
        from: "wxid_alice".into(),
        room: Some("1001@chatroom".into()),
        kind: Some("pat".into()),
        ..Default::default()
    })
    .unwrap();
    let poke = next_event(&mut socket).await;
    assert_eq!(
        (poke["notice_type"].as_str(), poke["sub_type"].as_str(), poke["user_id"].as_i64(), poke["target_id"].as_i64()),
        (Some("notify"), Some("poke"), Some(alice), Some(self_id)),
        "{poke}"
    );
    w.friend_request(&wcf_emulator::InboundFriendRequest {
        wxid: "wxid_new".into(),
        nickname: "Newbie".into(),
        greeting: "hello".into(),
        scene: Some(14),
    })
    .unwrap();
    let req = next_event(&mut socket).await;
    assert_eq!(
        (req["post_type"].as_str(), req["request_type"].as_str(), req["comment"].as_str()),
        (Some("request"), Some("friend"), Some("hello")),
        "{req}"
    );
    let (_, r) = app.v11("set_friend_add_request", json!({"flag": req["flag"], "approve": true})).await;
    assert_eq!(r["status"], "ok", "{r}");
    let added = next_event(&mut socket).await;
    assert_eq!(
        (added["notice_type"].as_str(), added["user_id"].as_i64()),
        (Some("friend_add"), req["user_id"].as_i64()),
        "{added}"
    );
    // A message quoting another: reply with the quoted message's number.
    let quoted = e["wx_message_id"].as_str().unwrap().to_owned();
    app.control("/messages", json!({"from": "wxid_bob", "type": "quote", "quoted_id": quoted, "text": "yes"})).await;
    let q = next_event(&mut socket).await;
    assert_eq!(
        q["message"][0],
        json!({"type": "reply", "data": {"id": e["message_id"].to_string(), "wx_message_id": quoted}}),
        "{q}"
    );
    // get_msg answers it from WeChat's database.
    let got = app.v11_ok("get_msg", json!({"message_id": e["message_id"]})).await;
    assert_eq!(
        (got["message_id"].clone(), got["message_type"].as_str()),
        (e["message_id"].clone(), Some("group")),
        "{got}"
    );
}

#[tokio::test]
async fn an_image_link_works_without_the_token_and_only_for_its_file() {
    let app = spawn_app().await;
    let mut socket = ws(&app, "/onebot/v11/ws/event").await;
    next_json(&mut socket, "lifecycle").await;
    app.emu
        .wechat()
        .inject(&wcf_emulator::InboundMessage {
            from: "wxid_bob".into(),
            kind: Some("image".into()),
            ..Default::default()
        })
        .unwrap();
    let e = next_event(&mut socket).await;
    let url = e["message"][0]["data"]["url"].as_str().unwrap().to_owned();
    assert!(url.contains("sig=") && !url.contains(TOKEN), "{url}");
    let plain = reqwest::get(&url).await.unwrap();
    assert_eq!(plain.status(), 200, "a framework fetches it as it is");
    assert_eq!(plain.bytes().await.unwrap().as_ref(), PNG);
    let tampered = url.replace("sig=", "sig=0");
    assert_eq!(reqwest::get(&tampered).await.unwrap().status(), 401);
    let other = url.replacen("/chat_image/", "/chat_image/x", 1);
    assert_eq!(reqwest::get(&other).await.unwrap().status(), 401, "the signature is for that path only");
    // An /event socket takes no actions.
    socket.send(WsMessage::Text(json!({"action": "get_status", "echo": 1}).to_string().into())).await.unwrap();
    app.emu
        .wechat()
        .inject(&wcf_emulator::InboundMessage {
            from: "wxid_bob".into(),
            text: Some("after".into()),
            ..Default::default()
        })
        .unwrap();
    let next = next_json(&mut socket, "the next frame").await;
    assert!(next.get("echo").is_none() && next["raw_message"] == "after", "{next}");
}

#[tokio::test]
async fn http_post_signs_and_runs_quick_operations() {
    let mut hook = webhook().await;
    let url = hook.url.clone();
    let app = spawn_with(|c| {
        c.onebot11.http_post = vec![wechat_http::config::OneBot11HttpPost {
            url,
            secret: wechat_http::secret::Secret::new("s3"),
            ..Default::default()
        }];
        c.onebot11.message_format = wechat_http::config::MessageFormat::String;
    })
    .await;
    *hook.reply.lock().unwrap() = Some(json!({"reply": "hello back", "at_sender": true}));
    app.emu
        .wechat()
        .inject(&wcf_emulator::InboundMessage {
            from: "wxid_alice".into(),
            room: Some("1001@chatroom".into()),
            text: Some("hi".into()),
            ..Default::default()
        })
        .unwrap();
    let (headers, e) = loop {
        let (h, v) = hook.next_event().await;
        if v["post_type"] == "message" {
            break (h, v);
        }
    };
    assert_eq!(e["message"], "hi", "message_format: string gives the CQ string");
    let body = hook
        .raw
        .lock()
        .unwrap()
        .iter()
        .find(|b| String::from_utf8_lossy(b).contains("\"post_type\":\"message\""))
        .unwrap()
        .clone();
    let (sig, _) = wechat_http::delivery::webhook::signatures("s3", &body);
    assert_eq!(headers.get("x-signature").unwrap().to_str().unwrap(), sig);
    assert_eq!(headers.get("x-self-id").unwrap().to_str().unwrap(), e["self_id"].to_string());
    assert!(headers.get("authorization").is_none() && headers.get("x-onebot-version").is_none());
    let sent = within("the quick reply", async {
        loop {
            if let Some(s) = app.sent().await.into_iter().find(|s| s["func"] == "send_text") {
                break s;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await;
    assert_eq!(
        (sent["receiver"].as_str(), sent["text"].as_str()),
        (Some("1001@chatroom"), Some("@Team Alice\u{2005} hello back"))
    );
    assert_eq!(sent["aters"], json!(["wxid_alice"]));
    // A friend request approved by the reply.
    *hook.reply.lock().unwrap() = Some(json!({"approve": true}));
    app.emu
        .wechat()
        .friend_request(&wcf_emulator::InboundFriendRequest {
            wxid: "wxid_q".into(),
            nickname: "Q".into(),
            greeting: "hi".into(),
            scene: None,
        })
        .unwrap();
    within("the request approved", async {
        while app.action("get_user_info", json!({"user_id": "wxid_q"})).await.1["status"] != "ok" {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await;
}

#[tokio::test]
async fn reverse_websocket_connects_per_account_with_go_cqhttp_headers() {
    use axum::extract::ws::WebSocketUpgrade;
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<(axum::http::HeaderMap, Value)>();
    let server = axum::Router::new().route(
        "/ws",
        axum::routing::get(move |headers: axum::http::HeaderMap, up: WebSocketUpgrade| {
            let tx = tx.clone();
            async move {
                up.on_upgrade(move |mut s| async move {
                    while let Some(Ok(axum::extract::ws::Message::Text(t))) = s.recv().await {
                        let _ = tx.send((headers.clone(), serde_json::from_str(&t).unwrap()));
                    }
                })
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, server).await.unwrap() });
    let app = spawn_with(|c| {
        c.onebot11.ws_reverse = vec![wechat_http::config::WebsocketReverse {
            url: format!("ws://{addr}/ws"),
            access_token: wechat_http::secret::Secret::new("rt"),
            reconnect_interval: 100,
            ..Default::default()
        }];
    })
    .await;
    let (headers, life) = within("the reverse connection", rx.recv()).await.unwrap();
    assert_eq!(life["meta_event_type"], "lifecycle");
    assert_eq!(headers.get("x-self-id").unwrap().to_str().unwrap(), life["self_id"].to_string());
    assert_eq!(headers.get("x-client-role").unwrap(), "Universal");
    assert_eq!(headers.get("authorization").unwrap(), "Bearer rt");
    assert!(headers.get("sec-websocket-protocol").is_none());
    app.emu
        .wechat()
        .inject(&wcf_emulator::InboundMessage {
            from: "wxid_bob".into(),
            text: Some("over reverse".into()),
            ..Default::default()
        })
        .unwrap();
    let e = within("an event over the reverse socket", async {
        loop {
            let (_, v) = rx.recv().await.unwrap();
            if v["post_type"] == "message" {
                break v;
            }
        }
    })
    .await;
    assert_eq!(e["raw_message"], "over reverse");
}

#[tokio::test]
async fn numeric_ids_survive_a_sigkill_and_are_never_reused() {
    let setup = binary_setup(Duration::from_secs(5), "").await;
    let call = |action: &'static str, params: Value| {
        let (http, base) = (setup.http.clone(), setup.base.clone());
        async move {
            loop {
                match http.post(format!("{base}/onebot/v11/{action}")).bearer_auth("k").json(&params).send().await {
                    Ok(r) => break r.json::<Value>().await.unwrap(),
                    Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
                }
            }
        }
    };
    let mut child = setup.start().await;
    let before = call("get_friend_list", json!({})).await["data"].clone();
    let ids = |list: &Value| -> Vec<(String, i64)> {
        list.as_array()
            .unwrap()
            .iter()
            .map(|f| (f["wx_id"].as_str().unwrap().to_owned(), f["user_id"].as_i64().unwrap()))
            .collect()
    };
    child.kill().await.unwrap();
    let mut child = setup.start().await;
    let after = call("get_friend_list", json!({})).await["data"].clone();
    assert_eq!(ids(&before), ids(&after), "the same numbers after a SIGKILL");
    let groups = call("get_group_list", json!({})).await["data"].clone();
    let highest_friend = ids(&after).iter().map(|(_, n)| *n).max().unwrap();
    for g in groups.as_array().unwrap() {
        assert!(g["group_id"].as_i64().unwrap() != highest_friend);
    }
    let all: std::collections::HashSet<i64> = ids(&after)
        .iter()
        .map(|(_, n)| *n)
        .chain(groups.as_array().unwrap().iter().map(|g| g["group_id"].as_i64().unwrap()))
        .collect();
    assert_eq!(all.len(), ids(&after).len() + groups.as_array().unwrap().len(), "no number stands for two ids");
    child.kill().await.unwrap();
}
