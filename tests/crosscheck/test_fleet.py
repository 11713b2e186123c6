"""A fleet of three real gateway processes on one real PostgreSQL, with two emulated accounts,
a webhook receiver and a NATS JetStream consumer (nats-py). The node driving account A is
killed with SIGKILL while 500 inbound messages flow and a 200-receiver broadcast runs:

* another node takes A over within 25 s (lease 15 s);
* the broadcast completes with each receiver exactly once at the emulator;
* every inbound message reaches the webhook and the NATS stream — none missing, in order per
  account, any repeat with the same event id;
* actions sent to the surviving nodes meanwhile are answered (retcode 0, or 33001 while no
  node drives A), never left hanging;
* the killed node, started again with the same config, takes no lease another node holds
  (`wechat-http fleet status --json` shows it)."""

import json
import os
import shutil
import signal
import subprocess
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from conftest import BIN, HOST, free_port, postgres_bin, start_emulator, start_postgres
from test_console import CHROMIUM, DRIVER, browser, one, shot, texts, type_into  # noqa: F401 (browser: a fixture)
from test_nats import NATS, start_nats
from test_nats import stream_messages as nats_stream_messages
from test_nonebot import port_open, wait_for

TOKEN = "fleet-token-5b1e"
INBOUND, RECEIVERS = 500, 200

pytestmark = pytest.mark.skipif(
    not (postgres_bin() and NATS and CHROMIUM and DRIVER) and not os.environ.get("CI_REQUIRE_POSTGRES"),
    reason="PostgreSQL, nats-server and Chromium are needed (.ci/run installs them)")


def call(gw, action, params, account, timeout=10):
    body = {"action": action, "params": params, "self": {"platform": "wechat", "user_id": account}}
    req = urllib.request.Request(f"{gw}/", data=json.dumps(body).encode(),
                                 headers={"content-type": "application/json", "authorization": f"Bearer {TOKEN}"})
    with urllib.request.urlopen(req, timeout=timeout) as r:
        return json.loads(r.read())


def bots(gw):
    return {b["wx.account"]: b for b in call(gw, "get_status", {}, "")["data"]["bots"]}


class Hook:
    """A webhook receiver on 127.0.0.1: every event body, in arrival order."""

    def __init__(self):
        self.events, self.lock = [], threading.Lock()
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["content-length"]))
                with hook.lock:
                    hook.events.append(json.loads(body))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer((HOST, 0), Handler)
        self.url = f"http://{HOST}:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def messages(self, wxid):
        with self.lock:
            return [(e["id"], e["message"][0]["data"]["text"]) for e in self.events
                    if e.get("type") == "message" and e["self"]["user_id"] == wxid]


def wxid_messages(port, stream, wxid):
    """(Nats-Msg-Id, text) of the message events of `wxid` in the stream, in stream order;
    None while the stream cannot be read."""
    try:
        _, msgs = nats_stream_messages(port, stream)
    except Exception:
        return None
    return [(m["id"], m["event"]["message"][0]["data"]["text"]) for m in msgs
            if m["event"]["type"] == "message" and m["event"]["self"]["user_id"] == wxid]


def check_delivery(what, got):
    """Every inbound text once or more, first occurrences in order, repeats with one id."""
    ids = {}
    for event_id, text in got:
        ids.setdefault(text, set()).add(event_id)
    expected = [f"in {i}" for i in range(INBOUND)]
    missing = [t for t in expected if t not in ids]
    assert not missing, f"{what}: {len(missing)} missing, first {missing[:5]}"
    firsts = []
    for _, text in got:
        if text not in firsts:
            firsts.append(text)
    ours = [t for t in firsts if t in set(expected)]
    assert ours == expected, f"{what}: order broken"
    assert all(len(v) == 1 for v in ids.values()), f"{what}: a repeat with another id"
    return len(got) - len(ids)


