"""Debian's headless Chromium driven through chromedriver's WebDriver API, over plain HTTP on loopback.

`browser()` starts chromedriver on a free port and a Chromium session in a fresh profile with everything
that would phone home turned off (on a closed network its connections are refused, which stalls it), and
quits both afterwards. `Browser` has the few WebDriver calls a test needs: open a page, run a script,
wait for a script's answer, click like a mouse, press keys, take screenshots.
"""

from __future__ import annotations

import base64
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx2
import pytest

from variet.engine.backend import free_port

__all__ = ["CHROMEDRIVER", "CHROMIUM", "Browser", "browser"]

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-default-apps", "--disable-extensions", "--window-size=1400,900",
]
_KEYS = {"Enter": "\ue007", "Escape": "\ue00c", "F1": "\ue031", "Control": "\ue009", "Shift": "\ue008"}
_POLL = 0.15


class Browser:
    def __init__(self, http: httpx2.Client, session: str) -> None:
        self._http = http
        self._session = session

    def _call(self, method: str, path: str, body: Any = None) -> Any:
        response = self._http.request(method, f"/session/{self._session}{path}", json=body)
        answer = response.json()
        if response.status_code != 200:
            raise AssertionError(f"WebDriver {method} {path}: {answer.get('value', answer)}")
        return answer.get("value")

    def open(self, url: str) -> None:
        self._call("POST", "/url", {"url": url})

    def js(self, script: str, *args: Any) -> Any:
        """The value `script` (a function body, arguments in `arguments`) returns in the page."""
        return self._call("POST", "/execute/sync", {"script": script, "args": list(args)})

    def wait_for(self, what: str, script: str, *args: Any, timeout: float = 30.0) -> Any:
        """Run `script` until it returns something truthy, and return that; fail naming `what` after `timeout`."""
        deadline = time.monotonic() + timeout
        while True:
            value = self.js(script, *args)
            if value:
                return value
            if time.monotonic() > deadline:
                shot = Path(tempfile.mkstemp(prefix="variet-browser-", suffix=".png")[1])
                self.screenshot(shot)
                pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}; the page then: {shot}")
            time.sleep(_POLL)

    def click(self, css: str, text: str = "", timeout: float = 30.0) -> None:
        """A real mouse click at the middle of the first element matching `css` whose text contains `text`,
        once it has stopped moving (a view that is still being laid out drops clicks)."""
        x, y = self.wait_for(f"{css} {text!r}", """
            const e = Array.from(document.querySelectorAll(arguments[0])).find(e => e.innerText.includes(arguments[1]));
            if (!e) return null;
            const b = e.getBoundingClientRect();
            const at = [Math.round(b.x + b.width / 2), Math.round(b.y + b.height / 2)];
            const last = window.__varietLastRect;
            window.__varietLastRect = at.join();
            return b.width > 0 && last === at.join() ? at : null;""", css, text, timeout=timeout)
        self.js("window.__varietLastRect = null;")
        self._call("POST", "/actions", {"actions": [{"type": "pointer", "id": "mouse", "parameters": {
            "pointerType": "mouse"}, "actions": [{"type": "pointerMove", "x": x, "y": y, "duration": 0},
                                                 {"type": "pointerDown", "button": 0},
                                                 {"type": "pointerUp", "button": 0}]}]})

    def move_away(self) -> None:
        """Park the mouse where it shows no tooltip."""
        self._call("POST", "/actions", {"actions": [{"type": "pointer", "id": "mouse", "parameters": {
            "pointerType": "mouse"}, "actions": [{"type": "pointerMove", "x": 700, "y": 300, "duration": 0}]}]})

    def press(self, *keys: str) -> None:
        """Press `keys` together (names from `_KEYS`, or single characters), then release them."""
        codes = [_KEYS.get(key, key) for key in keys]
        actions = [{"type": "keyDown", "value": c} for c in codes] + [{"type": "keyUp", "value": c}
                                                                         for c in reversed(codes)]
        self._call("POST", "/actions", {"actions": [{"type": "key", "id": "keyboard", "actions": actions}]})

    def type(self, text: str) -> None:
        actions = [action for ch in text
                   for action in ({"type": "keyDown", "value": ch}, {"type": "keyUp", "value": ch})]
        self._call("POST", "/actions", {"actions": [{"type": "key", "id": "keyboard", "actions": actions}]})

    def screenshot(self, path: Path) -> None:
        path.write_bytes(base64.b64decode(self._call("GET", "/screenshot")))


@contextmanager
def browser() -> Iterator[Browser]:
    """A headless Chromium session; fails, never skips, when Chromium or chromedriver is missing."""
    for program in (CHROMIUM, CHROMEDRIVER):
        if not program.exists():
            pytest.fail(f"{program} is missing: run scripts/test-deps (apt-get install -y chromium chromium-driver)")
    port = free_port()
    profile = Path(tempfile.mkdtemp(prefix="variet-chromium-"))
    driver = subprocess.Popen([str(CHROMEDRIVER), f"--port={port}"], stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    try:
        with httpx2.Client(base_url=f"http://127.0.0.1:{port}", timeout=120, trust_env=False) as http:
            deadline = time.monotonic() + 30
            while True:
                try:
                    if http.get("/status").json()["value"]["ready"]:
                        break
                except httpx2.TransportError:
                    pass
                if time.monotonic() > deadline:
                    pytest.fail("chromedriver did not start within 30 s")
                time.sleep(_POLL)
            options = {"binary": str(CHROMIUM), "args": [*_FLAGS, f"--user-data-dir={profile}"]}
            created = http.post("/session", json={"capabilities": {"alwaysMatch": {
                "browserName": "chrome", "goog:chromeOptions": options}}})
            if created.status_code != 200:
                pytest.fail(f"Chromium did not start: {created.text[:2000]}")
            session = created.json()["value"]["sessionId"]
            try:
                yield Browser(http, session)
            finally:
                http.delete(f"/session/{session}")
    finally:
        driver.terminate()
        try:
            driver.wait(timeout=10)
        except subprocess.TimeoutExpired:
            driver.kill()
            driver.wait()
        shutil.rmtree(profile, ignore_errors=True)
