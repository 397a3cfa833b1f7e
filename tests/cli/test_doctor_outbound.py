"""`variet doctor` shows what happens to outbound calls after untrusted content, and warns when it is unchecked."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.cli.test_doctor import by_name, doctor
from variet.engine.llama.backend import free_port


@pytest.mark.parametrize(("settings", "outcome", "shown"), [
    ("", "ok", ['[discord] outbound = "ask" (after untrusted content, outbound calls are held until an owner approves)',
                '[search] outbound = "ask"']),
    ('[discord]\noutbound = "block"\n', "ok", ['[discord] outbound = "block"', "are refused"]),
    ('[search]\noutbound = "allow"\n', "warn", ['[search] outbound = "allow"', "let through unchecked"]),
])
def test_doctor_shows_the_outbound_settings_and_warns_when_one_allows_everything(
        tmp_path: Path, settings: str, outcome: str, shown: list[str]) -> None:
    config = tmp_path / "variet.toml"
    config.write_text(f'[engine]\nurl = "http://127.0.0.1:{free_port()}"\n{settings}')
    check = by_name(doctor(config, "--skip-servers"))["outbound"]
    assert check["outcome"] == outcome
    assert all(part in check["detail"] for part in shown), check["detail"]
    assert (outcome == "warn") == ('outbound = "ask"' in check["fix"])
