"""The API checked by a tool nobody here wrote: schemathesis, against the live /openapi.json
of the real binary (with its embedded emulator), every phase (examples, coverage, fuzzing,
stateful), at least 30 examples per operation, every check but negative_data_rejection.

That check is off by design: OneBot 12 answers a bad action with HTTP 200 and a retcode
(10003 and friends) that says what was wrong, where schemathesis expects a 4xx."""

import json
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from conftest import BIN, HOST, free_port

TOKEN = "schemathesis-token"


def test_schemathesis_reports_no_failure(tmp_path):
    port = free_port()
    base = f"http://{HOST}:{port}"
    (tmp_path / "config.yaml").write_text(json.dumps({
        "http_server": {"http_address": base, "access_token": TOKEN, "event_enabled": True},
        "answer_delay_rand_min": 0, "answer_delay_rand_max": 0,
        "enable_heart_beat": False,
    }))
    gw = subprocess.Popen([str(BIN / "wechat-http"), "serve", "--demo", "--config", "config.yaml"],
                          cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                          env={"RUST_LOG": "warn", "PATH": "/usr/bin:/bin"})
    try:
        deadline = time.time() + 30
        while True:
            try:
                req = urllib.request.Request(f"{base}/get_status", headers={"authorization": f"Bearer {TOKEN}"})
                with urllib.request.urlopen(req, timeout=2) as r:
                    if json.loads(r.read())["data"]["good"]:
                        break
            except OSError:
                pass
            assert gw.poll() is None, gw.stderr.read().decode(errors="replace")
            assert time.time() < deadline, "the gateway did not come up"
            time.sleep(0.1)
        st = Path(sys.executable).with_name("schemathesis")
        run = subprocess.run(
            [str(st), "run", f"{base}/openapi.json", "-H", f"Authorization: Bearer {TOKEN}",
             "--checks", "all", "--exclude-checks", "negative_data_rejection",
             "--phases", "examples,coverage,fuzzing,stateful", "-n", "30",
             "--generation-database", "none", "--no-color", "--seed", "1"],
            capture_output=True, text=True, timeout=900, cwd=tmp_path,
        )
        summary = run.stdout[-4000:]
        assert run.returncode == 0, summary
        assert " passed" in summary and "failure" not in summary.split("SUMMARY")[-1].replace("1 warning", ""), summary
        assert gw.poll() is None, "the gateway is still running after the run"
    finally:
        gw.terminate()
        gw.wait(timeout=15)
