"""The HTML report in headless Chromium, driven over the DevTools protocol.

The report is served from 127.0.0.1 (an ephemeral port, in a thread) and opened in a
fresh headless Chromium; the test checks what a reader sees: the table, one shape per
zone on the map, a popup, sorting, no console error, no request but the page itself,
and a screenshot.
"""

from __future__ import annotations

import base64
import functools
import json
import os
import re
import shutil
import signal
import subprocess
import threading
import time
import urllib.request
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

import footfall as ff

pytestmark = pytest.mark.browser

CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",  # containers often have a tiny /dev/shm
    "--hide-scrollbars",
    "--remote-debugging-port=0",
]


def _missing(message: str) -> None:
    """Skip on a workstation; fail in CI, where the browser test must run."""
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


def chromium_path() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None and Path("/usr/bin/chromium").exists():
        found = "/usr/bin/chromium"
    if found is None:
        _missing("headless Chromium not found: run `bash tests/setup-browser.sh` (make test does)")
    return found


class _Server:
    """A static file server on 127.0.0.1 that records the paths it is asked for."""

    def __init__(self, directory: Path) -> None:
        requested = self.requested = []

        class Handler(SimpleHTTPRequestHandler):
            def log_message(self, format, *args):  # keep pytest output clean
                requested.append(self.path)

        self.httpd = ThreadingHTTPServer(
            ("127.0.0.1", 0), functools.partial(Handler, directory=str(directory))
        )
        self.url = f"http://127.0.0.1:{self.httpd.server_port}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> _Server:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


class _Browser:
    """One headless Chromium page over the DevTools protocol (CDP)."""

    def __init__(self, profile: Path) -> None:
        try:
            import websocket
        except ImportError:
            _missing("websocket-client (a dev dependency) is not installed")
        self.ws = None
        self.proc = subprocess.Popen(
            [chromium_path(), *CHROMIUM_FLAGS, f"--user-data-dir={profile}", "about:blank"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,  # its helper processes form one group we can end
        )
        port_file = profile / "DevToolsActivePort"
        deadline = time.monotonic() + 30
        while not port_file.exists() or not port_file.read_text().strip():
            if time.monotonic() > deadline or self.proc.poll() is not None:
                self.close()
                pytest.fail("headless Chromium did not start (no DevToolsActivePort)")
            time.sleep(0.1)
        port = port_file.read_text().split()[0]
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=10) as r:
            page = next(t for t in json.load(r) if t["type"] == "page")
        self.ws = websocket.create_connection(
            page["webSocketDebuggerUrl"], timeout=30, suppress_origin=True
        )
        self.events: list[dict] = []
        self._id = 0

    def send(self, method: str, **params) -> dict:
        self._id += 1
        self.ws.send(json.dumps({"id": self._id, "method": method, "params": params}))
        while True:
            msg = json.loads(self.ws.recv())
            if msg.get("id") == self._id:
                if "error" in msg:
                    raise RuntimeError(f"{method}: {msg['error']}")
                return msg["result"]
            self.events.append(msg)

    def wait_for(self, method: str, timeout: float = 30) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for event in self.events:
                if event.get("method") == method:
                    return event
            self.events.append(json.loads(self.ws.recv()))
        raise TimeoutError(method)

    def js(self, expression: str):
        result = self.send("Runtime.evaluate", expression=expression, returnByValue=True)
        if "exceptionDetails" in result:
            raise RuntimeError(f"{expression}: {result['exceptionDetails']}")
        return result["result"].get("value")

    def errors(self) -> list[str]:
        """Console errors, uncaught exceptions and failed loads seen so far."""
        out = []
        for e in self.events:
            p = e.get("params", {})
            if e.get("method") == "Runtime.exceptionThrown":
                out.append(json.dumps(p["exceptionDetails"])[:300])
            elif e.get("method") == "Runtime.consoleAPICalled" and p["type"] in ("error", "assert"):
                out.append(json.dumps(p["args"])[:300])
            elif e.get("method") == "Log.entryAdded" and p["entry"]["level"] == "error":
                out.append(p["entry"]["text"])
        return out

    def close(self) -> None:
        if self.ws is not None:
            self.ws.close()
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)


@pytest.fixture(scope="module")
def page(tmp_path_factory):
    from test_report import TINY, real_zones

    zones = real_zones()
    site = tmp_path_factory.mktemp("site")
    ff.write_report(_inputs(zones)[0], zones, site / "report.html", top=None)
    ff.write_report(_inputs(zones)[0], zones, site / "top4.html", top=4)
    with _Server(site) as server:
        browser = _Browser(tmp_path_factory.mktemp("chromium-profile"))
        try:
            for domain in ("Page", "Runtime", "Log"):
                browser.send(f"{domain}.enable")
            browser.send(
                "Emulation.setDeviceMetricsOverride",
                width=1280,
                height=900,
                deviceScaleFactor=1,
                mobile=False,
            )
            browser.send("Page.navigate", url=f"{server.url}/report.html")
            browser.wait_for("Page.loadEventFired")
            # That event may be about:blank's, still in flight: wait for the report itself.
            loaded = "document.readyState === 'complete' && location.pathname"
            deadline = time.monotonic() + 30
            while browser.js(loaded) != "/report.html":
                assert time.monotonic() < deadline, "the report did not load"
                time.sleep(0.1)
            yield browser, server, zones, TINY, site
        finally:
            browser.close()


