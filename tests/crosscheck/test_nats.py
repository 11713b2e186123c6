"""NATS JetStream as an event channel, with a real `nats-server -js` (Debian's `nats-server`)
and the official Python client (`nats-py`) as the consumer, against the real gateway binary
and the emulator: events queued while NATS is down arrive once it is up, in order, on
`<prefix>.<wxid>.<type>.<detail_type>` with the event id as `Nats-Msg-Id`; a gateway killed
with SIGKILL and restarted adds no duplicate; a target with a wrong password shows the
server's refusal in the console overview and gets nothing."""

import asyncio
import json
import os
import shutil
import signal
import subprocess
import time
import urllib.request

import pytest

from conftest import BIN, HOST, free_port, start_emulator
from test_nonebot import port_open, wait_for

TOKEN = "nats-token-31c7"
NATS = shutil.which("nats-server") or ("/usr/sbin/nats-server" if os.path.exists("/usr/sbin/nats-server") else None)

pytestmark = pytest.mark.skipif(not NATS and not os.environ.get("CI_REQUIRE_NATS"),
                                reason="nats-server is not installed (.ci/run installs it)")


def api(gw, path, body=None):
    req = urllib.request.Request(f"{gw}{path}", data=json.dumps(body).encode() if body is not None else None,
                                 headers={"content-type": "application/json", "authorization": f"Bearer {TOKEN}"})
    with urllib.request.urlopen(req, timeout=10) as r:
        return json.loads(r.read())


def stream_messages(port, stream):
    """Every message in the stream, read with nats-py (a direct get per sequence)."""
    import nats

    async def read():
        nc = await nats.connect(f"nats://u:secret@{HOST}:{port}", connect_timeout=5, allow_reconnect=False)
        try:
            js = nc.jetstream()
            info = await js.stream_info(stream)
            out = []
            for seq in range(info.state.first_seq, info.state.last_seq + 1):
                m = await js.get_msg(stream, seq)
                out.append({"subject": m.subject, "id": (m.headers or {}).get("Nats-Msg-Id"),
                            "event": json.loads(m.data)})
            return info.config.subjects, out
        finally:
            await nc.close()
    return asyncio.run(read())


