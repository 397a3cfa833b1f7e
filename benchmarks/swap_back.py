"""Returning to a tier with a long prompt: its prompt cache restored from disk versus the prompt processed again.

In one run, on the real instruct model (SmolLM2-135M-Instruct Q4_1, the embedded default's `fast` tier,
8192-token context) and on a generated tier (`deep-coder`, 32k context): a conversation with an N-token
prefix runs on the tier, another tier is visited (a swap: the engine saves the prefix), and the
conversation comes back (a swap back: the engine restores it before letting the request go). For the
same N, a conversation the engine has no cache for comes back as the baseline: its prompt is processed
again. N is 2k, 8k and the largest the tier's context allows (the real model: 8k is about its largest).

Measured for each: the return's time to first token beyond the load (the client's TTFT minus the swap's
load; the load is the same either way and no cache changes it), the size of the saved state, the time to
read it back cold from disk (its pages dropped from the page cache first, with posix_fadvise; the restore
reads it cold too), and the engine's own restore time (checking the file and llama-server's restore). Goals
at the largest N: the cached return takes at most 20 % of the processed one, and at most twice the cold read
of the saved state (the physical floor). On this CPU the second is out of reach whatever the restore does:
the return also computes the new turn's tokens and its first token at N tokens of context on one thread,
which takes longer than reading the state; the goal line says how the time splits.

A last table does the same arithmetic for Machine A's five tiers from config/tiers.toml: KV bytes per
token from each model's attention layout (assumptions stated in the table; the tiers' cache type is
q8_0), the restore at an NVMe read speed and the PCIe upload, and the return (the restore, the new turn's
tokens, one decoded token) against processing the prompt again at prompt speeds assumed for two RTX 3060s.

Usage: .venv/bin/python benchmarks/swap_back.py [--sizes 2048,8192,max] [--models real,generated]
       (about 10 minutes on a 2-core box, most of it processing the long prompts on one thread)
"""

from __future__ import annotations

import argparse
import json
import os
import random
import string
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx2

sys.path.insert(0, str(Path(__file__).parent))
from _common import engine, table, tiny_tiers

from variet.engine.llama.launcher import EngineProcess
from variet.shared.tiers import load_tiers

AWAY = {"fast": "balanced", "deep-coder": "fast"}
"""The tier visited in between (a swap away and back)."""
ANSWER_ROOM = 96
"""Context left for the template, the questions and the answers at the largest N."""
GOAL_SHARE = 0.2
GOAL_FLOOR = 2.0
NEW_TOKENS = 20
"""About what a return adds to the saved prefix here: the previous answer, the next question, the template."""


@dataclass(frozen=True)
class Row:
    model: str
    tokens: int
    state_bytes: int
    save_ms: float
    cold_read_ms: float
    restore_ms: float
    cached_ms: float
    processed_ms: float
    cache_n: int

    @property
    def share(self) -> float:
        return self.cached_ms / self.processed_ms

    @property
    def over_floor(self) -> float:
        return self.cached_ms / self.cold_read_ms

    @property
    def restore_over_read(self) -> float:
        return self.restore_ms / self.cold_read_ms


def words(seed: int, chars: int) -> str:
    rng = random.Random(seed)
    vocabulary = ["".join(rng.choices(string.ascii_lowercase, k=rng.randint(3, 9))) for _ in range(2000)]
    text = ""
    while len(text) < chars:
        text += " ".join(rng.choices(vocabulary, k=50)) + ".\n"
    return text[:chars]