def test_a_killed_node_hands_its_accounts_over(tmp_path, browser):
    pg_url, stop_pg = start_postgres()
    receivers = [f"wxid_r{i:03}" for i in range(RECEIVERS)]
    fixture_a = tmp_path / "a.json"
    fixture_a.write_text(json.dumps({
        "self": {"wxid": "wxid_bota", "name": "Bot A"},
        "contacts": [{"wxid": "wxid_sender", "name": "Sender"}] + [{"wxid": r, "name": r} for r in receivers],
    }))
    fixture_b = tmp_path / "b.json"
    fixture_b.write_text(json.dumps({"self": {"wxid": "wxid_botb", "name": "Bot B"},
                                     "contacts": [{"wxid": "wxid_sender", "name": "Sender"}]}))
    port_a, ctl_a, emu_a = start_emulator(fixture_a)
    port_b, ctl_b, emu_b = start_emulator(fixture_b)
    nats_port = free_port()
    nats_proc = start_nats(nats_port, tmp_path / "nats")
    nats_url = f"nats://u:secret@{HOST}:{nats_port}"
    hook = Hook()
    ports = [free_port() for _ in range(3)]
    gws = [f"http://{HOST}:{p}" for p in ports]
    env = dict(os.environ, RUST_LOG="info,wcf_emulator=warn")
    env.pop("WECHAT_HTTP_CONFIG", None)
    procs = {}

    def config(i):
        return {
            "http_server": {"http_address": gws[i], "access_token": TOKEN},
            "answer_delay_rand_min": 0.05, "answer_delay_rand_max": 0.1, "enable_heart_beat": False,
            "send": {"max_per_minute": 0, "max_per_hour": 0},
            "wcf": {"login_check_ms": 200},
            "accounts": [
                {"name": "a", "wcf": {"address": f"tcp://{HOST}:{port_a}"}},
                {"name": "b", "wcf": {"address": f"tcp://{HOST}:{port_b}"}},
            ],
            "store": {"backend": "postgres", "postgres_url": pg_url},
            "fleet": {"node_id": f"node-{i + 1}", "lease_seconds": 15},
            "http_post": [{"url": hook.url, "time_out": 5}],
            "nats": [{"url": nats_url, "stream": "FLEET", "subject_prefix": "wechat", "ack_timeout": 5}],
        }

    def start(i):
        d = tmp_path / f"node{i + 1}"
        d.mkdir(exist_ok=True)
        (d / "config.yaml").write_text(json.dumps(config(i)))
        log = open(d / "gateway.log", "a")
        procs[i] = subprocess.Popen([str(BIN / "wechat-http"), "serve", "--config", "config.yaml"], cwd=d, env=env,
                                    stdout=log, stderr=subprocess.STDOUT)
        def up():
            assert procs[i].poll() is None, (d / "gateway.log").read_text()
            return port_open(ports[i])
        wait_for(f"node-{i + 1} up", up)

    try:
        start(0)
        wait_for("node-1 drives both accounts",
                 lambda: all(b["wx.node"] == "node-1" and b["online"] for b in bots(gws[0]).values()))
        start(1)
        start(2)
        # Actions at the surviving nodes, all along: answered, never hanging.
        answers, probing = [], threading.Event()
        probing.set()

        def probe():
            while probing.is_set():
                for gw in gws[1:]:
                    t = time.time()
                    try:
                        r = call(gw, "get_self_info", {}, "a", timeout=15)
                        answers.append((r["retcode"], time.time() - t))
                    except Exception as e:  # a timeout or a refused connection is a failure here
                        answers.append((repr(e), time.time() - t))
                time.sleep(0.2)
        prober = threading.Thread(target=probe, daemon=True)
        prober.start()

        job = call(gws[1], "send_message", {"receivers": receivers, "message": "broadcast", "async": True}, "a")
        assert job["retcode"] == 0, job
        job_id = job["data"]["job_id"]
        injected = []

        def inject():
            for i in range(INBOUND):
                ctl_a.call("POST", "/messages", {"from": "wxid_sender", "text": f"in {i}"})
                injected.append(i)
                time.sleep(0.02)
        injector = threading.Thread(target=inject, daemon=True)
        injector.start()

        def broadcast_sent():
            return [s["receiver"] for s in ctl_a.call("GET", "/sent")[1] if s.get("text") == "broadcast"]
        wait_for("the broadcast under way", lambda: len(broadcast_sent()) >= 40 and len(injected) >= 100, 60)
        procs[0].send_signal(signal.SIGKILL)
        procs[0].wait()
        killed_at = time.time()
        at_kill = len(broadcast_sent())
        assert at_kill < RECEIVERS, "the kill must land while the broadcast runs"
        print(f"node-1 killed with {at_kill}/{RECEIVERS} receivers sent and {len(injected)}/{INBOUND} messages in")

        def new_holder():
            a = bots(gws[1])["a"]
            return a["wx.node"] in ("node-2", "node-3") and a["online"] and a["wx.node"]
        holder = wait_for("another node drives account a", new_holder, 40)
        takeover = time.time() - killed_at
        print(f"takeover by {holder} {takeover:.1f} s after SIGKILL (lease 15 s)")
        assert takeover < 25, takeover

        injector.join(60)
        ctl_b.call("POST", "/messages", {"from": "wxid_sender", "text": "to b after the kill"})

        def job_done():
            r = call(gws[2], "get_send_job", {"job_id": job_id}, "a")
            return r["retcode"] == 0 and r["data"]["state"] == "done" and r["data"]
        status = wait_for("the broadcast finished", job_done, 120)
        assert status["sent"] == RECEIVERS and status["failed"] == [], status
        sent = broadcast_sent()
        assert sorted(sent) == receivers, f"each receiver exactly once: {len(sent)} sends, {len(set(sent))} distinct"

        wait_for("every inbound message at the webhook", lambda: len({t for _, t in hook.messages("wxid_bota")}) >= INBOUND, 120)
        repeats = check_delivery("webhook", hook.messages("wxid_bota"))
        wait_for("account b's message at the webhook",
                 lambda: any(t == "to b after the kill" for _, t in hook.messages("wxid_botb")), 30)
        wait_for("every inbound message in the stream",
                 lambda: len({t for _, t in (wxid_messages(nats_port, "FLEET", "wxid_bota") or [])}) >= INBOUND, 120)
        stream = wxid_messages(nats_port, "FLEET", "wxid_bota")
        stream_repeats = check_delivery("NATS", stream)
        print(f"webhook: {len(hook.messages('wxid_bota'))} deliveries ({repeats} repeats); "
              f"stream: {len(stream)} messages ({stream_repeats} repeats)")

        probing.clear()
        prober.join(30)
        bad = [a for a in answers if a[0] not in (0, 33001)]
        assert not bad, f"actions at surviving nodes failed: {bad[:5]}"
        assert any(a[0] == 0 for a in answers)
        print(f"{len(answers)} probe answers: {sum(a[0] == 0 for a in answers)} ok, "
              f"{sum(a[0] == 33001 for a in answers)} 33001, slowest {max(a[1] for a in answers):.2f} s")

        # node-1 again, same config: it takes nothing the others hold.
        start(0)
        time.sleep(6)
        out = subprocess.run([str(BIN / "wechat-http"), "fleet", "status", "--json", "--config", "config.yaml"],
                             cwd=tmp_path / "node1", env=env, capture_output=True, text=True, timeout=30)
        assert out.returncode == 0, out.stderr
        fleet = json.loads(out.stdout)
        leases = {(l["kind"], l["name"]): l for l in fleet["leases"]}
        assert leases[("account", "a")]["holder"] == holder and leases[("account", "a")]["held"], leases
        assert all(l["holder"] != "node-1" for l in fleet["leases"] if l["held"]), fleet["leases"]
        assert {n["id"] for n in fleet["nodes"] if n["alive"]} == {"node-1", "node-2", "node-3"}, fleet["nodes"]
        table = subprocess.run([str(BIN / "wechat-http"), "fleet", "status", "--config", "config.yaml"],
                               cwd=tmp_path / "node1", env=env, capture_output=True, text=True, timeout=30)
        assert "accounts (2)" in table.stdout and holder in table.stdout, table.stdout

        # The console of the rejoined node shows the fleet: three nodes, the leases, and
        # which node drives each account.
        d = browser
        d.get(f"{gws[0]}/console")
        type_into(one(d, "login-token"), TOKEN)
        one(d, "login-submit").click()
        wait_for("the fleet's nodes", lambda: len(texts(d, "fleet-node-row")) == 3, 30)
        wait_for("the leases", lambda: any("account" in r and holder in r for r in texts(d, "fleet-lease-row")), 30)
        wait_for("where each account is driven",
                 lambda: (lambda n: len(n) == 2 and all("node-2" in t or "node-3" in t for t in n))(texts(d, "account-node")), 30)
        shot(d, "fleet-overview")
    finally:
        for p in procs.values():
            if p.poll() is None:
                p.terminate()
        for p in procs.values():
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
        for p in (emu_a, emu_b, nats_proc):
            p.terminate()
            p.wait(timeout=10)
        hook.server.shutdown()
        stop_pg()
        shutil.rmtree(tmp_path / "nats", ignore_errors=True)
