"""Running the assistant against the fake Discord: settings written to a real variet.toml, the bot in-process.

The bot's MCP servers are real subprocesses that read the same settings file, as they would in use.
"""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio

from tests.fakes.discord import BOT_TOKEN, FakeDiscord
from variet.assistant import Assistant
from variet.shared.config import Settings, load_settings

__all__ = ["answers", "bot_settings", "clean_environ", "final_answer", "running_bot", "toml"]


def toml(data: Mapping[str, Any]) -> str:
    """`data` (sections of plain values, lists and inline tables) as TOML."""

    def value(item: Any) -> str:
        if isinstance(item, bool):
            return "true" if item else "false"
        if isinstance(item, (int, float)):
            return repr(item)
        if isinstance(item, str):
            return json.dumps(item)
        if isinstance(item, (list, tuple)):
            return "[" + ", ".join(value(v) for v in item) + "]"
        if isinstance(item, Mapping):
            return "{" + ", ".join(f"{json.dumps(str(k))} = {value(v)}" for k, v in item.items()) + "}"
        raise TypeError(f"no TOML for {type(item).__name__}")

    lines = []
    for section, values in data.items():
        lines.append(f"[{section}]")
        lines += [f"{key} = {value(item)}" for key, item in values.items()]
    return "\n".join(lines) + "\n"


def bot_settings(folder: Path, fake: FakeDiscord | None, *, engine_url: str, owners: tuple[int, ...] = (),
                 servers: tuple[str, ...] = (), google: Settings | None = None,
                 sections: Mapping[str, Mapping[str, Any]] | None = None, **discord: Any) -> Settings:
    """A variet.toml in `folder` for a bot on `fake` and the engine at `engine_url`, loaded back."""
    data: dict[str, dict[str, Any]] = {"engine": {"url": engine_url}}
    if google is not None:
        data["google"] = {k: v for k, v in google.google.model_dump().items() if v is not None and k != "accounts"}
    data["discord"] = {
        "owner_ids": list(owners), "servers": list(servers), "state_file": str(folder / "discord-state.json"),
        "edit_interval_seconds": 0.3, "timezone": "Europe/Berlin", **discord,
    }
    if fake is not None:
        data["discord"] |= {"api_url": fake.api_url, "gateway_url": fake.gateway_url}
    for section, values in (sections or {}).items():
        data.setdefault(section, {}).update(values)
    path = folder / "variet.toml"
    path.write_text(toml(data))
    return load_settings(path, environ={})


def clean_environ() -> dict[str, str]:
    """This process's environment without Variet settings (the servers must read only the test's file)."""
    return {k: v for k, v in os.environ.items() if not k.startswith("VARIET_")}


@asynccontextmanager
async def running_bot(fake: FakeDiscord, settings: Settings) -> AsyncIterator[Assistant]:
    """The assistant connected to `fake` while the block runs; closed (and its servers stopped) after."""
    assistant = Assistant(settings, token=BOT_TOKEN, environ=clean_environ())
    sessions = fake.sessions_ready
    async with anyio.create_task_group() as tasks:
        tasks.start_soon(assistant.run)
        with anyio.fail_after(30):
            await fake.wait_connected(sessions + 1)
            assert assistant.services is not None and assistant.bot is not None
            await assistant.bot.ready.wait()
            await assistant.services.host.wait_started()
        try:
            yield assistant
        finally:
            await assistant.close()


def answers(fake: FakeDiscord, channel: int) -> list[dict[str, Any]]:
    """The bot's messages in `channel` that answer a message (not confirmation prompts, asked or decided, and
    not answers to slash commands or clicks)."""
    return [m for m in fake.bot_messages(channel)
            if not m["content"].startswith(("🔐", "✅", "✖️", "⌛")) and "interaction_metadata" not in m]


async def final_answer(fake: FakeDiscord, channel: int, check: Callable[[str], bool] | None = None,
                       after: int = 0) -> dict[str, Any]:
    """The bot's answer in `channel` (the `after`-th onwards) once its footer is final (not "writing…")."""

    def done() -> dict[str, Any] | None:
        found = answers(fake, channel)[after:]
        for message in reversed(found):
            text = message["content"]
            streaming = any(mark in text for mark in ("writing…", "thinking…", "-# 🔧"))
            finished = not streaming and not text.startswith("⏳")
            if finished and (check is None or check(text)):
                return message
        return None

    found: dict[str, Any] = await fake.wait_for(done)
    return found