def test_table_has_the_ranked_towns(page):
    browser, _, zones, tiny, _ = page
    pal = ff.palmares(*_inputs(zones), top=None)
    rows = browser.js(
        "[...document.querySelectorAll('#palmares-table tbody tr')]"
        ".map(tr => [...tr.cells].map(td => td.textContent))"
    )
    assert [r[1] for r in rows] == list(pal.table["name"])
    # the rank with its 95 % interval, "3rd (1st–4th)"; the figures with theirs
    texts = [pal.rank_text(r) for _, r in pal.table.iterrows()]
    assert [r[0] for r in rows[:-1]] == texts[:-1]
    assert re.fullmatch(r"1st \(1st–\d+(st|nd|rd|th)\)", rows[0][0])
    assert sum(r[0].split(" (")[1] != f"{r[0].split(' ')[0]})" for r in rows[:-1]) >= 4
    assert re.fullmatch(r"[\d,]+ \([\d,]+–[\d,]+\)", rows[0][5])
    assert re.fullmatch(r"\d+% \(\d+%–\d+%\)", rows[0][6])
    assert rows[-1][0] == str(len(rows))  # Gap: suppressed, its interval too
    assert rows[-1][5:] == ["<10", "<10"]
    # error bars: one per town and figure (matplotlib draws them as line collections)
    bars = browser.js(
        "document.querySelectorAll('#intervals svg g[id^=\"LineCollection\"]').length"
    )
    assert bars >= 2


def test_map_has_one_shape_per_zone_and_popups(page):
    browser, _, zones, _, _ = page
    assert browser.js("document.querySelectorAll('path.ff-zone').length") == len(zones)
    assert browser.js("document.querySelectorAll('path.ff-dot').length") == len(zones)
    # The outline of the 13 mainland regions, under the zones.
    assert browser.js("document.querySelectorAll('path.ff-region').length") == 13
    # Every shape is a Leaflet SVG path in the map pane (Leaflet ran, nothing is a stub).
    assert browser.js(
        "[...document.querySelectorAll('path.ff-zone')]"
        ".every(p => p.closest('.leaflet-overlay-pane') && p.getAttribute('d'))"
    )
    # Clicking Alès' dot opens its popup with the published figures.
    popup = browser.js(
        """(() => {
          const dots = [...document.querySelectorAll('path.ff-dot')];
          for (const dot of dots) {
            dot.dispatchEvent(new MouseEvent('click', {bubbles: true}));
            const box = document.querySelector('.leaflet-popup-content');
            if (box && box.textContent.includes('Alès')) return box.innerText;
          }
          return null;
        })()"""
    )
    assert popup is not None
    for label in ("Town", "Alès", "Monthly passages", "Resilience", "rank"):
        assert label in popup


def test_table_sorts_on_click(page):
    browser, *_ = page
    order = browser.js(
        """(() => {
          const th = [...document.querySelectorAll('#palmares-table th')]
            .find(h => h.textContent === 'Resilience');
          th.click();
          const up = [...document.querySelectorAll('#palmares-table tbody tr')]
            .map(tr => Number(tr.cells[6].dataset.sort));
          th.click();
          const down = [...document.querySelectorAll('#palmares-table tbody tr')]
            .map(tr => Number(tr.cells[6].dataset.sort));
          return [up, down, th.getAttribute('aria-sort')];
        })()"""
    )
    up, down, state = order
    assert up == sorted(up) and down == sorted(up, reverse=True) and state == "descending"


def test_no_console_error_and_nothing_else_loaded(page):
    browser, server, *_ = page
    browser.js("new Promise(r => setTimeout(r, 300))")  # let late errors surface
    assert browser.errors() == []
    # The page is self-contained: the browser asked the server for nothing else.
    assert {p.split("?")[0] for p in server.requested} == {"/report.html"}


def test_screenshot(page):
    browser, _, _, _, site = page
    height = browser.js("document.documentElement.scrollHeight")
    browser.send(
        "Emulation.setDeviceMetricsOverride",
        width=1280,
        height=height,
        deviceScaleFactor=1,
        mobile=False,
    )
    shot = browser.send("Page.captureScreenshot", format="png")
    png = base64.b64decode(shot["data"])
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    # Width and height from the PNG header.
    assert int.from_bytes(png[16:20], "big") == 1280
    assert int.from_bytes(png[20:24], "big") == height > 2000
    path = Path(os.environ.get("FOOTFALL_SCREENSHOT", site / "report.png"))
    path.write_bytes(png)
    assert path.stat().st_size > 50_000  # a rendered page, not a blank one


def test_cutoff_sentence_under_a_top_4(page):
    browser, server, zones, _, _ = page
    pal = ff.palmares(*_inputs(zones), top=4)
    browser.send("Page.navigate", url=f"{server.url}/top4.html")
    deadline = time.monotonic() + 30
    while browser.js("document.readyState === 'complete' && location.pathname") != "/top4.html":
        assert time.monotonic() < deadline, "the top-4 report did not load"
        time.sleep(0.1)
    text = browser.js("document.querySelector('#palmares #cutoff').innerText")
    assert text == pal.cutoff_sentence()
    assert "cannot be told apart" in text and "(5th, outside the top 4)" in text
    visible = browser.js(
        "(() => { const r = document.querySelector('#cutoff').getBoundingClientRect();"
        " return r.width > 0 && r.height > 0; })()"
    )
    assert visible


@functools.cache
def _hourly():
    from test_report import make_hourly, with_replicates

    return with_replicates(make_hourly())


def _inputs(zones):
    return _hourly(), zones
