"""What each MCP host needs to start Variet's servers, rendered as data.

`render(host, ...)` fills the packaged templates in `variet/config/hosts/` and returns the documents a host
reads: a project `.mcp.json` (Claude Code, OpenClaude), `.vscode/mcp.json` and `chatLanguageModels.json`
(VS Code), `claude_desktop_config.json` (Claude Desktop), OpenClaude's `settings.json`, Continue's
`config.yaml` (models and MCP servers in one file), and the environment that makes OpenClaude a coding agent
on the engine. Commands are absolute paths to the installed console scripts. Secrets are never rendered:
each host refers to the engine key through its own mechanism (`${VARIET_ENGINE_API_KEY:-}` expansion, a VS
Code password input, a Continue secret), inherits it from its environment (Continue's servers), or not at
all (Claude Desktop).
`merge(existing, new)` folds a rendered document into a file the user already has, keeping foreign entries.
Nothing here writes files or prints.
"""

from __future__ import annotations

import copy
import json
import os
import shutil
import sys
import tomllib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from variet.shared.errors import ConfigError

__all__ = [
    "ENGINE_SERVERS",
    "HOSTS",
    "SERVERS",
    "HostConfig",
    "HostTier",
    "Launch",
    "Part",
    "console_script",
    "launches",
    "merge",
    "parse_routes",
    "parse_servers",
    "render",
    "shell_exports",
    "template",
    "to_yaml",
    "user_file",
]

HOSTS = ("claude-code", "openclaude", "vscode", "claude-desktop", "continue")
SERVERS = ("inference", "router", "search", "calendar", "gmail")
ENGINE_SERVERS = frozenset({"inference", "router"})
"""Servers that talk to the engine and so need its URL and key."""
AUTO = "auto"
_MODELS_GROUP_KEEP = ("apiKey", "settings")
"""Fields of an existing Custom Endpoint group that VS Code owns (the key reference, per-model settings)."""


@dataclass(frozen=True)
class Launch:
    """How to start one Variet MCP server: `variet-<server>` at an absolute path."""

    server: str
    command: str

    @property
    def name(self) -> str:
        return f"variet-{self.server}"


@dataclass(frozen=True)
class HostTier:
    """What a host needs to know about a tier: its name and context size in tokens."""

    name: str
    context: int


@dataclass(frozen=True)
class Part:
    """One document for a host. `kind` is `mcp`, `settings` or `models`; `file` is where the host reads it."""

    kind: str
    file: str
    content: Any
    format: str = "json"
    """`json`, or `yaml` (Continue), which `text()` starts with `YAML_HEADER`."""

    def text(self) -> str:
        """The document as the host's file holds it, without a final newline."""
        if self.format == "yaml":
            return YAML_HEADER + to_yaml(self.content)
        return json.dumps(self.content, indent=2)


YAML_HEADER = "# Written by `variet hosts export`: Variet's engine tiers and MCP servers. A new export replaces it.\n"
"""The first line of a YAML file Variet wrote, which a later export may replace without `--force`."""


@dataclass(frozen=True)
class HostConfig:
    """Everything `variet hosts export` hands one host."""

    host: str
    parts: tuple[Part, ...]
    environment: tuple[tuple[str, str], ...] = ()
    """Variables to set in the shell that starts the host (OpenClaude's provider)."""
    notes: tuple[str, ...] = ()
    """What the user still has to do, for stderr."""

    def part(self, kind: str) -> Part:
        for part in self.parts:
            if part.kind == kind:
                return part
        raise KeyError(kind)


def user_file(host: str, kind: str, *, platform: str = sys.platform,
              environ: Mapping[str, str] | None = None) -> Path | None:
    """Where `host` keeps its user-level file of this kind (`mcp`, `settings`, `models`) on `platform`, or None
    when it has none there (OpenClaude's servers go in a project's `.mcp.json`)."""
    environ = os.environ if environ is None else environ
    windows = platform == "win32"
    home = Path(environ.get("USERPROFILE" if windows else "HOME") or Path.home())
    if windows:
        app_data = Path(environ.get("APPDATA") or home / "AppData" / "Roaming")
    elif platform == "darwin":
        app_data = home / "Library" / "Application Support"
    else:
        app_data = Path(environ.get("XDG_CONFIG_HOME") or home / ".config")
    files = {
        ("claude-code", "mcp"): home / ".claude.json",
        ("claude-desktop", "mcp"): app_data / "Claude" / "claude_desktop_config.json",
        ("vscode", "mcp"): app_data / "Code" / "User" / "mcp.json",
        ("vscode", "models"): app_data / "Code" / "User" / "chatLanguageModels.json",
        ("continue", "mcp"): home / ".continue" / "agents" / "variet.yaml",  # its own file: config.yaml is the user's
        ("openclaude", "settings"): home / ".openclaude" / "settings.json",
    }
    return files.get((host, kind))


