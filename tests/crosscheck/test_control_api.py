"""The emulator's control API: success paths and every documented error."""


def test_health(emulator):
    status, h = emulator["control"].call("GET", "/health")
    assert status == 200 and h["logged_in"] is True and isinstance(h["peers"], int)


def test_bad_inputs_say_what_to_fix(emulator):
    ctl = emulator["control"]
    cases = [
        ("/messages", None, b"{not json", "invalid JSON"),
        ("/messages", {"text": "x"}, None, "from"),
        ("/messages", {"from": "wxid_a", "text": ""}, None, "non-empty `text`"),
        ("/messages", {"from": "wxid_a", "type": "hologram", "text": "x"}, None, "unknown message `type`"),
        ("/messages", {"from": "wxid_a", "type": "location", "latitude": 1.0}, None, "`latitude` and `longitude`"),
        ("/messages", {"from": "wxid_a", "type": "quote", "quoted_id": "x", "text": "y"}, None, "decimal digits"),
        ("/messages", {"from": "wxid_a", "room": "1001@chatroom", "type": "leave"}, None, "not a member"),
        ("/messages", {"raw": {"type": 1, "content": "x", "sender": "wxid_a", "files": {"/etc/x": "eA=="}}}, None, "outside"),
        ("/messages", {"from": "wxid_a", "room": "not-a-room", "text": "x"}, None, "@chatroom"),
        ("/messages", {"from": "wxid_a", "text": "x", "at": ["wxid_b"]}, None, "need a `room`"),
        ("/messages", {"from": "wxid_a", "type": "image", "image_base64": "!!!"}, None, "base64"),
        ("/messages", {"from": "wxid_a", "type": "image", "image_base64": "aGVsbG8="}, None, "PNG, JPEG or GIF"),
        ("/friend_requests", {"wxid": "", "nickname": ""}, None, "required"),
        ("/faults", {"kind": "explode"}, None, "drop_connections, logout, login or stall"),
        ("/faults", {"kind": "stall", "func": "FUNC_NOPE"}, None, "FUNC_SEND_TXT"),
    ]
    for path, body, raw, needle in cases:
        status, answer = ctl.call("POST", path, body, raw=raw)
        assert status == 400, (path, body, status, answer)
        assert needle in answer["error"], (needle, answer)
    assert ctl.call("GET", "/nope")[0] == 404


def test_logout_login_faults(emulator):
    ctl = emulator["control"]
    assert ctl.call("POST", "/faults", {"kind": "logout"})[0] == 200
    assert ctl.call("GET", "/health")[1]["logged_in"] is False
    assert ctl.call("POST", "/faults", {"kind": "login"})[0] == 200
    assert ctl.call("GET", "/health")[1]["logged_in"] is True
