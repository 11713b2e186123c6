"""The web console in a real headless Chromium (Debian's `chromium` + `chromium-driver`, driven
over WebDriver by selenium) against the real gateway binary and the emulator: sign in, the
account connected, a category built through contact search, a broadcast to it watched to 2/2
while the emulator records both sends, the jobs list, the live event tail, the login QR of a
logged-out account, English, a phone-width layout, sign out; and a page on another site that
tries to drive the console is refused. Each page's screenshot goes to target/console-screenshots/.

Chromium is pointed at a dead proxy (127.0.0.1:9) so that it cannot reach any host but the
loopback ones the test serves."""

import http.server
import json
import os
import shutil
import subprocess
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from conftest import BIN, HOST, free_port, start_emulator
from test_nonebot import port_open
from test_nonebot import wait_for as wait_until

TOKEN = "console-token-5f2c9a"


def png(width=16, height=16):
    """A small green PNG, built here."""
    import struct
    import zlib

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    rows = b"".join(b"\x00" + b"\x07\xc1\x60" * width for _ in range(height))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))
ROOT = Path(__file__).resolve().parents[2]
SHOTS = ROOT / "target" / "console-screenshots"
CHROMIUM = shutil.which("chromium")
DRIVER = shutil.which("chromedriver")

pytestmark = pytest.mark.skipif(not (CHROMIUM and DRIVER) and not os.environ.get("CI_REQUIRE_CHROMIUM"),
                                reason="chromium and chromium-driver are not installed (.ci/run installs them)")


def request(method, url, body=None, headers=None):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method, headers=dict({"content-type": "application/json"}, **(headers or {})))
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, dict(r.headers), r.read()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read()


@pytest.fixture
def gateway(tmp_path):
    port, ctl, emu = start_emulator()
    gw_port, dead_port = free_port(), free_port()
    gw = f"http://{HOST}:{gw_port}"
    received = []

    class Bot(http.server.BaseHTTPRequestHandler):
        def do_POST(self):
            received.append(self.rfile.read(int(self.headers["content-length"])))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *a):
            pass

    bot = http.server.ThreadingHTTPServer((HOST, 0), Bot)
    threading.Thread(target=bot.serve_forever, daemon=True).start()
    config = {
        "http_server": {"http_address": gw, "access_token": TOKEN},
        # One webhook that works and one whose bot is down: the overview shows both.
        "http_post": [{"url": f"http://{HOST}:{bot.server_address[1]}/hook", "secret": "s"},
                      {"url": f"http://{HOST}:{dead_port}/down", "secret": "s", "time_out": 1}],
        "answer_delay_rand_min": 0, "answer_delay_rand_max": 0,
        "wcf": {"address": f"tcp://{HOST}:{port}", "login_check_ms": 200},
        "console": {"session_hours": 2},
    }
    (tmp_path / "config.yaml").write_text(json.dumps(config))
    env = dict(os.environ, RUST_LOG="warn")
    env.pop("WECHAT_HTTP_CONFIG", None)
    log = open(tmp_path / "gateway.log", "w")
    proc = subprocess.Popen([str(BIN / "wechat-http"), "serve", "--config", "config.yaml"], cwd=tmp_path, env=env,
                            stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_for("gateway up", lambda: port_open(gw_port))
        yield {"url": gw, "port": gw_port, "control": ctl}
    finally:
        proc.terminate()
        proc.wait(timeout=15)
        bot.shutdown()
        emu.terminate()
        emu.wait(timeout=10)


@pytest.fixture
def browser():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ["--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu", "--window-size=1280,900",
                "--no-first-run", "--no-default-browser-check", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", "--disable-default-apps", "--disable-extensions",
                "--disable-domain-reliability", "--disable-features=Translate,OptimizationHints,MediaRouter",
                "--proxy-server=http://127.0.0.1:9", "--lang=zh-CN"]:
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service(executable_path=DRIVER), options=options)
    driver.implicitly_wait(0)
    SHOTS.mkdir(parents=True, exist_ok=True)
    try:
        yield driver
    finally:
        driver.quit()


def by_testid(driver, testid):
    from selenium.webdriver.common.by import By
    return driver.find_elements(By.CSS_SELECTOR, f'[data-testid="{testid}"]')


def one(driver, testid, timeout=15):
    return wait_for(f"[data-testid={testid}]", lambda: (by_testid(driver, testid) or [None])[0], timeout)


