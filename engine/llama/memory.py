"""The per-GPU memory budget: resident tiers must fit beside the largest swapping tier on every GPU they share.

Each tier needs some memory on each of its GPUs: declared in `tiers.toml` (`memory_gb`, one value per GPU in
`gpus`), else estimated from its GGUF file and context: the weights and the KV cache split over its devices
as `tensor_split` says (evenly without one), plus a fixed allowance per GPU for llama.cpp's compute buffers.
A tier that offloads part of itself to the CPU (`n-cpu-moe`, `override-tensor`, a lower `n-gpu-layers`) cannot
be estimated this way: declare it. With `gpu_memory_gb` set, a GPU's budget is its residents' needs plus the
largest need of the swapping tiers on it; `check_residents` refuses a set whose budget exceeds a GPU, with
the numbers. Pure functions of the catalogue and the files; nothing here talks to a GPU.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from variet.engine.errors import GgufError, MemoryPlanError
from variet.engine.llama.gguf_facts import read_gguf_facts
from variet.shared.tiers import TierCatalogue

__all__ = ["COMPUTE_BUFFER_GB", "GpuBudget", "TierNeed", "budget", "check_residents",
           "describe_budget", "tier_need"]

COMPUTE_BUFFER_GB = 0.5
"""Allowance per GPU for llama.cpp's compute buffers and CUDA context (measured 0.3-0.6 GB at default batch)."""

_GB = 1e9
_ELEMENT_BYTES = {"f32": 4.0, "f16": 2.0, "bf16": 2.0, "q8_0": 34 / 32, "q5_1": 24 / 32, "q5_0": 22 / 32,
                  "q4_1": 20 / 32, "q4_0": 18 / 32, "iq4_nl": 18 / 32}
_PARTIAL_OFFLOAD = ("n-cpu-moe", "cpu-moe", "override-tensor", "n-gpu-layers", "ngl")


@dataclass(frozen=True)
class TierNeed:
    """What one tier needs on each of its GPUs, in GB."""

    tier: str
    per_gpu: dict[int, float]
    """GPU index to GB; empty when unknown (see `note`) or for a CPU-only tier."""
    source: Literal["declared", "estimated", "unknown", "cpu"]
    note: str = ""


def _element_bytes(args: dict[str, str | int | float | bool]) -> float:
    kinds = [str(args.get(key, "f16")).lower() for key in ("cache-type-k", "cache-type-v")]
    return sum(_ELEMENT_BYTES.get(kind, 2.0) for kind in kinds) / 2


def tier_need(catalogue: TierCatalogue, name: str) -> TierNeed:
    """The tier's need per GPU: declared, else estimated from its GGUF file and context."""
    tier = catalogue.tiers[name]
    if not tier.gpus:
        return TierNeed(name, {}, "cpu")
    if tier.memory_gb:
        return TierNeed(name, dict(zip(tier.gpus, tier.memory_gb, strict=True)), "declared")
    partial = [key for key in _PARTIAL_OFFLOAD if key in tier.args]
    if partial:
        return TierNeed(name, {}, "unknown",
                        f"it keeps part of itself on the CPU (`{partial[0]}`): declare `memory_gb` for it")
    path = catalogue.model_path(name)
    try:
        facts = read_gguf_facts(path)
        size = path.stat().st_size
    except (OSError, GgufError) as exc:
        reason = "its model file is missing" if isinstance(exc, FileNotFoundError) else f"its model file: {exc}"
        return TierNeed(name, {}, "unknown", f"{reason}; declare `memory_gb` for it")
    devices = len(tier.rpc) + len(tier.gpus)
    shares = list(tier.tensor_split) or [1.0] * devices
    total_share = sum(shares) or 1.0
    kv = facts.kv_cache_bytes(tier.context, _element_bytes(tier.args))
    per_gpu = {}
    for i, gpu in enumerate(tier.gpus):
        share = shares[len(tier.rpc) + i] / total_share
        per_gpu[gpu] = round((size + kv) * share / _GB + COMPUTE_BUFFER_GB, 2)
    return TierNeed(name, per_gpu, "estimated")


