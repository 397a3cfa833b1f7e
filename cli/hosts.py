"""`variet hosts export`: each MCP host's own configuration for the Variet servers, printed or written.

Commands are the absolute paths of the installed console scripts; the file never holds the engine key (see
`variet.cli.host_files`). Writing into an existing JSON file merges: Variet's entries are replaced, everything
else in the file stays. A YAML file (Continue's) is not merged: Variet replaces one it wrote itself and leaves
any other alone unless forced. Notes on what is left to do go to stderr, so stdout can be redirected into a file.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

from variet.cli.host_files import HOSTS, SERVERS

__all__ = ["add_parser"]

_DESCRIPTION = (
    "Print the configuration a host needs to start Variet's MCP servers (absolute paths to the console scripts, "
    "VARIET_CONFIG and the engine URL; the engine key only as a reference the host resolves), or write it with "
    "--output, merging into an existing file. openclaude adds ~/.openclaude/settings.json (agent routing onto "
    "the tiers) and the environment that points OpenClaude at the engine; vscode adds a chatLanguageModels.json "
    "group for Copilot's Custom Endpoint provider; continue writes one config.yaml with the tiers as models and the "
    "servers."
)


def add_parser(sub: Any) -> None:
    hosts = sub.add_parser("hosts",
                           help="connect MCP hosts (Claude Code, OpenClaude, VS Code, Claude Desktop, Continue)")
    cmds = hosts.add_subparsers(dest="hosts_command", required=True, metavar="COMMAND")
    export = cmds.add_parser("export", help="print or write a host's configuration", description=_DESCRIPTION)
    export.add_argument("--host", required=True, choices=HOSTS)
    export.add_argument("--config", help="variet.toml the servers should read (default: $VARIET_CONFIG or "
                        "~/.config/variet/variet.toml)")
    export.add_argument("--servers", metavar="A,B", help=f"only these servers (default: all of {','.join(SERVERS)})")
    export.add_argument("--engine-url", help="engine base URL (default: [engine] url)")
    export.add_argument("--output", type=Path, metavar="PATH",
                        help="write the MCP file here (.mcp.json, .vscode/mcp.json, claude_desktop_config.json, "
                        "Continue's config.yaml)")
    export.add_argument("--settings", type=Path, metavar="PATH",
                        help="openclaude: write the agent routing here (usually ~/.openclaude/settings.json)")
    export.add_argument("--models", type=Path, metavar="PATH",
                        help="vscode: write the Copilot model group here (chatLanguageModels.json in the user folder)")
    export.add_argument("--route", action="append", default=[], metavar="AGENT=TIER",
                        help="openclaude: send an agent to a tier or auto, e.g. Plan=ultra (repeatable)")
    export.add_argument("--user", action="store_true",
                        help="write into the host's own user-level files where this platform keeps them (for "
                        "example %%APPDATA%%\\Claude\\claude_desktop_config.json, %%APPDATA%%\\Code\\User\\mcp.json "
                        "on Windows), merging; --output/--settings/--models still win")
    export.add_argument("--force", action="store_true", help="replace existing files instead of merging into them")
    export.set_defaults(handler=_export)


def _export(args: argparse.Namespace) -> int:
    from variet.cli import host_files as hosts
    from variet.shared.config import config_path, load_settings
    from variet.shared.errors import ConfigError

    for option, host in (("settings", "openclaude"), ("route", "openclaude"), ("models", "vscode")):
        if getattr(args, option) and args.host != host:
            raise ConfigError(f"--{option} is for --host {host}")
    engine_url = args.engine_url
    if engine_url is not None and not engine_url.startswith(("http://", "https://")):
        raise ConfigError(f"--engine-url {engine_url!r}: give the engine's base URL, like http://192.168.1.10:8000")

    settings = load_settings(args.config)
    notes: list[str] = []
    if settings.source is None:
        notes.append(f"no settings file at {config_path(args.config)}: the servers will run on defaults and "
                     "VARIET_* variables")
    servers = hosts.launches(hosts.parse_servers(args.servers))
    key_file = settings.relative_path(settings.engine.api_key_file) if settings.engine.api_key_file else None
    result = hosts.render(
        args.host,
        servers,
        engine_url=engine_url or settings.engine.url,
        config_file=settings.source,
        tiers=_tiers(settings, notes) if args.host in ("vscode", "openclaude", "continue") else (),
        routes=hosts.parse_routes(args.route),
        key_file=key_file,
    )

    targets: dict[str, Path | None] = {"mcp": args.output, "settings": args.settings, "models": args.models}
    if args.user:
        for part in result.parts:
            targets[part.kind] = targets[part.kind] or hosts.user_file(args.host, part.kind)
            if targets[part.kind] is None:
                notes.append(f"{args.host} keeps its {part.file} per project: printed below, not written")
    sections = len(result.parts) > 1 or bool(result.environment)
    for part in result.parts:
        target = targets[part.kind]
        if target is not None:
            written = _write(target.expanduser().absolute(), part, force=args.force)
            print(f"variet: wrote {written}", file=sys.stderr)
            continue
        if sections:
            print(f"# ==> {part.file} <==")
        print(part.text())
    if result.environment:
        print("# ==> shell: run before starting openclaude <==")
        print("\n".join(hosts.shell_exports(result.environment)))
    for note in (*notes, *result.notes):
        print(f"variet: note: {note}", file=sys.stderr)
    return 0


def _tiers(settings: Any, notes: list[str]) -> list[Any]:
    from importlib.resources import files

    from variet.cli.host_files import HostTier
    from variet.shared.tiers import load_tiers

    path = settings.relative_path(settings.engine.tiers_file)
    if settings.source is not None and not path.exists():
        # The workstation usually has no tier catalogue; the engine's is normally the packaged one.
        notes.append(f"no tier catalogue at {path}: listing the packaged tiers")
        catalogue = load_tiers(Path(str(files("variet.config") / "tiers.toml")))
    else:
        catalogue = settings.tiers()
    return [HostTier(name, tier.context) for name, tier in catalogue.tiers.items()]


def _write(path: Path, part: Any, *, force: bool) -> Path:
    """Write `part` to `path`, merging into an existing JSON file (or replacing it with `force`); returns the
    file written."""
    from variet.cli.host_files import YAML_HEADER, merge
    from variet.shared.errors import ConfigError

    # Write through a symlink (dotfile managers link these files) rather than replacing the link.
    target = path.resolve() if path.is_symlink() else path
    text = target.read_text(encoding="utf-8") if target.is_file() else ""
    if part.format == "yaml":
        if text.strip() and not force and not text.startswith(YAML_HEADER):
            raise ConfigError(
                f"{target}: a YAML file Variet did not write, which it does not merge into: write Variet's to a file "
                "of its own (for Continue, ~/.continue/agents/variet.yaml), copy the printed entries by hand, or "
                "replace it with --force"
            )
        return _replace(target, part.text() + "\n")
    content = part.content
    if text.strip() and not force:
        try:
            existing = json.loads(text)
        except ValueError:
            raise ConfigError(
                f"{target}: not plain JSON (comments or a syntax error), so it cannot be merged: fix it, add the "
                "entries by hand from the printed output, or replace it with --force"
            ) from None
        try:
            content = merge(existing, content)
        except ConfigError as exc:
            raise ConfigError(f"{target}: {exc}; replace it with --force") from None
    return _replace(target, json.dumps(content, indent=2) + "\n")


def _replace(target: Path, data: str) -> Path:
    target.parent.mkdir(parents=True, exist_ok=True)
    if not target.exists():
        target.write_text(data, encoding="utf-8")
        return target
    # Replace atomically so a host reading the file never sees half of it; keep the file's mode.
    mode = target.stat().st_mode & 0o7777
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(data)
        os.chmod(tmp, mode)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target
