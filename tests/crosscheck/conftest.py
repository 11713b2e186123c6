"""Shared fixtures: the emulator binary on free loopback ports, and a control-API client."""

import json
import os
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(os.environ.get("WCF_BIN_DIR", ROOT / "target" / "debug"))
HOST = "127.0.0.1"


def free_port_pair():
    """A port p with p+1 free too, whose digits do not occur in the host (the official client
    builds the message URL with str.replace)."""
    for _ in range(200):
        with socket.socket() as s:
            s.bind((HOST, 0))
            port = s.getsockname()[1]
        if str(port) in HOST or str(port + 1) in HOST or port >= 65534:
            continue
        try:
            with socket.socket() as a, socket.socket() as b:
                a.bind((HOST, port))
                b.bind((HOST, port + 1))
            return port
        except OSError:
            continue
    raise RuntimeError("no free port pair")


def free_port():
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


class Control:
    def __init__(self, base):
        self.base = base

    def call(self, method, path, body=None, raw=None):
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
        req = urllib.request.Request(self.base + path, data=data, method=method,
                                     headers={"content-type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=10) as r:
                return r.status, json.loads(r.read() or b"null")
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read() or b"null")


def launch_emulator(fixture=None):
    """An emulator process on free ports (optionally with a fixture file), once it answers:
    (port, Control, proc, data folder)."""
    port, cport = free_port_pair(), free_port()
    data = tempfile.mkdtemp(prefix="wcf-crosscheck-")
    args = [str(BIN / "wcf-emulator"), "--listen", f"tcp://{HOST}:{port}", "--control", f"{HOST}:{cport}", "--data", data]
    if fixture:
        args += ["--fixture", str(fixture)]
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    control = Control(f"http://{HOST}:{cport}")
    deadline = time.time() + 20
    while True:
        try:
            if control.call("GET", "/health")[0] == 200:
                break
        except OSError:
            pass
        if proc.poll() is not None or time.time() > deadline:
            raise RuntimeError("emulator did not start: " + proc.stdout.read().decode(errors="replace"))
        time.sleep(0.05)
    return port, control, proc, data


@pytest.fixture(scope="session")
def emulator():
    port, control, proc, data = launch_emulator()
    yield {"port": port, "control": control, "data": data}
    proc.terminate()
    proc.wait(timeout=10)


def start_emulator(fixture=None):
    """An emulator process on free ports (optionally with a fixture file): (port, Control, proc)."""
    port, control, proc, _ = launch_emulator(fixture)
    return port, control, proc


PG_USER, PG_PASSWORD = "wechat", "pg-crosscheck-secret"


def postgres_bin():
    """Debian's PostgreSQL binaries folder, or None."""
    import glob
    dirs = sorted(d for d in glob.glob("/usr/lib/postgresql/*/bin") if os.path.exists(os.path.join(d, "initdb")))
    return dirs[-1] if dirs else None


def start_postgres():
    """A PostgreSQL cluster in a temp folder on a free loopback port (as `nobody` when we are
    root: PostgreSQL refuses root), SCRAM passwords: (url, stop)."""
    import shutil
    import signal
    bindir = postgres_bin()
    if not bindir:
        raise RuntimeError("PostgreSQL is not installed (apt install postgresql)")
    d = tempfile.mkdtemp(prefix="wechat-http-pg-")
    pw = os.path.join(d, "pw")
    Path(pw).write_text(PG_PASSWORD)
    prefix = []
    if os.geteuid() == 0:
        subprocess.run(["chown", "-R", "65534:65534", d], check=True)
        prefix = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--"]
    subprocess.run(prefix + [os.path.join(bindir, "initdb"), "-D", os.path.join(d, "data"), "-U", PG_USER,
                             "--auth=scram-sha-256", f"--pwfile={pw}", "--no-locale", "-E", "UTF8", "--no-sync"],
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=d)
    port = free_port()
    proc = subprocess.Popen(prefix + [os.path.join(bindir, "postgres"), "-D", os.path.join(d, "data"), "-h", HOST,
                                      "-p", str(port), "-k", d, "-c", "fsync=off", "-c", "max_connections=200"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=d)
    deadline = time.time() + 30
    while True:
        with socket.socket() as s:
            if s.connect_ex((HOST, port)) == 0:
                break
        if proc.poll() is not None or time.time() > deadline:
            raise RuntimeError("PostgreSQL did not start")
        time.sleep(0.1)
    time.sleep(0.5)

    def stop():
        proc.send_signal(signal.SIGQUIT)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
        shutil.rmtree(d, ignore_errors=True)
    return f"postgres://{PG_USER}:{PG_PASSWORD}@{HOST}:{port}/postgres", stop