def console_script(server: str, *, bin_dir: str | os.PathLike[str] | None = None) -> Path:
    """Absolute path of `variet-<server>`: beside the running interpreter (the venv's bin), in the scripts
    folder of its installation (Windows puts them in `Scripts\\` beside a system-wide python.exe), else on PATH."""
    import sysconfig

    name = f"variet-{server}"
    folder = Path(bin_dir) if bin_dir is not None else Path(sys.executable).parent
    folders = [folder] if bin_dir is not None else [folder, Path(sysconfig.get_path("scripts"))]
    for candidate in (place / file for place in folders for file in (name, f"{name}.exe")):
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return candidate.absolute()
    if bin_dir is None:
        found = shutil.which(name)
        if found:
            return Path(found).absolute()
    raise ConfigError(
        f"{name} is not installed (looked in {folder} and on PATH): install Variet into this environment "
        "(`pip install -e .` or `make dev`) and run the export from it"
    )


def parse_servers(text: str | None) -> tuple[str, ...]:
    """`inference,search` or `variet-search` -> server names; None or empty means all five."""
    if not text:
        return SERVERS
    chosen: list[str] = []
    for item in text.split(","):
        name = item.strip().removeprefix("variet-")
        if not name:
            continue
        if name not in SERVERS:
            raise ConfigError(f"unknown server {item.strip()!r}: choose from {', '.join(SERVERS)}")
        if name not in chosen:
            chosen.append(name)
    if not chosen:
        raise ConfigError("--servers names no server: choose from " + ", ".join(SERVERS))
    return tuple(chosen)


def parse_routes(items: Iterable[str]) -> dict[str, str]:
    """`AGENT=TIER` pairs (from `--route`) as a mapping."""
    routes: dict[str, str] = {}
    for item in items:
        agent, sep, tier = item.partition("=")
        if not sep or not agent.strip() or not tier.strip():
            raise ConfigError(f"--route {item!r}: write AGENT=TIER, for example Explore=fast")
        routes[agent.strip()] = tier.strip()
    return routes


def launches(servers: Sequence[str], *, bin_dir: str | os.PathLike[str] | None = None) -> list[Launch]:
    """Resolve each server's console script; a missing one raises `ConfigError` naming it."""
    return [Launch(server, str(console_script(server, bin_dir=bin_dir))) for server in servers]


def template(host: str) -> dict[str, Any]:
    """The packaged template for a host (`variet/config/hosts/<host>.toml`)."""
    if host not in HOSTS:
        raise ConfigError(f"unknown host {host!r}: choose from {', '.join(HOSTS)}")
    from importlib.resources import files

    text = (files("variet.config") / "hosts" / f"{host}.toml").read_text(encoding="utf-8")
    return tomllib.loads(text)


def render(
    host: str,
    servers: Sequence[Launch],
    *,
    engine_url: str,
    config_file: Path | None,
    tiers: Sequence[HostTier],
    routes: Mapping[str, str] | None = None,
    key_file: Path | None = None,
) -> HostConfig:
    """The host's documents for these servers.

    `config_file` is the settings file the servers should read (None when it does not exist: they use
    defaults); `tiers` feed VS Code's model list and OpenClaude's routes; `routes` override the template's
    agent-to-tier table; `key_file` is `[engine] api_key_file`, mentioned where the key cannot be referenced.
    """
    spec = template(host)
    engine_url = engine_url.rstrip("/")
    names = [tier.name for tier in tiers]
    values: dict[str, str | int] = {"{engine_url}": engine_url}
    kind = spec.get("format", "json")
    document = _mcp_document(spec["mcp"], servers, engine_url, config_file)
    parts = [Part("mcp", spec["mcp"]["file"], document, kind)]
    notes: list[str] = []
    uses_engine = any(launch.server in ENGINE_SERVERS for launch in servers)
    if uses_engine and "engine_key" not in spec["mcp"]:
        where = f"[engine] api_key_file ({key_file})" if key_file else "[engine] api_key_file (readable by you alone)"
        default = (f"{spec['title']} has no way to refer to a secret, so the engine API key is not in the file: set "
                   f"VARIET_ENGINE_API_KEY in the environment {spec['title']} starts with, or use {where}.")
        notes.append(spec["mcp"].get("key_note", default).replace("{where}", where))
    if "models" in spec:
        models = _models_document(spec["models"], tiers, values)
        if "embed" in spec["models"]:
            document[spec["models"]["embed"]] = models[0]["models"] if "provider" in spec["models"] else models
        else:
            parts.append(Part("models", spec["models"]["file"], models, kind))
        if "note" in spec["models"]:
            notes.append(spec["models"]["note"])
    if "settings" in spec:
        known = (*names, AUTO)
        table = _routing(spec["settings"]["routing"], routes or {}, known, notes)
        parts.append(Part("settings", spec["settings"]["file"], _agent_settings(table, known)))
    environment = tuple((key, str(_fill(value, values))) for key, value in spec.get("provider", {}).items())
    return HostConfig(host, tuple(parts), environment, tuple(notes))


