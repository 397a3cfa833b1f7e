"""Record real Claude Code agent loops for `agent_loops.py`: the request bodies Claude Code itself sends.

Runs the pinned Claude Code (`scripts/node-tools`) headless against a scripted Anthropic stub on loopback (the
tests' `tests.fakes.anthropic_stub`), in a scratch project holding copies of some of Variet's own source files,
and keeps, per task, every main-loop `/v1/messages` body (those that offer tools; Claude Code's side requests
are dropped). Each loop is also written as OpenClaude sends it (`openclaude-*.json`): OpenAI chat bodies made
from the same messages by the rules of OpenClaude's OpenAI shim (`openaiShim/messageConversion.ts`: tool
results become `tool` messages, a user text after them follows an assistant `[Tool results received]`,
`max_completion_tokens`, `store: false`), since OpenClaude is Claude Code's loop behind that shim.

The model's turns are scripted (which tool to call with what), everything else is Claude Code's: system
prompt, tools, `<system-reminder>` blocks, how tool results come back. Anything machine-specific (the
scratch paths, the OS, the date, the session ids) is replaced by fixed stand-ins before a body is written.

    .venv/bin/python benchmarks/record_agent_loops.py            # writes benchmarks/data/agent_loops/*.json
    .venv/bin/python benchmarks/record_agent_loops.py --convert  # only rewrite openclaude-*.json

Nothing leaves the machine: the stub is the only URL Claude Code is given, proxies point at a refusing port.
"""

from __future__ import annotations

import argparse
import json
import platform
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.fakes.anthropic_stub import AnthropicStub  # noqa: E402
from tests.parts.node import node_tools  # noqa: E402
from tests.parts.searx import LoopbackServer  # noqa: E402

OUT = ROOT / "benchmarks" / "data" / "agent_loops"
PROJECT = "/home/dev/project"
"""What the scratch project's path becomes in the stored bodies."""
SOURCES = ("engine/scheduler.py", "engine/auto.py", "engine/prompts/prefixes.py", "engine/prompts/cache.py",
           "engine/http/relay.py", "engine/core.py", "router/policy.py", "shared/tiers.py", "engine/events.py",
           "engine/prompts/store.py", "engine/peers/registry.py", "engine/llama/backend.py")


@dataclass(frozen=True)
class Step:
    """One scripted model turn: a tool call (`tool`, `input`) or, with `tool` empty, a final text answer."""

    tool: str = ""
    input: dict[str, Any] | None = None
    text: str = ""


def read(path: str) -> Step:
    return Step("Read", {"file_path": f"{{project}}/{path}"})


def bash(command: str, description: str) -> Step:
    return Step("Bash", {"command": command, "description": description})


def grep(pattern: str) -> Step:
    return Step("Grep", {"pattern": pattern, "path": "{project}", "output_mode": "content", "-n": True})


def answer(text: str) -> Step:
    return Step(text=text)


@dataclass(frozen=True)
class Task:
    name: str
    about: str
    prompts: tuple[str, ...]
    """What the person types, one message after another in the same session."""
    steps: tuple[Step, ...]
    """The model's turns for all of them, in order; each text answer ends one prompt's loop."""
    mid_turn: bool = False
    """Type them all at once, so the later ones arrive while the model works (else each after an answer)."""


