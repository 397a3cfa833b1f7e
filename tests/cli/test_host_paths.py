"""`variet hosts export --user` writes where each host keeps its user-level files, on Windows, macOS and Linux."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from variet.cli.host_files import user_file

WINDOWS = {"USERPROFILE": r"C:\Users\me", "APPDATA": r"C:\Users\me\AppData\Roaming"}


def windows(host: str, kind: str = "mcp") -> str:
    found = user_file(host, kind, platform="win32", environ=WINDOWS)
    return "" if found is None else str(found).replace("/", "\\")


def test_on_windows_the_hosts_files_are_in_appdata_and_the_profile() -> None:
    assert windows("claude-desktop") == r"C:\Users\me\AppData\Roaming\Claude\claude_desktop_config.json"
    assert windows("vscode") == r"C:\Users\me\AppData\Roaming\Code\User\mcp.json"
    assert windows("vscode", "models") == r"C:\Users\me\AppData\Roaming\Code\User\chatLanguageModels.json"
    assert windows("claude-code") == r"C:\Users\me\.claude.json"
    assert windows("continue") == r"C:\Users\me\.continue\agents\variet.yaml"
    assert windows("openclaude", "settings") == r"C:\Users\me\.openclaude\settings.json"
    assert windows("openclaude") == ""  # its servers go in a project's .mcp.json


def test_on_macos_and_linux_the_same_files_are_under_home() -> None:
    home = {"HOME": "/home/me"}
    assert user_file("claude-desktop", "mcp", platform="darwin", environ=home) == Path(
        "/home/me/Library/Application Support/Claude/claude_desktop_config.json")
    assert user_file("vscode", "mcp", platform="linux", environ=home) == Path("/home/me/.config/Code/User/mcp.json")
    assert user_file("claude-code", "mcp", platform="linux", environ=home) == Path("/home/me/.claude.json")


def test_export_with_user_merges_into_the_hosts_own_file(tmp_path: Path) -> None:
    config = tmp_path / "variet.toml"
    config.write_text('[engine]\nurl = "http://192.168.1.10:8000"\n', encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VARIET_", "XDG_"))}
    env |= {"VARIET_CONFIG": str(config), "HOME": str(tmp_path), "USERPROFILE": str(tmp_path),
            "APPDATA": str(tmp_path / "AppData" / "Roaming")}
    target = user_file("claude-desktop", "mcp", environ=env)
    assert target is not None
    target.parent.mkdir(parents=True)
    target.write_text(json.dumps({"preferences": {"theme": "dark"}}), encoding="utf-8")
    done = subprocess.run([sys.executable, "-m", "variet.cli", "hosts", "export", "--host", "claude-desktop", "--user"],
                          env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    written = json.loads(target.read_text(encoding="utf-8"))
    assert written["preferences"] == {"theme": "dark"} and "variet-search" in written["mcpServers"]