def wait_for(what, check, timeout=60):
    """wait_until, where an element re-rendered under our feet just means "not yet"."""
    from selenium.common.exceptions import StaleElementReferenceException

    def attempt():
        try:
            return check()
        except StaleElementReferenceException:
            return None
    return wait_until(what, attempt, timeout)


def texts(driver, testid):
    """The texts of every element with this test id, read in one go (no stale elements)."""
    return driver.execute_script(
        "return Array.from(document.querySelectorAll(`[data-testid='${arguments[0]}']`), e => e.innerText)", testid)


def text_of(driver, testid):
    """The text of the first element with this test id ("" when there is none right now)."""
    from selenium.common.exceptions import StaleElementReferenceException
    try:
        found = by_testid(driver, testid)
        return found[0].text if found else ""
    except StaleElementReferenceException:
        return ""


def shot(driver, name):
    time.sleep(0.3)  # let the last render settle
    driver.save_screenshot(str(SHOTS / f"{name}.png"))


def type_into(element, text):
    """Replaces the field's text with key presses (so the page sees input events)."""
    from selenium.webdriver.common.keys import Keys
    element.send_keys(Keys.CONTROL, "a")
    element.send_keys(Keys.BACKSPACE)
    if text:
        element.send_keys(text)


def test_console_end_to_end(gateway, browser):
    gw, ctl, d = gateway["url"], gateway["control"], browser
    d.get(f"{gw}/console")
    token = one(d, "login-token")
    shot(d, "login")

    # A wrong token is refused on the page and signs nobody in.
    type_into(token, "not-the-token")
    one(d, "login-submit").click()
    wait_for("sign-in refusal", lambda: "not valid" in one(d, "login-error").text)
    assert not d.get_cookies()

    type_into(one(d, "login-token"), TOKEN)
    one(d, "login-submit").click()
    wait_for("account connected", lambda: text_of(d, "account-status") == "connected", 30)
    assert TOKEN not in d.current_url
    cookies = {c["name"]: c for c in d.get_cookies()}
    session = cookies["wechat_http_console"]
    assert session["httpOnly"] and session["sameSite"] == "Strict", session
    assert TOKEN not in session["value"]
    assert "token" not in d.execute_script("return document.cookie"), "the cookie is HttpOnly"
    # Per delivery channel: the working webhook's last success, the other one's error and backlog.
    def channel(path):
        """The cells of the channel row for this webhook: target, kind, backlog, last success, last error."""
        rows = d.execute_script("return Array.from(document.querySelectorAll('[data-testid=channel-row]'),"
                                " r => Array.from(r.cells, c => c.innerText))")
        return next((r for r in rows if r[0].endswith(path)), ["", "", "", "—", "—"])
    wait_for("the webhook delivered", lambda: channel("/hook")[3] != "—" and channel("/hook")[4] == "—", 30)
    wait_for("the dead webhook's error and backlog",
             lambda: channel("/down")[4] != "—" and channel("/down")[3] == "—" and int(channel("/down")[2] or 0) > 0, 30)
    shot(d, "overview")

    # Contacts, with search.
    one(d, "nav-contacts").click()
    wait_for("contacts listed", lambda: len(by_testid(d, "contact-row")) >= 5)
    type_into(one(d, "contact-search"), "alice")
    wait_for("search narrows", lambda: texts(d, "contact-row") and len(texts(d, "contact-row")) == 1 and "wxid_alice" in texts(d, "contact-row")[0])
    type_into(one(d, "contact-search"), "")
    wait_for("all again", lambda: len(by_testid(d, "contact-row")) >= 5)
    shot(d, "contacts")

    # A category with two members added through search.
    one(d, "nav-categories").click()
    type_into(one(d, "category-new-name"), "VIP 周报")
    one(d, "category-create").click()
    row = wait_for("category listed", lambda: next((r for r in by_testid(d, "category-row") if "VIP 周报" in r.text), None))
    from selenium.webdriver.common.by import By
    row.find_element(By.CSS_SELECTOR, '[data-testid="category-open"]').click()
    for who in ["alice", "bob"]:
        type_into(one(d, "member-search"), who)
        wait_for(f"{who} found", lambda: len(by_testid(d, "member-result")) == 1)
        by_testid(d, "member-result")[0].find_element(By.CSS_SELECTOR, '[data-testid="member-add"]').click()
        wait_for(f"{who} added", lambda: any(who in r.lower() for r in texts(d, "member-row")))
    assert len(by_testid(d, "member-row")) == 2
    shot(d, "categories")

    # Broadcast to it: 2 distinct receivers, progress to 2/2, both sends at the emulator.
    ctl.call("DELETE", "/sent")
    one(d, "nav-broadcast").click()
    type_into(one(d, "broadcast-text"), "本周新品 weekly news")
    box = wait_for("category checkbox", lambda: next(
        (b for b in by_testid(d, "broadcast-category") if "VIP 周报" in b.find_element(By.XPATH, "..").text), None))
    box.click()
    wait_for("receiver count", lambda: text_of(d, "broadcast-receiver-count") == "2")
    one(d, "broadcast-start").click()
    wait_for("job done 2/2", lambda: text_of(d, "job-progress") == "2/2" and "done" in text_of(d, "job-state"), 60)
    sent = ctl.call("GET", "/sent")[1]
    assert sorted(s["receiver"] for s in sent if s.get("text") == "本周新品 weekly news") == ["wxid_alice", "wxid_bob"]
    shot(d, "broadcast")

    # An image to a contact picked by search (no category).
    image = SHOTS.parent / "console-test-image.png"
    image.write_bytes(png())
    one(d, "nav-broadcast").click()
    wait_for("a fresh broadcast form", lambda: not by_testid(d, "job-progress") and by_testid(d, "broadcast-contact-search"))
    type_into(one(d, "broadcast-contact-search"), "carol")
    one(d, "broadcast-contact-result").find_element(By.CSS_SELECTOR, "button").click()
    wait_for("one receiver", lambda: text_of(d, "broadcast-receiver-count") == "1")
    one(d, "broadcast-image").send_keys(str(image))
    one(d, "broadcast-start").click()
    wait_for("image job done 1/1", lambda: text_of(d, "job-progress") == "1/1" and "done" in text_of(d, "job-state"), 60)
    sent = ctl.call("GET", "/sent")[1]
    assert [s["func"] for s in sent if s["receiver"] == "wxid_carol"] == ["send_image"], sent

    one(d, "nav-jobs").click()
    wait_for("jobs listed", lambda: len(by_testid(d, "job-row")) == 2)
    assert texts(d, "job-progress") == ["1/1", "2/2"], "newest first"
    assert all("done" in r for r in texts(d, "job-state"))
    shot(d, "jobs")

    # The live tail shows a message injected at the emulator.
    one(d, "nav-events").click()
    one(d, "event-pause")
    ctl.call("POST", "/messages", {"from": "wxid_carol", "text": "hello from the tail"})
    wait_for("event in the tail", lambda: any("hello from the tail" in r for r in texts(d, "event-row")), 30)
    shot(d, "events")
    # Paused, the tail holds still; resumed, it catches up.
    one(d, "event-pause").click()
    ctl.call("POST", "/messages", {"from": "wxid_bob", "text": "while paused"})
    time.sleep(2.5)  # several poll periods (1 s): nothing may appear while paused
    assert not any("while paused" in r for r in texts(d, "event-row"))
    one(d, "event-pause").click()
    wait_for("caught up", lambda: any("while paused" in r for r in texts(d, "event-row")), 30)
    type_into(one(d, "event-filter"), "no-such-text")
    wait_for("filtered out", lambda: not by_testid(d, "event-row"))
    type_into(one(d, "event-filter"), "tail")
    wait_for("filtered in", lambda: any("hello from the tail" in r for r in texts(d, "event-row")))

    # Logged out: the overview shows the login QR code as an image.
    ctl.call("POST", "/faults", {"kind": "logout"})
    one(d, "nav-overview").click()
    wait_for("logged out", lambda: text_of(d, "account-status") == "logged_out", 30)
    qr = one(d, "qr-image", 30)
    wait_for("QR image drawn", lambda: d.execute_script("return arguments[0].complete && arguments[0].naturalWidth", qr) > 100)
    shot(d, "overview-logged-out")
    ctl.call("POST", "/faults", {"kind": "login"})
    wait_for("connected again", lambda: text_of(d, "account-status") == "connected", 30)
    assert not by_testid(d, "qr-image")

    # English, and a phone-width screen.
    one(d, "lang-toggle").click()
    wait_for("English", lambda: text_of(d, "nav-overview") == "Overview")
    d.set_window_size(390, 844)
    one(d, "nav-categories").click()
    wait_for("categories on a phone", lambda: by_testid(d, "category-row"))
    width = d.execute_script("return document.documentElement.scrollWidth")
    assert width <= 400, f"the page is {width}px wide on a 390px screen"
    shot(d, "phone-categories")
    d.set_window_size(1280, 900)

    # A page on another site cannot drive the console, even with the cookie in the browser.
    evil_port = free_port()
    page = f"""<!doctype html><script>
      fetch("{gw}/create_group", {{method: "POST", credentials: "include", mode: "no-cors",
            headers: {{"content-type": "text/plain"}}, body: JSON.stringify({{group_name: "evil"}})}})
        .finally(() => {{ document.title = "sent"; }});
    </script>"""

    class Evil(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            body = page.encode()
            self.send_response(200)
            self.send_header("content-type", "text/html")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *a):
            pass

    server = http.server.ThreadingHTTPServer((HOST, evil_port), Evil)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        d.get(f"http://localhost:{evil_port}/")
        wait_for("the other site's request ran", lambda: d.title == "sent")
    finally:
        server.shutdown()
    cookie = {"cookie": f"wechat_http_console={session['value']}"}
    status_, _, body = request("POST", f"{gw}/get_groups", {}, {"authorization": f"Bearer {TOKEN}"})
    assert "evil" not in [g["name"] for g in json.loads(body)["data"]]

    # The same refusals, seen from a plain client with the session cookie.
    status_, _, body = request("POST", f"{gw}/create_group", {"group_name": "evil"}, cookie)
    assert status_ == 403 and "x-wechat-console" in json.loads(body)["message"].lower()
    status_, _, body = request("POST", f"{gw}/create_group", {"group_name": "evil"},
                            dict(cookie, **{"x-wechat-console": "1", "origin": "http://localhost:1234"}))
    assert status_ == 403 and "origin" in json.loads(body)["message"]
    status_, _, body = request("POST", f"{gw}/console/session", {"token": TOKEN}, {"sec-fetch-site": "cross-site"})
    assert status_ == 403 and "set-cookie" not in {k.lower() for k in _}
    status_, _, body = request("GET", f"{gw}/console/api/overview", None, cookie)
    assert status_ == 200 and json.loads(body)["data"]["accounts"][0]["state"] == "connected"

    # Sign out: back at the login page, and the old cookie opens nothing.
    d.get(f"{gw}/console#/overview")
    one(d, "logout").click()
    one(d, "login-token")
    status_, _, body = request("GET", f"{gw}/console/api/overview", None, cookie)
    assert status_ == 401
    d.get(f"{gw}/console#/categories")
    one(d, "login-token")