def start_nats(port, store):
    proc = subprocess.Popen([NATS, "-js", "-a", HOST, "-p", str(port), "-sd", str(store), "--user", "u", "--pass", "secret"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_for("nats-server up", lambda: port_open(port))
    return proc


def message_texts(url, stream, tls=None):
    """The texts of the message events in a stream, read with nats-py; None while unreadable."""
    import nats

    async def read():
        nc = await nats.connect(url, tls=tls, connect_timeout=5, allow_reconnect=False)
        try:
            js = nc.jetstream()
            info = await js.stream_info(stream)
            msgs = [json.loads((await js.get_msg(stream, s)).data) for s in range(info.state.first_seq, info.state.last_seq + 1)]
            return [m["message"][0]["data"]["text"] for m in msgs if m["type"] == "message"]
        finally:
            await nc.close()
    try:
        return asyncio.run(read())
    except Exception:
        return None


def wait_texts(what, url, stream, n, tls=None):
    """Waits until the stream holds at least n message events; returns their texts."""
    def enough():
        texts = message_texts(url, stream, tls)
        return texts if texts and len(texts) >= n else None
    return wait_for(what, enough, 60)


def serve_gateway(tmp_path, gw, emu_port, nats_targets):
    """The gateway binary with these NATS targets, connected to the emulator on emu_port."""
    config = {
        "http_server": {"http_address": gw, "access_token": TOKEN},
        "answer_delay_rand_min": 0, "answer_delay_rand_max": 0, "enable_heart_beat": False,
        "wcf": {"address": f"tcp://{HOST}:{emu_port}", "login_check_ms": 200},
        "nats": nats_targets,
    }
    (tmp_path / "config.yaml").write_text(json.dumps(config))
    env = dict(os.environ, RUST_LOG="warn")
    env.pop("WECHAT_HTTP_CONFIG", None)
    return subprocess.Popen([str(BIN / "wechat-http"), "serve", "--config", "config.yaml"], cwd=tmp_path, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def nats_channel(gw, stream):
    """The console overview's row for the NATS target of `stream` ({} until it is listed)."""
    rows = api(gw, "/console/api/overview")["data"]["channels"]
    return next((c for c in rows if c["kind"] == "nats" and stream in c["target"]), {})


def wait_refused(what, gw, stream, words):
    """Waits until the NATS target of `stream` shows an error containing `words`; it must
    never have delivered anything."""
    wait_for(what, lambda: words in (nats_channel(gw, stream).get("last_error") or ""), 30)
    assert not nats_channel(gw, stream).get("last_success")


def stop(*procs):
    """Terminates the processes, each waited for."""
    for p in procs:
        p.terminate()
        p.wait(timeout=15)


def test_events_reach_jetstream_once_in_order(tmp_path):
    emu_port, ctl, emu = start_emulator()
    gw_port, nats_port = free_port(), free_port()
    gw = f"http://{HOST}:{gw_port}"
    config = {
        "http_server": {"http_address": gw, "access_token": TOKEN},
        "answer_delay_rand_min": 0, "answer_delay_rand_max": 0, "enable_heart_beat": False,
        "wcf": {"address": f"tcp://{HOST}:{emu_port}", "login_check_ms": 200},
        "nats": [
            {"url": f"nats://u:secret@{HOST}:{nats_port}", "stream": "WECHAT_TEST", "subject_prefix": "wx", "ack_timeout": 2},
            {"url": f"nats://u:wrong@{HOST}:{nats_port}", "stream": "WECHAT_OTHER", "subject_prefix": "other", "ack_timeout": 2},
        ],
    }
    (tmp_path / "config.yaml").write_text(json.dumps(config))
    env = dict(os.environ, RUST_LOG="warn")
    env.pop("WECHAT_HTTP_CONFIG", None)
    log = open(tmp_path / "gateway.log", "a")

    def start_gateway():
        p = subprocess.Popen([str(BIN / "wechat-http"), "serve", "--config", "config.yaml"], cwd=tmp_path, env=env,
                             stdout=log, stderr=subprocess.STDOUT)
        wait_for("gateway up", lambda: port_open(gw_port))
        wait_for("gateway connected", lambda: api(gw, "/get_status", {})["data"]["good"])
        return p

    gateway = start_gateway()
    nats_proc = None
    try:
        # NATS is down: events queue in the outbox, the channel shows why.
        for i in range(20):
            ctl.call("POST", "/messages", {"from": "wxid_bob", "text": f"n{i}"})

        def channel(stream):
            return nats_channel(gw, stream)
        wait_for("the channel reports NATS down", lambda: channel("WECHAT_TEST").get("last_error"), 30)

        nats_proc = start_nats(nats_port, tmp_path / "js")

        def texts():
            subjects, msgs = stream_messages(nats_port, "WECHAT_TEST")
            return subjects, [m for m in msgs if m["event"]["type"] == "message"]

        def all_there(n):
            try:
                subjects, msgs = texts()
            except Exception:
                return None
            return (subjects, msgs) if len(msgs) >= n else None

        subjects, msgs = wait_for("20 messages in the stream", lambda: all_there(20), 60)
        assert subjects == ["wx.>"], "the stream was created with our subjects"
        assert [m["event"]["message"][0]["data"]["text"] for m in msgs] == [f"n{i}" for i in range(20)], "in order"
        assert {m["subject"] for m in msgs} == {"wx.wxid_bot.message.private"}
        assert all(m["id"] == m["event"]["id"] for m in msgs), "Nats-Msg-Id is the event id"
        assert channel("WECHAT_TEST").get("last_success")

        # The wrong password: the server's refusal, shown where the operator looks.
        wait_for("authorization refused", lambda: "uthorization" in (channel("WECHAT_OTHER").get("last_error") or ""), 30)

        # SIGKILL mid-flow and restart: nothing lost, nothing twice.
        for i in range(20, 30):
            ctl.call("POST", "/messages", {"from": "wxid_bob", "text": f"n{i}"})
        gateway.send_signal(signal.SIGKILL)
        gateway.wait(timeout=10)
        gateway = start_gateway()
        for i in range(30, 40):
            ctl.call("POST", "/messages", {"from": "wxid_bob", "text": f"n{i}"})
        subjects, msgs = wait_for("40 messages in the stream", lambda: all_there(40), 60)
        time.sleep(1.5)  # a re-publish of the last unsaved events would land by now
        subjects, msgs = texts()
        ids = [m["id"] for m in msgs]
        assert len(ids) == len(set(ids)), "no event twice in the stream"
        assert [m["event"]["message"][0]["data"]["text"] for m in msgs] == [f"n{i}" for i in range(40)]
    finally:
        gateway.terminate()
        gateway.wait(timeout=15)
        if nats_proc:
            nats_proc.terminate()
            nats_proc.wait(timeout=10)
        emu.terminate()
        emu.wait(timeout=10)


def make_certs(folder):
    """A CA and a server certificate for 127.0.0.1, made with the openssl command."""
    folder.mkdir(parents=True, exist_ok=True)
    run = lambda *a: subprocess.run(["openssl", *a], cwd=folder, check=True, capture_output=True)
    run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.pem", "-days", "2",
        "-subj", "/CN=wechat-http test CA")
    run("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=127.0.0.1")
    (folder / "san.ext").write_text("subjectAltName=IP:127.0.0.1\n")
    run("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial", "-out", "server.pem",
        "-days", "2", "-extfile", "san.ext")
    return folder / "ca.pem", folder / "server.pem", folder / "server.key"


def test_events_reach_jetstream_over_tls(tmp_path):
    """tls:// with a CA made here: the events arrive; without the CA the handshake is refused."""
    import ssl

    ca, cert, key = make_certs(tmp_path / "certs")
    emu_port, ctl, emu = start_emulator()
    gw_port, nats_port = free_port(), free_port()
    gw = f"http://{HOST}:{gw_port}"
    server = subprocess.Popen([NATS, "-js", "-a", HOST, "-p", str(nats_port), "-sd", str(tmp_path / "js"),
                               "--tls", "--tlscert", str(cert), "--tlskey", str(key)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    gateway = serve_gateway(tmp_path, gw, emu_port, [
        {"url": f"tls://{HOST}:{nats_port}", "stream": "SECURE", "subject_prefix": "sec", "ca_file": str(ca)},
        {"url": f"tls://{HOST}:{nats_port}", "stream": "UNTRUSTED", "subject_prefix": "untrusted"}])
    try:
        wait_for("nats-server up", lambda: port_open(nats_port))
        wait_for("gateway connected", lambda: port_open(gw_port) and api(gw, "/get_status", {})["data"]["good"])
        for i in range(5):
            ctl.call("POST", "/messages", {"from": "wxid_alice", "text": f"tls {i}"})

        context = ssl.create_default_context(cafile=str(ca))
        got = wait_texts("5 events over TLS", f"tls://{HOST}:{nats_port}", "SECURE", 5, tls=context)
        assert got == [f"tls {i}" for i in range(5)]

        wait_refused("an untrusted certificate refused", gw, "UNTRUSTED", "TLS")
    finally:
        stop(gateway, server, emu)


def test_events_reach_jetstream_with_an_nkey(tmp_path):
    """`credentials`: a seed made by `wechat-http config nkey`, its public key in the server's
    authorization: the server checks our signature of its nonce; an unknown key is refused."""

    def nkey(name):
        out = subprocess.run([str(BIN / "wechat-http"), "config", "nkey", str(tmp_path / name)],
                             capture_output=True, text=True, check=True)
        return out.stdout.strip()

    known, unknown = nkey("gateway.nk"), nkey("stranger.nk")
    assert known.startswith("U") and len(known) == 56 and known != unknown
    assert oct((tmp_path / "gateway.nk").stat().st_mode & 0o777) == "0o600"
    emu_port, ctl, emu = start_emulator()
    gw_port, nats_port = free_port(), free_port()
    gw = f"http://{HOST}:{gw_port}"
    (tmp_path / "nats.conf").write_text(
        f'listen: "{HOST}:{nats_port}"\njetstream {{ store_dir: "{tmp_path / "js"}" }}\n'
        f'authorization {{ users = [ {{ nkey: "{known}" }}, {{ user: "reader", password: "pw" }} ] }}\n')
    server = subprocess.Popen([NATS, "-c", str(tmp_path / "nats.conf")], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    gateway = serve_gateway(tmp_path, gw, emu_port, [
        {"url": f"nats://{HOST}:{nats_port}", "stream": "KEYED", "subject_prefix": "keyed",
         "credentials": str(tmp_path / "gateway.nk")},
        {"url": f"nats://{HOST}:{nats_port}", "stream": "STRANGER", "subject_prefix": "stranger",
         "credentials": str(tmp_path / "stranger.nk")}])
    try:
        wait_for("nats-server up", lambda: port_open(nats_port))
        wait_for("gateway connected", lambda: port_open(gw_port) and api(gw, "/get_status", {})["data"]["good"])
        for i in range(3):
            ctl.call("POST", "/messages", {"from": "wxid_alice", "text": f"keyed {i}"})

        got = wait_texts("3 events signed in with the nkey", f"nats://reader:pw@{HOST}:{nats_port}", "KEYED", 3)
        assert got == [f"keyed {i}" for i in range(3)]

        wait_refused("the unknown key refused", gw, "STRANGER", "uthorization")
    finally:
        stop(gateway, server, emu)
