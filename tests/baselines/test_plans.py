"""The balanced plan: every task its runs, nobody a task twice, the load as even as it can be.

Random instances (fixed seeds) are checked against the rules, and small ones against every
possible plan, found by brute force: the plan's loads must be the most even any plan reaches.
"""

import itertools
import random

import pytest

from baselines.errors import DomainError
from baselines.plans import balanced_plan, loads


def spread(plan, experts, load=None) -> int:
    totals = loads(plan, load)
    values = [totals.get(e, 0) for e in experts]
    return max(values) - min(values)


def check_rules(plan, tasks, k, experts, existing=None) -> None:
    existing = existing or {}
    assert len(plan) == len(set(plan)), "an expert got a task twice"
    for task in tasks:
        assert sum(1 for t, _ in plan if t == task) == k
    for task, e in plan:
        assert e in experts
        assert task not in existing.get(e, set())


def test_each_task_gets_its_runs_from_different_experts() -> None:
    plan = balanced_plan(["a", "b", "c"], 2, [3, 1, 2])
    check_rules(plan, ["a", "b", "c"], 2, [1, 2, 3])
    assert loads(plan) == {1: 2, 2: 2, 3: 2}
    assert plan == sorted(plan)  # task order, then expert id


def test_ties_go_to_the_lower_id_and_the_same_input_gives_the_same_plan() -> None:
    assert balanced_plan(["only"], 1, [7, 3, 5]) == [("only", 3)]
    tasks, experts = ["a", "b", "c", "d", "e"], [9, 4, 6, 2]
    assert balanced_plan(tasks, 2, experts) == balanced_plan(tasks, 2, list(reversed(experts)))


def test_existing_assignments_are_never_repeated() -> None:
    existing = {1: {"a"}, 2: {"b"}}
    plan = balanced_plan(["a", "b"], 1, [1, 2], existing)
    assert plan == [("a", 2), ("b", 1)]


def test_a_greedy_corner_is_avoided() -> None:
    """Greedy in task order gives 'a' to expert 1 (a tie) and then 'b' to 1 as well (the only one
    who can take it); the plan instead gives 'a' to 2."""
    plan = balanced_plan(["a", "b"], 1, [1, 2], existing={2: {"b"}})
    assert plan == [("a", 2), ("b", 1)]


def test_loads_are_evened_out() -> None:
    plan = balanced_plan(["a", "b", "c"], 1, [1, 2, 3], load={1: 2, 2: 1})
    assert loads(plan, {1: 2, 2: 1}) == {1: 2, 2: 2, 3: 2}
    assert [e for _, e in plan].count(1) == 0


def test_a_heavily_loaded_expert_gets_nothing_while_the_others_level_up() -> None:
    load = {1: 10}
    plan = balanced_plan(["a", "b", "c", "d"], 1, [1, 2, 3], load=load)
    assert loads(plan, load) == {1: 10, 2: 2, 3: 2}


@pytest.mark.parametrize(
    ("tasks", "k", "experts", "existing", "words"),
    [
        (["a"], 3, [1, 2], {}, "3 runs per task need 3 different experts; only 2 are chosen"),
        (["a"], 2, [1], {}, "only 1 is chosen"),
        (["a", "b"], 2, [1, 2, 3], {1: {"b"}, 2: {"b"}}, "b (1 of the chosen experts can take"),
        ([], 1, [1], {}, "Choose at least one task"),
        (["a"], 1, [], {}, "Choose at least one expert"),
        (["a"], 0, [1], {}, "at least one run per task"),
        (["a", "a"], 1, [1, 2], {}, "Each task may be chosen once"),
        (["a"], 1, [1, 1], {}, "Each expert may be chosen once"),
    ],
)
def test_impossible_plans_say_why(tasks, k, experts, existing, words) -> None:
    with pytest.raises(DomainError) as caught:
        balanced_plan(tasks, k, experts, existing)
    assert words in caught.value.message


def test_random_instances_keep_the_rules_and_spread_within_one() -> None:
    rng = random.Random(20261127)
    for _ in range(200):
        experts = rng.sample(range(1, 60), rng.randint(1, 12))
        tasks = [f"family{i}/main" for i in range(rng.randint(1, 8))]
        k = rng.randint(1, len(experts))
        plan = balanced_plan(tasks, k, experts)
        check_rules(plan, tasks, k, experts)
        assert spread(plan, experts) <= 1, (tasks, k, experts)


def _best_spread_by_brute_force(tasks, k, experts, existing, load) -> tuple[int, int]:
    """(smallest sum of squared loads, smallest max - min) over every possible plan."""
    choices = [
        [c for c in itertools.combinations(experts, k) if not any(t in existing[e] for e in c)]
        for t in tasks
    ]
    best = None
    for pick in itertools.product(*choices):
        plan = [(t, e) for t, chosen in zip(tasks, pick, strict=True) for e in chosen]
        totals = loads(plan, load)
        values = [totals.get(e, 0) for e in experts]
        score = (sum(v * v for v in values), max(values) - min(values))
        best = score if best is None else (min(best[0], score[0]), min(best[1], score[1]))
    return best


def test_small_random_instances_are_as_even_as_any_plan() -> None:
    """Against every plan there is: the most even loads, also with existing assignments and
    open loads, and within one whenever some plan is."""
    rng = random.Random(7)
    checked = 0
    while checked < 150:
        experts = rng.sample(range(1, 20), rng.randint(2, 5))
        tasks = [f"t{i}" for i in range(rng.randint(1, 4))]
        k = rng.randint(1, min(2, len(experts)))
        existing = {e: {t for t in tasks if rng.random() < 0.3} for e in experts}
        load = {e: rng.choice([0, 0, 1, 2, 3]) for e in experts}
        try:
            plan = balanced_plan(tasks, k, experts, existing, load)
        except DomainError:
            assert any(sum(t not in existing[e] for e in experts) < k for t in tasks)
            continue
        check_rules(plan, tasks, k, experts, existing)
        best_squares, best_spread = _best_spread_by_brute_force(tasks, k, experts, existing, load)
        totals = loads(plan, load)
        assert sum(totals.get(e, 0) ** 2 for e in experts) == best_squares
        if best_spread <= 1:
            assert spread(plan, experts, load) <= 1
        checked += 1
