"""`variet doctor`: check every part of the setup and print a one-line fix for each failure."""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from dataclasses import dataclass
from typing import Any, Literal

import anyio

__all__ = ["Check", "add_parser", "run_checks"]

Outcome = Literal["ok", "warn", "FAIL"]
_SERVERS = ("inference", "router", "search", "calendar", "gmail")
_SERVER_START_SECONDS = 30.0
_REACH_SECONDS = 5.0


@dataclass
class Check:
    name: str
    outcome: Outcome
    detail: str
    fix: str = ""


def add_parser(sub: Any) -> None:
    doctor = sub.add_parser(
        "doctor", help="check config, engine, llama-server, models, peers, RPC workers, SearXNG, Google, Discord, "
                       "MCP servers")
    doctor.add_argument("--config", help="variet.toml to check (default: $VARIET_CONFIG or ~/.config/variet)")
    doctor.add_argument("--json", action="store_true", help="print the results as JSON")
    doctor.add_argument("--skip-servers", action="store_true", help="do not start the MCP servers")
    doctor.set_defaults(handler=_doctor)


def _doctor(args: argparse.Namespace) -> int:
    checks = anyio.run(run_checks, args.config, not args.skip_servers)
    if args.json:
        print(json.dumps([c.__dict__ for c in checks], indent=2))
    else:
        width = max(len(c.name) for c in checks)
        for check in checks:
            print(f"{check.outcome:<4}  {check.name:<{width}}  {check.detail}")
            if check.fix and check.outcome != "ok":
                print(f"{'':<4}  {'':<{width}}  fix: {check.fix}")
    failed = [c for c in checks if c.outcome == "FAIL"]
    print(f"\n{len(checks)} checks: {len(failed)} failed, {sum(c.outcome == 'warn' for c in checks)} warnings",
          file=sys.stderr)
    return 1 if failed else 0


async def run_checks(config: str | None, servers: bool = True) -> list[Check]:
    """Run every check; never raises for a broken part (that is a failed check)."""
    from variet.shared.config import Settings, config_path, load_settings
    from variet.shared.errors import ConfigError

    checks: list[Check] = []
    try:
        settings = load_settings(config)
        where = settings.source or "(defaults: no settings file)"
        checks.append(Check("settings", "ok", f"{where}"))
    except ConfigError as exc:
        checks.append(Check("settings", "FAIL", str(exc).splitlines()[0],
                            f"correct {config_path(config)} (see config/variet.example.toml)"))
        settings = Settings()
    try:
        catalogue = settings.tiers()
        checks.append(Check("tiers", "ok", f"{len(catalogue.tiers)} tiers from {catalogue.source}"))
        checks += await _rpc_checks(catalogue)
        checks += _memory_checks(catalogue)
    except ConfigError as exc:
        checks.append(Check("tiers", "FAIL", str(exc).splitlines()[0], "correct the [engine] tiers_file"))
    checks += await _engine_checks(settings)
    checks += [await _peer_check(settings, peer) for peer in settings.engine.peers]
    checks.append(await _searxng_check(settings))
    checks.append(_google_check(settings))
    checks.append(await _discord_check(settings))
    checks.append(_outbound_check(settings))
    if servers:
        checks += await _server_checks(config)
    return checks


def _outbound_check(settings: Any) -> Check:
    """What happens to calls that could carry private data out after untrusted content (never a failure)."""
    host, server = settings.discord.outbound, settings.search.outbound
    words = {"ask": "held until an owner approves", "block": "refused", "allow": "let through unchecked"}
    detail = (f'[discord] outbound = "{host}" (after untrusted content, outbound calls are {words[host]}); '
              f'[search] outbound = "{server}" (fetch_page URLs carrying data are {words[server]})')
    if "allow" in (host, server):
        return Check("outbound", "warn", detail,
                     'an injected instruction can send private data out: set outbound = "ask" (the default)')
    return Check("outbound", "ok", detail)


