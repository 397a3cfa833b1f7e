"""Settings and tier files: defaults, environment overrides, and errors that name the file and key."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.parts.private import FIX_FILE, expose
from variet.shared.config import load_settings
from variet.shared.errors import ConfigError
from variet.shared.secrets import read_secret_file, write_private_file
from variet.shared.tiers import load_tiers

REAL_TIERS = Path(__file__).parents[2] / "config" / "tiers.toml"
EXAMPLE = Path(__file__).parents[2] / "config" / "variet.example.toml"


def test_the_shipped_tier_catalogue_has_the_five_tiers_cheapest_first() -> None:
    catalogue = load_tiers(REAL_TIERS)
    assert list(catalogue.tiers) == ["fast", "balanced", "deep-coder", "deep-logic", "ultra"]
    assert catalogue.resolve("qwen-27b") == "deep-logic"
    assert catalogue.tiers["ultra"].gpus == (1,)


def test_the_example_settings_file_is_valid_and_matches_the_defaults() -> None:
    settings = load_settings(EXAMPLE, environ={})
    assert settings.engine.listen == "127.0.0.1:8000"
    assert settings.google.calendar_write is False


def test_a_bad_tier_key_is_reported_with_file_tier_and_key(tmp_path: Path) -> None:
    bad = tmp_path / "tiers.toml"
    bad.write_text('[tiers.fast]\nmodel = "m.gguf"\ncontext = 4096\ntokens_per_second = -3\nload_seconds = 1\n')
    with pytest.raises(ConfigError) as caught:
        load_tiers(bad)
    message = str(caught.value)
    assert str(bad) in message and "tiers.fast.tokens_per_second" in message


def test_an_unknown_key_is_rejected(tmp_path: Path) -> None:
    bad = tmp_path / "variet.toml"
    bad.write_text("[engine]\nlisten_on = '0.0.0.0:1'\n")
    with pytest.raises(ConfigError, match=r"engine\.listen_on"):
        load_settings(bad, environ={})


def test_environment_variables_override_the_file(tmp_path: Path) -> None:
    file = tmp_path / "variet.toml"
    file.write_text("[engine]\nurl = 'http://127.0.0.1:9000'\n[search]\nurl = 'http://127.0.0.1:1'\n")
    environ = {"VARIET_ENGINE_URL": "http://127.0.0.1:9999", "VARIET_SEARCH_CACHE_SIZE": "3"}
    settings = load_settings(file, environ=environ)
    assert settings.engine.url == "http://127.0.0.1:9999"
    assert settings.search.url == "http://127.0.0.1:1"
    assert settings.search.cache_size == 3


def test_environment_lists_and_tables_are_read_as_toml_and_text_fields_keep_brackets(tmp_path: Path) -> None:
    environ = {
        "VARIET_MCP_ALLOWED_ORIGINS": '["http://127.0.0.1:6274"]',
        "VARIET_ENGINE_BACKEND_ARGS": "{ threads = 4, mlock = true }",
        "VARIET_DISCORD_SERVER_URLS": '{ search = "http://127.0.0.1:8765/mcp" }',
        "VARIET_ENGINE_PROMPT_CACHE_DIR": "[not-a-list]",
        "VARIET_ROUTER_PINNED_TIER": "[fast]",
        "VARIET_CONFIG": os.devnull,
    }
    settings = load_settings(environ=environ)
    assert settings.mcp.allowed_origins == ("http://127.0.0.1:6274",)
    assert settings.engine.backend_args == {"threads": 4, "mlock": True}
    assert settings.discord.server_urls == {"search": "http://127.0.0.1:8765/mcp"}
    assert settings.engine.prompt_cache_dir == "[not-a-list]"
    assert settings.router.pinned_tier == "[fast]"


def test_a_list_that_is_not_toml_is_refused_naming_the_variable_key(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="allowed_origins"):
        load_settings(environ={"VARIET_MCP_ALLOWED_ORIGINS": "[unclosed", "VARIET_CONFIG": os.devnull})


def test_variet_config_names_the_file_and_a_missing_named_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        load_settings(environ={"VARIET_CONFIG": str(tmp_path / "nope.toml")})


def test_secret_files_must_be_private(tmp_path: Path) -> None:
    secret = tmp_path / "key"
    write_private_file(secret, "s3cret\n")
    expose(secret)
    with pytest.raises(ConfigError, match=FIX_FILE):
        read_secret_file(secret)
    write_private_file(secret, "s3cret\n")
    assert read_secret_file(secret) == "s3cret"


def test_peers_are_read_from_engine_peers_tables_with_their_keys_from_private_files(tmp_path: Path) -> None:
    key = tmp_path / "box-b.key"
    write_private_file(key, "peer-secret\n")
    file = tmp_path / "variet.toml"
    file.write_text('[[engine.peers]]\nname = "box-b"\nurl = "http://127.0.0.1:8001/"\napi_key_file = "box-b.key"\n'
                    '[[engine.peers]]\nname = "box-c"\nurl = "https://box-c.lan:8000"\n')
    settings = load_settings(file, environ={})
    box_b, box_c = settings.engine.peers
    assert (box_b.name, box_b.url, box_c.url) == ("box-b", "http://127.0.0.1:8001", "https://box-c.lan:8000")
    assert settings.peer_api_key(box_b) == "peer-secret" and settings.peer_api_key(box_c) is None
    expose(key)
    with pytest.raises(ConfigError, match=FIX_FILE):
        settings.peer_api_key(box_b)


@pytest.mark.parametrize(("peers", "words"), [
    ('[[engine.peers]]\nname = "b"\nurl = "http://h:1"\n[[engine.peers]]\nname = "b"\nurl = "http://h:2"\n',
     "two peers are called 'b'"),
    ('[[engine.peers]]\nname = "local"\nurl = "http://h:1"\n', "this engine's own box"),
    ('[[engine.peers]]\nname = "b/c"\nurl = "http://h:1"\n', "engine.peers.0.name"),
    ('[[engine.peers]]\nname = "b"\nurl = "http://me:hunter2@h:1"\n', "api_key_file"),
    ('[[engine.peers]]\nname = "b"\nurl = "h:1"\n', "http:// or https://"),
    ('[[engine.peers]]\nname = "b"\nurl = "http://h:1/v1"\n', "without a path"),
])
def test_a_bad_peer_is_reported_with_what_to_change(tmp_path: Path, peers: str, words: str) -> None:
    file = tmp_path / "variet.toml"
    file.write_text(peers)
    with pytest.raises(ConfigError, match=r"engine\.peers") as caught:
        load_settings(file, environ={})
    assert words in str(caught.value) and "hunter2" not in str(caught.value)


def test_lazy_settings_validate_a_section_when_it_is_read_and_name_the_file_and_key(tmp_path: Path) -> None:
    file = tmp_path / "variet.toml"
    file.write_text("[engine]\nurl = 'http://127.0.0.1:9000'\n[discord]\nmax_tokens = 'lots'\n")
    with pytest.raises(ConfigError, match=r"discord\.max_tokens"):
        load_settings(file, environ={})  # every section up front: the default
    settings = load_settings(file, environ={}, lazy=True)
    assert settings.engine.url == "http://127.0.0.1:9000"  # a server that never reads [discord] starts
    with pytest.raises(ConfigError, match=rf"{re.escape(str(file))}: invalid settings:\n  discord\.max_tokens"):
        settings.discord  # noqa: B018 - reading the section validates it


def test_an_unknown_section_is_refused_even_when_sections_are_read_lazily(tmp_path: Path) -> None:
    file = tmp_path / "variet.toml"
    file.write_text("[engin]\nurl = 'http://127.0.0.1:9000'\n")
    with pytest.raises(ConfigError, match="engin: not a section"):
        load_settings(file, environ={}, lazy=True)


def test_a_server_reading_its_sections_loads_no_discord_settings_code() -> None:
    code = ("import os, sys; from variet.shared.config import load_settings; "
            "s = load_settings(os.devnull, lazy=True); s.engine; s.mcp; s.router; s.search; s.google; "
            "print(sorted(m for m in sys.modules if m.startswith(('variet.assistant', 'discord'))))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)
    assert done.stdout.strip() == "[]"
