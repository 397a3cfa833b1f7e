"""The learned need model and its features, through `variet.router.model` and `variet.router.features`."""

from __future__ import annotations

import subprocess
import sys

import pytest

from variet.router import assess, explain_policy, read_signals
from variet.router.features import VERSION, features
from variet.router.model import DEFAULT_MODEL_PATH, FORMAT, NEEDS, default_model


def test_the_packaged_weights_load_and_name_their_format() -> None:
    model = default_model()

    assert model.info["format"] == FORMAT
    assert model.info["features"] == VERSION
    assert model.needs == tuple(need.name for need in NEEDS)
    assert model.vocabulary_size > 1000
    assert DEFAULT_MODEL_PATH.stat().st_size < 512 * 1024
    xs, ys = model.calibration
    assert list(xs) == sorted(xs) and list(ys) == sorted(ys)


def test_importing_the_router_loads_neither_numpy_nor_the_weights() -> None:
    probe = "import sys, variet.router; print('numpy' in sys.modules)"

    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=True)

    assert done.stdout.strip() == "False"


def test_each_need_names_the_labelling_rules_acceptable_tiers() -> None:
    assert explain_policy()["needs"] == {
        "trivial": ["fast"],
        "easy": ["fast", "balanced"],
        "medium": ["balanced"],
        "medium code": ["balanced", "deep-coder"],
        "medium reasoning": ["balanced", "deep-logic"],
        "hard code": ["deep-coder", "ultra"],
        "hard reasoning": ["deep-logic", "ultra"],
        "hard code or reasoning": ["deep-coder", "deep-logic", "ultra"],
        "expert": ["ultra"],
    }


def test_features_cover_words_pieces_code_and_signals_and_stay_bounded() -> None:
    task = "Why does this deadlock?\n```python\nwith lock:\n    queue.put(item)\n```"
    signals = read_signals(task)
    names = dict(features(signals, assess(signals)))

    assert {"w|deadlock", "h|why", "g|dead", "k|lock", "s|code_blocks", "s|lang:python"} <= set(names)
    huge = read_signals(" ".join(f"word{i} lorem ipsum dolor" for i in range(20_000)))
    assert len(features(huge, assess(huge))) < 600


def test_a_prediction_is_a_distribution_and_ignores_unknown_features() -> None:
    model = default_model()
    signals = read_signals("Prove that there are infinitely many primes.")
    named = features(signals, assess(signals))

    known = model.predict(named)
    padded = model.predict([*named, ("w|zzzz-never-seen", 1.0)])

    assert sum(known.probabilities) == pytest.approx(1.0)
    assert known == padded
    assert known.evidence and all(push > 0 for _, push in known.evidence)