async def _engine_checks(settings: Any) -> list[Check]:
    from variet.shared.engine_client import EngineClient
    from variet.shared.errors import EngineAuthError, EngineError, EngineUnreachable

    url = settings.engine.url
    try:
        async with EngineClient.from_settings(settings, timeout=5) as engine:
            status = await engine.status()
    except EngineUnreachable:
        return [Check("engine", "FAIL", f"nothing answers at {url}",
                      "start it on Machine A with `variet engine serve`, or set [engine] url / VARIET_ENGINE_URL")]
    except EngineAuthError as exc:
        return [Check("engine", "FAIL", f"{url}: API key refused", str(exc).split(": ", 1)[-1])]
    except EngineError as exc:
        return [Check("engine", "FAIL", f"{url}: {exc}", "check the engine's log")]
    checks = [Check("engine", "ok", f"{url}: {status.state}, loaded {status.loaded or 'nothing'}")]
    checks.append(Check("dashboard", "ok", f"{url.rstrip('/')}/ui (open it in a browser)"))
    backend = status.backend
    if backend.up:
        checks.append(Check("llama-server", "ok", f"up at {backend.url} (restarts: {backend.restarts})"))
    else:
        checks.append(Check("llama-server", "FAIL", "down (the engine restarts it)",
                            "see the llama-server log named in the engine's output"))
    missing = [name for name, tier in status.tiers.items() if not tier.model_file_present]
    if missing:
        checks.append(Check("model files", "FAIL", f"missing for: {', '.join(missing)}",
                            "put the GGUF files where tiers.toml says (`variet engine preset` shows the paths)"))
    else:
        checks.append(Check("model files", "ok", f"all {len(status.tiers)} present on the engine's machine"))
    configured = {peer.name for peer in settings.engine.peers}
    for peer in status.peers:
        if peer.name in configured:
            continue  # checked directly below
        name = f"engine's peer {peer.name}"
        if peer.up:
            checks.append(Check(name, "ok", f"{peer.url}: up, loaded {peer.loaded or 'nothing'}"))
        else:
            checks.append(Check(name, "FAIL", f"{peer.url}: down ({peer.last_error})",
                                "run `variet doctor` on the engine's box, whose settings name this peer"))
    return checks


def _memory_checks(catalogue: Any) -> list[Check]:
    """The memory budget of each GPU the tiers use: residents plus the largest swapping tier, against its size."""
    from variet.engine.llama.memory import budget, describe_budget

    checks = []
    for row, line in zip(rows := budget(catalogue), describe_budget(rows), strict=True):
        detail = line.split(": ", 1)[1]
        if row.capacity_gb is not None and not row.fits and row.residents:
            checks.append(Check(f"memory GPU {row.gpu}", "FAIL", detail,
                                "make a resident smaller or move it, or drop `resident = true` (the engine refuses "
                                "to start so)"))
        elif row.unknown or row.capacity_gb is None:
            fix = ("declare `memory_gb` for those tiers in tiers.toml" if row.unknown
                   else "set gpu_memory_gb in tiers.toml")
            checks.append(Check(f"memory GPU {row.gpu}", "warn" if row.residents else "ok", detail, fix))
        else:
            checks.append(Check(f"memory GPU {row.gpu}", "ok" if row.fits else "warn", detail,
                                "the largest tier alone does not fit: check its `memory_gb`"))
    return checks


async def _rpc_checks(catalogue: Any) -> list[Check]:
    """Each RPC worker a tier lists accepts a TCP connection (llama.cpp's RPC protocol is left alone)."""
    from variet.shared.tiers import split_host_port

    workers: dict[str, list[str]] = {}
    for name, tier in catalogue.tiers.items():
        for worker in tier.rpc:
            workers.setdefault(worker, []).append(name)
    checks = []
    for worker, tiers in workers.items():
        host, port = split_host_port(worker)
        used_by = f"used by {', '.join(tiers)}"
        try:
            with anyio.fail_after(_REACH_SECONDS):
                stream = await anyio.connect_tcp(host, port)
            await stream.aclose()
        except (OSError, TimeoutError) as exc:
            checks.append(Check(f"rpc {worker}", "FAIL", f"not reachable ({exc or 'timed out'}); {used_by}",
                                "run `variet engine rpc-worker` on that box (or open the SSH tunnel that reaches "
                                "it): see the README's RPC section"))
            continue
        checks.append(Check(f"rpc {worker}", "ok", f"accepts connections; {used_by}"))
    return checks