def _mcp_document(
    spec: Mapping[str, Any], servers: Sequence[Launch], engine_url: str, config_file: Path | None
) -> dict[str, Any]:
    entries: dict[str, Any] = {}
    for launch in servers:
        entry: dict[str, Any] = _fill(copy.deepcopy(spec["server"]), {"{command}": launch.command})
        env: dict[str, str] = dict(entry.get("env", {}))
        if config_file is not None:
            env["VARIET_CONFIG"] = str(config_file)
        if launch.server in ENGINE_SERVERS:
            env["VARIET_ENGINE_URL"] = engine_url
            if "engine_key" in spec:
                env["VARIET_ENGINE_API_KEY"] = spec["engine_key"]
        if env:
            entry["env"] = env
        entries[launch.name] = entry
    listed = [{"name": name, **entry} for name, entry in entries.items()]
    shaped: Any = listed if spec.get("servers_as") == "list" else entries
    extra = copy.deepcopy(spec.get("document", {}))
    # Scalars (Continue's name and version) head the file; lists such as VS Code's inputs follow the servers.
    document: dict[str, Any] = {key: value for key, value in extra.items() if not isinstance(value, list | dict)}
    document[spec["servers_key"]] = shaped
    document.update({key: value for key, value in extra.items() if isinstance(value, list | dict)})
    if "inputs" in document:
        used = json.dumps(entries)
        document["inputs"] = [item for item in document["inputs"] if f"${{input:{item['id']}}}" in used]
        if not document["inputs"]:
            del document["inputs"]
    return document


