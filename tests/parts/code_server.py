"""code-server (VS Code in a browser, from npm; `scripts/code-server` installs it) on a loopback port.

`running_code_server(root, ...)` installs the given `.vsix` files into a fresh extensions folder, writes the
user settings, starts code-server without authentication, telemetry or update checks, with HOME inside
`root`, and stops it and everything it started (extension host, MCP servers) afterwards. `Workbench` drives
the page in a `Browser` (`tests.parts.browser`) as a user would: real key presses and mouse clicks, the
Command Palette, quick picks, the status bar.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import httpx2
import pytest
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.keys import Keys

from tests.parts.browser import Browser
from tests.parts.waiting import wait_until
from variet.engine.llama.backend import free_port

__all__ = ["SCRIPT", "CodeServer", "Workbench", "code_server_bin", "running_code_server"]

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "code-server"
_START_TIMEOUT = 60.0


def code_server_bin() -> Path:
    """The pinned code-server's bin dir (code-server and its Node); fails, never skips, when it is missing."""
    done = subprocess.run([str(SCRIPT), "--check"], capture_output=True, text=True, timeout=30, check=False)
    if done.returncode != 0:
        pytest.fail(done.stderr.strip() or "code-server is missing: run scripts/code-server")
    return Path(done.stdout.strip())


@dataclass(frozen=True)
class CodeServer:
    url: str
    """The workbench with the workspace folder open."""
    workspace: Path
    log: Path


@contextmanager
def running_code_server(root: Path, *, extensions: Sequence[Path], settings: Mapping[str, Any],
                        env: Mapping[str, str] | None = None) -> Iterator[CodeServer]:
    bin_dir = code_server_bin()
    home, user_data, extensions_dir, workspace = (root / name for name in ("home", "user-data", "extensions",
                                                                         "workspace"))
    for folder in (home, user_data / "User", extensions_dir, workspace):
        folder.mkdir(parents=True, exist_ok=True)
    environ = {"PATH": f"{bin_dir}{os.pathsep}/usr/local/bin:/usr/bin:/bin", "HOME": str(home), "LANG": "C.UTF-8",
               **(env or {})}
    common = ["--user-data-dir", str(user_data), "--extensions-dir", str(extensions_dir)]
    for vsix in extensions:
        done = subprocess.run([str(bin_dir / "code-server"), *common, "--install-extension", str(vsix)],
                              env=environ, capture_output=True, text=True, timeout=120, check=False)
        if done.returncode != 0:
            pytest.fail(f"code-server could not install {vsix}:\n{done.stdout}\n{done.stderr}")
    (user_data / "User" / "settings.json").write_text(json.dumps(settings, indent=2))
    port = free_port()
    log = root / "code-server.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [str(bin_dir / "code-server"), *common, "--bind-addr", f"127.0.0.1:{port}", "--auth", "none",
             "--disable-telemetry", "--disable-update-check", "--disable-workspace-trust",
             "--disable-getting-started-override", str(workspace)],
            env=environ, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        _wait_until_serving(f"http://127.0.0.1:{port}/", process, log)
        yield CodeServer(f"http://127.0.0.1:{port}/?folder={workspace}", workspace, log)
    finally:
        _stop_group(process)


