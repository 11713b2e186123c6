"""The official wcferry 39.5.2.0 client (remote mode) drives our emulator over real libnng."""

import re
from pathlib import Path

import pytest
from wcferry import Wcf

# A 1x1 PNG.
PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c63f8cfc0f01f0005000101ff89993d1d0000000049454e44ae426082"
)


@pytest.fixture(scope="module")
def wcf(emulator):
    w = Wcf(host="127.0.0.1", port=emulator["port"], block=True)
    yield w
    w.cleanup()


def test_login_and_identity(wcf):
    assert wcf.is_login() is True
    assert wcf.get_self_wxid() == "wxid_bot"
    info = wcf.get_user_info()
    assert info["wxid"] == "wxid_bot" and info["name"] == "Demo Bot"
    assert info["home"].endswith("WeChat Files/")


def test_contacts_and_friends(wcf):
    contacts = {c["wxid"]: c for c in wcf.get_contacts()}
    assert contacts["wxid_alice"]["name"] == "Alice"
    assert contacts["wxid_alice"]["gender"] == "女"
    assert "gh_news" in contacts and "1001@chatroom" in contacts
    friends = {c["wxid"] for c in wcf.get_friends()}
    assert "wxid_alice" in friends
    assert not friends & {"gh_news", "1001@chatroom", "filehelper", "fmessage"}


def test_send_text_with_aters_lands_in_sent_log(wcf, emulator):
    ctl = emulator["control"]
    assert ctl.call("DELETE", "/sent")[0] == 200
    assert wcf.send_text("hello @Alice", "1001@chatroom", "wxid_alice") == 0
    assert wcf.send_text("", "1001@chatroom") == -1
    status, sent = ctl.call("GET", "/sent")
    assert status == 200 and len(sent) == 1
    assert sent[0]["func"] == "send_text" and sent[0]["receiver"] == "1001@chatroom"
    assert sent[0]["text"] == "hello @Alice" and sent[0]["aters"] == ["wxid_alice"]
    rows = wcf.query_sql("MSG0.db", f"SELECT IsSender, StrTalker FROM MSG WHERE MsgSvrID = {sent[0]['id']}")
    assert rows == [{"IsSender": 1, "StrTalker": "1001@chatroom"}]


def test_send_image(wcf, emulator, tmp_path):
    ctl = emulator["control"]
    img = tmp_path / "pic.png"
    img.write_bytes(PNG)
    ctl.call("DELETE", "/sent")
    assert wcf.send_image(str(img), "wxid_alice") == 0
    sent = ctl.call("GET", "/sent")[1]
    assert [(s["func"], s["receiver"], s["path"]) for s in sent] == [("send_image", "wxid_alice", str(img))]


def test_query_sql_types(wcf):
    rows = wcf.query_sql("MicroMsg.db", "SELECT 7 AS i, 2.5 AS f, 'txt' AS t, x'0102' AS b, NULL AS n")
    assert rows == [{"i": 7, "f": 2.5, "t": "txt", "b": b"\x01\x02", "n": None}]
    assert wcf.query_sql("MicroMsg.db", "NOT SQL") == []


def test_chatroom_members(wcf):
    members = wcf.get_chatroom_members("1001@chatroom")
    assert members == {"wxid_bot": "Demo Bot", "wxid_alice": "Team Alice", "wxid_bob": "Bob", "wxid_dave": "Dave"}
    assert wcf.get_alias_in_chatroom("wxid_alice", "1001@chatroom") == "Team Alice"


def test_receiving_and_friend_request(wcf, emulator):
    ctl = emulator["control"]
    assert wcf.enable_receiving_msg() is True
    status, body = ctl.call("POST", "/messages", {"from": "wxid_bob", "text": "ping"})
    assert status == 200
    msg = wcf.get_msg(block=True)
    assert (msg.id, msg.type, msg.content, msg.sender, msg.from_group()) == (int(body["id"]), 1, "ping", "wxid_bob", False)

    status, body = ctl.call("POST", "/messages", {"from": "wxid_alice", "room": "1001@chatroom", "text": "hi", "at": ["wxid_bot"]})
    assert status == 200
    msg = wcf.get_msg(block=True)
    assert msg.from_group() and msg.roomid == "1001@chatroom" and msg.is_at("wxid_bot")

    status, tickets = ctl.call("POST", "/friend_requests", {"wxid": "wxid_stranger", "nickname": "Stranger", "greeting": "hello", "scene": 14})
    assert status == 200
    req = wcf.get_msg(block=True)
    assert req.type == 37
    v3 = re.search(r'encryptusername="([^"]+)"', req.content).group(1)
    v4 = re.search(r'ticket="([^"]+)"', req.content).group(1)
    scene = int(re.search(r'scene="(\d+)"', req.content).group(1))
    assert (v3, v4, scene) == (tickets["v3"], tickets["v4"], 14)
    assert wcf.accept_new_friend(v3, v4, scene) == 1
    added = wcf.get_msg(block=True)
    assert added.type == 10000 and "Stranger" in added.content
    assert "wxid_stranger" in {c["wxid"] for c in wcf.get_contacts()}
    assert wcf.accept_new_friend("v3_bogus", "v4_bogus", 14) != 1


def test_image_message_download_and_decrypt(wcf, emulator, tmp_path):
    import base64
    ctl = emulator["control"]
    status, body = ctl.call("POST", "/messages", {"from": "wxid_bob", "type": "image", "image_base64": base64.b64encode(PNG).decode()})
    assert status == 200
    msg = wcf.get_msg(block=True)
    assert msg.type == 3 and msg.id == int(body["id"])
    path = wcf.download_image(msg.id, msg.extra, str(tmp_path), timeout=10)
    assert path.endswith(".png") and Path(path).read_bytes() == PNG
