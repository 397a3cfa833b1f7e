"""The packaged extension in a real VS Code: code-server 4.139.1 (VS Code 1.139.1) driven through Debian's
headless Chromium, against the real engine on the embedded default tiers, all on loopback.

The extension is installed from the `.vsix` as a user would. A second, test-only extension
(`tests/vscode/probe/`) uses VS Code's language model API as any extension would: it lists the Variet models,
asks the real model for text and for a tool call and sends the result back, counts tokens, and cancels a long
answer; it writes what it saw to a file. The page itself shows the rest: the key entered through the
extension's command into VS Code's secret storage, the status bar, the chat's model picker and the MCP
servers. Sending a message from the chat view needs a GitHub Copilot sign-in, which cannot happen offline,
so chat requests go through the API instead.

Set VARIET_SCREENSHOT_DIR to a folder to keep screenshots of the status bar, the model picker and the MCP list.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx2
import pytest

from tests.parts.browser import open_browser
from tests.parts.code_server import Workbench, running_code_server
from tests.parts.engine import RunningEngine, run_engine, write_config
from tests.parts.node import NodeTools, node_tools
from tests.parts.vscode_extension import EXTENSION, compiled_extension, package_vsix
from tests.parts.waiting import wait_until
from variet.contract import EngineStatus

pytestmark = [pytest.mark.llama, pytest.mark.browser, pytest.mark.codeserver]

KEY = "sk-variet-code-server-3e9d"
TIERS = ["fast", "balanced", "deep-coder", "deep-logic", "ultra"]
ONLINE = rf"^Variet: (no tier loaded|{'|'.join(TIERS)})$"
PROBE = Path(__file__).parent / "probe"


@dataclass
class Session:
    engine: RunningEngine
    workbench: Workbench
    settings: Path
    probe_out: Path
    before_key: str
    """The status bar's text before the key was entered."""
    shots: Path

    def shot(self, name: str) -> None:
        """A screenshot (kept in $VARIET_SCREENSHOT_DIR when that is set)."""
        self.workbench.move_away()
        self.workbench.browser.screenshot(self.shots / f"code-server-{name}.png")


@pytest.fixture(scope="module")
def session(real_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Session]:
    node: NodeTools = node_tools()
    root = tmp_path_factory.mktemp("code-server")
    compiled_extension(node)
    extensions = [package_vsix(node, EXTENSION, root / "variet.vsix"), package_vsix(node, PROBE, root / "probe.vsix")]
    with run_engine(write_config(real_dir), env={"VARIET_ENGINE_API_KEY": KEY}) as engine:
        servers_config = root / "variet.toml"  # what the MCP servers read: the engine's URL (the key comes apart)
        servers_config.write_text(f'[engine]\nurl = "{engine.url}"\n')
        settings = {
            "variet.engineUrl": engine.url,
            "variet.serversPath": str(Path(sys.executable).parent),
            "variet.configFile": str(servers_config),
            "workbench.startupEditor": "none",
            "workbench.tips.enabled": False,
            "telemetry.telemetryLevel": "off",
            "update.mode": "none",
            "extensions.autoCheckUpdates": False,
            "chat.mcp.autostart": "never",
        }
        probe_out = root / "probe.json"
        with running_code_server(root, extensions=extensions, settings=settings,
                                 env={"VARIET_PROBE_OUT": str(probe_out)}) as server, \
                open_browser(root / "chromium", width=1400, height=900) as page:
            workbench = Workbench(page)
            page.get(server.url)
            before = workbench.wait_for_status("the Variet status-bar item", r"^Variet: (key refused|unreachable)")
            workbench.command("Variet: Set the engine API key")
            workbench.wait_js("the key's input box",
                              "return !!document.querySelector('.quick-input-widget input[type=password]')")
            workbench.type(KEY)
            workbench.press("Enter")
            workbench.wait_for_status("the engine to accept the key", ONLINE)
            yield Session(engine, workbench, server.workspace.parent / "user-data" / "User" / "settings.json",
                          probe_out, before, root / "screenshots")


def test_the_status_bar_says_the_key_is_refused_until_it_is_entered_and_it_never_lands_in_settings(
    session: Session,
) -> None:
    assert session.before_key == "Variet: key refused"
    session.workbench.wait_for_status("the engine's state", ONLINE)
    session.shot("status-bar")
    assert KEY not in session.settings.read_text()