async def _peer_check(settings: Any, peer: Any) -> Check:
    """A peer engine answers, takes its key, and lists tiers (the same calls the engine's poller makes)."""
    from variet.shared.engine_client import EngineClient
    from variet.shared.errors import ConfigError, EngineAuthError, EngineError, EngineUnreachable

    name = f"peer {peer.name}"
    try:
        key = settings.peer_api_key(peer)
    except ConfigError as exc:
        return Check(name, "FAIL", str(exc), f"fix api_key_file of the [[engine.peers]] entry named {peer.name!r}")
    try:
        async with EngineClient(peer.url, key, timeout=_REACH_SECONDS) as client:
            status = await client.status()
            models = await client.models()
    except EngineUnreachable:
        return Check(name, "FAIL", f"nothing answers at {peer.url}",
                     "start `variet engine serve` on that box (listening beyond loopback, with an API key) and "
                     "check that this box reaches it")
    except EngineAuthError:
        return Check(name, "FAIL", f"{peer.url} refused the key",
                     f"put that engine's API key in the api_key_file of the peer named {peer.name!r} "
                     "(a file only you can read)")
    except (EngineError, ValueError) as exc:
        return Check(name, "FAIL", f"{peer.url}: {exc}", "check the peer's url: it must be a Variet engine's")
    own = [entry.id for entry in models.tiers if entry.box == "local"]
    return Check(name, "ok", f"{peer.url}: {status.state}, loaded {status.loaded or 'nothing'}, tiers "
                             f"{', '.join(own) or 'none'}")


async def _searxng_check(settings: Any) -> Check:
    import httpx2

    url = settings.search.url.rstrip("/")
    try:
        async with httpx2.AsyncClient(timeout=10) as client:
            response = await client.get(f"{url}/search", params={"q": "variet doctor", "format": "json"})
    except httpx2.HTTPError:
        return Check("searxng", "warn", f"nothing answers at {url}",
                     "start SearXNG or set [search] url / VARIET_SEARCH_URL (only web_search needs it)")
    if response.status_code == 403:
        return Check("searxng", "FAIL", f"{url} refuses JSON (403)", "add `json` to search.formats in settings.yml")
    if response.status_code == 429:
        return Check("searxng", "FAIL", f"{url} rate-limits us (429)",
                     "set server.limiter: false or pass this host in botdetection.ip_lists.pass_ip")
    try:
        response.json()
    except ValueError:
        return Check("searxng", "FAIL", f"{url} answered {response.status_code} without JSON", "check [search] url")
    return Check("searxng", "ok", f"{url} answers JSON")


def _google_check(settings: Any) -> Check:
    from variet.servers.google import auth_command, scopes_for, token_path
    from variet.shared.errors import ConfigError
    from variet.shared.secrets import exposure

    try:
        path = token_path(settings)
    except ConfigError as exc:
        return Check("google", "FAIL", str(exc), "add the account to [google.accounts] or fix [google] account")
    if not path.exists():
        return Check("google", "warn", f"no token at {path} (Calendar and Gmail are not set up)",
                     f"run `{auth_command(settings.google.account)}` to use them")
    found = exposure(path)
    if found is not None:
        return Check("google", "FAIL", f"{path} is readable by others ({found.detail})", found.fix)
    try:
        info = json.loads(path.read_text())
    except (OSError, ValueError):
        return Check("google", "FAIL", f"{path} is not a token file", f"run `{auth_command(settings.google.account)}`")
    granted = set(info.get("scopes") or [])
    needed = set(scopes_for(settings.google))
    if not info.get("refresh_token"):
        return Check("google", "FAIL", "the token has no refresh token",
                     f"run `{auth_command(settings.google.account)}`")
    if not needed <= granted:
        short = ", ".join(sorted(s.rsplit("/", 1)[-1] for s in needed - granted))
        return Check("google", "FAIL", f"the token lacks {short} (enabled in [google])",
                     f"run `{auth_command(settings.google.account)}` again")
    expiry = info.get("expiry")
    note = f", access token expires {expiry}" if expiry else ""
    return Check("google", "ok", f"{path}: scopes cover the enabled tools{note} (refreshed automatically)")


