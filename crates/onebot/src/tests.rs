//! Golden JSON round trips: each type parses from the spec's JSON and prints it back.

use serde_json::{Value, json};

use crate::segment::alt_message;
use crate::{Action, BotSelf, Event, Resp, Segment, retcode};

fn round_trip<T: serde::Serialize + serde::de::DeserializeOwned + PartialEq + std::fmt::Debug>(golden: Value) -> T {
    let parsed: T = serde_json::from_value(golden.clone()).unwrap();
    assert_eq!(serde_json::to_value(&parsed).unwrap(), golden);
    parsed
}

#[test]
fn action_with_echo_and_self() {
    let a: Action = round_trip(json!({
        "action": "send_message",
        "params": {"detail_type": "private", "user_id": "wxid_a", "message": [{"type": "text", "data": {"text": "hi"}}]},
        "echo": "123",
        "self": {"platform": "wechat", "user_id": "wxid_bot"}
    }));
    assert_eq!(a.bot_self, Some(BotSelf::wechat("wxid_bot")));
    let minimal: Action = serde_json::from_value(json!({"action": "get_status"})).unwrap();
    assert!(minimal.params.is_empty() && minimal.echo.is_none());
}

#[test]
fn responses() {
    let ok: Resp = round_trip(json!({"status": "ok", "retcode": 0, "data": {"time": 1.5}, "message": "", "echo": "e"}));
    assert_eq!(ok, Resp::ok(json!({"time": 1.5})).with_echo(Some(json!("e"))));
    let failed: Resp =
        round_trip(json!({"status": "failed", "retcode": 10003, "data": null, "message": "group_name is required"}));
    assert_eq!(failed, Resp::bad_param("group_name is required"));
    assert_eq!(Resp::unsupported_action("x").retcode, retcode::UNSUPPORTED_ACTION);
    assert_eq!(Resp::bad_request("x").retcode, 10001);
    assert_eq!(Resp::unsupported_segment("x").retcode, 10005);
    assert_eq!(Resp::internal("x").retcode, 20002);
}

#[test]
fn segments() {
    let cases = [
        json!({"type": "text", "data": {"text": "hello"}}),
        json!({"type": "mention", "data": {"user_id": "wxid_a"}}),
        json!({"type": "mention_all", "data": {}}),
        json!({"type": "image", "data": {"file_id": "", "url": "http://127.0.0.1/a.png"}}),
        json!({"type": "file", "data": {"file_id": "f1"}}),
        json!({"type": "reply", "data": {"message_id": "m1", "user_id": "wxid_a"}}),
        json!({"type": "location", "data": {"latitude": 1.0}}),
    ];
    let kinds: Vec<String> = cases.iter().map(|c| round_trip::<Segment>(c.clone()).kind().to_owned()).collect();
    assert_eq!(kinds, ["text", "mention", "mention_all", "image", "file", "reply", "location"]);
}

#[test]
fn segment_errors_name_the_field() {
    let e = serde_json::from_value::<Segment>(json!({"type": "text", "data": {}})).unwrap_err().to_string();
    assert!(e.contains("data.text"), "{e}");
    let e = serde_json::from_value::<Segment>(json!({"data": {}})).unwrap_err().to_string();
    assert!(e.contains("`type`"), "{e}");
    let e =
        serde_json::from_value::<Segment>(json!({"type": "image", "data": {"file_id": 3}})).unwrap_err().to_string();
    assert!(e.contains("file_id"), "{e}");
}

#[test]
fn events_flatten_their_fields() {
    let golden = json!({
        "id": "42", "time": 1700000000.5, "type": "message", "detail_type": "group", "sub_type": "",
        "self": {"platform": "wechat", "user_id": "wxid_bot"},
        "message_id": "m1", "group_id": "1@chatroom", "user_id": "wxid_a",
        "message": [{"type": "mention", "data": {"user_id": "wxid_bot"}}, {"type": "text", "data": {"text": " hi"}}],
        "alt_message": "@wxid_bot hi", "wx.raw_type": 1
    });
    let e: Event = round_trip(golden);
    assert!(!e.is_meta());
    let msg: Vec<Segment> = serde_json::from_value(e.fields["message"].clone()).unwrap();
    assert_eq!(alt_message(&msg), "@wxid_bot hi");
    let hb: Event = round_trip(
        json!({"id": "1", "time": 1.0, "type": "meta", "detail_type": "heartbeat", "sub_type": "", "interval": 5000}),
    );
    assert!(hb.is_meta() && hb.bot_self.is_none());
    let built = Event::new("1", 1.0, "meta", "heartbeat", None).with("interval", 5000);
    assert_eq!(built, hb);
}