TASKS: tuple[Task, ...] = (
    Task(
        "quick-question", "a one-line question; the model reads one big file to answer",
        ("What does `stay_margin` do in the router?",),
        (grep("stay_margin"), read("router/policy.py"),
         answer("It keeps the loaded tier unless a swap saves more than that share of the time.")),
    ),
    Task(
        "fix-failing-test", "a bug report with a failing command; run, read, edit, run again",
        ("`python3 -c 'import prefixes'` fails in engine/prompts with a traceback. Find out why and fix it.",),
        (bash("cd engine/prompts && python3 -c 'import prefixes' 2>&1 | tail -20", "Reproduce the failure"),
         read("engine/prompts/prefixes.py"),
         Step("Edit", {"file_path": "{project}/engine/prompts/prefixes.py",
                       "old_string": "PROMPT_PIECE_CHARS = 2048", "new_string": "PROMPT_PIECE_CHARS = 2048  # chars"}),
         bash("cd engine/prompts && python3 -c 'import prefixes; print(prefixes.PROMPT_PIECE_CHARS)'", "Check again"),
         answer("It imports fine now; the piece size is unchanged.")),
    ),
    Task(
        "refactor-package", "a design-level change across files, then a second request in the same session",
        ("Refactor the prompt cache (engine/prompts/cache.py and store.py) into a package with a pluggable "
         "backing store interface, keeping the public names, and explain the design trade-offs.",
         "Now also make the store thread-safe and prove the new locking cannot deadlock."),
        (read("engine/prompts/cache.py"), read("engine/prompts/store.py"), grep("PromptCache"),
         bash("ls -la engine/prompts", "List the package"),
         Step("Write", {"file_path": "{project}/engine/prompts/backing.py",
                        "content": "class BackingStore:\n    \"\"\"Where saved prompt caches live.\"\"\"\n"}),
         bash("python3 -m py_compile engine/prompts/backing.py && echo ok", "Compile the new module"),
         answer("Split into a package with a BackingStore protocol; trade-offs: one more indirection."),
         read("engine/prompts/store.py"), grep("Lock"),
         Step("Edit", {"file_path": "{project}/engine/prompts/backing.py",
                       "old_string": "class BackingStore:", "new_string": "class BackingStore:  # one lock"}),
         answer("One lock, always taken in the same order, so no cycle: no deadlock.")),
    ),
    Task(
        "long-review", "a review that reads most of the code base: outgrows a 32k-token tier",
        ("Review the engine's scheduler, relay, prompt cache and peers for race conditions between a swap "
         "and requests in flight. Read the code carefully and list every race you find with a fix.",),
        (*(read(path) for path in SOURCES), grep("async with|await .*lock"),
         answer("Three races found; fixes below.")),
    ),
    Task(
        "mid-turn-message", "the person types a second request while the model is still working on the first",
        ("List the public names of engine/prompts/store.py.",
         "Actually, rewrite its docstrings in a more formal register, and translate them to German too."),
        (read("engine/prompts/store.py"), grep("__all__"), read("engine/prompts/cache.py"),
         answer("Done: the docstrings are rewritten in both languages.")),
        mid_turn=True,
    ),
)


def _reply_for(steps: Sequence[Step], body: dict[str, Any]) -> tuple[list[dict[str, Any]], str]:
    """The scripted reply to a main-loop request: the step after as many as the conversation already holds."""
    done = sum(1 for m in body.get("messages") or [] if isinstance(m, dict) and m.get("role") == "assistant")
    if done >= len(steps):
        return [{"type": "text", "text": "Done."}], "end_turn"
    step = steps[done]
    if not step.tool:
        return [{"type": "text", "text": step.text}], "end_turn"
    block = {"type": "tool_use", "id": f"toolu_variet_{done}", "name": step.tool, "input": step.input or {}}
    return [block], "tool_use"


class ScriptedStub(AnthropicStub):
    """The tests' Anthropic stub, playing a script with text answers between prompts."""

    def __init__(self, steps: Sequence[Step], project: str) -> None:
        super().__init__([])
        self.steps = [Step(s.tool, json.loads(json.dumps(s.input).replace("{project}", project)) if s.input else None,
                           s.text) for s in steps]

    def _reply(self, body: dict[str, Any]) -> tuple[list[dict[str, Any]], str]:
        if not body.get("tools"):
            return [{"type": "text", "text": "ok"}], "end_turn"  # side requests (titles, summaries)
        return _reply_for(self.steps, body)


def _refusing_port() -> tuple[socket.socket, str]:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    return sock, f"http://127.0.0.1:{sock.getsockname()[1]}"


def _scrub(text: str, replacements: dict[str, str]) -> str:
    for old, new in sorted(replacements.items(), key=lambda item: -len(item[0])):
        if old:
            text = text.replace(old, new)
    text = re.sub(r"\b\d{4}-\d{2}-\d{2}\b", "2026-01-15", text)
    text = re.sub(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}",
                  "00000000-0000-4000-8000-000000000000", text)
    return re.sub(r"\b[0-9a-f]{64}\b", "0" * 64, text)


