"""No module of the engine, the servers, the bot or the CLI imports a POSIX-only module (fcntl, termios, pwd,
grp, resource) when it is loaded: they do not exist on Windows. Inside a function, or under a
`sys.platform` / `os.name` check, is fine."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("assistant", "cli", "contract", "engine", "router", "servers", "shared")
POSIX_ONLY = {"fcntl", "termios", "pwd", "grp", "resource", "tty", "pty", "posix"}


def _guarded(test: ast.expr) -> bool:
    text = ast.unparse(test)
    return "sys.platform" in text or "os.name" in text


def _load_time_imports(body: list[ast.stmt]) -> Iterator[ast.Import | ast.ImportFrom]:
    """Import statements that run when the module is imported (not in functions or platform branches)."""
    for node in body:
        if isinstance(node, ast.Import | ast.ImportFrom):
            yield node
        elif isinstance(node, ast.If) and not _guarded(node.test):
            yield from _load_time_imports(node.body)
            yield from _load_time_imports(node.orelse)
        elif isinstance(node, ast.Try):
            for block in (node.body, node.orelse, node.finalbody, *(h.body for h in node.handlers)):
                yield from _load_time_imports(block)
        elif isinstance(node, ast.ClassDef | ast.With):
            yield from _load_time_imports(node.body)


def _names(node: ast.Import | ast.ImportFrom) -> list[str]:
    if isinstance(node, ast.ImportFrom):
        return [node.module or ""]
    return [alias.name for alias in node.names]


def test_no_module_imports_a_posix_only_module_when_loaded() -> None:
    found = []
    for package in PACKAGES:
        for file in sorted((ROOT / package).rglob("*.py")):
            tree = ast.parse(file.read_text(encoding="utf-8"))
            for node in _load_time_imports(tree.body):
                for name in _names(node):
                    if name.split(".")[0] in POSIX_ONLY:
                        found.append(f"{file.relative_to(ROOT)}:{node.lineno}: import {name}")
    assert found == []


def test_the_check_sees_a_top_level_import_and_spares_a_guarded_one() -> None:
    tree = ast.parse("import fcntl\nif sys.platform != 'win32':\n    import termios\ndef f():\n    import pwd\n")
    assert [_names(node) for node in _load_time_imports(tree.body)] == [["fcntl"]]
