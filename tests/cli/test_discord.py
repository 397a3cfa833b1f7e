"""`variet discord` as a user runs it: a setup problem is one line on stderr and exit code 2."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import anyio
import pytest

from tests.fakes.discord import serve_fake_discord

pytestmark = pytest.mark.anyio


def environ(**extra: str) -> dict[str, str]:
    return {**{k: v for k, v in os.environ.items() if not k.startswith("VARIET_")}, **extra}


async def test_a_rejected_token_is_one_line_without_the_token_or_a_traceback(tmp_path: Path) -> None:
    async with serve_fake_discord() as fake:
        config = tmp_path / "variet.toml"
        config.write_text(f'[engine]\nurl = "http://127.0.0.1:9"\n[discord]\nowner_ids = [1]\nservers = []\n'
                          f'api_url = "{fake.api_url}"\ngateway_url = "{fake.gateway_url}"\n'
                          f"state_file = '{tmp_path / 'state.json'}'\n")
        with anyio.fail_after(60):
            done = await anyio.run_process([sys.executable, "-m", "variet.cli", "discord", "--config", str(config)],
                                           env=environ(VARIET_DISCORD_TOKEN="not-the-token-1234"), check=False)
    stderr = done.stderr.decode()
    assert done.returncode == 2
    assert stderr.strip().endswith("variet discord: Discord rejected the bot token: in the Developer Portal open "
                                   "your application -> Bot -> Reset Token, and put the new token in "
                                   "VARIET_DISCORD_TOKEN or [discord] token_file.")
    assert "not-the-token-1234" not in stderr and "Traceback" not in stderr


async def test_without_a_token_it_says_where_to_put_one(tmp_path: Path) -> None:
    config = tmp_path / "variet.toml"
    config.write_text("[discord]\nowner_ids = [1]\n")
    with anyio.fail_after(60):
        done = await anyio.run_process([sys.executable, "-m", "variet.assistant", "--config", str(config)],
                                       env=environ(), check=False)
    assert done.returncode == 2
    assert "no Discord bot token: set VARIET_DISCORD_TOKEN or [discord] token_file" in done.stderr.decode()
