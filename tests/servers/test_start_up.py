"""What a server loads before it answers tools/list: its cold start is measured against a bare MCPServer
(benchmarks/mcp_overhead.py), so the engine contract's models, the router's policy and model, and the Discord
assistant's code wait for the first call that needs them."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

PROBE = """
import json, os, sys
from variet.servers.{name}.server import build
from variet.shared.config import load_settings
build(load_settings(lazy=True))
print(json.dumps(sorted(m for m in sys.modules if m.startswith(('variet.contract', 'variet.router',
                                                                 'variet.assistant', 'discord', 'numpy')))))
"""


@pytest.mark.parametrize("name", ["inference", "router", "search", "calendar", "gmail"])
def test_building_a_server_loads_no_contract_router_or_assistant_code(name: str) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("VARIET_")} | {"VARIET_CONFIG": os.devnull}
    done = subprocess.run([sys.executable, "-c", PROBE.format(name=name)], env=env, capture_output=True, text=True,
                          timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == []
