"""The tier catalogue (`tiers.toml`): which models the engine can load, and what the router knows of each.

Like the settings, it is TOML validated by frozen pydantic models that reject unknown keys; a bad file raises
`ConfigError` naming the file, the tier and the key. The router, the peers and the servers read it; nothing
here knows about users, secrets or front ends.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from variet.shared.errors import ConfigError

__all__ = ["TIER_NAMES", "Tier", "TierCatalogue", "explain", "load_tiers", "packaged_tiers", "read_toml",
           "split_host_port"]

TIER_NAMES = ("fast", "balanced", "deep-coder", "deep-logic", "ultra")
"""The five tiers, cheapest first (deep-coder and deep-logic cost about the same)."""

_STRICT = ConfigDict(extra="forbid", frozen=True, defer_build=True)


class Tier(BaseModel):
    """One model tier: what llama-server loads for it and what the router knows about it."""

    model_config = _STRICT

    model: str
    """GGUF file, absolute or relative to the catalogue's `models_dir`."""
    aliases: tuple[str, ...] = ()
    """Real model names clients may send instead of the tier name."""
    context: int = Field(ge=256)
    """Context size in tokens (llama-server `--ctx-size`)."""
    gpus: tuple[int, ...] = ()
    """GPU indices the tier runs on; empty means CPU only."""
    split: Literal["layer", "row", "none"] = "layer"
    """How a multi-GPU tier is split (llama-server `--split-mode`)."""
    tensor_split: tuple[float, ...] = ()
    """Share of the model per device, in the order the layers are laid out: the `rpc` workers first, then the
    `gpus` (llama-server `--tensor-split`)."""
    rpc: tuple[str, ...] = ()
    """llama.cpp RPC workers (`variet engine rpc-worker` on another box) that hold part of this tier, as
    `HOST:PORT`; each worker is one device (`RPC0`, `RPC1`, ... in this order), placed before the local `gpus`
    so that the last layers and the output layer stay on this box."""
    args: dict[str, str | int | float | bool] = Field(default_factory=dict)
    """Extra llama-server arguments, long names without dashes (`n-cpu-moe = 30`)."""
    tokens_per_second: float = Field(gt=0)
    """Expected decode speed."""
    load_seconds: float = Field(ge=0)
    """Expected time to load the tier from disk."""
    strengths: tuple[str, ...] = ()
    """What the tier is good at, in the router's vocabulary (`chat`, `code`, `math`, ...)."""
    description: str = ""
    resident: bool = False
    """Loaded at start and never evicted: served beside whichever other tier is loaded, even during its swaps."""
    fim: bool = False
    """The tier fill-in-the-middle requests go to (`/infill`, `/v1/completions` with `suffix`); at most one."""
    memory_gb: tuple[float, ...] = ()
    """What the tier needs on each of its `gpus`, in GB and in that order (weights, KV cache, buffers); empty:
    estimated from the GGUF file and the context."""

    @field_validator("rpc")
    @classmethod
    def _rpc_addresses(cls, workers: tuple[str, ...]) -> tuple[str, ...]:
        for worker in workers:
            split_host_port(worker, what="RPC worker")
        if len(set(workers)) != len(workers):
            raise ValueError("an RPC worker is listed twice")
        return workers

    @model_validator(mode="after")
    def _split_matches_devices(self) -> Tier:
        devices = len(self.gpus) + len(self.rpc)
        if self.tensor_split and len(self.tensor_split) != devices:
            raise ValueError(f"tensor_split has {len(self.tensor_split)} values for {devices} devices "
                             f"({len(self.rpc)} rpc workers, then {len(self.gpus)} gpus)")
        if self.memory_gb and len(self.memory_gb) != len(self.gpus):
            raise ValueError(f"memory_gb has {len(self.memory_gb)} values for {len(self.gpus)} gpus: give one per GPU "
                             f"in `gpus`, in GB")
        if any(value < 0 for value in self.memory_gb):
            raise ValueError("memory_gb values must not be negative")
        return self


