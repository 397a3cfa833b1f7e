"""Side-by-side tables of an `Evaluation`, with the issue's targets and pass/fail marks."""

from __future__ import annotations

from collections.abc import Sequence

from variet.devtools.router_eval import STRATEGIES, TARGETS, Evaluation

__all__ = ["render"]


def _mark(passed: bool) -> str:
    return "pass" if passed else "FAIL"


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    widths = [max(len(row[i]) for row in (header, *rows)) for i in range(len(header))]
    lines = []
    for row in (header, *rows):
        cells = [cell.ljust(widths[i]) if i == 0 else cell.rjust(widths[i]) for i, cell in enumerate(row)]
        lines.append("  ".join(cells).rstrip())
    lines.insert(1, "  ".join("-" * width for width in widths))
    return lines


def _pct(share: float) -> str:
    return f"{share:.1%}"


def render(e: Evaluation) -> str:
    """Side-by-side tables with the targets and pass/fail marks."""
    target = {t.name: t for t in e.targets}
    title = f"Router evaluation: {e.source or 'labelled set'} ({e.count} prompts, stay_margin {e.stay_margin:g})"
    out = [title, ""]

    adequacy, under = target["adequacy"], target["under-provisioning"]
    parts = ("all", "even", "odd")
    out.append("Decisions one prompt at a time (stateless)")
    out += _table(
        ["", *(f"{name} ({e.splits[name].total})" for name in parts), "target", ""],
        [
            ["adequate", *(_pct(e.splits[n].share("adequate")) for n in parts), ">= 90%", _mark(adequacy.passed)],
            ["under-provisioned", *(_pct(e.splits[n].share("under")) for n in parts), "<= 5%", _mark(under.passed)],
            ["over-provisioned", *(_pct(e.splits[n].share("over")) for n in parts), "", ""],
            ["wrong specialty", *(_pct(e.splits[n].share("specialty")) for n in parts), "", ""],
        ],
    )

    names = [n for n in ("stateless", "preferred", "always balanced", "always ultra") if n in e.replays]
    out += ["", "Mean expected latency per request with its tier loaded (router = stateless decisions)"]
    header = ["answer length", "router", "preferred", *names[2:]]
    estimated = {n: e.replays[n].ready_seconds for n in names}
    fixed = {n: e.replays[n].fixed_seconds for n in names}
    rows = [
        ["router's per-task estimate", *(f"{estimated[n]:.1f} s" for n in names)],
        [f"fixed {e.fixed_tokens} tokens", *(f"{fixed[n]:.1f} s" for n in names)],
    ]
    if "always ultra" in e.replays:
        limit = TARGETS["latency_ratio"]
        header += ["router/ultra", "preferred/ultra", "target", ""]
        for row, seconds in zip(rows, (estimated, fixed), strict=True):
            ultra = seconds["always ultra"]
            ratio = seconds["stateless"] / ultra
            row += [f"{ratio:.2f}", f"{seconds['preferred'] / ultra:.2f}", f"<= {limit:.2f}", _mark(ratio <= limit)]
    out += _table(header, rows)

    order = [n for n in STRATEGIES if n in e.replays]
    swaps = target["swaps swap-aware/stateless"]
    limit_per_100 = e.replays["stateless"].swaps_per_100 * swaps.limit
    out += ["", "Stream replay: the set in file order as one stream of requests, from a cold start"]
    out += _table(
        ["", *order, "target", ""],
        [
            [
                "swaps per 100 requests",
                *(f"{e.replays[n].swaps_per_100:.1f}" for n in order),
                f"swap-aware <= {limit_per_100:.1f}",
                _mark(swaps.passed),
            ],
            ["mean latency incl. swaps", *(f"{e.replays[n].stream_seconds:.1f} s" for n in order), "", ""],
            ["adequate", *(_pct(e.replays[n].provisioning.share("adequate")) for n in order), "", ""],
            ["under-provisioned", *(_pct(e.replays[n].provisioning.share("under")) for n in order), "", ""],
            ["over-provisioned", *(_pct(e.replays[n].provisioning.share("over")) for n in order), "", ""],
        ],
    )

    decision = target["decision p99 ms (CPU)"]
    out += ["", f"Decision time of one route() call, {e.decision_calls} calls"]
    out += _table(
        ["clock", "p50", "p99", "target", ""],
        [
            [
                "thread CPU time",
                *(f"{ms:.3f} ms" for ms in e.decision_cpu_ms),
                f"p99 <= {decision.limit:g} ms",
                _mark(decision.passed),
            ],
            ["wall clock (incl. preemption)", *(f"{ms:.3f} ms" for ms in e.decision_wall_ms), "", ""],
        ],
    )
    out += ["", "Targets: " + "; ".join(f"{t.name} {t.value:.3g} {_mark(t.passed)}" for t in e.targets)]
    return "\n".join(out)