def test_console_with_two_accounts(tmp_path, browser):
    """Two accounts: the overview shows both, the picker chooses the one the pages work on."""
    from selenium.webdriver.support.ui import Select

    emulators = [start_emulator() for _ in range(2)]
    gw_port = free_port()
    gw = f"http://{HOST}:{gw_port}"
    config = {
        "http_server": {"http_address": gw, "access_token": TOKEN},
        "accounts": [{"name": f"shop{i + 1}", "wcf": {"address": f"tcp://{HOST}:{port}", "login_check_ms": 200},
                      "answer_delay_rand_min": 0, "answer_delay_rand_max": 0}
                     for i, (port, _, _) in enumerate(emulators)],
    }
    (tmp_path / "config.yaml").write_text(json.dumps(config))
    env = dict(os.environ, RUST_LOG="warn")
    env.pop("WECHAT_HTTP_CONFIG", None)
    proc = subprocess.Popen([str(BIN / "wechat-http"), "serve", "--config", "config.yaml"], cwd=tmp_path, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for("gateway up", lambda: port_open(gw_port))
        d = browser
        d.get(f"{gw}/console")
        type_into(one(d, "login-token"), TOKEN)
        one(d, "login-submit").click()
        wait_for("both accounts connected", lambda: texts(d, "account-status") == ["connected", "connected"], 30)
        Select(one(d, "account-picker")).select_by_value("shop2")
        one(d, "nav-categories").click()
        type_into(one(d, "category-new-name"), "shop2 only")
        one(d, "category-create").click()
        wait_for("category listed", lambda: any("shop2 only" in r for r in texts(d, "category-row")))

        def groups(account):
            _, _, body = request("POST", f"{gw}/get_groups", {"self_id": account}, {"authorization": f"Bearer {TOKEN}"})
            return [g["name"] for g in json.loads(body)["data"]]
        assert groups("shop2") == ["shop2 only"]
        assert groups("shop1") == [], "the picker's account, not the other"
    finally:
        proc.terminate()
        proc.wait(timeout=15)
        for _, _, emu in emulators:
            emu.terminate()
            emu.wait(timeout=10)
