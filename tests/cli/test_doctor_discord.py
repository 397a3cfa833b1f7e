"""`variet doctor`'s Discord check against the fake Discord: the token's place, privacy and acceptance."""

from __future__ import annotations

import json
from pathlib import Path

import anyio
import pytest

from tests.fakes.discord import BOT_TOKEN, serve_fake_discord
from tests.parts.private import FIX_FILE, expose
from variet.cli.doctor import Check, run_checks
from variet.shared.secrets import write_private_file

pytestmark = pytest.mark.anyio


async def discord_check(tmp_path: Path, discord: str) -> Check:
    config = tmp_path / "variet.toml"
    config.write_text(f'[engine]\nurl = "http://127.0.0.1:9"\n[search]\nurl = "http://127.0.0.1:9"\n'
                      f"[discord]\n{discord}\n")
    with anyio.fail_after(60):
        checks = await run_checks(str(config), servers=False)
    (check,) = [c for c in checks if c.name == "discord"]
    assert BOT_TOKEN not in json.dumps([c.__dict__ for c in checks])
    return check


@pytest.mark.parametrize(("token", "outcome", "words"), [
    (BOT_TOKEN, "ok", "accepted: the bot is Variet; 1 owner(s)"),
    ("wrong-token", "FAIL", "Discord rejected the token from VARIET_DISCORD_TOKEN"),
])
async def test_the_token_is_checked_with_discord(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, token: str,
                                                 outcome: str, words: str) -> None:
    monkeypatch.setenv("VARIET_DISCORD_TOKEN", token)
    async with serve_fake_discord() as fake:
        check = await discord_check(tmp_path, f'owner_ids = [1]\napi_url = "{fake.api_url}"')
    assert (check.outcome, words in check.detail) == (outcome, True), check
    if outcome == "FAIL":
        assert "Reset Token" in check.fix


async def test_a_readable_token_file_and_missing_owners_fail_and_no_token_only_warns(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("VARIET_DISCORD_TOKEN", raising=False)
    token = tmp_path / "discord.token"
    write_private_file(token, BOT_TOKEN)
    expose(token)
    leaky = await discord_check(tmp_path, f"token_file = '{token}'\nowner_ids = [1]")
    write_private_file(token, BOT_TOKEN)
    ownerless = await discord_check(tmp_path, f"token_file = '{token}'")
    unset = await discord_check(tmp_path, "")
    assert leaky.outcome == "FAIL" and leaky.fix.startswith(FIX_FILE) and str(token) in leaky.fix
    assert ownerless.outcome == "FAIL" and "owner_ids" in ownerless.detail
    assert unset.outcome == "warn" and "VARIET_DISCORD_TOKEN" in unset.fix
