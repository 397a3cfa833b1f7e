"""The VS Code extension's Node tests (`vscode/test/`), run by Node's test runner from here.

The unit tests need nothing else. The live tests get a real engine on the tiny tiers (with an API key), the
scripted OpenAI-compatible model for tool-call round trips, and a loopback URL that refuses connections,
through environment variables; this side then checks what the engine and the stub saw. Node is the pinned
one from `scripts/node-tools`; the extension's packages come from `npm ci` (skipped while the lock file
is unchanged); `make vscode` packages what these tests compiled.
"""

from __future__ import annotations

import json
import re
import subprocess
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fakes.openai_stub import ToolCall, serve_openai_stub
from tests.parts.engine import RunningEngine, run_engine, write_config
from tests.parts.node import NodeTools, node_tools
from tests.parts.vscode_extension import EXTENSION, compiled_extension, node_env, package_vsix

pytestmark = pytest.mark.node

KEY = "sk-variet-vscode-test-51c0"


@pytest.fixture(scope="module")
def node() -> NodeTools:
    return node_tools()


@pytest.fixture(scope="module")
def built(node: NodeTools) -> Path:
    return compiled_extension(node)


@pytest.fixture
def fim_engine(coder_dir: Path) -> Iterator[RunningEngine]:
    """An engine with the resident fill-in-the-middle tier `coder` (no key)."""
    with run_engine(write_config(coder_dir)) as running:
        yield running


@pytest.fixture
def keyed_engine(real_dir: Path) -> Iterator[RunningEngine]:
    """An engine of its own on the embedded default tiers (the tests swap and cancel), which wants an API key."""
    with run_engine(write_config(real_dir), env={"VARIET_ENGINE_API_KEY": KEY}) as running:
        yield running




def run_node_tests(node: NodeTools, folder: str, env: dict[str, str]) -> str:
    """Run every compiled test in `out/test/<folder>` one file at a time; fail with the report unless all pass."""
    sources = sorted((EXTENSION / "test" / folder).glob("*.test.ts"))
    declared = sum(len(re.findall(r"^test\(", path.read_text(), flags=re.MULTILINE)) for path in sources)
    command = [str(node.bin_dir / "node"), "--test", "--test-concurrency=1", "--test-reporter=tap",
               f"out/test/{folder}/*.test.js"]
    done = subprocess.run(command, cwd=EXTENSION, env=node_env(node, env), capture_output=True, text=True,
                          timeout=300, check=False)
    report = f"$ {' '.join(command)}\nexit {done.returncode}\n{done.stdout[-12000:]}\n{done.stderr[-4000:]}"
    counts = {name: int(n) for name, n in re.findall(r"^# (pass|fail|skipped|todo|cancelled) (\d+)$", done.stdout,
                                                     flags=re.MULTILINE)}
    assert done.returncode == 0, report
    assert counts == {"pass": declared, "fail": 0, "skipped": 0, "todo": 0, "cancelled": 0}, report
    return done.stdout


def test_the_extensions_unit_tests_pass_under_plain_node(node: NodeTools, built: Path) -> None:
    run_node_tests(node, "unit", {})


@pytest.mark.llama
def test_the_extension_streams_swaps_cancels_and_calls_tools_against_the_engine_and_a_scripted_model(
    node: NodeTools, built: Path, keyed_engine: RunningEngine, fim_engine: RunningEngine, refused_url: str
) -> None:
    script = [ToolCall("read_notes", {"path": "NOTES.md"}), ToolCall("write_notes", lambda r: {"text": r[0].upper()})]
    with serve_openai_stub(script, final_text=lambda r: f"Done: {r[1]}") as stub:
        run_node_tests(node, "live", {
            "VARIET_TEST_ENGINE_URL": keyed_engine.url,
            "VARIET_TEST_ENGINE_KEY": KEY,
            "VARIET_TEST_STUB_URL": stub.url,
            "VARIET_TEST_CLOSED_URL": refused_url,
            "VARIET_TEST_FIM_URL": fim_engine.url,
        })
    # What the scripted model received: streamed requests with both tools as functions, the first one
    # forced (`required`), the results of both calls under the ids it gave, and the key as a bearer token.
    requests = stub.chat_requests()
    assert len(requests) == 3
    assert [body["tool_choice"] for body in requests] == ["required", "auto", "auto"]
    for body in requests:
        assert body["stream"] is True and body["stream_options"] == {"include_usage": True}
        assert [t["function"]["name"] for t in body["tools"]] == ["read_notes", "write_notes"]
    assert {r.headers["authorization"] for r in stub.requests if r.path == "/v1/chat/completions"} == {
        "Bearer stub-key"}
    assert stub.results() == ["todo: which tier swaps?", "written 23 bytes"]
    last = requests[-1]["messages"]
    assert [m["role"] for m in last] == ["user", "assistant", "tool", "assistant", "tool"]
    assert last[3]["content"] == "Writing." and last[3]["tool_calls"][0]["id"] == "call_variet_1"
    # The cancelled answer: the engine saw the client leave and stopped generating.
    assert "the client left a fast stream" in keyed_engine.log.read_text(errors="replace")


def test_the_packaged_vsix_holds_the_compiled_extension_and_none_of_its_sources(
    node: NodeTools, built: Path, tmp_path: Path
) -> None:
    vsix = package_vsix(node, built, tmp_path / "variet.vsix")
    with zipfile.ZipFile(vsix) as archive:
        names = set(archive.namelist())
        manifest = json.loads(archive.read("extension/package.json"))
    assert {"extension/out/src/extension.js", "extension/out/src/provider.js", "extension/readme.md"} <= names
    assert not any(n.startswith(("extension/src/", "extension/test/", "extension/out/test/", "extension/node_modules/"))
                   for n in names), sorted(names)
    contributes = manifest["contributes"]
    assert contributes["languageModelChatProviders"][0]["vendor"] == "variet"
    assert contributes["mcpServerDefinitionProviders"][0]["id"] == "variet.servers"
    assert manifest["engines"]["vscode"] == "^1.104.0"
    # The key is never a setting.
    assert not any("key" in name.lower() for name in contributes["configuration"]["properties"])