def _models_document(
    spec: Mapping[str, Any], tiers: Sequence[HostTier], values: Mapping[str, str | int]
) -> list[Any]:
    """One model per tier and `auto` (first; it gets the smallest context). A template's `{context}`,
    `{max_input}` and `{max_output}` become numbers: the answer's budget is `max_output_tokens`, capped at a
    quarter of the context, and the prompt gets the rest."""
    if not tiers:
        raise ConfigError("no tiers to list: check [engine] tiers_file")
    models = []
    for tier in (HostTier(AUTO, min(t.context for t in tiers)), *tiers):
        output = min(int(spec["max_output_tokens"]), tier.context // 4)
        limits: dict[str, str | int] = {"{tier}": tier.name, "{context}": tier.context,
                                        "{max_input}": tier.context - output, "{max_output}": output}
        models.append(_fill(copy.deepcopy(spec["model"]), {**values, **limits}))
    if "provider" not in spec:
        return models
    return [{**copy.deepcopy(spec["provider"]), "models": models}]


def _routing(
    packaged: Mapping[str, str], chosen: Mapping[str, str], known: Sequence[str], notes: list[str]
) -> dict[str, str]:
    for agent, tier in chosen.items():
        if tier not in known:
            raise ConfigError(f"route {agent}={tier}: {tier!r} is not a tier; choose from {', '.join(known)}")
    table = dict(packaged)
    for agent, tier in packaged.items():
        if tier not in known and agent not in chosen:
            # A catalogue with other tier names: let the engine's router decide for that agent.
            table[agent] = AUTO
            notes.append(f"no tier {tier!r} in the catalogue: routing OpenClaude's {agent} agent to auto")
    return {**table, **chosen}


def _agent_settings(routing: Mapping[str, str], models: Sequence[str]) -> dict[str, Any]:
    # Model-only entries: OpenClaude sends the key as the model name through its current provider (the engine).
    return {
        "agentModels": {name: {"model": name} for name in models},
        "agentRouting": dict(routing),
    }


def _fill(value: Any, values: Mapping[str, str | int]) -> Any:
    """Replace `{placeholder}` tokens in every string; other braces (`${VAR}`) are left alone. A string that is
    exactly one token whose value is a number becomes that number."""
    if isinstance(value, str):
        if isinstance(values.get(value), int):
            return values[value]
        for token, replacement in values.items():
            value = value.replace(token, str(replacement))
        return value
    if isinstance(value, list):
        return [_fill(item, values) for item in value]
    if isinstance(value, dict):
        return {key: _fill(item, values) for key, item in value.items()}
    return value


def to_yaml(value: Any) -> str:
    """`value` (dicts, lists, strings, numbers, booleans, None) as block-style YAML, with a final newline.

    Every string is double-quoted the way JSON quotes it (JSON strings are valid YAML), so no value can be
    misread as a number, boolean or `${{ ... }}` flow syntax; keys stay plain when they are simple names.
    """
    return "\n".join(_yaml_lines(value, 0)) + "\n"


def _yaml_scalar(value: Any) -> str:
    if isinstance(value, bool) or value is None:
        return {True: "true", False: "false", None: "null"}[value]
    if isinstance(value, int | float):
        return json.dumps(value)
    if isinstance(value, str):
        return json.dumps(value)
    raise TypeError(f"no YAML for {type(value).__name__}")


def _yaml_key(key: str) -> str:
    return key if key.replace("_", "").replace("-", "").isalnum() and not key[0].isdigit() else json.dumps(key)


def _yaml_lines(value: Any, indent: int) -> list[str]:
    pad = " " * indent
    if isinstance(value, dict):
        if not value:
            return [pad + "{}"]
        lines = []
        for key, item in value.items():
            if isinstance(item, dict | list) and item:
                lines.append(f"{pad}{_yaml_key(key)}:")
                lines.extend(_yaml_lines(item, indent + 2))
            else:
                lines.append(f"{pad}{_yaml_key(key)}: {_yaml_lines(item, 0)[0]}")
        return lines
    if isinstance(value, list):
        if not value:
            return [pad + "[]"]
        lines = []
        for item in value:
            inner = _yaml_lines(item, indent + 2)
            lines.append(f"{pad}- {inner[0].lstrip()}")
            lines.extend(inner[1:])
        return lines
    return [pad + _yaml_scalar(value)]


def shell_exports(environment: Iterable[tuple[str, str]]) -> list[str]:
    """`export NAME="value"` lines; `$` stays live so `${VARIET_ENGINE_API_KEY:-none}` is expanded by the shell."""
    lines = []
    for name, value in environment:
        quoted = value.replace("\\", "\\\\").replace('"', '\\"').replace("`", "\\`")
        lines.append(f'export {name}="{quoted}"')
    return lines


def merge(existing: Any, new: Any) -> Any:
    """`new` folded into a document the user already has.

    Objects: entries `new` defines replace those of the same name (an agent route also replaces one that
    differs only in case, `-` or `_`, as OpenClaude matches them), every other entry stays. Lists of objects
    with `id` (VS Code inputs) merge by `id`. A Custom Endpoint group list (`chatLanguageModels.json`) merges
    by `vendor` and `name`, keeping the existing group's `apiKey` reference and `settings`.
    """
    if isinstance(new, list):
        if not isinstance(existing, list):
            raise ConfigError("expected a JSON array at the top level")
        return _merge_groups(existing, new)
    if not isinstance(existing, dict):
        raise ConfigError("expected a JSON object at the top level")
    out = dict(existing)
    for key, value in new.items():
        old = out.get(key)
        if isinstance(value, dict) and isinstance(old, dict):
            out[key] = _merge_entries(old, value, loose=key == "agentRouting")
        elif isinstance(value, list) and isinstance(old, list):
            out[key] = _merge_by_id(old, value)
        else:
            out[key] = value
    return out


def _agent_key(name: str) -> str:
    return name.lower().replace("-", "").replace("_", "")


def _merge_entries(old: Mapping[str, Any], new: Mapping[str, Any], *, loose: bool) -> dict[str, Any]:
    ours = {_agent_key(key) for key in new} if loose else set(new)
    kept = {key: value for key, value in old.items() if (_agent_key(key) if loose else key) not in ours}
    return {**kept, **new}


def _merge_by_id(old: Sequence[Any], new: Sequence[Any]) -> list[Any]:
    ids = {item.get("id") for item in new if isinstance(item, dict)}
    kept = [item for item in old if not (isinstance(item, dict) and item.get("id") in ids)]
    return [*kept, *new]


def _merge_groups(old: Sequence[Any], new: Sequence[Any]) -> list[Any]:
    out = list(old)
    for group in new:
        same = [
            i for i, item in enumerate(out)
            if isinstance(item, dict) and (item.get("vendor"), item.get("name")) == (group["vendor"], group["name"])
        ]
        merged = dict(group)
        for index in reversed(same):
            previous = out.pop(index)
            merged.update({key: previous[key] for key in _MODELS_GROUP_KEEP if key in previous})
        out.insert(same[0] if same else len(out), merged)
    return out
