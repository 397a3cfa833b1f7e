"""Agent loops through the engine's `auto`: the tier of every turn, swaps inside a task, first-tier adequacy.

Replays the loops recorded from the real Claude Code (`record_agent_loops.py`; Anthropic format) and the same
loops as OpenClaude sends them (OpenAI format) through the real engine, on generated tiny tiers and a real
llama-server, one request per recorded turn. Beside each, what the stateless `auto` of before did with the
same turns: the task was the last `user` message whatever it held (tool output included), every turn a new
decision (computed in-process with the same router and catalogue, the previous turn's tier counted as
loaded; a prompt longer than the tier's context counts as refused).

Scale. A tiny tier's tokens are bytes, and Claude Code's loops run to 300 kB, more than a tiny tier processes
in reasonable time on a CPU. So every loop is shrunk `--shrink` times (system prompt, tool descriptions, tool
results, reminders; the person's own words are kept whole), and so are the tiers' contexts, `max_tokens` and
the router's typical answer length (`[router] expected_output_tokens`): every size the engine compares
shrinks alike (to within 10 %: JSON keys do not shrink), so it takes the decisions it takes on the full-size
loop. The contexts are Machine A's (`config/tiers.toml`) times `--context-scale`; llama-server gets four
times the declared context (its tokens are bytes), so only the engine's own reckoning decides what fits.

    .venv/bin/python benchmarks/agent_loops.py [--shrink 8] [--context-scale 1]

Goal: inside a task no move down or sideways, at most one escalation, zero refusals.
"""

from __future__ import annotations

import argparse
import copy
import itertools
import json
import math
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx2

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import engine, table, tiny_tiers

from variet.engine.auto import CHARS_PER_TOKEN
from variet.engine.prompts.prefixes import prefix_chain
from variet.engine.tasks import read_turn
from variet.router import DIFFICULTIES, NEEDS, Conversation, RouteHints, route
from variet.shared.config import RouterSettings
from variet.shared.tiers import Tier, TierCatalogue, load_tiers

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "benchmarks" / "data" / "agent_loops"
LABELS: dict[str, tuple[str, ...]] = {
    "quick-question": ("medium code",),
    "fix-failing-test": ("medium code",),
    "refactor-package": ("hard code", "hard code or reasoning"),
    "long-review": ("hard code",),
    "mid-turn-message": ("easy", "medium"),
}
"""The need of each task the person typed, in order (labelled by hand, the router's labelling rule)."""
SHORT = {"fast": "F", "balanced": "B", "deep-coder": "DC", "deep-logic": "DL", "ultra": "U"}
_REMINDER = re.compile(r"(<system-reminder>)(.*?)(</system-reminder>)", re.DOTALL)


def load(name: str) -> list[dict[str, Any]]:
    stored = json.loads((DATA / f"{name}.json").read_text())
    return [{**stored["shared"], **{k: v for k, v in body.items() if k != "messages"},
             "messages": [stored["pool"][i] for i in body["messages"]]} for body in stored["bodies"]]


