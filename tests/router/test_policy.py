"""The routing policy, through `route` and `explain_policy`."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from variet.router import RouteDecision, RouteHints, default_tiers, explain_policy, route
from variet.router.model import NEEDS, TierModel
from variet.shared.config import RouterSettings
from variet.shared.tiers import load_tiers

STACK_TRACE = """Our nightly import job started failing after the upgrade. What is wrong and how do I fix it?

Traceback (most recent call last):
  File "/srv/jobs/importer.py", line 88, in <module>
    main()
  File "/srv/jobs/importer.py", line 71, in main
    rows = load_rows(path)
  File "/srv/jobs/importer.py", line 42, in load_rows
    return [Row(**r) for r in csv.DictReader(fh)]
TypeError: Row.__init__() got an unexpected keyword argument 'customer_id'
"""
PROOF = "Prove that the sum of the first n odd numbers is n squared."
EASY = ["what's the capital of Portugal?", "docker: list running containers", "Reply to Sam: thanks, see you Monday."]
SCRIPT = (
    "Write a bash script that backs up ~/notes into a dated tar.gz, skips the run if today's backup exists, "
    "and deletes backups older than 14 days."
)
HARD_CODE = """Our CI hangs on the integration tests since the upgrade. faulthandler shows the main thread in
pool.shutdown() joining the workers while holding self._lock, and a worker blocked in submit(), which takes
the same lock and then waits on a Condition built on it. Where is the deadlock and how do I restructure
the pool so shutdown can never hang?"""
TRIANGLE = "The vertices of a triangle are at (1, 2), (7, 5) and (4, 11). Find the area and the circumradius."
EMAIL = (
    "Write a polite email to our landlord asking to fix the heating; mention it has been broken for two weeks "
    "and that we have reported it twice already."
)


def test_a_pasted_stack_trace_goes_to_a_coding_tier() -> None:
    decision = route(STACK_TRACE)

    assert decision.domain == "code"
    assert decision.tier in {"balanced", "deep-coder"}
    assert decision.difficulty != "easy"


def test_a_quick_prefix_keeps_a_short_question_on_the_fast_tier() -> None:
    decision = route("quick: what's the git command to rename the current branch?")

    assert decision.tier == "fast"


def test_quick_inside_a_sentence_is_not_a_hint() -> None:
    assert (
        route("Add a VS Code quick pick that lists the tiers").difficulty
        == route("Add a VS Code picker that lists the tiers").difficulty
    )


def test_a_proof_goes_to_deep_logic() -> None:
    decision = route(PROOF)

    assert (decision.tier, decision.domain, decision.difficulty) == ("deep-logic", "math", "hard")
    assert route(PROOF, loaded_tier="deep-coder").tier == "deep-logic"


@pytest.mark.parametrize(
    "proof",
    [
        "유클리드 호제법이 항상 종료된다는 것을 증명해줘.",
        "Beweise, dass die Quadratwurzel von 2 irrational ist.",
        "Démontrez que la suite u_n = 1/n converge vers 0.",
        "Докажите, что n^3 - n делится на 6 для любого целого n.",
    ],
)
def test_a_request_for_a_proof_in_another_language_goes_to_a_reasoning_tier(proof: str) -> None:
    assert route(proof).tier in {"deep-logic", "ultra"}


def test_an_explicit_request_for_the_best_answer_goes_to_ultra() -> None:
    decision = route(
        "Give me the best answer you can, this matters: design the backup strategy for our Postgres "
        "cluster across two regions, with recovery objectives, failover drills and costs."
    )

    assert decision.tier == "ultra"
    assert any('"best answer"' in reason for reason in decision.reasons), decision.reasons


def test_a_loaded_adequate_tier_is_kept() -> None:
    decision = route("what's the capital of Portugal?", loaded_tier="balanced")

    assert decision.tier == "balanced"
    assert decision.needs_swap is False
    assert decision.reasons[0].startswith("stay on loaded balanced")


def test_a_loaded_tier_that_cannot_do_the_task_is_swapped_out() -> None:
    decision = route(PROOF, loaded_tier="fast")

    assert decision.tier == "deep-logic"
    assert decision.needs_swap is True


def test_the_margin_weighs_time_never_quality() -> None:
    stay_anyway = RouterSettings(stay_margin=1.0)

    assert route(EMAIL, loaded_tier="ultra").tier == "balanced"
    assert route(EMAIL, loaded_tier="ultra", hints=stay_anyway).tier == "balanced"
    assert route(PROOF, loaded_tier="balanced", hints=stay_anyway).tier in {"deep-logic", "ultra"}


def test_an_adequate_loaded_tier_is_kept_unless_a_swap_saves_the_margin() -> None:
    kept = route(HARD_CODE, loaded_tier="ultra")
    never_stay = route(HARD_CODE, loaded_tier="ultra", hints={"stay_margin": 0.0})

    assert (kept.tier, kept.needs_swap) == ("ultra", False)
    assert kept.reasons[0].startswith("stay on loaded ultra")
    assert never_stay.tier == "deep-coder"


@pytest.mark.parametrize("loaded", ["fast", "balanced", "deep-coder", "deep-logic", "ultra"])
@pytest.mark.parametrize(
    ("task", "acceptable"),
    [
        (EASY[0], {"fast", "balanced"}),
        ("Reply to Sam: thanks, see you Monday.", {"fast", "balanced"}),
        (PROOF, {"deep-logic", "ultra"}),
        (HARD_CODE, {"deep-coder", "ultra"}),
        (TRIANGLE, {"deep-logic", "ultra"}),
    ],
)
def test_swap_aware_never_stays_on_an_inadequate_loaded_tier(task: str, acceptable: set[str], loaded: str) -> None:
    assert route(task, loaded_tier=loaded).tier in acceptable


STREAM = ["what's the capital of Portugal?", "Explain what a Python generator is, with a short example.", SCRIPT,
          EMAIL, "Summarise the difference between TCP and UDP for a junior developer."]
"""Tasks balanced does well (the quick ones fast does too, and faster): no swap is worth it once it is loaded."""


def test_a_stream_stays_on_the_loaded_tier_while_it_is_adequate() -> None:
    loaded = "balanced"
    swaps = 0
    for task in STREAM:
        decision = route(task, loaded_tier=loaded)
        swaps += decision.needs_swap
        loaded = decision.tier

    assert swaps == 0
    assert loaded == "balanced"


def test_the_same_stream_swaps_more_without_knowing_the_loaded_tier() -> None:
    tasks = STREAM
    stateless = [route(task).tier for task in tasks]

    assert sum(a != b for a, b in itertools.pairwise(stateless)) >= 2


def test_a_pinned_tier_wins() -> None:
    decision = route(PROOF, hints={"pinned_tier": "fast"}, loaded_tier="deep-logic")

    assert decision.tier == "fast"
    assert decision.pinned is True
    assert decision.confidence == 1.0
    assert decision.needs_swap is True
    assert decision.reasons[0] == "pinned to fast"


def test_a_pinned_tier_may_be_named_by_an_alias() -> None:
    assert route("hi", hints=RouterSettings(pinned_tier="qwen-122b")).tier == "ultra"


def test_an_unknown_pinned_tier_is_refused_with_the_valid_names() -> None:
    with pytest.raises(ValueError, match="valid tiers: fast, balanced, deep-coder, deep-logic, ultra"):
        route("hi", hints={"pinned_tier": "gigantic"})


def test_an_unknown_loaded_tier_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown loaded tier 'tiny'"):
        route("hi", loaded_tier="tiny")


def test_unknown_hints_and_context_keys_are_refused() -> None:
    with pytest.raises(ValueError, match="valid hints"):
        route("hi", hints={"pin": "fast"})
    with pytest.raises(ValueError, match="'messages' and 'chars'"):
        route("hi", context={"turns": 3})
    with pytest.raises(ValueError, match="stay_margin"):
        route("hi", hints={"stay_margin": -1})


def test_expected_seconds_are_the_swap_plus_the_answer_at_the_tier_speed() -> None:
    tiers = default_tiers().tiers
    cold = route(PROOF)
    warm = route(PROOF, loaded_tier="deep-logic")
    speed = tiers["deep-logic"].tokens_per_second

    assert warm.expected_seconds == pytest.approx(warm.output_tokens / speed, abs=0.01)
    swap = tiers["deep-logic"].load_seconds
    assert cold.expected_seconds == pytest.approx(swap + cold.output_tokens / speed, abs=0.01)


def test_answers_are_expected_longer_for_harder_tasks_and_capped_by_max_output_tokens() -> None:
    easy, hard = route("what's the capital of Portugal?"), route(PROOF)

    assert easy.output_tokens < hard.output_tokens
    assert route(PROOF, hints={"max_output_tokens": 50}).output_tokens == 50
    assert route(PROOF, hints={"expected_output_tokens": 800}).output_tokens == 2 * hard.output_tokens


def test_a_conversation_too_long_for_the_deep_tiers_goes_to_one_that_holds_it() -> None:
    decision = route(PROOF, context={"messages": 40, "chars": 200_000})

    assert decision.tier == "balanced"
    assert "only fast, balanced hold" in decision.reasons[0]


def test_a_long_conversation_makes_a_short_follow_up_count_for_more() -> None:
    alone = route("and for the other file?")
    deep_in = route("and for the other file?", context={"messages": 24, "chars": 30_000})

    assert deep_in.reasons[2] != alone.reasons[2]
    assert "earlier messages" in deep_in.reasons[2]


def test_decisions_are_deterministic() -> None:
    tasks = [STACK_TRACE, PROOF, *EASY, "Design a schema for a library app."]
    loaded_tiers = (None, "fast", "ultra")
    fresh_catalogue = load_tiers(default_tiers().source or "")

    first = [route(task, loaded_tier=loaded) for task in tasks for loaded in loaded_tiers]
    again = [route(task, loaded_tier=loaded) for task in tasks for loaded in loaded_tiers]
    other = [route(task, loaded_tier=loaded, tiers=fresh_catalogue) for task in tasks for loaded in loaded_tiers]

    assert first == again == other


def test_a_decision_explains_itself() -> None:
    decision = route(PROOF)

    assert isinstance(decision, RouteDecision)
    assert decision.tier in decision.reasons[0]
    assert "p adequate" in decision.reasons[0]
    assert decision.reasons[1].startswith("model: hard reasoning")
    assert decision.reasons[2].startswith("signals: math, hard")
    assert "tok/s" in decision.reasons[-1]
    assert 0.0 < decision.confidence <= 1.0
    assert decision.as_dict()["adequate"] == decision.adequate
    assert dict(decision.adequacy)["deep-logic"] > 0.9


def test_route_hints_accept_the_router_settings() -> None:
    hints = RouteHints.of(RouterSettings(stay_margin=0.5, pinned_tier="fast", expected_output_tokens=300))

    assert hints == RouteHints(pinned_tier="fast", stay_margin=0.5, expected_output_tokens=300)


def test_explain_policy_describes_tiers_strengths_and_settings() -> None:
    policy = explain_policy(settings=RouterSettings(stay_margin=0.4))

    names = [tier["name"] for tier in policy["tiers"]]
    assert names == ["fast", "balanced", "deep-coder", "deep-logic", "ultra"]
    assert "math" in policy["tiers"][3]["strengths"]
    assert policy["settings"]["stay_margin"] == 0.4
    assert policy["output_tokens"]["hard"]["code"] > policy["output_tokens"]["easy"]["code"]
    assert any("stay_margin" in rule for rule in policy["rules"])


def test_plainly_phrased_hard_maths_goes_to_deep_logic_or_higher() -> None:
    tasks = [
        TRIANGLE,
        "Extract all unique variable names from these equations and sort them: 3a + 2bc - d = 7, y = m*x + c, "
        "F = G m1 m2 / r^2, theta = 2*pi*r / lambda",
        "How many positive integers less than 1000 are divisible by 7 but not by 11 or 13?",
    ]

    assert [route(task).tier in {"deep-logic", "ultra"} for task in tasks] == [True] * len(tasks)


def test_everyday_hard_engineering_goes_to_a_deep_coding_tier() -> None:
    port = (
        "Port this recursive-descent parser from Python to Rust, keep the error messages with line and column "
        "identical, and return a Result instead of raising. No external crates.\n\n```python\n"
        "class Parser:\n    def expr(self):\n        left = self.term()\n"
        "        while self.peek().kind in ('PLUS', 'MINUS'):\n"
        "            op = self.expect(self.peek().kind)\n            left = BinOp(op.kind, left, self.term())\n"
        "        return left\n```"
    )

    assert route(HARD_CODE).tier in {"deep-coder", "ultra"}
    assert route(port).tier in {"deep-coder", "ultra"}


def test_a_short_code_completion_does_not_go_to_ultra() -> None:
    stubs = [
        'def below_zero(operations: list[int]) -> bool:\n    """Return True if a running balance starting at 0 '
        'ever falls below zero.\n    >>> below_zero([1, 2, -4, 5])\n    True\n    """\n',
        "Complete the following Python code:\n\ndef average(xs):\n    if not xs:\n        return 0\n",
        "```go\n// Max returns the largest element of xs; ok is false for an empty slice.\n"
        "func Max(xs []int) (m int, ok bool) {\n```",
    ]

    assert [route(stub).tier for stub in stubs if route(stub).tier in {"ultra", "deep-logic"}] == []


