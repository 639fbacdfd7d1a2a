"""A balanced plan: which expert takes which task, so every task gets its runs and nobody more
than their share.

Each task needs ``runs_per_task`` different experts, none of whom has it already. An expert may
take any number of tasks, so a plan exists exactly when every task has that many eligible
experts; the work is spreading the load. The plan minimises the sum of the squared loads
(open assignments plus planned ones): that keeps every load within one of the others whenever
any plan can, and otherwise fills the least loaded first, as water levels out. It is found as a
minimum-cost flow (task -> expert -> sink, the n-th task an expert takes costing their load
then), which unlike a greedy pass never paints itself into a corner; ties go to the lower id.
"""

from collections import deque
from collections.abc import Sequence

from baselines.errors import DomainError


class _Flow:
    """A small residual graph for successive shortest paths (Bellman-Ford with a queue, since
    residual edges have negative costs)."""

    def __init__(self, nodes: int) -> None:
        # Each edge: [to, capacity left, cost, index of the reverse edge in graph[to]].
        self.graph: list[list[list[int]]] = [[] for _ in range(nodes)]

    def add(self, u: int, v: int, capacity: int, cost: int) -> None:
        self.graph[u].append([v, capacity, cost, len(self.graph[v])])
        self.graph[v].append([u, 0, -cost, len(self.graph[u]) - 1])

    def push_one(self, source: int, sink: int) -> bool:
        """Send one unit along the cheapest path; False when no path is left."""
        n = len(self.graph)
        dist: list[int | None] = [None] * n
        back: list[tuple[int, int] | None] = [None] * n
        dist[source] = 0
        queue, queued = deque([source]), [False] * n
        queued[source] = True
        while queue:
            u = queue.popleft()
            queued[u] = False
            for i, (v, capacity, cost, _) in enumerate(self.graph[u]):
                if capacity and (dist[v] is None or dist[u] + cost < dist[v]):
                    dist[v], back[v] = dist[u] + cost, (u, i)
                    if not queued[v]:
                        queue.append(v)
                        queued[v] = True
        if dist[sink] is None:
            return False
        v = sink
        while v != source:
            u, i = back[v]
            edge = self.graph[u][i]
            edge[1] -= 1
            self.graph[v][edge[3]][1] += 1
            v = u
        return True


def _check(
    tasks: Sequence[str],
    runs_per_task: int,
    experts: Sequence[int],
    existing: dict[int, set[str]],
) -> None:
    if not tasks:
        raise DomainError("Choose at least one task.", field="tasks")
    if len(set(tasks)) != len(tasks):
        raise DomainError("Each task may be chosen once.", field="tasks")
    if runs_per_task < 1:
        raise DomainError("Plan at least one run per task.", field="runs_per_task")
    if not experts:
        raise DomainError("Choose at least one expert.", field="experts")
    if len(set(experts)) != len(experts):
        raise DomainError("Each expert may be chosen once.", field="experts")
    if runs_per_task > len(experts):
        raise DomainError(
            f"{runs_per_task} runs per task need {runs_per_task} different experts; only "
            f"{len(experts)} {'is' if len(experts) == 1 else 'are'} chosen.",
            field="runs_per_task",
        )
    short = []
    for task in tasks:
        free = sum(1 for e in experts if task not in existing.get(e, ()))
        if free < runs_per_task:
            short.append(f"{task} ({free} of the chosen experts can take it)")
    if short:
        raise DomainError(
            f"Not enough experts without the task already for {runs_per_task} runs each: "
            + "; ".join(short)
            + ".",
            field="experts",
        )


def balanced_plan(
    tasks: list[str],
    runs_per_task: int,
    experts: list[int],
    existing: dict[int, set[str]] | None = None,
    load: dict[int, int] | None = None,
) -> list[tuple[str, int]]:
    """(task, expert id) pairs: every task ``runs_per_task`` times, never to an expert who has it
    in ``existing`` or twice in the plan, the loads (``load`` plus planned) as even as they can
    be. The same input always gives the same plan, in task order then expert id. A DomainError
    says why when no plan exists."""
    existing = existing or {}
    load = load or {}
    _check(tasks, runs_per_task, experts, existing)
    people = sorted(experts)
    units = len(tasks) * runs_per_task
    # The load term dominates; the expert's rank only breaks ties (its total stays below scale).
    scale = units * len(people) + 1
    source, sink = 0, 1
    task_node = {t: 2 + i for i, t in enumerate(tasks)}
    expert_node = {e: 2 + len(tasks) + i for i, e in enumerate(people)}
    flow = _Flow(2 + len(tasks) + len(people))
    for task, node in task_node.items():
        flow.add(source, node, runs_per_task, 0)
        for e in people:
            if task not in existing.get(e, ()):
                flow.add(node, expert_node[e], 1, 0)
    for rank, e in enumerate(people):
        for n in range(len(tasks)):  # the n-th planned task costs the load it lands on
            flow.add(expert_node[e], sink, 1, (load.get(e, 0) + n) * scale + rank)
    for _ in range(units):
        if not flow.push_one(source, sink):  # _check rules this out; keep the promise anyway
            raise DomainError("No plan gives every task its runs.", field="experts")
    by_node = {node: e for e, node in expert_node.items()}
    plan = []
    for task, node in task_node.items():
        taken = [
            by_node[v] for v, capacity, _, _ in flow.graph[node] if v in by_node and not capacity
        ]
        plan += [(task, e) for e in sorted(taken)]
    return plan


def loads(plan: Sequence[tuple[str, int]], load: dict[int, int] | None = None) -> dict[int, int]:
    """Each planned expert's load once the plan is made (``load`` plus their planned tasks)."""
    totals = dict(load or {})
    for _, e in plan:
        totals[e] = totals.get(e, 0) + 1
    return totals