def _cut(text: str, k: int) -> str:
    return text[: len(text) // k]


def _shrink_text(text: str, k: int) -> str:
    """A user text: reminders cut, the person's words kept."""
    if "<system-reminder>" in text:
        return _REMINDER.sub(lambda m: m.group(1) + _cut(m.group(2), k) + m.group(3), text)
    return text


def _shrink_tools(tools: list[dict[str, Any]], k: int) -> list[dict[str, Any]]:
    """The tools with empty schemas, the first one's description padded so that the list is 1/k as long."""
    target = len(json.dumps(tools, separators=(",", ":"))) // k
    openai = "function" in tools[0]
    small: list[dict[str, Any]] = [{"type": "function", "function": {"name": t["function"]["name"], "description": "",
                                               "parameters": {"type": "object", "properties": {}}}}
                                   if openai else {"name": t["name"], "description": "",
                                                   "input_schema": {"type": "object", "properties": {}}}
                                   for t in tools]
    pad = max(0, target - len(json.dumps(small, separators=(",", ":"))))
    first: dict[str, Any] = small[0]["function"] if openai else small[0]
    first["description"] = "Tool descriptions, shrunk. " * (pad // 27 + 1)
    return small


def shrink(body: dict[str, Any], k: int) -> dict[str, Any]:
    """`body` with everything but the person's words cut to 1/k, `max_tokens` too (see the module's docstring)."""
    body = copy.deepcopy(body)
    if isinstance(body.get("system"), str):
        body["system"] = _cut(body["system"], k)
    elif isinstance(body.get("system"), list):
        for block in body["system"]:
            block["text"] = _cut(block.get("text", ""), k)
    if body.get("tools"):
        body["tools"] = _shrink_tools(body["tools"], k)
    for message in body["messages"]:
        role, content = message.get("role"), message.get("content")
        if isinstance(content, str):
            message["content"] = _shrink_text(content, k) if role == "user" else _cut(content, k)
            continue
        for block in content or []:
            if block.get("type") == "tool_result":
                inner = block.get("content")
                if isinstance(inner, str):
                    block["content"] = _cut(inner, k)
                else:
                    for part in inner or []:
                        if isinstance(part.get("text"), str):
                            part["text"] = _cut(part["text"], k)
            elif isinstance(block.get("text"), str):
                block["text"] = _shrink_text(block["text"], k) if role == "user" else _cut(block["text"], k)
    for key in ("max_tokens", "max_completion_tokens"):
        if isinstance(body.get(key), int):
            body[key] = max(1, body[key] // k)
    return body


def tiers_file(directory: Path, contexts: dict[str, int]) -> None:
    """Rewrite the tiny `tiers.toml` with these declared contexts (llama-server gets four times as many)."""
    path = directory / "tiers.toml"
    text = path.read_text()
    for name, context in contexts.items():
        start = text.index(f"[tiers.{name}]")
        end = text.find("\n[tiers.", start + 1)
        end = len(text) if end < 0 else end
        block = re.sub(r"context = \d+", f"context = {context}\nargs = {{ ctx-size = {4 * context} }}",
                       text[start:end], count=1)
        text = text[:start] + block + text[end:]
    path.write_text(text)


def depth(tier: Tier) -> int:
    return max((DIFFICULTIES.index(s) for s in tier.strengths if s in DIFFICULTIES), default=-1)


def verdict(catalogue: TierCatalogue, tier: str, need_name: str) -> str:
    """adequate, over, under or specialty, as the router's labelling rule judges `tier` for the need."""
    need = next(n for n in NEEDS if n.name == need_name)
    facts = {name: (frozenset(t.strengths), depth(t)) for name, t in catalogue.tiers.items()}
    accepted = [name for name, (strengths, d) in facts.items() if need.accepts(strengths, d)]
    if tier in accepted:
        return "adequate"
    low, high = min(facts[n][1] for n in accepted), max(facts[n][1] for n in accepted)
    d = facts[tier][1]
    return "under" if d < low else "over" if d > high else "specialty"


def stateless_task(body: dict[str, Any]) -> tuple[str, Conversation]:
    """What `auto` took as the task before: the last `user` message, tool results and reminders included."""
    def text(content: Any) -> str:
        if isinstance(content, str):
            return content
        parts = []
        for block in content or []:
            if isinstance(block.get("text"), str):
                parts.append(block["text"])
            elif block.get("type") == "tool_result":
                parts.append(text(block.get("content")))
        return "\n".join(p for p in parts if p)
    messages = body["messages"]
    last = max(i for i, m in enumerate(messages) if m.get("role") == "user")
    chars = sum(len(text(m.get("content"))) for m in messages[:last]) + len(text(body.get("system")))
    return text(messages[last].get("content")), Conversation(messages=last, chars=chars)


@dataclass
class Task:
    """One person's message and the turns that followed it, as served."""

    need: str
    tiers: list[str] = field(default_factory=list)
    escalations: int = 0
    forced: int = 0
    """Moves the context forced onto a tier that is not deeper."""
    refusals: int = 0


@dataclass
class Replay:
    name: str
    form: str
    tasks: list[Task]
    last_prompt_tokens: int
    """Full-size estimate of the last turn's prompt."""


def split_tasks(bodies: list[dict[str, Any]], task_name: str) -> list[int]:
    """For each turn, the index of its task (a new person's message starts the next)."""
    index, seen, out = -1, None, []
    for body in bodies:
        turn = read_turn(body)
        if turn.task != seen:
            index, seen = index + 1, turn.task
        out.append(index)
    assert index + 1 == len(LABELS[task_name]), (task_name, index)
    return out


def replay(url: str, name: str, k: int, catalogue: TierCatalogue) -> Replay:
    form = "anthropic" if name.startswith("claude-code") else "openai"
    task_name = name.split("-", 2)[2] if form == "anthropic" else name.split("-", 1)[1]
    bodies = load(name)
    owners = split_tasks(bodies, task_name)
    tasks = [Task(need) for need in LABELS[task_name]]
    path = "/v1/messages" if form == "anthropic" else "/v1/chat/completions"
    with httpx2.Client(base_url=url, timeout=600) as client:
        for body, owner in zip(bodies, owners, strict=True):
            small = {**shrink(body, k), "stream": False, "n_predict": 4}
            reply = client.post(path, json=small)
            task = tasks[owner]
            if reply.status_code != 200:
                task.refusals += 1
                task.tiers.append("refused")
                continue
            why = json.loads(reply.headers["x-variet-route"])
            task.tiers.append(reply.headers["x-variet-tier"])
            if why.get("task") == "escalated":
                task.escalations += 1
                if "hold it" in why["summary"]:
                    task.forced += 1
    tokens = math.ceil(prefix_chain(bodies[-1]).total_chars / CHARS_PER_TOKEN)
    return Replay(name, form, tasks, tokens)


def answer_tokens(k: int) -> int:
    """The router's typical answer length, shrunk like everything else."""
    return max(1, RouterSettings().expected_output_tokens // k)


def stateless(name: str, k: int, catalogue: TierCatalogue, loaded: list[str | None]) -> Replay:
    """The same turns routed as before: each turn on its own (see the module's docstring)."""
    form = "anthropic" if name.startswith("claude-code") else "openai"
    task_name = name.split("-", 2)[2] if form == "anthropic" else name.split("-", 1)[1]
    bodies = load(name)
    owners = split_tasks(bodies, task_name)
    tasks = [Task(need) for need in LABELS[task_name]]
    for body, owner in zip(bodies, owners, strict=True):
        small = shrink(body, k)
        text, conversation = stateless_task(small)
        cap = small.get("max_tokens", small.get("max_completion_tokens"))
        decision = route(text, loaded_tier=loaded[0], context=conversation,
                         hints=RouteHints(expected_output_tokens=answer_tokens(k),
                                          max_output_tokens=cap if isinstance(cap, int) else None), tiers=catalogue)
        prompt = math.ceil(prefix_chain(small).total_chars / CHARS_PER_TOKEN)
        if prompt > catalogue.tiers[decision.tier].context:
            tasks[owner].refusals += 1
            tasks[owner].tiers.append("refused")
            continue
        tasks[owner].tiers.append(decision.tier)
        loaded[0] = decision.tier
    tokens = math.ceil(prefix_chain(bodies[-1]).total_chars / CHARS_PER_TOKEN)
    return Replay(name, form, tasks, tokens)


@dataclass
class Tally:
    swaps: int = 0
    down_or_sideways: int = 0
    escalations: int = 0
    forced: int = 0
    refusals: int = 0
    adequate_first: int = 0
    tasks: int = 0


def tally(result: Replay, catalogue: TierCatalogue) -> Tally:
    out = Tally()
    for task in result.tasks:
        out.tasks += 1
        out.refusals += task.refusals
        out.escalations += task.escalations
        out.forced += task.forced
        served = [t for t in task.tiers if t != "refused"]
        if served and verdict(catalogue, served[0], task.need) == "adequate":
            out.adequate_first += 1
        forced = task.forced
        for before, after in itertools.pairwise(served):
            if before == after:
                continue
            out.swaps += 1
            if depth(catalogue.tiers[after]) <= depth(catalogue.tiers[before]):
                if forced:
                    forced -= 1  # the context left no deeper tier: counted as an escalation, not a drift
                else:
                    out.down_or_sideways += 1
    return out


def turns(result: Replay) -> str:
    return " | ".join(" ".join(SHORT.get(t, "X") for t in task.tiers) for task in result.tasks)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shrink", type=int, default=8, help="shrink loops and contexts this many times")
    parser.add_argument("--context-scale", type=float, default=1.0, help="times Machine A's contexts")
    parser.add_argument("--loop", action="append", help="only these loops (file stems)")
    args = parser.parse_args()
    k = args.shrink
    machine_a = load_tiers(ROOT / "config" / "tiers.toml")
    contexts = {name: int(tier.context * args.context_scale) // k for name, tier in machine_a.tiers.items()}
    directory = tiny_tiers()
    tiers_file(directory, contexts)
    catalogue = load_tiers(directory / "tiers.toml")
    names = args.loop or sorted(p.stem for p in DATA.glob("*.json"))
    ours, before = [], []
    loaded: list[str | None] = [None]
    with engine(directory, extra=f"[router]\nexpected_output_tokens = {answer_tokens(k)}\n") as running:
        for name in names:
            print(f"replaying {name} ...", file=sys.stderr, flush=True)
            ours.append(replay(running.url, name, k, catalogue))
            before.append(stateless(name, k, catalogue, loaded))
    full = ", ".join(f"{n} {c * k // 1000}k" for n, c in contexts.items())
    print(f"Contexts (full size): {full}; loops and contexts shrunk {k}x for tiny tiers.")
    print("Tier of every turn (F fast, B balanced, DC deep-coder, DL deep-logic, U ultra, X refused; | between "
          "the person's messages):\n")
    for mine, theirs in zip(ours, before, strict=True):
        print(f"{mine.name} ({mine.form}, {sum(len(t.tiers) for t in mine.tasks)} turns, last prompt "
              f"~{mine.last_prompt_tokens // 1000}k tokens at full size)")
        print(f"  with task memory: {turns(mine)}")
        print(f"  stateless before: {turns(theirs)}")
    rows = []
    totals = {"ours": Tally(), "before": Tally()}
    for mine, theirs in zip(ours, before, strict=True):
        a, b = tally(mine, catalogue), tally(theirs, catalogue)
        for key, t in (("ours", a), ("before", b)):
            for attr in ("swaps", "down_or_sideways", "escalations", "forced", "refusals", "adequate_first", "tasks"):
                setattr(totals[key], attr, getattr(totals[key], attr) + getattr(t, attr))
        rows.append([mine.name, a.tasks, f"{a.swaps} / {b.swaps}", f"{a.down_or_sideways} / {b.down_or_sideways}",
                     f"{a.escalations} ({a.forced})", f"{a.refusals} / {b.refusals}",
                     f"{a.adequate_first}/{a.tasks} / {b.adequate_first}/{b.tasks}"])
    a, b = totals["ours"], totals["before"]
    rows.append(["all", a.tasks, f"{a.swaps} / {b.swaps}", f"{a.down_or_sideways} / {b.down_or_sideways}",
                 f"{a.escalations} ({a.forced})", f"{a.refusals} / {b.refusals}",
                 f"{a.adequate_first}/{a.tasks} / {b.adequate_first}/{b.tasks}"])
    print()
    print(table(["loop (memory / stateless)", "tasks", "swaps in tasks", "down or sideways",
                 "escalations (shallower)", "refusals", "first tier adequate"], rows))
    print("\nAn escalation is shallower when only shallower tiers hold the grown conversation (Machine A's deep\n"
          "tiers have the smaller contexts); it is not counted as a move down. A refusal of the stateless auto is\n"
          "a prompt longer than its tier's context.")


if __name__ == "__main__":
    main()
