"""A real nonebot2 bot (OneBot V12 adapter) against the real gateway binary and the emulator,
in each of the three connection modes: webhook + HTTP API, forward WebSocket, reverse
WebSocket. A message injected at the emulator reaches the bot, the bot's reply reaches the
emulator's sent log, a friend request is accepted through handle_friend_request, and an @ of
the bot triggers to_me."""

import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import pytest

from conftest import BIN, HOST, free_port

TOKEN = "nb-token"
HERE = Path(__file__).resolve().parent


def wait_for(what, check, timeout=60):
    deadline = time.time() + timeout
    while time.time() < deadline:
        result = check()
        if result:
            return result
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def api(gw, action, params):
    req = urllib.request.Request(f"{gw}/{action}", data=json.dumps({"params": params}).encode(),
                                 headers={"content-type": "application/json", "authorization": f"Bearer {TOKEN}"})
    with urllib.request.urlopen(req, timeout=10) as r:
        return json.loads(r.read())


def port_open(port):
    import socket
    with socket.socket() as s:
        return s.connect_ex((HOST, port)) == 0


@pytest.mark.parametrize("mode", ["http", "ws", "reverse"])
def test_nonebot_bot(emulator, mode, tmp_path):
    ctl = emulator["control"]
    gw_port, nb_port = free_port(), free_port()
    gw = f"http://{HOST}:{gw_port}"
    config = {
        "http_server": {"http_address": gw, "access_token": TOKEN},
        "answer_delay_rand_min": 0, "answer_delay_rand_max": 0,
        "wcf": {"address": f"tcp://{HOST}:{emulator['port']}", "login_check_ms": 200},
        "http_post": [], "websocket_reverse": [],
    }
    if mode == "http":
        config["http_post"] = [{"url": f"http://{HOST}:{nb_port}/onebot/v12/", "secret": TOKEN, "max_retries": 100}]
    if mode == "reverse":
        config["websocket_reverse"] = [{"url": f"ws://{HOST}:{nb_port}/onebot/v12/ws", "access_token": TOKEN, "reconnect_interval": 300}]
    (tmp_path / "config.yaml").write_text(json.dumps(config))  # JSON is YAML
    env = dict(os.environ, RUST_LOG="warn")
    env.pop("WECHAT_HTTP_CONFIG", None)
    gateway = subprocess.Popen([str(BIN / "wechat-http"), "serve", "--config", "config.yaml"], cwd=tmp_path, env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    bot_env = dict(os.environ, NB_MODE=mode, NB_PORT=str(nb_port), NB_TOKEN=TOKEN,
                   NB_API_ROOTS=json.dumps({"wxid_bot": gw + "/"}), NB_WS_URLS=json.dumps([f"ws://{HOST}:{gw_port}/"]))
    bot_log = open(tmp_path / "bot.log", "w")
    bot = subprocess.Popen([sys.executable, str(HERE / "nonebot_bot.py")], cwd=tmp_path, env=bot_env,
                           stdout=bot_log, stderr=subprocess.STDOUT)
    try:
        wait_for("gateway up", lambda: port_open(gw_port))
        wait_for("gateway connected to WeChat", lambda: api(gw, "get_status", {})["data"]["good"])
        wait_for("bot up", lambda: port_open(nb_port))
        ctl.call("DELETE", "/sent")

        def replied(receiver, text):
            sent = ctl.call("GET", "/sent")[1]
            return any(s["receiver"] == receiver and s.get("text") == text for s in sent)

        # The bot may connect a moment after its port opens: re-send until the first reply.
        def private_round_trip():
            ctl.call("POST", "/messages", {"from": "wxid_bob", "text": f"hello {mode}"})
            return wait_for_quiet(lambda: replied("wxid_bob", f"echo:hello {mode}"), 3)

        wait_for("the bot's reply to a private message", private_round_trip, timeout=90)

        ctl.call("POST", "/messages", {"from": "wxid_alice", "room": "1001@chatroom", "text": "are you there", "at": ["wxid_bot"]})
        wait_for("the bot's to_me reply in the group", lambda: replied("1001@chatroom", "to_me:are you there"))

        # A quote of the bot's own reply: event.reply is set (and to_me).
        bots_reply = next(s for s in ctl.call("GET", "/sent")[1] if s.get("text") == "to_me:are you there")
        ctl.call("POST", "/messages", {"from": "wxid_bob", "type": "quote", "quoted_id": bots_reply["id"], "text": "thanks"})
        wait_for("the bot's answer to a quote of its message",
                 lambda: replied("wxid_bob", f"reply_to:{bots_reply['id']}:wxid_bot:thanks"))

        # A file: the bot reads it with get_file.
        import base64
        body = f"file for {mode}".encode()
        ctl.call("POST", "/messages", {"from": "wxid_bob", "type": "file", "name": f"{mode}.txt", "file_base64": base64.b64encode(body).decode()})
        wait_for("the bot's answer after reading the file", lambda: replied("wxid_bob", f"file:{mode}.txt:{len(body)}"))

        # A newcomer (by display name in WeChat's text) gets a welcome with their wxid.
        ctl.call("POST", "/messages", {"from": "wxid_alice", "room": "1002@chatroom", "type": "invite",
                                       "members": [{"wxid": f"wxid_new_{mode}", "nickname": f"Newbie {mode}"}]})
        wait_for("the bot's welcome", lambda: replied("1002@chatroom", f"welcome wxid_new_{mode}"))

        status, tickets = ctl.call("POST", "/friend_requests", {"wxid": f"wxid_nb_{mode}", "nickname": "NB friend", "greeting": "hi", "scene": 14})
        assert status == 200
        wait_for("the friend request accepted by the bot",
                 lambda: api(gw, "get_user_info", {"user_id": f"wxid_nb_{mode}"})["retcode"] == 0)
    except AssertionError:
        bot_log.flush()
        print((tmp_path / "bot.log").read_text()[-4000:])
        raise
    finally:
        bot.terminate()
        gateway.terminate()
        bot.wait(timeout=10)
        gateway.wait(timeout=10)


def wait_for_quiet(check, timeout):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if check():
            return True
        time.sleep(0.1)
    return False
