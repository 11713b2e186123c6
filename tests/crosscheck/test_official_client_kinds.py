"""The official wcferry 39.5.2.0 client against the emulator: every message kind arrives with
the fields its own helpers use, and the calls behind the new kinds answer as WeChatFerry does."""

import base64
import re
from pathlib import Path

import pytest
from wcferry import Wcf

MP3 = b"ID3\x04\x00\x00\x00\x00\x00\x00 a voice"
MP4 = b"\x00\x00\x00\x18ftypisom a video"
JPG = b"\xff\xd8\xff\xe0 a cover"


def b64(b):
    return base64.b64encode(b).decode()


@pytest.fixture(scope="module")
def wcf(emulator):
    w = Wcf(host="127.0.0.1", port=emulator["port"], block=True)
    assert w.enable_receiving_msg() is True
    yield w
    w.cleanup()


def inject(emulator, body):
    status, r = emulator["control"].call("POST", "/messages", body)
    assert status == 200, r
    return r


def test_voice_through_get_audio_msg(wcf, emulator, tmp_path):
    r = inject(emulator, {"from": "wxid_bob", "type": "voice", "audio_base64": b64(MP3), "duration_ms": 2300})
    msg = wcf.get_msg(block=True)
    assert (msg.id, msg.type) == (int(r["id"]), 34)
    assert 'voicelength="2300"' in msg.content
    path = wcf.get_audio_msg(msg.id, str(tmp_path))
    assert path.endswith(f"{msg.id}.mp3") and Path(path).read_bytes() == MP3


def test_video_through_download_video(wcf, emulator, tmp_path):
    inject(emulator, {"from": "wxid_bob", "room": "1001@chatroom", "type": "video", "video_base64": b64(MP4), "thumb_base64": b64(JPG)})
    msg = wcf.get_msg(block=True)
    assert msg.type == 43 and msg.from_group() and msg.thumb.endswith(".jpg")
    assert Path(msg.thumb).read_bytes() == JPG, "the cover is written at once"
    path = wcf.download_video(msg.id, msg.thumb, str(tmp_path), timeout=10)
    assert path.endswith(".mp4") and Path(path).read_bytes() == MP4


def test_file_through_download_attach(wcf, emulator):
    inject(emulator, {"from": "wxid_alice", "type": "file", "name": "notes.txt", "file_base64": b64(b"some notes")})
    msg = wcf.get_msg(block=True)
    assert msg.type == 49 and "<type>6</type>" in msg.content and msg.extra.endswith("notes.txt")
    assert not Path(msg.extra).exists(), "not downloaded until asked"
    assert wcf.download_attach(msg.id, "", msg.extra) == 0
    assert Path(msg.extra).read_bytes() == b"some notes"
    assert wcf.download_attach(123, "", msg.extra) == -1


def test_app_messages_are_xml_in_content_and_compressed_in_the_database(wcf, emulator):
    r = inject(emulator, {"from": "wxid_alice", "text": "original"})
    wcf.get_msg(block=True)
    q = inject(emulator, {"from": "wxid_bob", "type": "quote", "quoted_id": r["id"], "text": "a reply"})
    msg = wcf.get_msg(block=True)
    assert msg.type == 49 and "<type>57</type>" in msg.content
    assert re.search(r"<svrid>(\d+)</svrid>", msg.content).group(1) == r["id"]
    rows = wcf.query_sql("MSG0.db", f"SELECT StrContent, SubType, CompressContent FROM MSG WHERE MsgSvrID = {q['id']}")
    assert rows[0]["StrContent"] == "" and rows[0]["SubType"] == 57 and len(rows[0]["CompressContent"]) > 0


def test_group_sysmsg_keeps_the_room_prefix(wcf, emulator):
    inject(emulator, {"from": "wxid_alice", "room": "1001@chatroom", "type": "pat", "form": "sysmsg"})
    msg = wcf.get_msg(block=True)
    assert msg.type == 10002 and msg.content.startswith("1001@chatroom:\n<sysmsg type=\"pat\">")


def test_send_calls_answer_as_wechatferry(wcf, emulator, tmp_path):
    ctl = emulator["control"]
    ctl.call("DELETE", "/sent")
    gif = tmp_path / "s.gif"
    gif.write_bytes(bytes.fromhex("47494638396101000100800000000000ffffff21f90401000000002c00000000010001000002024401003b"))
    assert wcf.send_rich_text("Example", "gh_example", "Title", "Digest", "https://example.org", "https://example.org/t.png", "wxid_alice") == 0
    assert wcf.send_emotion(str(gif), "wxid_alice") == 0
    r = inject(emulator, {"from": "wxid_bob", "text": "to forward"})
    wcf.get_msg(block=True)
    assert wcf.forward_msg(int(r["id"]), "wxid_alice") == 1
    assert wcf.forward_msg(42, "wxid_alice") == -1
    assert wcf.send_pat_msg("1001@chatroom", "wxid_bob") == 1
    assert wcf.invite_chatroom_members("1002@chatroom", "wxid_alice") == 1
    assert wcf.add_chatroom_members("1002@chatroom", "wxid_bob") == 1
    added = wcf.get_msg(block=True)
    assert added.type == 10000 and added.content.startswith('你邀请"Bob"加入了群聊')
    assert wcf.del_chatroom_members("1002@chatroom", "wxid_bob") == 1
    removed = wcf.get_msg(block=True)
    assert removed.type == 10000 and removed.content == '你将"Bob"移出了群聊'
    assert wcf.add_chatroom_members("404@chatroom", "wxid_bob") == -1
    # WeChatFerry 39.5.2's transfer call is a stub answering -1.
    assert wcf.receive_transfer("wxid_bob", "tf", "ta") == -1
    sent = ctl.call("GET", "/sent")[1]
    assert [s["func"] for s in sent] == [
        "send_rich_text", "send_emotion", "forward_msg", "send_pat",
        "invite_room_members", "add_room_members", "del_room_members", "receive_transfer",
    ]
    assert sent[0]["detail"] == {"name": "Example", "account": "gh_example", "title": "Title", "digest": "Digest",
                                 "url": "https://example.org", "thumburl": "https://example.org/t.png"}
    members = wcf.get_chatroom_members("1002@chatroom").keys()
    # Other tests share this emulator and may have invited people into 1002 too.
    assert {"wxid_bot", "wxid_carol"} <= members and "wxid_bob" not in members and "wxid_alice" not in members
