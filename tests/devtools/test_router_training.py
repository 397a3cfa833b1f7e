"""Training the need model: weights file round trip, folds, calibration, the held-out file."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from variet.devtools import router_training
from variet.devtools.router_eval import Example
from variet.devtools.router_training import (
    HOLDOUT_FILES,
    Hyperparameters,
    featurize,
    folds,
    isotonic,
    need_index,
    out_of_fold,
    train,
)
from variet.router.model import FORMAT, NEEDS, TierModel

QUICK = Hyperparameters(iterations=40, folds=3, min_count=1)
LABELS = {
    "easy": ("fast", "balanced"),
    "hard reasoning": ("deep-logic", "ultra"),
    "hard code": ("deep-coder", "ultra"),
}
TASKS = [
    ("hi there", "easy"),
    ("what's the capital of Peru", "easy"),
    ("thanks, see you Monday", "easy"),
    ("Prove that sqrt(3) is irrational.", "hard reasoning"),
    ("Prove that there are infinitely many primes.", "hard reasoning"),
    ("Show by induction that 2^n > n for all n.", "hard reasoning"),
    ("Fix the deadlock in this thread pool shutdown.", "hard code"),
    ("Port this parser from Python to Rust with tests.", "hard code"),
    ("Our Go service leaks goroutines under load; fix it.", "hard code"),
]


def _examples() -> list[Example]:
    return [
        Example(id=f"t-{i}", prompt=prompt, acceptable=LABELS[need], preferred=LABELS[need][0])
        for i, (prompt, need) in enumerate(TASKS)
    ]


def test_every_label_of_the_rule_maps_to_its_need() -> None:
    names = [need.name for need in NEEDS]

    assert need_index(("fast", "balanced")) == names.index("easy")
    assert need_index(("balanced", "deep-logic")) == names.index("medium reasoning")
    assert need_index(("deep-coder", "deep-logic", "ultra")) == names.index("hard code or reasoning")
    assert need_index(("ultra",)) == names.index("expert")


def test_a_trained_model_round_trips_through_its_weights_file(tmp_path: Path) -> None:
    examples = _examples()
    model = train([featurize(e.prompt) for e in examples], [need_index(e.acceptable) for e in examples], QUICK)
    path = tmp_path / "model.npz"

    model.with_calibration(((0.2, 0.9), (0.3, 0.8))).save(path)
    loaded = TierModel.load(path)

    assert loaded.info["format"] == FORMAT
    assert loaded.calibration == ((0.2, 0.9), (0.3, 0.8))
    for example in examples:
        named = featurize(example.prompt)
        assert np.allclose(loaded.predict(named).probabilities, model.predict(named).probabilities, atol=2e-3)
    assert loaded.predict(featurize("Prove that 2 is prime.")).probabilities[need_index(LABELS["hard reasoning"])] > 0.5


def test_a_weights_file_for_other_features_is_refused(tmp_path: Path) -> None:
    examples = _examples()
    model = train([featurize(e.prompt) for e in examples], [need_index(e.acceptable) for e in examples], QUICK)
    model.info["features"] = -1
    path = tmp_path / "old.npz"
    model.save(path)
    bad = np.load(path)
    arrays = {name: bad[name] for name in bad.files}
    info = b'{"features": -1, "format": "variet-tier-model/1", "needs": []}'
    arrays["info"] = np.frombuffer(info, dtype=np.uint8)
    np.savez(path, **arrays)

    with pytest.raises(ValueError, match="retrain"):
        TierModel.load(path)


def test_training_is_deterministic() -> None:
    examples = _examples()
    named = [featurize(e.prompt) for e in examples]
    needs = [need_index(e.acceptable) for e in examples]

    first, again = train(named, needs, QUICK), train(named, needs, QUICK)

    assert first.predict(named[0]) == again.predict(named[0])


def test_folds_never_put_one_prompt_on_both_sides() -> None:
    examples = _examples()
    twice = [*examples, Example(id="dup", prompt=examples[0].prompt, acceptable=("fast",), preferred="fast")]

    fold_of = folds(twice, 3, seed=13)
    models, model_fold_of = out_of_fold(twice, QUICK)

    assert fold_of[0] == fold_of[-1]
    assert sorted(set(fold_of)) == [0, 1, 2]
    assert model_fold_of == fold_of
    for fold, model in enumerate(models):
        assert model.info["tasks"] == sum(f != fold for f in fold_of)


def test_isotonic_calibration_is_monotone_and_never_certain() -> None:
    xs = [0.1, 0.2, 0.3, 0.6, 0.7, 0.9, 0.95, 0.99]
    outcomes = [False, False, True, False, True, True, True, True]

    knots_x, knots_y = isotonic(xs, outcomes)

    assert knots_x == sorted(knots_x) and knots_y == sorted(knots_y)
    assert 0.0 < knots_y[0] and knots_y[-1] < 1.0


@pytest.mark.parametrize("held_out", HOLDOUT_FILES, ids=lambda path: path.name)
def test_the_training_script_refuses_a_held_out_file(held_out: Path) -> None:
    with pytest.raises(SystemExit):
        router_training.main(["--no-dev-set", "--data", str(held_out), "--out", "/dev/null"])