def split_host_port(address: str, *, what: str = "address") -> tuple[str, int]:
    """`HOST:PORT` (IPv6 in brackets) to its parts; ValueError saying what is wrong otherwise."""
    host, sep, port = address.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"{what} {address!r} must be HOST:PORT, for example 127.0.0.1:50052")
    if host.startswith("[") != host.endswith("]") or any(c.isspace() or c in "/@,?#" for c in host):
        raise ValueError(f"{what} {address!r} has an invalid host")
    return host.strip("[]"), int(port)


class TierCatalogue(BaseModel):
    """The contents of `tiers.toml`."""

    model_config = _STRICT

    models_dir: str = "."
    """Folder that relative `model` paths are resolved against (relative to the file itself)."""
    gpu_memory_gb: tuple[float, ...] = ()
    """Memory of each GPU in GB, by GPU index (`[12, 12]`); empty: the resident check is skipped."""
    tiers: dict[str, Tier]
    source: Path | None = Field(default=None, exclude=True)

    @field_validator("tiers")
    @classmethod
    def _at_least_one(cls, tiers: dict[str, Tier]) -> dict[str, Tier]:
        if not tiers:
            raise ValueError("define at least one [tiers.NAME] table")
        return tiers

    @model_validator(mode="after")
    def _names_unique(self) -> TierCatalogue:
        seen: dict[str, str] = {}
        for name, tier in self.tiers.items():
            for alias in (name, *tier.aliases):
                if alias in seen and seen[alias] != name:
                    raise ValueError(f"name {alias!r} is used by tiers {seen[alias]!r} and {name!r}")
                seen[alias] = name
        if "auto" in seen:
            raise ValueError("'auto' is reserved for the router; rename that tier or alias")
        fim = [name for name, tier in self.tiers.items() if tier.fim]
        if len(fim) > 1:
            raise ValueError(f"only one tier may set `fim = true`; {', '.join(fim)} do")
        if all(tier.resident for tier in self.tiers.values()):
            raise ValueError("every tier is `resident = true`: leave at least one tier to swap")
        for name, tier in self.tiers.items():
            missing = [gpu for gpu in tier.gpus if self.gpu_memory_gb and gpu >= len(self.gpu_memory_gb)]
            if missing:
                raise ValueError(f"tier {name!r} uses GPU {missing[0]}, but gpu_memory_gb lists "
                                 f"{len(self.gpu_memory_gb)} GPUs")
        return self

    @property
    def residents(self) -> tuple[str, ...]:
        """Tiers that stay loaded beside the swapping one, in catalogue order."""
        return tuple(name for name, tier in self.tiers.items() if tier.resident)

    @property
    def fim_tier(self) -> str | None:
        """The tier marked `fim = true`, if any."""
        return next((name for name, tier in self.tiers.items() if tier.fim), None)

    def model_path(self, tier: str) -> Path:
        """Absolute path of a tier's GGUF file."""
        path = Path(self.tiers[tier].model).expanduser()
        if path.is_absolute():
            return path
        base = Path(self.models_dir).expanduser()
        if not base.is_absolute() and self.source is not None:
            base = self.source.parent / base
        return (base / path).resolve()

    def resolve(self, name: str) -> str | None:
        """The tier a model name (tier name or alias) refers to, or None."""
        if name in self.tiers:
            return name
        for tier_name, tier in self.tiers.items():
            if name in tier.aliases:
                return tier_name
        return None


def packaged_tiers() -> Path:
    from importlib.resources import files

    return Path(str(files("variet.config") / "tiers.toml"))


def read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError:
        raise ConfigError(f"{path}: file not found") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from exc


def explain(path: Path, exc: ValidationError, prefix: str = "") -> ConfigError:
    lines = []
    for err in exc.errors():
        key = ".".join(str(part) for part in err["loc"])
        lines.append(f"  {prefix}{key}: {err['msg']}")
    return ConfigError(f"{path}: invalid settings:\n" + "\n".join(lines))


def load_tiers(path: str | os.PathLike[str]) -> TierCatalogue:
    """Read and validate a tier catalogue; errors name the file, the tier and the key."""
    file = Path(path).expanduser().resolve()
    data = read_toml(file)
    try:
        catalogue = TierCatalogue.model_validate(data)
    except ValidationError as exc:
        raise explain(file, exc) from None
    return catalogue.model_copy(update={"source": file})
