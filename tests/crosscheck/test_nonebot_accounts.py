"""One nonebot2 bot program (OneBot V12 adapter) over ONE reverse WebSocket to a gateway with
two WeChat accounts: nonebot sees two bots (from meta.status_update), and each replies
through its own account — the message to account 2 is answered by account 2's WeChat only."""

import json
import os
import subprocess
import sys
from pathlib import Path

from conftest import BIN, HOST, free_port, start_emulator
from test_nonebot import TOKEN, api, port_open, wait_for, wait_for_quiet

HERE = Path(__file__).resolve().parent


def test_two_accounts_over_one_reverse_websocket(tmp_path):
    fixture2 = tmp_path / "bot2.json"
    fixture2.write_text(json.dumps({
        "self": {"wxid": "wxid_bot2", "name": "Second Bot"},
        "contacts": [{"wxid": "wxid_bob", "name": "Bob"}, {"wxid": "wxid_erin", "name": "Erin"}],
    }))
    port1, ctl1, emu1 = start_emulator()
    port2, ctl2, emu2 = start_emulator(fixture2)
    gw_port, nb_port = free_port(), free_port()
    gw = f"http://{HOST}:{gw_port}"
    config = {
        "http_server": {"http_address": gw, "access_token": TOKEN},
        "answer_delay_rand_min": 0, "answer_delay_rand_max": 0,
        "wcf": {"login_check_ms": 200},
        "accounts": [
            {"name": "one", "wcf": {"address": f"tcp://{HOST}:{port1}"}},
            {"name": "two", "wcf": {"address": f"tcp://{HOST}:{port2}"}},
        ],
        "websocket_reverse": [{"url": f"ws://{HOST}:{nb_port}/onebot/v12/ws", "access_token": TOKEN, "reconnect_interval": 300}],
    }
    (tmp_path / "config.yaml").write_text(json.dumps(config))
    env = dict(os.environ, RUST_LOG="warn")
    env.pop("WECHAT_HTTP_CONFIG", None)
    gateway = subprocess.Popen([str(BIN / "wechat-http"), "serve", "--config", "config.yaml"], cwd=tmp_path, env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    bot_env = dict(os.environ, NB_MODE="reverse", NB_PORT=str(nb_port), NB_TOKEN=TOKEN)
    bot_log = open(tmp_path / "bot.log", "w")
    bot = subprocess.Popen([sys.executable, str(HERE / "nonebot_bot.py")], cwd=tmp_path, env=bot_env,
                           stdout=bot_log, stderr=subprocess.STDOUT)
    try:
        wait_for("gateway up", lambda: port_open(gw_port))
        wait_for("both accounts connected", lambda: api(gw, "get_status", {})["data"]["good"])
        wait_for("bot up", lambda: port_open(nb_port))

        def replied(ctl, receiver, text):
            return any(s["receiver"] == receiver and s.get("text") == text for s in ctl.call("GET", "/sent")[1])

        def round_trip(ctl, sender, text):
            ctl.call("POST", "/messages", {"from": sender, "text": text})
            return wait_for_quiet(lambda: replied(ctl, sender, f"echo:{text}"), 3)

        wait_for("account one's reply", lambda: round_trip(ctl1, "wxid_bob", "to one"), timeout=90)
        wait_for("account two's reply", lambda: round_trip(ctl2, "wxid_erin", "to two"), timeout=90)
        one = [s for s in ctl1.call("GET", "/sent")[1] if s.get("text", "").startswith("echo:")]
        two = [s for s in ctl2.call("GET", "/sent")[1] if s.get("text", "").startswith("echo:")]
        assert {s["text"] for s in one} == {"echo:to one"}, one
        assert {s["text"] for s in two} == {"echo:to two"}, two
        bot_log.flush()
        log = (tmp_path / "bot.log").read_text()
        assert "wxid_bot2" in log and "wxid_bot" in log, "nonebot saw both bots"
    except AssertionError:
        bot_log.flush()
        print((tmp_path / "bot.log").read_text()[-4000:])
        raise
    finally:
        for p in (bot, gateway, emu1, emu2):
            p.terminate()
        for p in (bot, gateway, emu1, emu2):
            p.wait(timeout=10)
