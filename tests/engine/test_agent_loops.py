"""`auto` inside agent loops, through the engine's HTTP API with a real llama-server and tiny tiers, in both formats.

`fast` is given a small context (`SMALL`) so that a loop that starts on it outgrows it after a few tool
results; every other tier holds 32k tokens.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import anyio
import httpx2
import pytest

from tests.engine.recorded_loops import loop
from tests.parts.engine import RunningEngine, run_engine, write_config
from variet.router import Conversation, route
from variet.shared.tiers import load_tiers

pytestmark = pytest.mark.llama

SMALL = 1024
EASY = "quick: say hi"
"""Routed to `fast` by the packaged router, whatever is loaded."""
PROOF = ("Prove that there are infinitely many primes p such that p+2 is also prime, or explain rigorously why the "
         "question is open, with a formal argument.")
"""Routed to `deep-logic`: a tool result that reads like this must not move an easy task there."""
FORMATS = ("anthropic", "openai")


@pytest.fixture(scope="module")
def tiers_file(tiny_dir: Path) -> Path:
    """The tiny tiers, `fast` with a context of `SMALL` tokens.

    A tiny tier's tokens are bytes, while the engine reckons 3.5 characters a token as for real models; so
    llama-server is given four times the declared context, and the engine's reckoning decides, as on real tiers.
    """
    text = (tiny_dir / "tiers.toml").read_text()
    fast = text.index("[tiers.fast]")
    end = text.find("[tiers.", fast + 1)
    block = re.sub(r"context = \d+", f"context = {SMALL}\nargs = {{ ctx-size = {4 * SMALL} }}", text[fast:end],
                   count=1)
    path = tiny_dir / "tiers-agent-loops.toml"
    path.write_text(text[:fast] + block + text[end:])
    return path


@pytest.fixture(scope="module")
def loops_engine(tiny_dir: Path, tiers_file: Path) -> Iterator[RunningEngine]:
    with run_engine(write_config(tiny_dir, tiers_file=tiers_file.name)) as running:
        yield running


def conversation(form: str, task: str, results: list[str], *, after: Sequence[str] = (),
                 **extra: Any) -> dict[str, Any]:
    """An agent loop's request: the person's `task`, one tool call per result in `results`, then `after` (more
    user messages of the person, each after an assistant answer)."""
    messages: list[dict[str, Any]] = [{"role": "user", "content": task}]
    for i, result in enumerate(results):
        if form == "anthropic":
            messages += [{"role": "assistant", "content": [{"type": "tool_use", "id": f"toolu_{i}", "name": "Read",
                                                            "input": {"file_path": f"f{i}.txt"}}]},
                         {"role": "user", "content": [{"type": "tool_result", "tool_use_id": f"toolu_{i}",
                                                       "content": result}]}]
        else:
            messages += [{"role": "assistant", "content": "", "tool_calls": [{
                             "id": f"call_{i}", "type": "function",
                             "function": {"name": "Read", "arguments": json.dumps({"file_path": f"f{i}.txt"})}}]},
                         {"role": "tool", "tool_call_id": f"call_{i}", "content": result}]
    for text in after:
        messages += [{"role": "assistant", "content": "Done."}, {"role": "user", "content": text}]
    return {"model": "auto", "max_tokens": 4, "messages": messages, **extra}


def send(engine: RunningEngine, form: str, body: dict[str, Any]) -> dict[str, Any]:
    """POST the body in its format; the route explanation, with the tier that answered."""
    path = "/v1/messages" if form == "anthropic" else "/v1/chat/completions"
    reply = httpx2.post(f"{engine.url}{path}", json=body, timeout=120)
    assert reply.status_code == 200, reply.text
    why: dict[str, Any] = json.loads(reply.headers["x-variet-route"])
    assert why["tier"] == reply.headers["x-variet-tier"] == reply.json()["model"]
    return why


def unload(engine: RunningEngine) -> None:
    """Nothing loaded, so that a new task goes where the router sends it from a cold start."""
    assert httpx2.post(f"{engine.url}/variet/unload", timeout=30).status_code < 300
    engine.wait_for("nothing loaded", lambda status: status.loaded is None)


def tag(form: str, name: str) -> dict[str, Any]:
    """Something unique to one test, so tests sharing the engine never share a task."""
    return {"system": f"{name} ({form})"} if form == "anthropic" else {"user": f"{name}-{form}"}


@pytest.mark.parametrize("form", FORMATS)
def test_a_tool_result_turn_stays_on_its_tasks_tier_however_hard_the_tool_output_looks(
    loops_engine: RunningEngine, tiers_file: Path, form: str
) -> None:
    assert route(PROOF, tiers=load_tiers(tiers_file)).tier == "deep-logic"
    unload(loops_engine)
    first = send(loops_engine, form, conversation(form, EASY, [], **tag(form, "stays")))
    assert (first["tier"], first["task"], first["turn"]) == ("fast", "new", 1)
    for turn, results in enumerate((["a.txt: 3 lines"], ["a.txt: 3 lines", PROOF]), start=2):
        why = send(loops_engine, form, conversation(form, EASY, results, **tag(form, "stays")))
        assert why["tier"] == "fast" and why["task"] == "continuing", why
        assert why["summary"] == f"continuing task on fast (turn {turn})"


@pytest.mark.parametrize("form", FORMATS)
def test_a_message_of_system_reminders_only_does_not_count_as_a_task(loops_engine: RunningEngine, form: str) -> None:
    unload(loops_engine)
    send(loops_engine, form, conversation(form, EASY, [], **tag(form, "reminder")))
    body = conversation(form, EASY, ["ok"], **tag(form, "reminder"))
    reminder = f"<system-reminder>\n{PROOF}\n</system-reminder>"
    if form == "anthropic":  # Claude Code: beside the tool result, in the same user message
        body["messages"][-1]["content"].append({"type": "text", "text": reminder})
    else:  # OpenClaude: after an assistant `[Tool results received]`
        body["messages"] += [{"role": "assistant", "content": "[Tool results received]"},
                             {"role": "user", "content": reminder}]
    why = send(loops_engine, form, body)
    assert (why["tier"], why["task"], why["turn"]) == ("fast", "continuing", 2)


@pytest.mark.parametrize("form", FORMATS)
def test_a_new_message_of_the_person_is_routed_afresh(loops_engine: RunningEngine, form: str) -> None:
    unload(loops_engine)
    send(loops_engine, form, conversation(form, EASY, [], **tag(form, "new")))
    send(loops_engine, form, conversation(form, EASY, ["ok"], **tag(form, "new")))
    why = send(loops_engine, form, conversation(form, EASY, ["ok"], after=[PROOF], **tag(form, "new")))
    assert (why["tier"], why["task"], why["turn"], why["summary"]) == ("deep-logic", "new", 1, "new task")
    later = _continue(form, conversation(form, EASY, ["ok"], after=[PROOF], **tag(form, "new")))
    then = send(loops_engine, form, later)
    assert (then["tier"], then["task"], then["turn"]) == ("deep-logic", "continuing", 2)


def _continue(form: str, body: dict[str, Any], result: str = "done") -> dict[str, Any]:
    """`body` with one more tool call and its result."""
    tail = conversation(form, "", [result])["messages"][1:]
    return {**body, "messages": body["messages"] + tail}


@pytest.mark.parametrize("form", FORMATS)
def test_a_loop_that_outgrows_its_tier_escalates_once_and_never_comes_back_down(
    loops_engine: RunningEngine, form: str
) -> None:
    page = "The quick brown fox jumps over the lazy dog. " * 40  # ~1800 characters
    unload(loops_engine)
    tiers = []
    for results in ([], [page], [page, page], [page] * 3, [page] * 6):
        why = send(loops_engine, form, conversation(form, EASY, results, **tag(form, "grows")))
        tiers.append(why["tier"])
        if why["task"] == "escalated":
            assert re.fullmatch(r"escalated: context \d+(\.\d)?k > 1\.0k of fast, now [a-z-]+", why["summary"]), why
    assert tiers[0] == "fast" and tiers[-1] != "fast"
    moved = [i for i in range(1, len(tiers)) if tiers[i] != tiers[i - 1]]
    assert len(moved) == 1, tiers  # one escalation, then it stays there


@pytest.mark.parametrize("form", FORMATS)
def test_a_new_task_never_goes_to_a_tier_without_room_for_the_prompt_and_the_answer(
    loops_engine: RunningEngine, tiers_file: Path, form: str
) -> None:
    system = "You are a helpful assistant. " * 110  # ~3200 characters: ~910 of fast's 1024 tokens
    hints = {"max_output_tokens": 512}
    # The router alone would take fast: the prompt and its short answer estimate fit ...
    alone = route(EASY, context=Conversation(chars=len(system)), hints=hints, tiers=load_tiers(tiers_file))
    assert alone.tier == "fast"
    unload(loops_engine)
    body = conversation(form, EASY, [], system=system) if form == "anthropic" else conversation(form, EASY, [])
    if form == "openai":
        body["messages"].insert(0, {"role": "system", "content": system})
    # ... but max_tokens 512 asks for more room than is left (up to an eighth of the context, 128 tokens).
    why = send(loops_engine, form, {**body, "max_tokens": 512})
    assert why["tier"] != "fast" and why["task"] == "new"


@pytest.mark.parametrize(("form", "field"), [("anthropic", "metadata"), ("openai", "user"),
                                             ("openai", "prompt_cache_key")])
def test_the_hosts_conversation_id_finds_the_task_when_earlier_messages_change(
    loops_engine: RunningEngine, form: str, field: str
) -> None:
    ident = {"metadata": {"user_id": "session-keyed"}} if field == "metadata" else {field: f"keyed-{field}"}
    unload(loops_engine)
    send(loops_engine, form, conversation(form, EASY, [], **ident))
    # The host rewrote its system prompt mid-loop (say a tool list grew): the prefix differs, the id does not.
    system = {"system": "rewritten"} if form == "anthropic" else {}
    body = conversation(form, EASY, ["ok"], **ident, **system)
    if form == "openai":
        body["messages"].insert(0, {"role": "system", "content": "rewritten"})
    why = send(loops_engine, form, body)
    assert (why["tier"], why["task"], why["turn"]) == ("fast", "continuing", 2)
    # Without the id, the same rewrite hides the task: it is routed again, on the person's message.
    task = f"{EASY} ({field})"
    send(loops_engine, form, conversation(form, task, []))
    anonymous = conversation(form, task, ["ok"], **system)
    if form == "openai":
        anonymous["messages"].insert(0, {"role": "system", "content": "rewritten"})
    fresh = send(loops_engine, form, anonymous)
    assert fresh["task"] == "new" and fresh["summary"].startswith("task first seen mid-loop")


@pytest.mark.parametrize("form", FORMATS)
def test_without_an_id_the_prompt_prefix_finds_the_task(loops_engine: RunningEngine, form: str) -> None:
    system = {"system": "prefix-keyed"} if form == "anthropic" else {}
    first = conversation(form, EASY, [], **system)
    if form == "openai":
        first["messages"].insert(0, {"role": "system", "content": "prefix-keyed"})
    unload(loops_engine)
    send(loops_engine, form, first)
    why = send(loops_engine, form, _continue(form, first))
    assert (why["tier"], why["task"], why["turn"]) == ("fast", "continuing", 2)


@pytest.mark.parametrize("name", ["claude-code-quick-question", "openclaude-quick-question"])
def test_a_recorded_loop_stays_on_one_tier(tiny_dir: Path, name: str) -> None:
    """Real Claude Code bodies (and OpenClaude's conversion of them), on an engine whose tiers hold them."""
    form = "anthropic" if name.startswith("claude-code") else "openai"
    with run_engine(write_config(tiny_dir)) as running:
        # The first two turns: later ones read a 25k-character file, slow for a tiny tier's byte tokens.
        tiers = [send(running, form, {**body, "max_tokens": 4, "stream": False})["tier"] for body in loop(name)[:2]]
    assert len(set(tiers)) == 1, tiers



@pytest.mark.anyio
async def test_the_events_say_which_task_each_routed_request_belongs_to(loops_engine: RunningEngine) -> None:
    body = conversation("openai", EASY, [], user="evented")
    async with httpx2.AsyncClient(base_url=loops_engine.url, timeout=60) as client:
        with anyio.fail_after(60):
            async with client.stream("GET", "/variet/events") as events:
                lines = (line[5:].strip() async for line in events.aiter_lines() if line.startswith("data:"))
                assert json.loads(await anext(lines))["event"] == "subscribed"
                for request in (body, _continue("openai", body)):
                    assert (await client.post("/v1/chat/completions", json=request)).status_code == 200
                routed = []
                async for data in lines:
                    event = json.loads(data)
                    if event["event"] == "routed":
                        routed.append(event)
                        if len(routed) == 2:
                            break
    first, second = routed
    assert (first["task"], first["turn"], first["summary"]) == ("new", 1, "new task")
    assert (second["task"], second["turn"]) == ("continuing", 2)
    assert second["summary"] == f"continuing task on {first['tier']} (turn 2)" and second["needs_swap"] is False


def test_the_task_table_stays_bounded_forgetting_the_oldest_task(loops_engine: RunningEngine) -> None:
    """512 keys, two per task here (the host's id and the prompt prefix): 300 later tasks push the first out."""
    def task(n: int) -> dict[str, Any]:
        return conversation("openai", f"{EASY} #{n}", [], user=f"bounded-{n}") | {"max_tokens": 1}

    with httpx2.Client(base_url=loops_engine.url, timeout=60) as client:
        for n in range(301):
            assert client.post("/v1/chat/completions", json=task(n)).status_code == 200
    oldest = send(loops_engine, "openai", _continue("openai", task(0)))
    newest = send(loops_engine, "openai", _continue("openai", task(300)))
    assert oldest["task"] == "new" and oldest["summary"].startswith("task first seen mid-loop")
    assert (newest["task"], newest["turn"]) == ("continuing", 2)
