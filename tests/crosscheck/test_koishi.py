"""Koishi 4.18 with its OneBot adapter — the maintained koishi-plugin-adapter-onebot and the
older @koishijs/plugin-adapter-onebot — over the gateway's OneBot 11 forward WebSocket: a
message in, the bot's reply out at the emulator."""

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from conftest import BIN, HOST, free_port
from test_nonebot import api, port_open, wait_for, wait_for_quiet
from test_nonebot_v11 import v11

TOKEN = "nb-token"
HERE = Path(__file__).resolve().parent
BOT = HERE / "koishi" / "bot.js"


@pytest.mark.parametrize("folder, adapter", [
    # Current Koishi with the maintained adapter.
    ("koishi", "koishi-plugin-adapter-onebot"),
    # The older adapter, with the Koishi (satori 2) it was made for.
    ("koishi-legacy", "@koishijs/plugin-adapter-onebot"),
])
def test_koishi_over_forward_websocket(emulator, folder, adapter, tmp_path):
    cwd = HERE / folder
    if not (cwd / "node_modules" / "koishi").exists() or not shutil.which("node"):
        pytest.fail(f"run `npm ci` in tests/crosscheck/{folder} first (scripts/test does)")
    ctl = emulator["control"]
    gw_port = free_port()
    gw = f"http://{HOST}:{gw_port}"
    config = {
        "http_server": {"http_address": gw, "access_token": TOKEN},
        "answer_delay_rand_min": 0, "answer_delay_rand_max": 0,
        "wcf": {"address": f"tcp://{HOST}:{emulator['port']}", "login_check_ms": 200},
    }
    (tmp_path / "config.yaml").write_text(json.dumps(config))
    env = dict(os.environ, RUST_LOG="warn")
    env.pop("WECHAT_HTTP_CONFIG", None)
    gateway = subprocess.Popen([str(BIN / "wechat-http"), "serve", "--config", "config.yaml"], cwd=tmp_path, env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    bot = None
    log = open(tmp_path / "koishi.log", "w")
    try:
        wait_for("gateway up", lambda: port_open(gw_port))
        wait_for("gateway connected to WeChat", lambda: api(gw, "get_status", {})["data"]["good"])
        self_id = v11(gw, "get_login_info", {})["data"]["user_id"]
        bot_env = dict(os.environ, KOISHI_ADAPTER=adapter, KOISHI_SELF_ID=str(self_id), KOISHI_TOKEN=TOKEN,
                       KOISHI_ENDPOINT=f"ws://{HOST}:{gw_port}/onebot/v11/ws")
        bot = subprocess.Popen(["node", str(BOT)], cwd=cwd, env=bot_env, stdout=log, stderr=subprocess.STDOUT)
        ctl.call("DELETE", "/sent")

        def replied():
            return any(s.get("text") == "pong from koishi" and s["receiver"] == "wxid_bob" for s in ctl.call("GET", "/sent")[1])

        def ping():
            if bot.poll() is not None:
                raise AssertionError(f"Koishi exited with {bot.returncode}")
            ctl.call("POST", "/messages", {"from": "wxid_bob", "text": "ping"})
            return wait_for_quiet(replied, 3)

        wait_for("Koishi's reply", ping, timeout=90)
    except AssertionError:
        log.flush()
        print((tmp_path / "koishi.log").read_text()[-4000:])
        raise
    finally:
        if bot:
            bot.terminate()
            bot.wait(timeout=10)
        gateway.terminate()
        gateway.wait(timeout=10)
