"""Inline suggestions in a real VS Code (code-server in headless Chromium): ghost text written by the engine's
resident fill-in-the-middle tier, while the engine swaps its other tiers in a loop."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import httpx2
import pytest

from tests.parts.browser import open_browser
from tests.parts.code_server import Workbench, running_code_server
from tests.parts.engine import RunningEngine, run_engine, write_config
from tests.parts.node import node_tools
from tests.parts.vscode_extension import EXTENSION, compiled_extension, package_vsix

pytestmark = [pytest.mark.llama, pytest.mark.browser, pytest.mark.codeserver]

GHOST = """
    const texts = Array.from(document.querySelectorAll('.ghost-text-decoration, .ghost-text'))
        .map(e => e.textContent).filter(t => t && t.trim());
    return texts.length ? texts : null;"""


@pytest.fixture(scope="module")
def fim_engine(coder_dir: Path) -> Iterator[RunningEngine]:
    with run_engine(write_config(coder_dir)) as running:
        running.wait_for("the resident coder to be loaded", lambda s: s.residents_loaded == ["coder"])
        yield running


def _swap_in_a_loop(url: str, stop: threading.Event) -> None:
    with httpx2.Client(base_url=url, timeout=30) as client:
        while not stop.is_set():
            for tier in ("fast", "ultra"):
                client.post(f"/variet/tiers/{tier}/load")
                client.post("/v1/chat/completions", json={"model": tier, "max_tokens": 1,
                                                          "messages": [{"role": "user", "content": "hi"}]})


def test_vs_code_shows_the_engines_suggestion_as_ghost_text_while_other_tiers_swap(
    fim_engine: RunningEngine, tmp_path: Path,
) -> None:
    node = node_tools()
    compiled_extension(node)
    vsix = package_vsix(node, EXTENSION, tmp_path / "variet.vsix")
    (tmp_path / "workspace").mkdir()
    (tmp_path / "workspace" / "add.py").write_text("import math\n\n\n\nprint(add(1, 2))\n")
    settings = {"variet.engineUrl": fim_engine.url, "variet.mcpServers": [], "workbench.startupEditor": "none",
                "workbench.tips.enabled": False, "telemetry.telemetryLevel": "off", "update.mode": "none",
                "extensions.autoCheckUpdates": False, "editor.inlineSuggest.enabled": True,
                "editor.quickSuggestions": {"other": False, "comments": False, "strings": False}}
    swaps_before = fim_engine.status().swaps
    stop = threading.Event()
    swapping = threading.Thread(target=_swap_in_a_loop, args=(fim_engine.url, stop), daemon=True)
    with running_code_server(tmp_path, extensions=[vsix], settings=settings) as server, \
            open_browser(tmp_path / "chromium", width=1400, height=900) as page:
        workbench = Workbench(page)
        page.get(server.url)
        workbench.wait_for_status("the suggestion item", r"Variet suggest$")
        workbench.command("Go to File")
        workbench.type("add.py")
        workbench.wait_js("add.py in Quick Open", "const r = document.querySelector(arguments[0]); "
                          "return r && r.innerText.includes('add.py');", Workbench.ROWS)
        workbench.press("Enter")
        workbench.wait_js("the editor", "return !!document.querySelector('.monaco-editor .view-lines')")
        swapping.start()
        try:
            workbench.wait_js("the cursor in the editor", "return document.activeElement && "
                              "!!document.activeElement.closest('.monaco-editor')")
            workbench.press("\ue015")  # arrow down: the empty line after the import
            workbench.type("\ndef add(a, b):\n")
            ghost = workbench.wait_js("ghost text from the engine", GHOST, timeout=60)
            during = fim_engine.status()
        finally:
            stop.set()
            swapping.join(timeout=60)
        workbench.move_away()
        page.screenshot(tmp_path / "screenshots" / "code-server-ghost-text.png")  # kept in $VARIET_SCREENSHOT_DIR
    assert "".join(ghost).strip()
    assert during.swaps > swaps_before  # the other tiers were swapping meanwhile
    coder = during.tiers["coder"]
    assert coder.requests >= 1 and coder.resident and coder.loaded