def _discord_token(settings: Any) -> tuple[str, str] | Check:
    """(token, where it came from), ("", "") when none is set, or the failed check; never the token itself."""
    from variet.shared.errors import ConfigError
    from variet.shared.secrets import exposure, secret_from

    token_env = "VARIET_DISCORD_TOKEN"  # the assistant's name for it, without importing discord.py here
    file = settings.discord.token_file
    path = settings.relative_path(file) if file else None
    if path is not None and not os.environ.get(token_env, "").strip():
        if not path.is_file():
            return Check("discord", "FAIL", f"{path}: no such token file",
                         f"put the bot token there (a file only you can read), or set {token_env}")
        found = exposure(path)
        if found is not None:
            return Check("discord", "FAIL", f"{path} is readable by others ({found.detail})", found.fix)
    try:
        token = secret_from(token_env, path)
    except ConfigError as exc:
        return Check("discord", "FAIL", str(exc), f"put the bot token in {path}, or set {token_env}")
    if not token:
        return "", ""
    return token, (token_env if os.environ.get(token_env, "").strip() else str(path))


async def _discord_check(settings: Any) -> Check:
    """The Discord assistant: a private token Discord accepts (when it answers), and owners to answer."""
    import httpx2

    found = _discord_token(settings)
    if isinstance(found, Check):
        return found
    token, where = found
    if not token:
        return Check("discord", "warn", "no bot token (the Discord assistant is not set up)",
                     "set VARIET_DISCORD_TOKEN or [discord] token_file; see the README's Discord assistant section")
    if not settings.discord.owner_ids:
        return Check("discord", "FAIL", "[discord] owner_ids is empty: the bot would answer nobody",
                     "add your Discord user id (Developer Mode, then right-click yourself: Copy User ID)")
    url = settings.discord.api_url.rstrip("/")
    try:
        async with httpx2.AsyncClient(timeout=10) as client:
            answer = await client.get(f"{url}/users/@me", headers={"Authorization": f"Bot {token}"})
    except httpx2.HTTPError:
        return Check("discord", "warn", f"token from {where}; {url} did not answer, so it is not checked",
                     "check the network, or [discord] api_url")
    if answer.status_code == 401:
        return Check("discord", "FAIL", f"Discord rejected the token from {where}",
                     "Developer Portal: your application -> Bot -> Reset Token, then store the new one")
    if answer.status_code != 200:
        return Check("discord", "warn", f"{url}/users/@me answered {answer.status_code}", "try again later")
    bot = answer.json().get("username", "?")
    owners = len(settings.discord.owner_ids)
    return Check("discord", "ok", f"token from {where} accepted: the bot is {bot}; {owners} owner(s)")


async def _list_server_tools(client: Any, params: Any) -> list[str]:
    """Start one server over stdio and list its tools. The OS failing to create the process or its pipes (an
    `OSError`, such as Windows' transient ERROR_INTERNAL_ERROR) is tried once more before it is reported."""

    async def once() -> list[str]:
        with anyio.fail_after(_SERVER_START_SECONDS):
            async with client(params, mode="legacy") as session:
                return [tool.name for tool in (await session.list_tools()).tools]

    try:
        return await once()
    except OSError:
        return await once()


async def _server_checks(config: str | None) -> list[Check]:
    from pathlib import Path

    from mcp import Client
    from mcp.client.stdio import StdioServerParameters

    env = dict(os.environ)
    if config:
        env["VARIET_CONFIG"] = str(Path(config).resolve())  # noqa: ASYNC240 - a path string, no I/O worth a thread
    checks = []
    for name in _SERVERS:
        params = StdioServerParameters(command=sys.executable, args=["-m", f"variet.servers.{name}"], env=env)
        started = time.monotonic()
        try:
            tools = await _list_server_tools(Client, params)
        except Exception as exc:  # any failure to start is what this check reports
            checks.append(Check(f"variet-{name}", "FAIL", f"did not start: {type(exc).__name__}: {exc}",
                                f"run `variet-{name}` by hand to see its error"))
            continue
        seconds = time.monotonic() - started
        checks.append(Check(f"variet-{name}", "ok", f"{len(tools)} tools in {seconds:.1f} s: {', '.join(tools)}"))
    return checks
