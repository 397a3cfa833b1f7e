"""The learned part of the router: what a task needs, as probabilities, from a linear model over its features.

A task needs one of `NEEDS`: a difficulty, and for medium and hard tasks a specialty (code, reasoning, or
either); the easiest tasks are told apart by how deep a tier may be before it is over-provisioning. Each
need says which tiers are acceptable for it in terms of tier strengths and depth, so the same
probabilities serve any tier catalogue. The model is a multinomial logistic regression over the
named features of `variet.router.features`, trained by `variet.devtools.router_training` from labelled
tasks; its weights, vocabulary and confidence calibration live in one small `.npz` file, loaded once on
first use (numpy is imported then, not when the router is imported).
"""

from __future__ import annotations

import functools
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import repeat
from operator import itemgetter
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from variet.router.features import VERSION

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

__all__ = ["DEFAULT_MODEL_PATH", "FORMAT", "NEEDS", "Need", "Prediction", "TierModel", "default_model"]

DEFAULT_MODEL_PATH: Final = Path(__file__).parent / "data" / "tier-model.npz"
FORMAT: Final = "variet-tier-model/1"
"""Names the layout of the weights file; `TierModel.load` refuses any other."""


@dataclass(frozen=True, slots=True)
class Need:
    """What a task needs from a tier, and so which tiers are acceptable for it."""

    name: str
    difficulty: str
    """A tier must list this difficulty in its strengths."""
    specialties: frozenset[str] = frozenset()
    """A tier must list one of these domains (empty: any tier at the difficulty will do)."""
    deepest: int | None = None
    """The deepest tier depth still acceptable (None: no limit); deeper is gross over-provisioning."""

    def accepts(self, strengths: frozenset[str], depth: int) -> bool:
        """Whether a tier with these strengths and depth does the job without gross over-provisioning."""
        return (
            self.difficulty in strengths
            and (not self.specialties or bool(self.specialties & strengths))
            and (self.deepest is None or depth <= self.deepest)
        )


_NAME: Final = itemgetter(0)
_VALUE: Final = itemgetter(1)
_LOGIC: Final = frozenset({"reasoning", "math"})
NEEDS: Final = (
    Need("trivial", "easy", deepest=0),
    Need("easy", "easy", deepest=1),
    Need("medium", "medium", deepest=1),
    Need("medium code", "medium", frozenset({"code"}), deepest=2),
    Need("medium reasoning", "medium", _LOGIC, deepest=2),
    Need("hard code", "hard", frozenset({"code"})),
    Need("hard reasoning", "hard", _LOGIC),
    Need("hard code or reasoning", "hard", frozenset({"code"}) | _LOGIC),
    Need("expert", "expert"),
)
"""The needs the model tells apart, cheapest first. With the packaged tiers they are the labelling rule's
acceptable sets: trivial = fast (a lookup, a conversion, a calendar action: anything deeper is
over-provisioning); easy = fast or balanced; medium = balanced; medium code = balanced or deep-coder; medium
reasoning = balanced or deep-logic; hard code = deep-coder or ultra; hard reasoning = deep-logic or ultra;
hard code or reasoning = deep-coder, deep-logic or ultra; expert = ultra."""


@dataclass(frozen=True, slots=True)
class Prediction:
    """What the model says about one task."""

    probabilities: tuple[float, ...]
    """P(need) for each of `NEEDS`."""
    evidence: tuple[tuple[str, float], ...]
    """The features that pushed hardest towards the likeliest need, with their push in logits."""