def test_confidence_is_lower_for_an_ambiguous_task() -> None:
    clear = [route(PROOF), route("hey, morning!"), route(HARD_CODE)]
    mixed = route("Write a Python function that checks whether a number is prime, and prove that it is correct.")

    assert mixed.confidence < min(d.confidence for d in clear)


def _fixed(probabilities: dict[str, float]) -> TierModel:
    """A model that says the same about every task."""
    bias = np.log(np.asarray([probabilities.get(need.name, 1e-9) for need in NEEDS], dtype=np.float32))
    return TierModel([], np.zeros((0, len(NEEDS)), dtype=np.float32), bias, ((), ()), {})


def test_when_unsure_the_policy_goes_up_not_down() -> None:
    sure = _fixed({"easy": 0.97, "hard reasoning": 0.03})
    unsure = _fixed({"easy": 0.6, "hard reasoning": 0.4})
    between_code_needs = _fixed({"medium code": 0.5, "hard code": 0.5})

    assert route("anything", model=sure).tier in {"fast", "balanced"}
    assert route("anything", model=unsure).tier == "deep-logic"
    assert route("anything", model=between_code_needs).tier == "deep-coder"


def test_among_tiers_equally_likely_adequate_the_fastest_is_chosen() -> None:
    easy = _fixed({"easy": 0.999})
    hard_code = _fixed({"hard code": 0.999})

    assert route("anything", model=easy).tier == "fast"
    assert route("anything", model=hard_code).tier == "deep-coder"


def test_the_stated_confidence_is_the_calibrated_probability_of_adequacy() -> None:
    model = _fixed({"hard reasoning": 0.9, "easy": 0.1}).with_calibration(((0.0, 1.0), (0.2, 0.6)))

    decision = route("anything", model=model)

    assert decision.p_adequate == pytest.approx(0.9, abs=1e-3)
    assert decision.confidence == pytest.approx(0.2 + 0.4 * 0.9, abs=1e-3)


def test_without_a_tier_shallow_enough_an_easy_ask_goes_to_the_shallowest_that_can_do_it() -> None:
    packaged = default_tiers()
    no_fast = packaged.model_copy(update={"tiers": {k: v for k, v in packaged.tiers.items() if k != "fast"}})

    assert route("How many grams are in a kilogram?", tiers=no_fast).tier == "balanced"
    assert explain_policy(no_fast)["needs"]["trivial"] == ["balanced"]
