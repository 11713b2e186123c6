"""nonebot2 with nonebot-adapter-onebot's **v11** adapter against the real gateway binary and the
emulator, in reverse WebSocket and in HTTP POST + HTTP API modes: ping → pong at the emulator,
an @ of the bot is to_me, a quote of the bot's message sets event.reply (the adapter calls
get_msg), and a friend request is approved through set_friend_add_request."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import BIN, HOST, free_port
from test_nonebot import api, port_open, wait_for, wait_for_quiet

TOKEN = "nb-token"
HERE = Path(__file__).resolve().parent


def v11(gw, action, params):
    import urllib.request
    req = urllib.request.Request(f"{gw}/onebot/v11/{action}", data=json.dumps(params).encode(),
                                 headers={"content-type": "application/json", "authorization": f"Bearer {TOKEN}"})
    with urllib.request.urlopen(req, timeout=10) as r:
        return json.loads(r.read())


@pytest.mark.parametrize("mode", ["reverse", "http"])
def test_nonebot_v11_bot(emulator, mode, tmp_path):
    ctl = emulator["control"]
    gw_port, nb_port = free_port(), free_port()
    gw = f"http://{HOST}:{gw_port}"
    ob11 = {}
    if mode == "reverse":
        ob11["ws_reverse"] = [{"url": f"ws://{HOST}:{nb_port}/onebot/v11/ws", "access_token": TOKEN, "reconnect_interval": 300}]
    else:
        ob11["http_post"] = [{"url": f"http://{HOST}:{nb_port}/onebot/v11/", "secret": "nb-secret"}]
    config = {
        "http_server": {"http_address": gw, "access_token": TOKEN},
        "answer_delay_rand_min": 0, "answer_delay_rand_max": 0,
        "wcf": {"address": f"tcp://{HOST}:{emulator['port']}", "login_check_ms": 200},
        "onebot11": ob11,
    }
    (tmp_path / "config.yaml").write_text(json.dumps(config))
    env = dict(os.environ, RUST_LOG="warn")
    env.pop("WECHAT_HTTP_CONFIG", None)
    gateway = subprocess.Popen([str(BIN / "wechat-http"), "serve", "--config", "config.yaml"], cwd=tmp_path, env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    bot = None
    bot_log = open(tmp_path / "bot.log", "w")
    try:
        wait_for("gateway up", lambda: port_open(gw_port))
        wait_for("gateway connected to WeChat", lambda: api(gw, "get_status", {})["data"]["good"])
        me = v11(gw, "get_login_info", {})["data"]
        self_id = me["user_id"]
        bot_env = dict(os.environ, NB_MODE=mode, NB_PORT=str(nb_port), NB_TOKEN=TOKEN, NB_SECRET="nb-secret",
                       NB_API_ROOTS=json.dumps({str(self_id): f"{gw}/onebot/v11/"}))
        bot = subprocess.Popen([sys.executable, str(HERE / "nonebot_v11_bot.py")], cwd=tmp_path, env=bot_env,
                               stdout=bot_log, stderr=subprocess.STDOUT)
        wait_for("bot up", lambda: port_open(nb_port))
        ctl.call("DELETE", "/sent")

        def replied(receiver, text):
            return any(s["receiver"] == receiver and s.get("text") == text for s in ctl.call("GET", "/sent")[1])

        def ping():
            ctl.call("POST", "/messages", {"from": "wxid_bob", "text": "ping"})
            return wait_for_quiet(lambda: replied("wxid_bob", "pong"), 3)

        wait_for("pong for ping", ping, timeout=90)

        ctl.call("POST", "/messages", {"from": "wxid_alice", "room": "1001@chatroom", "text": "are you there", "at": ["wxid_bot"]})
        wait_for("to_me in the group", lambda: replied("1001@chatroom", "to_me:are you there"))

        pong = next(s for s in ctl.call("GET", "/sent")[1] if s.get("text") == "pong")
        ctl.call("POST", "/messages", {"from": "wxid_bob", "type": "quote", "quoted_id": pong["id"], "text": "nice"})
        # The adapter resolves the reply through get_msg: its number is the pong's.
        wait_for("the answer to a quote", lambda: any(
            s.get("text", "").startswith("quoted:") and s["text"].endswith(":nice") for s in ctl.call("GET", "/sent")[1]))

        status, _ = ctl.call("POST", "/friend_requests", {"wxid": f"wxid_v11_{mode}", "nickname": "V11", "greeting": "hi", "scene": 14})
        assert status == 200
        wait_for("the friend request approved",
                 lambda: api(gw, "get_user_info", {"user_id": f"wxid_v11_{mode}"})["retcode"] == 0)
    except AssertionError:
        bot_log.flush()
        print((tmp_path / "bot.log").read_text()[-4000:])
        raise
    finally:
        if bot:
            bot.terminate()
            bot.wait(timeout=10)
        gateway.terminate()
        gateway.wait(timeout=10)