class TierModel:
    """Need probabilities for a task's features, and the calibration of the router's confidence."""

    __slots__ = ("_calibration", "_index", "_padded", "_row_means", "_unknown", "_weights", "bias", "info", "needs")

    def __init__(
        self,
        vocabulary: Sequence[str],
        weights: npt.NDArray[np.float32],
        bias: npt.NDArray[np.float32],
        calibration: tuple[Sequence[float], Sequence[float]],
        info: dict[str, Any],
    ) -> None:
        """`weights` has one row per vocabulary name and one column per need; `calibration` maps a
        predicted probability of adequacy (ascending x) to the observed rate (y) on held-out folds."""
        import numpy as np

        self.needs: tuple[str, ...] = tuple(info.get("needs", [n.name for n in NEEDS]))
        if self.needs != tuple(n.name for n in NEEDS):
            raise ValueError(f"the weights are for needs {self.needs}, the router knows {[n.name for n in NEEDS]}")
        if weights.shape != (len(vocabulary), len(self.needs)) or bias.shape != (len(self.needs),):
            raise ValueError(f"weights {weights.shape} and bias {bias.shape} do not fit {len(vocabulary)} features")
        self._index = {name: i for i, name in enumerate(vocabulary)}
        self._weights = weights
        self._unknown = len(vocabulary)
        self._padded = np.vstack([weights, np.zeros((1, weights.shape[1]), dtype=weights.dtype)])
        self._row_means = np.append(weights.mean(axis=1), np.float32(0.0))
        self.bias = bias
        xs, ys = calibration
        if len(xs) != len(ys) or list(xs) != sorted(xs):
            raise ValueError("calibration points must be pairs with ascending x")
        self._calibration = (tuple(float(x) for x in xs), tuple(float(y) for y in ys))
        self.info = info

    @property
    def calibration(self) -> tuple[tuple[float, ...], tuple[float, ...]]:
        """The confidence calibration: predicted probabilities (ascending) and the observed rates."""
        return self._calibration

    @property
    def vocabulary_size(self) -> int:
        return len(self._index)

    def predict(self, named: Sequence[tuple[str, float]], *, top: int = 3) -> Prediction:
        """P(need) for each of `NEEDS` from a task's named features (unknown names are ignored), and the
        features that pushed hardest towards the likeliest need."""
        import numpy as np

        count = len(named)
        if not count:
            return Prediction(_softmax(self.bias), ())
        names = list(map(_NAME, named))
        # Unknown names map to a last, all-zero row; fromiter over C-level maps is the fast path.
        picked = np.fromiter(map(self._index.get, names, repeat(self._unknown)), dtype=np.intp, count=count)
        scaled = np.fromiter(map(_VALUE, named), dtype=np.float32, count=count)
        weights = self._padded.take(picked, axis=0)
        logits = self.bias + scaled @ weights
        need = int(logits.argmax())
        # Towards the likeliest need and away from the others: its weight above the row's mean.
        push = scaled * (weights[:, need] - self._row_means.take(picked))
        shown = min(top, count)
        strongest = np.argpartition(-push, shown - 1)[:shown] if shown < count else np.arange(count)
        ranked = sorted((-float(push[i]), int(i)) for i in strongest)
        evidence = tuple((names[i], round(-minus, 3)) for minus, i in ranked if minus < 0)
        return Prediction(_softmax(logits), evidence)

    def with_calibration(self, calibration: tuple[Sequence[float], Sequence[float]]) -> TierModel:
        """The same model with another confidence calibration."""
        vocabulary = sorted(self._index, key=self._index.__getitem__)
        return TierModel(vocabulary, self._weights, self.bias, calibration, self.info)

    def calibrated(self, probability: float) -> float:
        """The observed rate of adequate decisions at this predicted probability (piecewise linear)."""
        xs, ys = self._calibration
        if not xs:
            return probability
        if probability <= xs[0]:
            return ys[0]
        for i in range(1, len(xs)):
            if probability <= xs[i]:
                span = xs[i] - xs[i - 1]
                t = (probability - xs[i - 1]) / span if span else 1.0
                return ys[i - 1] + t * (ys[i] - ys[i - 1])
        return ys[-1]

    def save(self, path: Path) -> None:
        """Write the weights file: float16 weights, the vocabulary as UTF-8 lines, JSON metadata."""
        import numpy as np

        vocabulary = "\n".join(sorted(self._index, key=self._index.__getitem__))
        info = {**self.info, "format": FORMAT, "features": VERSION, "needs": list(self.needs)}
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("wb") as out:
            np.savez_compressed(
                out,
                vocabulary=np.frombuffer(vocabulary.encode("utf-8"), dtype=np.uint8),
                weights=self._weights.astype(np.float16),
                bias=self.bias.astype(np.float32),
                calibration=np.asarray(self._calibration, dtype=np.float64),
                info=np.frombuffer(json.dumps(info, sort_keys=True).encode("utf-8"), dtype=np.uint8),
            )

    @classmethod
    def load(cls, path: Path) -> TierModel:
        """Read a weights file written by `save`; refuses other formats and feature versions."""
        import numpy as np

        with np.load(path, allow_pickle=False) as data:
            info: dict[str, Any] = json.loads(data["info"].tobytes().decode("utf-8"))
            if info.get("format") != FORMAT or info.get("features") != VERSION:
                raise ValueError(
                    f"{path}: format {info.get('format')!r} with features v{info.get('features')}; "
                    f"the router reads {FORMAT!r} with features v{VERSION}: retrain the model"
                )
            vocabulary = data["vocabulary"].tobytes().decode("utf-8").split("\n")
            xs, ys = data["calibration"].astype(float).tolist()
            return cls(
                vocabulary,
                data["weights"].astype(np.float32),
                data["bias"].astype(np.float32),
                (xs, ys),
                info,
            )


def _softmax(logits: npt.NDArray[np.float32]) -> tuple[float, ...]:
    shifted = [math.exp(x) for x in (logits - logits.max()).tolist()]
    total = sum(shifted)
    return tuple(x / total for x in shifted)


@functools.cache
def default_model() -> TierModel:
    """The packaged model, read once."""
    return TierModel.load(DEFAULT_MODEL_PATH)
