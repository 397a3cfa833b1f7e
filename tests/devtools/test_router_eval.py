"""The evaluation helpers and the benchmark, on the shared development set."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from variet.devtools.router_eval import TARGETS, Example, evaluate, judge, load_examples
from variet.devtools.router_report import render
from variet.router import default_tiers

DEV_SET = Path(__file__).parents[2].parent / "shared/router/dev-set.jsonl"
needs_dev_set = pytest.mark.skipif(not DEV_SET.exists(), reason=f"{DEV_SET} is not present")
DEPTH = {"fast": 0, "balanced": 1, "deep-coder": 2, "deep-logic": 2, "ultra": 3}


def test_judge_tells_adequate_under_over_and_wrong_specialty_apart() -> None:
    assert judge("balanced", ["fast", "balanced"], DEPTH) == "adequate"
    assert judge("fast", ["deep-logic", "ultra"], DEPTH) == "under"
    assert judge("ultra", ["fast", "balanced"], DEPTH) == "over"
    assert judge("deep-coder", ["deep-logic", "ultra"], DEPTH) == "specialty"


def test_load_examples_names_the_line_of_a_bad_row(tmp_path: Path) -> None:
    data = tmp_path / "set.jsonl"
    data.write_text(json.dumps({"prompt": "hi", "acceptable": ["fast"]}) + '\n{"prompt": "no tiers"}\n')

    with pytest.raises(ValueError, match=r"set\.jsonl:2"):
        load_examples(data)


def test_a_stream_of_easy_tasks_never_swaps_with_the_swap_aware_policy() -> None:
    examples = [
        Example(id=f"t-{i}", prompt=prompt, acceptable=("fast", "balanced"), preferred="fast")
        for i, prompt in enumerate(["hi", "what's 2+2", "Translate 'thank you' into French", "weather in Oslo"] * 5)
    ]

    result = evaluate(examples, timing_rounds=1)

    assert result.replays["swap-aware"].swaps == 0
    assert result.replays["swap-aware"].provisioning.share("adequate") == 1.0
    assert result.replays["always ultra"].provisioning.share("over") == 1.0


@needs_dev_set
def test_the_dev_set_meets_the_targets() -> None:
    examples = load_examples(DEV_SET)

    result = evaluate(examples, tiers=default_tiers(), timing_rounds=3, source=str(DEV_SET))

    figures = {t.name: t for t in result.targets}
    assert figures["adequacy"].value >= TARGETS["adequacy"]
    assert figures["under-provisioning"].value <= TARGETS["under_provisioning"]
    assert figures["swaps swap-aware/stateless"].value <= TARGETS["swap_ratio"]
    assert figures["latency router/always-ultra, fixed length"].value <= TARGETS["latency_ratio"]
    assert figures["decision p99 ms (CPU)"].value <= TARGETS["decision_p99_ms"]
    assert result.splits["even"].share("adequate") >= 0.9
    assert result.splits["odd"].share("adequate") >= 0.9
    assert result.replays["swap-aware"].provisioning.under == 0


@needs_dev_set
def test_the_benchmark_script_prints_the_tables_and_succeeds() -> None:
    repo = Path(__file__).parents[2]
    script = [sys.executable, "benchmarks/router_eval.py", "../shared/router/dev-set.jsonl", "--rounds", "1"]

    done = subprocess.run(script, cwd=repo, capture_output=True, text=True, timeout=120, check=False)

    assert done.returncode == 0, done.stdout + done.stderr
    assert "swaps per 100 requests" in done.stdout
    assert "always ultra" in done.stdout
    assert "FAIL" not in done.stdout.splitlines()[-1]


def test_render_marks_targets() -> None:
    examples = [Example(id="a-1", prompt="Prove that 7 is prime.", acceptable=("deep-logic",), preferred="deep-logic")]

    text = render(evaluate(examples, timing_rounds=1))

    assert "adequate" in text and "pass" in text