def _wait_until_serving(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    with httpx2.Client(timeout=2, trust_env=False) as http:

        def serving() -> bool:
            if process.poll() is not None:
                pytest.fail(f"code-server exited with {process.returncode}:\n{log.read_text(errors='replace')[-3000:]}")
            try:
                return http.get(url).status_code < 500
            except httpx2.TransportError:
                return False

        wait_until(f"code-server to answer at {url}", serving, timeout=_START_TIMEOUT, interval=0.1)


def _stop_group(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM to code-server's process group (its extension host and the servers it started), then SIGKILL."""
    for sig, wait in ((signal.SIGTERM, 15), (signal.SIGKILL, 10)):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            break
        try:
            process.wait(timeout=wait)
            break
        except subprocess.TimeoutExpired:
            continue
    try:  # children that outlive their parent are still in the group
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


class Workbench:
    """The VS Code page: commands, quick picks, the status bar, and real keys and clicks."""

    ROWS = ".quick-input-widget .monaco-list-row"
    KEYS: ClassVar[dict[str, str]] = {"Enter": Keys.ENTER, "Escape": Keys.ESCAPE, "F1": Keys.F1}

    def __init__(self, browser: Browser) -> None:
        self.browser = browser

    def wait_js(self, what: str, script: str, *args: Any, timeout: float = 30.0) -> Any:
        """Run `script` in the page until it returns something truthy, and return that. On a timeout the
        failure names a screenshot of the page (VS Code's console is too chatty to quote)."""
        def screenshot() -> str:
            shot = Path(tempfile.mkstemp(prefix="variet-code-server-", suffix=".png")[1])
            self.browser.screenshot(shot)
            return f"the page then: {shot}"

        return wait_until(what, lambda: self.browser.script(script, *args), timeout=timeout, interval=0.1,
                          describe=screenshot)

    def press(self, key: str) -> None:
        ActionChains(self.browser.driver).send_keys(self.KEYS.get(key, key)).perform()

    def type(self, text: str) -> None:
        ActionChains(self.browser.driver).send_keys(text).perform()

    def click(self, css: str, text: str = "", timeout: float = 30.0) -> None:
        """A real mouse click at the middle of the first element matching `css` whose text contains `text`,
        once it has stopped moving (a view still being laid out drops clicks)."""
        x, y = self.wait_js(f"{css} {text!r} to click", """
            const e = Array.from(document.querySelectorAll(arguments[0])).find(e => e.innerText.includes(arguments[1]));
            if (!e) return null;
            const b = e.getBoundingClientRect();
            const at = [Math.round(b.x + b.width / 2), Math.round(b.y + b.height / 2)];
            const last = window.__varietLastRect;
            window.__varietLastRect = at.join();
            return b.width > 0 && last === at.join() ? at : null;""", css, text, timeout=timeout)
        self.browser.script("window.__varietLastRect = null;")
        actions = ActionChains(self.browser.driver)
        actions.w3c_actions.pointer_action.move_to_location(x, y).click()
        actions.perform()

    def move_away(self) -> None:
        """Park the mouse where it shows no tooltip."""
        actions = ActionChains(self.browser.driver)
        actions.w3c_actions.pointer_action.move_to_location(700, 300)
        actions.perform()

    def status_texts(self) -> list[str]:
        texts: list[str] = self.browser.script(
            "return Array.from(document.querySelectorAll('.statusbar-item')).map(e => e.innerText.trim())")
        return texts

    def wait_for_status(self, what: str, pattern: str, timeout: float = 60.0) -> str:
        """The first status-bar text matching the regular expression `pattern`, once there is one."""
        found: str = self.wait_js(what, """
            const re = new RegExp(arguments[0]);
            return Array.from(document.querySelectorAll('.statusbar-item')).map(e => e.innerText.trim())
                .find(t => re.test(t)) || null;""", pattern, timeout=timeout)
        return found

    def command(self, title: str) -> None:
        """Run a command by its title from the Command Palette."""
        self.press("Escape")
        self.press("F1")
        self.wait_js("the Command Palette", "return !!document.querySelector('.quick-input-widget input')")
        self.type(title)
        self.wait_js(f"{title!r} in the Command Palette", """
            const row = document.querySelector(arguments[0]);
            return row && row.innerText.includes(arguments[1]);""", self.ROWS, title)
        self.press("Enter")

    def rows(self) -> list[str]:
        """The rows of the open quick pick, each as its text with line breaks as ` | `."""
        rows: list[str] = self.browser.script(
            "return Array.from(document.querySelectorAll(arguments[0])).map(e => e.innerText.replace(/\\n/g, ' | '))",
            self.ROWS)
        return rows
