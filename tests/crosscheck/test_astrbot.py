"""AstrBot 4.14.6 with its aiocqhttp (OneBot 11) platform, configured headlessly through
data/cmd_config.json, and the gateway's OneBot 11 reverse WebSocket pointed at it: a built-in
command (/help) sent from WeChat is answered through WeChat, and with a small
OpenAI-compatible stand-in provider on 127.0.0.1 a plain message gets the provider's reply —
the original service's AI-chat plugin, done by the framework its users already run."""

import json
import os
import subprocess
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from conftest import BIN, HOST, free_port
from test_nonebot import api, port_open, wait_for, wait_for_quiet

TOKEN = "nb-token"  # the token test_nonebot.api sends
ROOT = Path(__file__).resolve().parents[2]
ASTRBOT_PY = ROOT / ".venv-astrbot" / "bin" / "python"
RUN = Path(__file__).resolve().parent / "astrbot" / "run.py"
REPLY = "这是模型的回答：你好！"


class StandIn(BaseHTTPRequestHandler):
    """The smallest OpenAI-compatible chat-completions server: one fixed answer."""

    asked = []

    def log_message(self, *args):
        pass

    def do_GET(self):
        body = json.dumps({"object": "list", "data": [{"id": "stand-in", "object": "model"}]}).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self):
        n = int(self.headers.get("content-length", "0"))
        request = json.loads(self.rfile.read(n) or b"{}")
        StandIn.asked.append(request)
        body = json.dumps({
            "id": "chatcmpl-standin", "object": "chat.completion", "created": 1, "model": "stand-in",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": REPLY}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
        }).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def test_astrbot_answers_through_wechat(emulator, tmp_path):
    assert ASTRBOT_PY.exists(), "AstrBot is installed by scripts/test into .venv-astrbot (tests/crosscheck/astrbot/requirements.txt)"
    ctl = emulator["control"]
    llm = ThreadingHTTPServer((HOST, 0), StandIn)
    threading.Thread(target=llm.serve_forever, daemon=True).start()
    astr_port, gw_port = free_port(), free_port()
    astr = tmp_path / "astrbot"
    (astr / "data").mkdir(parents=True)
    (astr / ".astrbot").write_text("")
    (astr / "data" / "cmd_config.json").write_text(json.dumps({
        "config_version": 2,
        "platform": [{"id": "wechat", "type": "aiocqhttp", "enable": True, "ws_reverse_host": HOST,
                      "ws_reverse_port": astr_port, "ws_reverse_token": "astr-token"}],
        "platform_settings": {"enable_id_white_list": False},
        "provider_sources": [{"id": "standin", "provider": "openai", "type": "openai_chat_completion",
                              "provider_type": "chat_completion", "enable": True, "key": ["sk-standin"],
                              "api_base": f"http://{HOST}:{llm.server_address[1]}/v1", "timeout": 30, "custom_headers": {}}],
        "provider": [{"id": "standin/stand-in", "provider_source_id": "standin", "model": "stand-in", "enable": True,
                      "modalities": ["text"], "custom_extra_body": {}, "max_context_tokens": 0}],
        "provider_settings": {"enable": True, "default_provider_id": "standin/stand-in"},
        "dashboard": {"enable": False},
        "wake_prefix": ["/"],
        "http_proxy": "",
    }))
    log = open(tmp_path / "astrbot.log", "w")
    astrbot = subprocess.Popen([str(ASTRBOT_PY), str(RUN), str(astr)], env=dict(os.environ, PYTHONUNBUFFERED="1"),
                               stdout=log, stderr=subprocess.STDOUT)
    gw = f"http://{HOST}:{gw_port}"
    config = {
        "http_server": {"http_address": gw, "access_token": TOKEN},
        "answer_delay_rand_min": 0, "answer_delay_rand_max": 0,
        "wcf": {"address": f"tcp://{HOST}:{emulator['port']}", "login_check_ms": 200},
        "onebot11": {"ws_reverse": [{"url": f"ws://{HOST}:{astr_port}/ws", "access_token": "astr-token", "reconnect_interval": 500}]},
    }
    (tmp_path / "config.yaml").write_text(json.dumps(config))
    env = dict(os.environ, RUST_LOG="warn")
    env.pop("WECHAT_HTTP_CONFIG", None)
    gateway = subprocess.Popen([str(BIN / "wechat-http"), "serve", "--config", "config.yaml"], cwd=tmp_path, env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for("gateway connected to WeChat", lambda: port_open(gw_port) and api(gw, "get_status", {})["data"]["good"])
        wait_for("AstrBot listening", lambda: astrbot.poll() is None and port_open(astr_port), timeout=180)
        ctl.call("DELETE", "/sent")

        def sent_to_bob():
            return [s.get("text", "") for s in ctl.call("GET", "/sent")[1] if s["receiver"] == "wxid_bob"]

        # A built-in command; re-sent until the reverse connection is up and AstrBot answers.
        def help_round_trip():
            assert astrbot.poll() is None, "AstrBot exited"
            ctl.call("POST", "/messages", {"from": "wxid_bob", "text": "/help"})
            return wait_for_quiet(lambda: any("AstrBot" in t and "内置指令" in t for t in sent_to_bob()), 5)

        wait_for("AstrBot's answer to /help", help_round_trip, timeout=120)
        # A plain message goes to the model; its answer comes back through WeChat.
        ctl.call("POST", "/messages", {"from": "wxid_bob", "text": "你好，你是谁？"})
        wait_for("the model's answer", lambda: any(REPLY in t for t in sent_to_bob()), timeout=60)
        asked = json.dumps(StandIn.asked, ensure_ascii=False)
        assert "你好，你是谁？" in asked, "the provider got the user's message"
    except AssertionError:
        log.flush()
        print((tmp_path / "astrbot.log").read_text()[-6000:])
        raise
    finally:
        astrbot.terminate()
        gateway.terminate()
        try:
            astrbot.wait(timeout=15)
        except subprocess.TimeoutExpired:
            astrbot.kill()
        gateway.wait(timeout=10)
        llm.shutdown()