class Tier:
    """Requests to one tier of a running engine, timed from the client."""

    def __init__(self, running: EngineProcess, tier: str) -> None:
        self.running, self.tier = running, tier
        self.client = httpx2.Client(base_url=running.url, timeout=httpx2.Timeout(30, read=1800))

    def count(self, system: str) -> int:
        body = {"model": self.tier, "system": system, "messages": [{"role": "user", "content": "Question 1?"}]}
        reply = self.client.post("/v1/messages/count_tokens", json=body)
        reply.raise_for_status()
        tokens: int = reply.json()["input_tokens"]
        return tokens

    def system_of(self, seed: int, tokens: int) -> str:
        """A system prompt whose whole request comes to about `tokens` tokens on this tier."""
        chars = tokens * 4
        for _ in range(4):
            text = words(seed, chars)
            counted = self.count(text)
            if abs(counted - tokens) <= max(8, tokens // 200):
                return text
            chars = max(64, int(chars * tokens / counted))
        return words(seed, chars)

    def ask(self, messages: list[dict[str, Any]], model: str | None = None) -> tuple[float, dict[str, Any], str]:
        """Stream one answer; (seconds to the first content, llama-server's timings, the answer)."""
        body = {"model": model or self.tier, "messages": messages, "max_tokens": 8, "temperature": 0,
                "stream": True}
        started = time.perf_counter()
        first = 0.0
        timings: dict[str, Any] = {}
        text = ""
        with self.client.stream("POST", "/v1/chat/completions", json=body) as response:
            response.raise_for_status()
            for line in response.iter_lines():
                if not line.startswith("data:") or line[5:].strip() == "[DONE]":
                    continue
                chunk = json.loads(line[5:])
                timings = chunk.get("timings") or timings
                for choice in chunk.get("choices", []):
                    piece = (choice.get("delta") or {}).get("content")
                    if piece is not None:
                        first = first or time.perf_counter()
                        text += piece
        return (first or time.perf_counter()) - started, timings, text

    def visit_away(self) -> None:
        self.ask([{"role": "user", "content": "hi"}], model=AWAY[self.tier])

    def swap(self) -> tuple[float, float]:
        """(seconds of the last swap to this tier, milliseconds of its last restore or 0)."""
        state = self.running.status().tier(self.tier)
        assert state.last_swap is not None and state.last_swap.ok
        restore = state.prompt_cache.last_restore if state.prompt_cache else None
        return state.last_swap.seconds, restore.milliseconds if restore else 0.0


def drop_from_page_cache(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)


def cold_read_ms(path: Path) -> float:
    drop_from_page_cache(path)
    started = time.perf_counter()
    with path.open("rb", buffering=0) as file:
        while file.read(8 << 20):
            pass
    elapsed = (time.perf_counter() - started) * 1000
    drop_from_page_cache(path)
    return elapsed


def measure(tier: Tier, model: str, tokens: int, cache_dir: Path, seed: int) -> Row:
    question = [{"role": "user", "content": "Question 1?"}]
    # Both prompts are sized first: counting tokens needs the tier loaded, which would spoil a swap.
    system = {"role": "system", "content": tier.system_of(seed, tokens)}
    other = {"role": "system", "content": tier.system_of(seed + 1, tokens)}
    _, _, answer = tier.ask([system, *question])
    tier.visit_away()
    saved = tier.running.status().tier(tier.tier).prompt_cache
    assert saved is not None and saved.last_save is not None, "the prefix was not saved"
    state_file = max((cache_dir / tier.tier).glob("*.bin"), key=lambda path: path.stat().st_mtime_ns)
    # The baseline: the same length of prompt, with no cache anywhere, processed again after the same swap.
    processed, _, _ = tier.ask([other, *question])
    swap, _ = tier.swap()
    processed -= swap
    tier.visit_away()
    read = cold_read_ms(state_file)
    returning = [system, *question, {"role": "assistant", "content": answer}, {"role": "user", "content": "Two?"}]
    cached, timings, _ = tier.ask(returning)
    swap, restore_ms = tier.swap()
    cached -= swap - restore_ms / 1000
    return Row(model=model, tokens=saved.last_save.tokens, state_bytes=saved.last_save.bytes,
               save_ms=saved.last_save.milliseconds, cold_read_ms=read, restore_ms=restore_ms,
               cached_ms=cached * 1000, processed_ms=processed * 1000, cache_n=int(timings.get("cache_n", 0)))


def sizes_for(spec: str, context: int) -> list[int]:
    largest = context - ANSWER_ROOM
    sizes = [largest if size == "max" else int(size) for size in spec.split(",")]
    return sorted({size for size in sizes if size <= largest})


def run_model(directory: Path, model: str, tier_name: str, spec: str) -> list[Row]:
    context = load_tiers(directory / "tiers.toml").tiers[tier_name].context
    rows = []
    with engine(directory, extra="prompt_cache_min_tokens = 256\n") as running:
        tier = Tier(running, tier_name)
        for number, tokens in enumerate(sizes_for(spec, context)):
            rows.append(measure(tier, model, tokens, directory / "prompt-cache", seed=100 * number))
            print(f"  {model} N={tokens}: cached {rows[-1].cached_ms:.0f} ms, processed {rows[-1].processed_ms:.0f} ms",
                  file=sys.stderr)
    return rows


@dataclass(frozen=True)
class Arch:
    """An attention layout, as assumed for one of Machine A's models."""

    tier: str
    model: str
    assumed: str
    growing_layers: int
    """Layers whose KV grows with the prompt (full attention)."""
    kv_heads: int
    head_dim: int
    fixed_bytes: float
    """State that does not grow: sliding-window layers' windows, or recurrent (linear attention) state."""
    prompt_tokens_per_second: float
    """Assumed prompt processing speed at long context on two RTX 3060s."""


Q8_0 = 34 / 32
"""Bytes per value in a q8_0 KV cache (cache-type-k/v in config/tiers.toml)."""
SWA_CELLS = 1024 + 512
"""A sliding-window layer keeps its window plus a batch of cells."""


def gemma_swa(layers: int, kv_heads: int, head_dim: int) -> float:
    return layers * SWA_CELLS * kv_heads * head_dim * 2 * Q8_0


def qwen_recurrent(layers: int, value_heads: int) -> float:
    return layers * (value_heads * 128 * 128 * 4 + 3 * (2 * 16 * 128 + value_heads * 128) * 4)


MACHINE_A = (
    Arch("fast", "Gemma 4 26B-A4B (MoE)", "Gemma 3 layout: 30 layers, 1 in 6 global, 8 KV heads x 128, window 1024",
         5, 8, 128, gemma_swa(25, 8, 128), 1500.0),
    Arch("balanced", "Qwen 3.5 35B-A3B (MoE)", "Qwen3-Next layout: 40 layers, 1 in 4 full attention, 2 KV heads x "
         "256, Gated DeltaNet state in the rest (32 value heads)", 10, 2, 256, qwen_recurrent(30, 32), 1500.0),
    Arch("deep-coder", "Gemma 4 31B (dense)", "Gemma 3 27B layout: 62 layers, 1 in 6 global, 16 KV heads x 128, "
         "window 1024", 10, 16, 128, gemma_swa(52, 16, 128), 450.0),
    Arch("deep-logic", "Qwen 3.6 27B (dense)", "Qwen 3.5 27B layout: 64 layers, 1 in 4 full attention, 4 KV heads "
         "x 256, Gated DeltaNet state in the rest (48 value heads)", 16, 4, 256, qwen_recurrent(48, 48), 500.0),
    Arch("ultra", "Qwen 3.5 122B-A10B (MoE)", "Qwen3-Next layout: 48 layers, 1 in 4 full attention, 2 KV heads x "
         "256, Gated DeltaNet state in the rest; experts in RAM (GPU 1 only)", 12, 2, 256, qwen_recurrent(36, 32),
         150.0),
)
NVME_BYTES_PER_SECOND = 2.5e9
PCIE_BYTES_PER_SECOND = {"both": 3.5e9, "gpu1": 12e9}
"""Host-to-device copy: GPU 0 sits on PCIe 3.0 x4 (its half of a split KV goes there), GPU 1 on x16."""


def machine_a_rows() -> list[list[object]]:
    tiers = load_tiers(Path(__file__).parents[1] / "config" / "tiers.toml").tiers
    rows: list[list[object]] = []
    for arch in MACHINE_A:
        per_token = arch.growing_layers * arch.kv_heads * arch.head_dim * 2 * Q8_0
        link = PCIE_BYTES_PER_SECOND["gpu1" if tiers[arch.tier].gpus == (1,) else "both"]
        share_on_link = 1.0 if tiers[arch.tier].gpus == (1,) else 0.5
        first_token = NEW_TOKENS / arch.prompt_tokens_per_second + 1 / tiers[arch.tier].tokens_per_second
        for tokens in (2048, 8192, 16384, tiers[arch.tier].context):
            state = per_token * tokens + arch.fixed_bytes
            read = state / NVME_BYTES_PER_SECOND
            restore = read + state * share_on_link / link
            returning = restore + first_token
            processed = tokens / arch.prompt_tokens_per_second + first_token
            rows.append([arch.tier, tokens, round(per_token / 1024, 1), round(state / 1e9, 2), round(read, 2),
                         round(restore, 2), round(returning, 2), round(processed, 1), f"{returning / processed:.1%}",
                         f"{returning / read:.1f}x"])
    return rows


def main(args: argparse.Namespace) -> None:
    models = args.models.split(",")
    rows: list[Row] = []
    if "real" in models:
        rows += run_model(tiny_tiers(real_fast=True), "SmolLM2-135M Q4_1 (real)", "fast", args.sizes)
    if "generated" in models:
        rows += run_model(tiny_tiers(), "generated deep-coder", "deep-coder", args.sizes)
    print("Returning to a tier after a swap: TTFT beyond the load, prefix restored vs processed again "
          "(1 llama-server thread, 2-core box)")
    print(table(
        ["model", "N tokens", "state MB", "save ms", "cold read ms", "restore ms", "restore/read", "cached ms",
         "processed ms", "cached/processed", "cached/read", "cache_n"],
        [[r.model, r.tokens, round(r.state_bytes / 1e6, 1), r.save_ms, r.cold_read_ms, r.restore_ms,
          f"{r.restore_over_read:.1f}x", r.cached_ms, r.processed_ms, f"{r.share:.1%}", f"{r.over_floor:.1f}x",
          r.cache_n] for r in rows]))
    for model in dict.fromkeys(r.model for r in rows):
        largest = max((r for r in rows if r.model == model), key=lambda r: r.tokens)
        share_ok = largest.share <= GOAL_SHARE
        floor_ok = largest.over_floor <= GOAL_FLOOR
        print(f"goal ({model}, N={largest.tokens}): cached return <= {GOAL_SHARE:.0%} of processing again: "
              f"{largest.share:.1%} {'PASS' if share_ok else 'FAIL'}; <= {GOAL_FLOOR:g}x the cold read of its "
              f"state: {largest.over_floor:.1f}x {'PASS' if floor_ok else 'FAIL'} (the restore alone: "
              f"{largest.restore_over_read:.1f}x; the rest, {largest.cached_ms - largest.restore_ms:.0f} ms, is "
              f"the new turn's ~{NEW_TOKENS} tokens and the first token computed at N tokens of context)")
    print(f"\nMachine A by arithmetic (q8_0 KV; restore = read at {NVME_BYTES_PER_SECOND / 1e9:g} GB/s + upload "
          f"over PCIe; processing at the assumed prompt speed; the return = restore + the new turn's {NEW_TOKENS} "
          "tokens + one decoded token at the tier's tokens_per_second)")
    print(table(["tier", "N tokens", "KiB/token", "state GB", "read s", "restore s", "return s", "processed s",
                 "return/processed", "return/read"], machine_a_rows()))
    print("\nAssumed layouts and prompt speeds (the tiers' models are not public yet; predecessors' published "
          "configurations stand in):")
    print(table(["tier", "model", "assumed attention layout", "prompt tok/s"],
                [[a.tier, a.model, a.assumed, a.prompt_tokens_per_second] for a in MACHINE_A]))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="2048,8192,max", help="prefix lengths in tokens; max: the context allows")
    parser.add_argument("--models", default="real,generated", help="real, generated or both")
    main(parser.parse_args())