def _converse(command: list[str], env: dict[str, str], cwd: Path, task: Task) -> None:
    """Run Claude Code on the task's prompts: all at once (mid-turn), or each after the previous answer."""
    lines = [json.dumps({"type": "user", "message": {"role": "user", "content": p}}) + "\n" for p in task.prompts]
    with subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          env=env, cwd=cwd, text=True) as process:
        assert process.stdin is not None and process.stdout is not None
        pending = list(lines)
        if task.mid_turn:
            process.stdin.write("".join(pending))
            pending = []
        else:
            process.stdin.write(pending.pop(0))
        process.stdin.flush()
        output = []
        for line in process.stdout:
            output.append(line)
            if '"type":"result"' in line.replace(" ", ""):
                if not pending:
                    break
                process.stdin.write(pending.pop(0))
                process.stdin.flush()
        process.stdin.close()
        if process.wait(timeout=120) != 0:
            raise SystemExit(f"claude exited {process.returncode}:\n{''.join(output)[-3000:]}")


def record(task: Task, claude: str, env_base: dict[str, str]) -> list[dict[str, Any]]:
    with tempfile.TemporaryDirectory(prefix="variet-record-") as scratch:
        home, project = Path(scratch) / "home", Path(scratch) / "project"
        home.mkdir()
        for source in SOURCES:
            (project / source).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(ROOT / source, project / source)
        subprocess.run(["git", "init", "-q"], cwd=project, check=True)
        stub = ScriptedStub(task.steps, str(project))
        refusing, proxy = _refusing_port()
        with LoopbackServer(stub.app) as server, refusing:
            env = {**env_base, "HOME": str(home), "ANTHROPIC_BASE_URL": server.url,
                   "ANTHROPIC_API_KEY": "sk-ant-dummy-key-for-recording", "ENABLE_TOOL_SEARCH": "false",
                   "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1", "DISABLE_TELEMETRY": "1",
                   "DISABLE_AUTOUPDATER": "1", "HTTPS_PROXY": proxy, "HTTP_PROXY": proxy,
                   "NO_PROXY": "127.0.0.1,localhost"}
            command = [claude, "-p", "--input-format", "stream-json", "--output-format", "stream-json",
                       "--verbose", "--model", "auto", "--no-session-persistence",
                       "--allowedTools", "Read", "Bash", "Edit", "Write", "Grep", "Glob"]
            _converse(command, env, project, task)
        bodies = [r.body for r in stub.message_requests() if isinstance(r.body, dict) and r.body.get("tools")]
        replacements = {str(project.resolve()): PROJECT, str(project): PROJECT, str(home.resolve()): "/home/dev",
                        str(home): "/home/dev", scratch: "/tmp/scratch", platform.release(): "6.1.0",
                        platform.node(): "devbox"}
        return [json.loads(_scrub(json.dumps(body), replacements)) for body in bodies]


def pack(bodies: list[dict[str, Any]]) -> dict[str, Any]:
    """Bodies stored without repeating themselves: fields equal in every body once (`shared`), and each body's
    messages as indexes into one list of distinct messages (`benchmarks/agent_loops.py` unpacks them)."""
    keys = {key for body in bodies for key in body if key != "messages"}
    shared = {key: bodies[0][key] for key in sorted(keys)
              if all(key in body and body[key] == bodies[0][key] for body in bodies)}
    pool: list[dict[str, Any]] = []
    index: dict[str, int] = {}
    packed = []
    for body in bodies:
        refs = []
        for message in body.get("messages") or []:
            text = json.dumps(message, sort_keys=True)
            if text not in index:
                index[text] = len(pool)
                pool.append(message)
            refs.append(index[text])
        packed.append({**{k: v for k, v in body.items() if k not in shared and k != "messages"}, "messages": refs})
    return {"shared": shared, "pool": pool, "bodies": packed}


def unpack(stored: dict[str, Any]) -> list[dict[str, Any]]:
    """The bodies of a file `pack` wrote."""
    return [{**stored["shared"], **{k: v for k, v in body.items() if k != "messages"},
             "messages": [stored["pool"][i] for i in body["messages"]]} for body in stored["bodies"]]


def _joined(blocks: list[dict[str, Any]]) -> str:
    return "\n\n".join(b["text"] for b in blocks if b.get("type") == "text" and isinstance(b.get("text"), str))


def _tool_text(content: Any) -> str:
    return content if isinstance(content, str) else _joined(content or [])


