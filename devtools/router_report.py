"""Side-by-side tables of an `Evaluation`, with the issue's targets and pass/fail marks."""

from __future__ import annotations

from collections.abc import Sequence

from variet.devtools.router_eval import TARGETS, Column, Evaluation, calibration_table

__all__ = ["render"]


def _mark(passed: bool) -> str:
    return "pass" if passed else "FAIL"


def _table(header: Sequence[str], rows: Sequence[Sequence[str]], *, subheader: Sequence[str] = ()) -> list[str]:
    heads = [header, subheader] if subheader else [header]
    widths = [max(len(row[i]) for row in (*heads, *rows)) for i in range(len(header))]
    lines = []
    for row in (*heads, *rows):
        cells = [cell.ljust(widths[i]) if i == 0 else cell.rjust(widths[i]) for i, cell in enumerate(row)]
        lines.append("  ".join(cells).rstrip())
    lines.insert(len(heads), "  ".join("-" * width for width in widths))
    return lines


def _pct(share: float) -> str:
    return f"{share:.1%}"


def _heads(columns: Sequence[Column]) -> tuple[list[str], list[str]]:
    return [f"{c.label} ({c.count})" for c in columns], [c.method for c in columns]


def render(e: Evaluation) -> str:
    """Side-by-side tables with the targets and pass/fail marks."""
    trained = e.model_info.get("trained_on")
    model = f"; model trained on {' + '.join(trained)} ({e.model_info.get('tasks')} tasks)" if trained else ""
    out = [f"Router evaluation: {e.source or 'labelled sets'} (stay_margin {e.stay_margin:g}{model})", ""]
    columns = list(e.columns)
    heads, methods = _heads(columns)

    out.append("Stateless (each prompt alone) and swap-aware (the set in file order, each told the loaded tier)")
    rows: list[list[str]] = []
    for mode, name in (("stateless", "stateless"), ("swap-aware", "swap-aware")):
        for index, verdict in enumerate(("adequate", "under", "over", "specialty")):
            label = {"under": "under-provisioned", "over": "over-provisioned", "specialty": "wrong specialty"}.get(
                verdict, verdict
            )
            rows.append(
                [f"{name if index == 0 else '':10} {label}"]
                + [_pct(c.replays[mode].provisioning.share(verdict)) for c in columns]  # type: ignore[arg-type]
                + [_target_text(mode, verdict)]
            )
        swaps = [f"{c.replays[mode].swaps_per_100:.1f}" for c in columns]
        rows.append([f"{'':10} swaps per 100 requests", *swaps, ""])
    rows.append(["swap ratio swap-aware/stateless"] + [f"{c.swap_ratio:.2f}" for c in columns] + [""])
    rows.append(
        ["fewest swaps/100 at full adequacy (oracle)"]
        + [f"{100 * c.fewest_swaps / c.count:.1f}" if c.count else "-" for c in columns]
        + [""]
    )
    rows.append(
        ["swap-aware swaps / oracle's fewest"]
        + [f"{c.swaps_over_fewest:.2f}" for c in columns]
        + [f"<= {TARGETS['swaps_over_fewest']:g}"]
    )
    out += _table(["", *heads, "target"], rows, subheader=["", *methods, ""])

    honest = [c for c in columns if c.honest] or columns
    out += ["", "Baselines on the same sets (stateless choices; swaps when replayed in order)"]
    names = [n for n in ("stateless", "swap-aware", "preferred", "always fast", "always balanced", "always ultra")
             if n in honest[0].replays]
    h_heads, h_methods = _heads(honest)
    base_rows = []
    for name in names:
        cells = []
        for c in honest:
            p = c.replays[name].provisioning
            cells.append(
                f"{_pct(p.share('adequate'))} / {_pct(p.share('under'))} / {_pct(p.share('over'))} / "
                f"{c.replays[name].swaps_per_100:.0f}"
            )
        base_rows.append([f"router {name}" if name in ("stateless", "swap-aware") else name, *cells])
    out += _table(["adequate / under / over / swaps per 100", *h_heads], base_rows, subheader=["", *h_methods])

    out += ["", "Mean expected seconds per request (tier loaded; in order including swaps)"]
    lat_rows = []
    for name in names:
        lat_rows.append(
            [f"router {name}" if name in ("stateless", "swap-aware") else name]
            + [f"{c.replays[name].ready_seconds:.1f} s; {c.replays[name].stream_seconds:.1f} s" for c in honest]
        )
    out += _table(["", *h_heads], lat_rows, subheader=["", *h_methods])

    out += ["", "Calibration of `confidence` (stateless decisions; stated confidence vs share adequate)"]
    groups = _calibration_groups(columns)
    cal_rows = []
    edges = sorted({(low, high) for _, points in groups for low, high, *_ in calibration_table(points)})
    for low, high in edges:
        cells = []
        for _, points in groups:
            found = [row for row in calibration_table(points) if (row[0], row[1]) == (low, high)]
            cells.append(f"{found[0][2]:4d}  {found[0][3]:.2f} -> {found[0][4]:.2f}" if found else "-")
        cal_rows.append([f"{low:.1f}-{high:.1f}", *cells])
    out += _table(
        ["stated confidence", *(name for name, _ in groups)],
        cal_rows,
        subheader=["", *("n  stated -> observed" for _ in groups)],
    )

    decision = e.decision_target
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
    out.append("")
    for column, targets in e.targets:
        out.append(
            f"Targets, {column.label} ({column.method}): "
            + "; ".join(f"{t.name} {t.value:.3g} {_mark(t.passed)}" for t in targets)
        )
    out.append(f"Targets, decision p99 ms (CPU) {decision.value:.3g} {_mark(decision.passed)}")
    return "\n".join(out)


def _target_text(mode: str, verdict: str) -> str:
    if mode == "stateless":
        return {
            "adequate": f">= {TARGETS['adequacy']:.0%}",
            "under": f"<= {TARGETS['under_provisioning']:.0%}",
            "over": f"<= {TARGETS['over_provisioning']:.0%}",
        }.get(verdict, "")
    if verdict == "adequate":
        return f">= {TARGETS['swap_aware_adequacy']:.0%}"
    return ""


def _calibration_groups(columns: Sequence[Column]) -> list[tuple[str, list[tuple[float, bool]]]]:
    """Out-of-fold decisions pooled over the cross-validated sets, then each never-tuned-on set."""
    cv = [p for c in columns if c.method.endswith("CV") for p in c.calibration]
    groups = [(f"{', '.join(c.label for c in columns if c.method.endswith('CV'))} CV", cv)] if cv else []
    groups += [(f"{c.label} (never tuned on)", list(c.calibration)) for c in columns if c.method == "never tuned on"]
    return groups or [(f"{c.label} ({c.method})", list(c.calibration)) for c in columns]
