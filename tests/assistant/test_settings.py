"""The [discord] settings, the bot token's sources, and the one-line explanations of failures."""

from __future__ import annotations

import logging
from pathlib import Path

import discord
import pytest

from tests.assistant.support import toml
from tests.parts.private import FIX_FILE, expose
from variet.assistant.credentials import TokenRedactor, discord_token
from variet.assistant.errors import ServerUnavailable, explain
from variet.shared.config import load_settings
from variet.shared.errors import ConfigError, EngineUnreachable
from variet.shared.secrets import write_private_file

EXAMPLE = Path(__file__).parents[2] / "config" / "variet.example.toml"


def test_the_example_file_documents_the_defaults() -> None:
    discord_settings = load_settings(EXAMPLE, environ={}).discord
    assert discord_settings.model == "auto" and discord_settings.servers == ("search", "calendar", "gmail")
    assert discord_settings.api_url == "https://discord.com/api/v10"
    assert discord_settings.edit_interval_seconds == 1.0
    assert discord_settings.outbound == "ask"


def test_the_outbound_rule_can_be_set_from_the_environment() -> None:
    settings = load_settings(environ={"VARIET_DISCORD_OUTBOUND": "block", "VARIET_SEARCH_OUTBOUND": "allow",
                                      "VARIET_CONFIG": str(EXAMPLE)})
    assert (settings.discord.outbound, settings.search.outbound) == ("block", "allow")


@pytest.mark.parametrize(("values", "key"), [
    ({"timezone": "Mars/Olympus"}, "discord.timezone"),
    ({"servers": ["search"], "server_urls": {"gmail": "http://127.0.0.1:1/mcp"}}, "discord"),
    ({"servers": ["mail"]}, "discord.servers"),
    ({"owner_id": [1]}, "discord.owner_id"),
    ({"outbound": "sometimes"}, "discord.outbound"),
])
def test_bad_discord_settings_name_the_key(tmp_path: Path, values: dict[str, object], key: str) -> None:
    path = tmp_path / "variet.toml"
    path.write_text(toml({"discord": values}))
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        load_settings(path, environ={})


def test_owner_ids_come_from_the_environment_too() -> None:
    settings = load_settings(environ={"VARIET_DISCORD_OWNER_IDS": "[12, 34]", "VARIET_CONFIG": str(EXAMPLE)})
    assert settings.discord.owner_ids == (12, 34)


def test_the_token_comes_from_the_environment_or_a_private_file(tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    token_file = tmp_path / "discord.token"
    write_private_file(token_file, "from-file\n")
    path = tmp_path / "variet.toml"
    path.write_text(toml({"discord": {"token_file": "discord.token"}}))
    settings = load_settings(path, environ={})
    monkeypatch.delenv("VARIET_DISCORD_TOKEN", raising=False)
    expose(token_file)
    with pytest.raises(ConfigError, match=FIX_FILE):
        discord_token(settings)
    write_private_file(token_file, "from-file\n")
    assert discord_token(settings) == "from-file"
    monkeypatch.setenv("VARIET_DISCORD_TOKEN", "from-env")
    assert discord_token(settings) == "from-env"


def test_without_a_token_the_error_says_where_to_put_one(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("VARIET_DISCORD_TOKEN", raising=False)
    with pytest.raises(ConfigError, match="VARIET_DISCORD_TOKEN or \\[discord\\] token_file"):
        discord_token(load_settings(EXAMPLE, environ={}))


def test_the_token_is_redacted_from_any_log_line(caplog: pytest.LogCaptureFixture) -> None:
    logger = logging.getLogger("test.redaction")
    redactor = TokenRedactor("s3cr3t-token")
    logger.addFilter(redactor)
    with caplog.at_level(logging.INFO, "test.redaction"):
        logger.info("connecting with %s", "s3cr3t-token")
    logger.removeFilter(redactor)
    assert caplog.records[0].getMessage() == "connecting with [discord token]"


class _Response:
    status = 403
    reason = "Forbidden"


def test_failures_become_one_actionable_line() -> None:
    assert explain(ExceptionGroup("x", [EngineUnreachable("no engine\n  at x")])) == "no engine at x"
    assert "Reset Token" in explain(discord.LoginFailure("Improper token"))
    assert "MESSAGE CONTENT INTENT" in explain(discord.PrivilegedIntentsRequired(None))
    assert "lacks a permission" in explain(discord.Forbidden(_Response(), {"message": "Missing Access"}))  # type: ignore[arg-type]
    assert explain(ServerUnavailable("variet-gmail is not running")) == "variet-gmail is not running"
    assert explain(KeyError("x")) == "Something went wrong (KeyError); the bot's log has the details."