def openclaude_body(body: dict[str, Any]) -> dict[str, Any]:
    """`body` (Anthropic, from Claude Code) as OpenClaude's OpenAI shim sends the same turn."""
    system = body.get("system")
    if isinstance(system, list):
        system = "\n\n".join(b.get("text", "") for b in system if b.get("type") == "text"
                              and not b.get("text", "").startswith("x-anthropic-billing-header"))
    out: list[dict[str, Any]] = [{"role": "system", "content": system}] if system else []
    for message in body["messages"]:
        role, content = message["role"], message["content"]
        if role == "user":
            if isinstance(content, str):
                out.append({"role": "user", "content": content})
                continue
            for block in content:
                if block.get("type") == "tool_result":
                    text = _tool_text(block.get("content"))
                    out.append({"role": "tool", "tool_call_id": block["tool_use_id"],
                                "content": f"Error: {text}" if block.get("is_error") else text})
            others = [b for b in content if b.get("type") != "tool_result"]
            if others:
                out.append({"role": "user", "content": _joined(others)})
        elif role == "assistant":
            blocks = [{"type": "text", "text": content}] if isinstance(content, str) else content
            calls = [{"id": b["id"], "type": "function",
                      "function": {"name": b["name"], "arguments": json.dumps(b.get("input") or {})}}
                     for b in blocks if b.get("type") == "tool_use"]
            converted: dict[str, Any] = {"role": "assistant", "content": _joined(blocks)}
            if calls:
                converted["tool_calls"] = calls
            if converted["content"] or calls:
                out.append(converted)
        # other roles (Claude Code's mid-conversation `system` messages) are dropped by the shim
    merged: list[dict[str, Any]] = []
    for message in out:
        if merged and merged[-1]["role"] == "tool" and message["role"] == "user":
            merged.append({"role": "assistant", "content": "[Tool results received]"})
        last = merged[-1] if merged else None
        if last is None or last["role"] != message["role"] or message["role"] in ("tool", "system"):
            merged.append(message)
            continue
        last["content"] = "\n".join(t for t in (last["content"], message["content"]) if t)
        if message.get("tool_calls"):
            last["tool_calls"] = [*last.get("tool_calls", []), *message["tool_calls"]]
    tools = [{"type": "function", "function": {"name": t["name"], "description": t.get("description", ""),
                                                "parameters": t.get("input_schema", {})}}
             for t in body.get("tools") or []]
    converted_body: dict[str, Any] = {"model": body.get("model", "auto"), "messages": merged,
                                      "stream": bool(body.get("stream")), "store": False}
    if isinstance(body.get("max_tokens"), int):
        converted_body["max_completion_tokens"] = body["max_tokens"]
    if tools:
        converted_body["tools"] = tools
    return converted_body


def convert(path: Path) -> Path:
    stored = json.loads(path.read_text())
    bodies = [openclaude_body(body) for body in unpack(stored)]
    target = path.with_name(path.name.replace("claude-code-", "openclaude-"))
    about = stored["about"] + " (Claude Code's loop as OpenClaude's OpenAI shim sends it)"
    target.write_text(json.dumps({"host": "openclaude", "task": stored["task"], "about": about, **pack(bodies)},
                                 indent=0, ensure_ascii=False) + "\n")
    return target


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--task", action="append", help="record only these tasks (by name)")
    parser.add_argument("--convert", action="store_true", help="only rewrite the OpenClaude files")
    args = parser.parse_args()
    if args.convert:
        for path in sorted(OUT.glob("claude-code-*.json")):
            print(f"wrote {convert(path).name}")
        return
    tools = node_tools()
    env_base = tools.env(Path("/nonexistent"), {"NO_COLOR": "1"})
    OUT.mkdir(parents=True, exist_ok=True)
    for task in TASKS:
        if args.task and task.name not in args.task:
            continue
        started = time.monotonic()
        bodies = record(task, tools.claude, env_base)
        path = OUT / f"claude-code-{task.name}.json"
        path.write_text(json.dumps({"host": "claude-code", "task": task.name, "about": task.about,
                                    **pack(bodies)}, indent=0, ensure_ascii=False) + "\n")
        convert(path)
        print(f"{task.name}: {len(bodies)} requests, {path.stat().st_size // 1024} KiB "
              f"({time.monotonic() - started:.0f} s)", flush=True)


if __name__ == "__main__":
    main()