def test_an_extension_gets_text_a_tool_call_token_counts_and_cancellation_from_the_variet_models(
    session: Session,
) -> None:
    session.workbench.command("Variet probe: run")
    wait_until("the probe's results", session.probe_out.exists, timeout=240)
    probe = json.loads(session.probe_out.read_text())
    assert "error" not in probe, probe.get("error")
    models = {model["id"]: model for model in probe["models"]}
    assert list(models) == ["auto", *TIERS]
    assert models["fast"]["name"] == "Variet fast" and models["fast"]["version"].startswith("SmolLM2")
    assert models["fast"]["maxInputTokens"] == 8192 - 2048  # the real model's context less its answer budget
    assert probe["hello"]["parts"] > 1 and probe["hello"]["text"].strip()
    assert probe["toolCall"]["name"] == "list_tiers" and probe["toolCall"]["callId"], probe["toolCall"]
    assert set(probe["afterTool"]["kinds"]) == {"text"} and probe["afterTool"]["text"].strip()
    # the engine's own count of the same text, by the same tokenizer
    assert probe["tokens"] == _count_tokens(session.engine, "def add(a, b):\n    return a + b\n")
    # The cancelled answer (4000 tokens asked) ended early, and the engine saw its client leave.
    assert probe["cancelled"]["parts"] < 200, probe["cancelled"]
    wait_until("the engine to stop the cancelled answer",
               lambda: "the client left a fast stream" in session.engine.log.read_text(errors="replace"), timeout=10)
    assert session.workbench.wait_for_status("the loaded tier", r"^Variet: fast$") == "Variet: fast"


def test_the_chat_model_picker_lists_auto_and_every_tier_with_what_loading_it_costs(session: Session) -> None:
    page = session.workbench
    page.command("Chat: Open Chat (Ask)")
    page.click("a.model-picker-name")  # in a narrow chat view it shows only an icon
    page.click("[role=option], .monaco-list-row", "Other Models")
    rows = page.wait_js("the Variet tiers in the picker", """
        const rows = Array.from(document.querySelectorAll('[role=option], .monaco-list-row'))
            .map(e => e.innerText.replace(/\\n/g, ' | ')).filter(t => t.startsWith('Variet '));
        return rows.length >= 6 ? rows : null;""")
    details = {row.split(" | ")[0]: row.split(" | ")[1] for row in rows if " | " in row}
    loaded = _status(session.engine).loaded  # the probe's answers leave `fast` loaded
    assert details["Variet auto"].startswith("router")
    if loaded is not None:
        assert details[f"Variet {loaded}"].startswith("loaded · "), details
    assert all(details[f"Variet {tier}"].startswith("swap ") for tier in TIERS if tier != loaded), details
    session.shot("model-picker")
    page.press("Escape")


def test_vs_code_lists_the_five_variet_mcp_servers_and_starts_one_with_the_engine_url_and_key(
    session: Session,
) -> None:
    session.workbench.command("MCP: List Servers")
    rows = session.workbench.wait_js("the MCP servers", """
        const rows = Array.from(document.querySelectorAll(arguments[0])).map(e => e.innerText.replace(/\\n/g, ' | '));
        return rows.filter(r => r.startsWith('variet-')).length === 5 ? rows : null;""", Workbench.ROWS)
    names = [match.group(0) for row in rows if (match := re.match(r"variet-[a-z]+", row))]
    assert names == [f"variet-{s}" for s in ("inference", "router", "search", "calendar", "gmail")], rows
    session.shot("mcp-servers")
    session.workbench.click(Workbench.ROWS, "variet-inference")
    session.workbench.click(Workbench.ROWS, "Start Server")
    # VS Code started the installed console script with the settings' URL and config, and the key from
    # secret storage (added only as it starts, never written anywhere).
    command = str(Path(sys.executable).parent / "variet-inference")
    found: dict[str, str] = {}

    def started() -> bool:
        found.update(_process_env(command))
        return bool(found)

    wait_until("variet-inference to start", started, timeout=60)
    assert found["VARIET_ENGINE_API_KEY"] == KEY
    assert found["VARIET_ENGINE_URL"] == session.engine.url
    assert found["VARIET_CONFIG"].endswith("variet.toml")
    session.workbench.press("Escape")


def _process_env(command: str) -> dict[str, str]:
    """The environment of a running process whose command line runs `command` (a Python console script)."""
    for proc in Path("/proc").iterdir():
        try:
            if proc.name.isdigit() and command.encode() in (proc / "cmdline").read_bytes().split(b"\0"):
                pairs = (item.partition(b"=") for item in (proc / "environ").read_bytes().split(b"\0") if item)
                return {key.decode(): value.decode(errors="replace") for key, _, value in pairs}
        except OSError:
            continue
    return {}


def _status(engine: RunningEngine) -> EngineStatus:
    answer = httpx2.get(f"{engine.url}/variet/status", headers={"x-api-key": KEY}, timeout=30)
    return EngineStatus.model_validate_json(answer.content)


def _count_tokens(engine: RunningEngine, text: str) -> int:
    answer = httpx2.post(f"{engine.url}/v1/messages/count_tokens", headers={"x-api-key": KEY}, timeout=30,
                         json={"model": "fast", "messages": [{"role": "user", "content": text}]})
    count: int = answer.json()["input_tokens"]
    return count
