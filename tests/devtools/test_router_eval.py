"""The evaluation helpers and the benchmark, on small sets and on the shared development set."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from variet.devtools.router_eval import (
    TARGETS,
    Example,
    LabelledSet,
    calibration_table,
    evaluate,
    evaluate_sets,
    fewest_swaps,
    find_dev_set,
    judge,
    load_examples,
)
from variet.devtools.router_report import render
from variet.router import default_tiers
from variet.router.model import default_model

DEV_SET = find_dev_set()
needs_dev_set = pytest.mark.skipif(DEV_SET is None, reason="shared/router/dev-set.jsonl is not present")
DEPTH = {"fast": 0, "balanced": 1, "deep-coder": 2, "deep-logic": 2, "ultra": 3}
TIERS = ["fast", "balanced", "deep-coder", "deep-logic", "ultra"]


def _example(i: int, acceptable: tuple[str, ...], prompt: str = "") -> Example:
    return Example(id=f"t-{i}", prompt=prompt or f"task {i}", acceptable=acceptable, preferred=acceptable[0])


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


def test_the_fewest_swaps_count_what_an_always_adequate_policy_must_do() -> None:
    easy, hard_code, hard_logic = ("fast", "balanced"), ("deep-coder", "ultra"), ("deep-logic", "ultra")
    stream = [_example(i, labels) for i, labels in enumerate([easy, hard_code, hard_logic, hard_code, easy, easy])]

    assert fewest_swaps(stream, TIERS) == 2
    assert fewest_swaps([], TIERS) == 0


def test_a_stream_of_easy_tasks_never_swaps_with_the_swap_aware_policy() -> None:
    prompts = ["hi", "what's 2+2", "Translate 'thank you' into French", "weather in Oslo"] * 5
    examples = [_example(i, ("fast", "balanced"), prompt) for i, prompt in enumerate(prompts)]

    (column,) = evaluate(examples, timing_rounds=1).columns

    assert column.replays["swap-aware"].swaps == 0
    assert column.replays["swap-aware"].provisioning.share("adequate") == 1.0
    assert column.replays["always ultra"].provisioning.share("over") == 1.0


def test_cross_validated_columns_decide_each_task_with_the_model_of_its_fold() -> None:
    corpus = [_example(i, ("fast", "balanced"), f"say hello number {i}") for i in range(4)]
    packaged = default_model()
    asked: list[list[str]] = []

    def cross_validate(tasks: object) -> tuple[list[object], list[int]]:
        asked.append([e.prompt for e in corpus])
        return [packaged, packaged], [0, 1, 0, 1]

    result = evaluate_sets(
        [LabelledSet("mine", tuple(corpus), trained_on=True), LabelledSet("new", tuple(corpus[:1]), trained_on=False)],
        cross_validate=cross_validate,  # type: ignore[arg-type]
        corpus=corpus,
        folds=2,
        timing_rounds=1,
    )

    assert [(c.label, c.method) for c in result.columns] == [
        ("mine", "full set, tuned on"),
        ("mine", "2-fold CV"),
        ("new", "never tuned on"),
    ]
    assert [c.label for c, _ in result.targets] == ["mine", "new"]
    assert len(asked) == 1


def test_the_calibration_table_bins_stated_confidence_against_outcomes() -> None:
    points = [(0.95, True), (0.92, True), (0.91, False), (0.55, False), (0.52, True)]

    rows = calibration_table(points)

    assert [(low, count) for low, _high, count, _stated, _observed in rows] == [(0.5, 2), (0.9, 3)]
    assert rows[1][4] == pytest.approx(2 / 3)


def test_render_prints_the_tables_side_by_side_with_targets() -> None:
    examples = [_example(1, ("deep-logic", "ultra"), "Prove that 7 is prime.")]

    text = render(evaluate(examples, timing_rounds=1))

    headings = ("swap ratio", "oracle's fewest", "Baselines", "Calibration", "Decision time", "never tuned on")
    for heading in (*headings, "Targets"):
        assert heading in text


@needs_dev_set
def test_the_dev_set_meets_the_targets_with_the_packaged_model() -> None:
    assert DEV_SET is not None
    examples = load_examples(DEV_SET)

    result = evaluate(examples, tiers=default_tiers(), timing_rounds=3, source=str(DEV_SET), trained_on=True)

    (column,) = result.columns
    stateless, aware = column.replays["stateless"].provisioning, column.replays["swap-aware"].provisioning
    assert stateless.share("adequate") >= TARGETS["adequacy"]
    assert stateless.share("under") <= TARGETS["under_provisioning"]
    assert aware.share("adequate") >= TARGETS["swap_aware_adequacy"]
    assert aware.share("under") <= TARGETS["under_provisioning"]
    # The benchmark checks the 1 ms target; a test on a busy shared machine allows twice that.
    assert result.decision_cpu_ms[1] <= 2 * TARGETS["decision_p99_ms"]


@needs_dev_set
def test_the_benchmark_script_prints_the_tables() -> None:
    repo = Path(__file__).parents[2]
    assert DEV_SET is not None
    script = [sys.executable, "benchmarks/router_eval.py", str(DEV_SET), "--no-cv", "--rounds", "1"]

    done = subprocess.run(script, cwd=repo, capture_output=True, text=True, timeout=120, check=False)

    assert done.returncode == 0, done.stdout + done.stderr
    assert "swaps per 100 requests" in done.stdout
    assert "always ultra" in done.stdout
    assert "Calibration" in done.stdout