@dataclass
class GpuBudget:
    """One GPU's budget: its residents, the largest swapping tier on it, and what that adds up to."""

    gpu: int
    capacity_gb: float | None
    residents: dict[str, float] = field(default_factory=dict)
    swapping: dict[str, float] = field(default_factory=dict)
    unknown: list[str] = field(default_factory=list)
    """Tiers on this GPU whose need is not known."""

    @property
    def largest_swapping(self) -> tuple[str, float] | None:
        if not self.swapping:
            return None
        name = max(self.swapping, key=lambda tier: (self.swapping[tier], tier))
        return name, self.swapping[name]

    @property
    def need_gb(self) -> float:
        largest = self.largest_swapping
        return round(sum(self.residents.values()) + (largest[1] if largest else 0.0), 2)

    @property
    def fits(self) -> bool:
        return self.capacity_gb is None or self.need_gb <= self.capacity_gb


def budget(catalogue: TierCatalogue) -> list[GpuBudget]:
    """Every GPU a tier uses (or `gpu_memory_gb` lists), in index order."""
    gpus = set(range(len(catalogue.gpu_memory_gb)))
    for tier in catalogue.tiers.values():
        gpus.update(tier.gpus)
    rows = {gpu: GpuBudget(gpu, catalogue.gpu_memory_gb[gpu] if gpu < len(catalogue.gpu_memory_gb) else None)
            for gpu in sorted(gpus)}
    for name, tier in catalogue.tiers.items():
        need = tier_need(catalogue, name)
        for gpu in tier.gpus:
            if gpu not in need.per_gpu:
                rows[gpu].unknown.append(name)
            elif tier.resident:
                rows[gpu].residents[name] = need.per_gpu[gpu]
            else:
                rows[gpu].swapping[name] = need.per_gpu[gpu]
    return list(rows.values())


def describe_budget(rows: list[GpuBudget]) -> list[str]:
    """One line per GPU: residents + the largest swapping tier = need, against the capacity."""
    lines = []
    for row in rows:
        parts = [f"{name} {gb:g} GB (resident)" for name, gb in row.residents.items()]
        largest = row.largest_swapping
        if largest is not None:
            parts.append(f"{largest[0]} {largest[1]:g} GB (largest swapping tier)")
        of = f" of {row.capacity_gb:g} GB" if row.capacity_gb is not None else " (capacity unknown: set gpu_memory_gb)"
        verdict = "" if row.capacity_gb is None else (" fits" if row.fits else " DOES NOT FIT")
        if parts:
            line = f"GPU {row.gpu}: {' + '.join(parts)} = {row.need_gb:g} GB{of}{verdict}"
        else:
            line = f"GPU {row.gpu}: {row.capacity_gb:g} GB" if row.capacity_gb is not None else f"GPU {row.gpu}:"
        if row.unknown:
            line += f"{';' if parts else ','} need unknown for {', '.join(row.unknown)} (files not here, or declare " \
                    "memory_gb)"
        lines.append(line)
    return lines


def check_residents(catalogue: TierCatalogue) -> list[GpuBudget]:
    """The budget, once it is known that the residents fit; raises `MemoryPlanError` with the numbers if not.

    Without residents or without `gpu_memory_gb` there is nothing to refuse.
    """
    rows = budget(catalogue)
    if not catalogue.residents or not catalogue.gpu_memory_gb:
        return rows
    over = [row for row in rows if row.residents and not row.fits]
    if over:
        where = catalogue.source or "tiers.toml"
        details = "; ".join(describe_budget(over))
        raise MemoryPlanError(
            f"{where}: the resident tiers do not fit beside the largest swapping tier: {details}. Make a resident "
            f"smaller (a smaller quant or context), move it to another GPU, or drop `resident = true`")
    return rows
