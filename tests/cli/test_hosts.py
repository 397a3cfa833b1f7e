"""`variet hosts export`: each host's file, secrets kept out, merging, and a server started from the export."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import anyio
import pytest
import yaml
from mcp import Client, StdioServerParameters

from variet.cli import host_files as hosts
from variet.shared.errors import ConfigError

SECRET = "sk-variet-test-7f3a9c1e"
ENGINE = "http://127.0.0.1:9"
TIERS = [hosts.HostTier("fast", 65536), hosts.HostTier("deep-coder", 32768)]
FIVE = [hosts.HostTier(name, 32768) for name in ("fast", "balanced", "deep-coder", "deep-logic", "ultra")]
MCP_KEYS = {
    "claude-code": {"mcpServers"},
    "openclaude": {"mcpServers"},
    "claude-desktop": {"mcpServers"},
    "vscode": {"servers", "inputs"},
    "continue": {"name", "version", "schema", "mcpServers", "models"},
}


@pytest.fixture
def settings_file(tmp_path: Path) -> Path:
    file = tmp_path / "variet.toml"
    file.write_text(f'[engine]\nurl = "{ENGINE}"\n', encoding="utf-8")
    return file


def run_cli(*args: str, config: Path, cwd: Path, key: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("VARIET_")}
    env["VARIET_CONFIG"] = str(config)
    if key is not None:
        env["VARIET_ENGINE_API_KEY"] = key
    return subprocess.run(
        [sys.executable, "-m", "variet.cli", "hosts", "export", *args],
        env=env, cwd=cwd, capture_output=True, text=True, timeout=60,
    )


def sections(stdout: str) -> dict[str, str]:
    """The `# ==> NAME <==` sections of a multi-part export."""
    found = re.split(r"^# ==> (.+) <==$", stdout, flags=re.MULTILINE)
    return {name: body.strip() for name, body in zip(found[1::2], found[2::2], strict=True)}


def expand_like_claude_code(value: str, environ: Mapping[str, str]) -> str:
    """`${VAR}` and `${VAR:-default}`, as Claude Code expands them in `.mcp.json`."""

    def one(match: re.Match[str]) -> str:
        name, sep, default = match.group(1).partition(":-")
        return environ.get(name, default if sep else match.group(0))

    return re.sub(r"\$\{([^}]+)\}", one, value)


@pytest.mark.parametrize("host", hosts.HOSTS)
def test_each_host_gets_its_file_with_absolute_installed_commands_under_its_own_top_level_keys(
    host: str, settings_file: Path
) -> None:
    launches = hosts.launches(hosts.SERVERS)
    result = hosts.render(host, launches, engine_url=ENGINE, config_file=settings_file, tiers=FIVE)
    part = result.part("mcp")
    document = yaml.safe_load(part.text()) if part.format == "yaml" else json.loads(part.text())

    assert set(document) == MCP_KEYS[host]
    entries = document["servers" if host == "vscode" else "mcpServers"]
    if host == "continue":  # a list of servers, each with its name
        entries = {entry.pop("name"): entry for entry in entries}
    assert set(entries) == {f"variet-{name}" for name in hosts.SERVERS}
    for name, entry in entries.items():
        command = Path(entry["command"])
        assert command.is_absolute() and command.is_file() and command.name in (name, f"{name}.exe")
        assert entry["env"]["VARIET_CONFIG"] == str(settings_file)
        assert ("VARIET_ENGINE_URL" in entry["env"]) == (name in ("variet-inference", "variet-router"))


def test_vscode_gets_a_custom_endpoint_group_with_every_tier_and_auto_and_a_password_input() -> None:
    result = hosts.render("vscode", hosts.launches(["inference"]), engine_url=ENGINE + "/", config_file=None,
                          tiers=TIERS)
    mcp = result.part("mcp").content
    assert mcp["inputs"] == [{"type": "promptString", "id": "variet-engine-key", "password": True,
                              "description": mcp["inputs"][0]["description"]}]
    assert mcp["servers"]["variet-inference"]["env"]["VARIET_ENGINE_API_KEY"] == "${input:variet-engine-key}"
    (group,) = result.part("models").content
    assert (group["vendor"], group["apiType"], group["name"]) == ("customendpoint", "chat-completions", "Variet")
    assert "apiKey" not in group
    models = {model["id"]: model for model in group["models"]}
    assert list(models) == ["auto", "fast", "deep-coder"]
    assert all(m["url"] == f"{ENGINE}/v1/chat/completions" and m["toolCalling"] is True for m in models.values())
    assert models["deep-coder"]["maxInputTokens"] + models["deep-coder"]["maxOutputTokens"] == 32768
    assert models["auto"]["maxInputTokens"] == models["deep-coder"]["maxInputTokens"]


def test_continue_gets_one_yaml_file_with_every_tier_and_auto_as_openai_models_and_the_five_servers() -> None:
    result = hosts.render("continue", hosts.launches(hosts.SERVERS), engine_url=ENGINE + "/", config_file=None,
                          tiers=TIERS)
    (part,) = result.parts
    assert (part.file, part.format) == ("config.yaml", "yaml")
    text = part.text()
    assert text.startswith(hosts.YAML_HEADER)
    document = yaml.safe_load(text)
    assert document == part.content
    assert (document["name"], document["schema"]) == ("Variet", "v1")
    models = {model["model"]: model for model in document["models"]}
    assert list(models) == ["auto", "fast", "deep-coder"]
    for name, model in models.items():
        assert model["name"] == f"Variet {name}"
        assert (model["provider"], model["apiBase"]) == ("openai", f"{ENGINE}/v1")
        assert model["apiKey"] == "${{ secrets.VARIET_ENGINE_API_KEY }}"  # Continue's secret reference
        assert "tool_use" in model["capabilities"] and "chat" in model["roles"]
    assert models["fast"]["defaultCompletionOptions"] == {"contextLength": 65536, "maxTokens": 8192}
    assert models["deep-coder"]["defaultCompletionOptions"] == {"contextLength": 32768, "maxTokens": 8192}
    assert models["auto"]["defaultCompletionOptions"]["contextLength"] == 32768
    servers = {server["name"]: server for server in document["mcpServers"]}
    assert list(servers) == [f"variet-{name}" for name in hosts.SERVERS]
    # Continue hands its environment to the servers it starts, so the key needs no reference there.
    assert servers["variet-router"]["env"] == {"VARIET_ENGINE_URL": ENGINE}
    assert "env" not in servers["variet-search"]
    assert any("VARIET_ENGINE_API_KEY" in note and ".continue/.env" in note for note in result.notes)


@pytest.mark.parametrize("value", [
    {"plain": "text", "looks like": ["yes", "no", "1.0", "null", "~", "0x1F", "2026-01-01"]},
    {"yaml syntax": ["a: b", "- item", "# not a comment", "${{ secrets.X }}", "{x}", "[y]", "&anchor", "*ref"]},
    {"escapes": ["quote \" and back\\slash", "line\nbreak", "tab\t", "ünïcødé …", "", " padded "]},
    {"numbers": [0, -3, 2.5, True, False, None], "empty": {"list": [], "map": {}}, "7 odd key": 1},
    [{"nested": [{"deeper": [[1, 2], []]}]}, "last"],
])
def test_the_yaml_writer_reads_back_as_exactly_the_same_values(value: Any) -> None:
    assert yaml.safe_load(hosts.to_yaml(value)) == value


def test_vscode_writes_no_input_when_no_chosen_server_needs_the_engine_key() -> None:
    result = hosts.render("vscode", hosts.launches(["search"]), engine_url=ENGINE, config_file=None, tiers=TIERS)
    assert set(result.part("mcp").content) == {"servers"}
    assert "env" not in result.part("mcp").content["servers"]["variet-search"]


def test_openclaude_routes_agents_to_tiers_through_model_only_entries_and_points_itself_at_the_engine() -> None:
    result = hosts.render("openclaude", hosts.launches(["router"]), engine_url=ENGINE, config_file=None,
                          tiers=TIERS, routes={"Plan": "fast"})
    settings = result.part("settings").content
    assert settings["agentModels"] == {"fast": {"model": "fast"}, "deep-coder": {"model": "deep-coder"},
                                       "auto": {"model": "auto"}}
    assert settings["agentRouting"]["Plan"] == "fast"
    assert settings["agentRouting"]["default"] == "auto"
    assert dict(result.environment) == {
        "CLAUDE_CODE_USE_OPENAI": "1",
        "OPENAI_BASE_URL": f"{ENGINE}/v1",
        "OPENAI_MODEL": "auto",
        "OPENAI_API_KEY": "${VARIET_ENGINE_API_KEY:-none}",
    }
    # The packaged table names tiers this catalogue lacks: those agents go to auto, and the user is told.
    assert settings["agentRouting"]["code-reviewer"] == "deep-coder"
    assert settings["agentRouting"]["Explore"] == "fast"
    assert "no tier 'deep-logic'" not in " ".join(result.notes)  # Plan was routed explicitly
    lenient = hosts.render("openclaude", [], engine_url=ENGINE, config_file=None, tiers=TIERS)
    assert lenient.part("settings").content["agentRouting"]["Plan"] == "auto"
    assert any("no tier 'deep-logic'" in note for note in lenient.notes)
    with pytest.raises(ConfigError, match="'ultra' is not a tier"):
        hosts.render("openclaude", [], engine_url=ENGINE, config_file=None, tiers=TIERS, routes={"Plan": "ultra"})


def test_export_lines_leave_variable_references_to_the_shell() -> None:
    lines = hosts.shell_exports([("A", "${KEY:-none}"), ("B", 'say "hi" `now`')])
    assert lines == ['export A="${KEY:-none}"', 'export B="say \\"hi\\" \\`now\\`"']


@pytest.mark.parametrize("host", hosts.HOSTS)
def test_no_output_or_written_file_holds_the_engine_key_even_when_it_is_set(
    host: str, settings_file: Path, tmp_path: Path
) -> None:
    printed = run_cli("--host", host, config=settings_file, cwd=tmp_path, key=SECRET)
    extra = {"openclaude": ["--settings", "settings.json"], "vscode": ["--models", "models.json"]}.get(host, [])
    output = "out/config.yaml" if host == "continue" else "out/mcp.json"
    written = run_cli("--host", host, "--output", output, *extra, config=settings_file, cwd=tmp_path, key=SECRET)

    assert printed.returncode == 0 and written.returncode == 0, printed.stderr + written.stderr
    files = [path.read_text(encoding="utf-8") for path in tmp_path.rglob("*") if path.is_file()
             and path.name != settings_file.name]
    assert len(files) == 1 + len(extra) // 2
    for text in (printed.stdout, printed.stderr, written.stdout, written.stderr, *files):
        assert SECRET not in text
    if host == "claude-desktop":
        assert "VARIET_ENGINE_API_KEY" not in files[0]
        assert "api_key_file" in printed.stderr


def test_printed_multi_part_exports_are_separated_into_parseable_sections(settings_file: Path, tmp_path: Path) -> None:
    vscode = sections(run_cli("--host", "vscode", config=settings_file, cwd=tmp_path).stdout)
    assert set(vscode) == {".vscode/mcp.json", "chatLanguageModels.json"}
    assert all(json.loads(body) for body in vscode.values())

    result = run_cli("--host", "openclaude", "--route", "Plan=ultra", config=settings_file, cwd=tmp_path)
    openclaude = sections(result.stdout)
    assert json.loads(openclaude[".mcp.json"])["mcpServers"]
    assert json.loads(openclaude["~/.openclaude/settings.json"])["agentRouting"]["Plan"] == "ultra"
    assert 'export OPENAI_BASE_URL="http://127.0.0.1:9/v1"' in openclaude["shell: run before starting openclaude"]
    # No tiers.toml beside the settings file: the packaged five are used, and the user is told.
    assert "packaged tiers" in result.stderr


def test_servers_subset_engine_url_override_and_a_missing_settings_file(tmp_path: Path) -> None:
    result = run_cli("--host", "claude-code", "--servers", "variet-search,inference", "--engine-url",
                     "http://192.0.2.7:8000", config=tmp_path / "absent.toml", cwd=tmp_path)
    # A VARIET_CONFIG naming a missing file is an error, as it is for the servers themselves.
    assert result.returncode == 2 and "absent.toml" in result.stderr

    env_free = {k: v for k, v in os.environ.items() if not k.startswith("VARIET_")}
    env_free["HOME"] = str(tmp_path)
    done = subprocess.run(
        [sys.executable, "-m", "variet.cli", "hosts", "export", "--host", "claude-code",
         "--servers", "variet-search,inference", "--engine-url", "http://192.0.2.7:8000"],
        env=env_free, cwd=tmp_path, capture_output=True, text=True, timeout=60, check=True,
    )
    servers = json.loads(done.stdout)["mcpServers"]
    assert list(servers) == ["variet-search", "variet-inference"]
    assert servers["variet-inference"]["env"] == {
        "VARIET_ENGINE_URL": "http://192.0.2.7:8000", "VARIET_ENGINE_API_KEY": "${VARIET_ENGINE_API_KEY:-}",
    }
    assert "no settings file" in done.stderr


def test_bad_choices_fail_with_a_message_that_says_what_to_do(settings_file: Path, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="choose from inference, router"):
        hosts.parse_servers("inference,mail")
    with pytest.raises(ConfigError, match="variet-gmail is not installed"):
        hosts.console_script("gmail", bin_dir=tmp_path)
    with pytest.raises(ConfigError, match="AGENT=TIER"):
        hosts.parse_routes(["Explore"])
    wrong = run_cli("--host", "claude-code", "--settings", "s.json", config=settings_file, cwd=tmp_path)
    assert wrong.returncode == 2 and "--settings is for --host openclaude" in wrong.stderr
    route = run_cli("--host", "openclaude", "--route", "Plan=huge", config=settings_file, cwd=tmp_path)
    assert route.returncode == 2 and "'huge' is not a tier" in route.stderr


def test_merging_keeps_foreign_servers_inputs_settings_and_model_groups() -> None:
    mcp = hosts.merge(
        {"servers": {"other": {"command": "x"}, "variet-search": {"command": "/old"}},
         "inputs": [{"id": "other-key"}, {"id": "variet-engine-key", "description": "old"}], "sandbox": True},
        {"servers": {"variet-search": {"command": "/new"}}, "inputs": [{"id": "variet-engine-key"}]},
    )
    assert mcp == {"servers": {"other": {"command": "x"}, "variet-search": {"command": "/new"}},
                   "inputs": [{"id": "other-key"}, {"id": "variet-engine-key"}], "sandbox": True}

    settings = hosts.merge(
        {"theme": "dark", "agentModels": {"gpt-4o": {"base_url": "u"}, "fast": {"model": "old"}},
         "agentRouting": {"explore": "gpt-4o", "frontend-dev": "gpt-4o"}},
        {"agentModels": {"fast": {"model": "fast"}}, "agentRouting": {"Explore": "fast"}},
    )
    assert settings == {"theme": "dark", "agentModels": {"gpt-4o": {"base_url": "u"}, "fast": {"model": "fast"}},
                        "agentRouting": {"frontend-dev": "gpt-4o", "Explore": "fast"}}

    groups = hosts.merge(
        [{"vendor": "azure", "name": "Work"},
         {"vendor": "customendpoint", "name": "Variet", "apiKey": "${input:chat.lm.secret.1}",
          "settings": {"fast": {}}, "models": []}],
        [{"vendor": "customendpoint", "name": "Variet", "models": [{"id": "auto"}]}],
    )
    assert groups == [{"vendor": "azure", "name": "Work"},
                      {"vendor": "customendpoint", "name": "Variet", "models": [{"id": "auto"}],
                       "apiKey": "${input:chat.lm.secret.1}", "settings": {"fast": {}}}]
    with pytest.raises(ConfigError, match="JSON object"):
        hosts.merge([], {"servers": {}})


def test_writing_merges_into_existing_files_and_force_replaces_them(settings_file: Path, tmp_path: Path) -> None:
    project = tmp_path / "project"
    target = project / ".mcp.json"
    project.mkdir()
    target.write_text(json.dumps({"mcpServers": {"github": {"command": "gh-mcp"}}}), encoding="utf-8")
    target.chmod(0o640)
    settings = tmp_path / "home" / ".openclaude" / "settings.json"

    merged = run_cli("--host", "openclaude", "--output", str(target), "--settings", str(settings),
                     config=settings_file, cwd=tmp_path)
    assert merged.returncode == 0, merged.stderr
    servers = json.loads(target.read_text(encoding="utf-8"))["mcpServers"]
    assert "github" in servers and "variet-router" in servers
    assert sys.platform == "win32" or target.stat().st_mode & 0o777 == 0o640  # mode bits are POSIX's
    assert json.loads(settings.read_text(encoding="utf-8"))["agentRouting"]["Explore"] == "fast"
    # Only the shell lines are left to print.
    assert list(sections(merged.stdout)) == ["shell: run before starting openclaude"]

    forced = run_cli("--host", "claude-code", "--servers", "search", "--output", str(target), "--force",
                     config=settings_file, cwd=tmp_path)
    assert forced.returncode == 0
    assert list(json.loads(target.read_text(encoding="utf-8"))["mcpServers"]) == ["variet-search"]


def test_a_file_that_is_not_plain_json_is_left_alone_unless_forced(settings_file: Path, tmp_path: Path) -> None:
    target = tmp_path / ".vscode" / "mcp.json"
    target.parent.mkdir()
    target.write_text('{\n  // my servers\n  "servers": {}\n}\n', encoding="utf-8")
    refused = run_cli("--host", "vscode", "--output", str(target), config=settings_file, cwd=tmp_path)
    assert refused.returncode == 2 and "not plain JSON" in refused.stderr
    assert "// my servers" in target.read_text(encoding="utf-8")


def test_a_yaml_file_is_replaced_only_when_variet_wrote_it_or_when_forced(settings_file: Path, tmp_path: Path) -> None:
    target = tmp_path / ".continue" / "config.yaml"
    target.parent.mkdir()
    target.write_text("# mine\nmodels: []\n", encoding="utf-8")
    refused = run_cli("--host", "continue", "--output", str(target), config=settings_file, cwd=tmp_path)
    assert refused.returncode == 2 and "agents/variet.yaml" in refused.stderr
    assert target.read_text(encoding="utf-8") == "# mine\nmodels: []\n"

    own = tmp_path / ".continue" / "agents" / "variet.yaml"
    for servers in ("inference", "search"):  # the second export replaces the first without --force
        done = run_cli("--host", "continue", "--servers", servers, "--output", str(own), config=settings_file,
                       cwd=tmp_path)
        assert done.returncode == 0, done.stderr
    assert [s["name"] for s in yaml.safe_load(own.read_text(encoding="utf-8"))["mcpServers"]] == ["variet-search"]

    forced = run_cli("--host", "continue", "--output", str(target), "--force", config=settings_file, cwd=tmp_path)
    assert forced.returncode == 0, forced.stderr
    assert yaml.safe_load(target.read_text(encoding="utf-8"))["name"] == "Variet"


@pytest.mark.posix_only  # making a symlink on Windows needs Developer Mode or an administrator
def test_writing_through_a_symlink_updates_the_linked_file(settings_file: Path, tmp_path: Path) -> None:
    real = tmp_path / "dotfiles" / "claude_desktop_config.json"
    real.parent.mkdir()
    real.write_text(json.dumps({"globalShortcut": "Ctrl+Space"}), encoding="utf-8")
    link = tmp_path / "claude_desktop_config.json"
    link.symlink_to(real)
    result = run_cli("--host", "claude-desktop", "--servers", "gmail", "--output", str(link),
                     config=settings_file, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert link.is_symlink()
    assert set(json.loads(real.read_text(encoding="utf-8"))) == {"globalShortcut", "mcpServers"}


@pytest.mark.anyio
async def test_a_server_started_exactly_as_the_exported_mcp_json_says_lists_its_tools(
    settings_file: Path, tmp_path: Path
) -> None:
    result = run_cli("--host", "claude-code", "--servers", "inference", "--output", ".mcp.json",
                     config=settings_file, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    entry: dict[str, Any] = json.loads((tmp_path / ".mcp.json").read_text(encoding="utf-8"))["mcpServers"][
        "variet-inference"]
    host_env = {"VARIET_ENGINE_API_KEY": SECRET}
    env = {name: expand_like_claude_code(value, host_env) for name, value in entry["env"].items()}
    assert env["VARIET_ENGINE_API_KEY"] == SECRET

    params = StdioServerParameters(command=entry["command"], args=entry["args"], env=env)
    with anyio.fail_after(60):
        async with Client(params, mode="legacy") as client:
            tools = {tool.name for tool in (await client.list_tools()).tools}
    assert {"list_tiers", "engine_status", "load_tier", "chat"} <= tools
