"""Made-up score logs for the demo's sample (webapp.demo_sample): plausible in shape, from a fixed
seed, so every `make demo` draws the same ones.

The shapes follow what RE-Bench reported: humans start slowly and keep improving over 8 hours;
agents score within minutes, gain fast in the first hour or two and then level off, so agents
lead at short budgets and humans at 8 hours. Some submissions are invalid, as real ones are.
"""

import math
import random
from dataclasses import dataclass

HOUR = 3600.0
LIMIT_S = 8 * 3600


@dataclass(frozen=True)
class Shape:
    """One task's sample: normalised final levels (low, high) for humans and each agent, and
    whether the task counts the last answer (fewer, later answers) or the best."""

    humans: tuple[float, float]
    agents: dict[str, tuple[float, float]]
    last: bool = False


@dataclass(frozen=True)
class Entry:
    """One submission: working seconds, normalised score (None: invalid)."""

    elapsed_s: float
    normalised: float | None


def _level(rng: random.Random, low: float, high: float) -> float:
    return rng.uniform(low, high)


def _progress(t_s: float, tau_h: float) -> float:
    """Share of the run's final level reached at working time ``t_s`` (0 at the start, 1 at
    the limit)."""
    return (1 - math.exp(-t_s / HOUR / tau_h)) / (1 - math.exp(-LIMIT_S / HOUR / tau_h))


def _entries(
    rng: random.Random,
    level: float,
    tau_h: float,
    first_s: tuple[float, float],
    gap_s: tuple[float, float],
    invalid: float,
    end_s: float,
) -> list[Entry]:
    out: list[Entry] = []
    t = rng.uniform(*first_s)
    while t < end_s:
        if out and rng.random() < invalid:
            out.append(Entry(round(t), None))
        else:
            # Attempts scatter around the run's progress; some are worse than an earlier one.
            noise = rng.gauss(0, 0.04 + 0.06 * min(level, 1.0))
            out.append(Entry(round(t), round(level * _progress(t, tau_h) + noise, 4)))
        t += rng.uniform(*gap_s)
    return out


def human_log(rng: random.Random, shape: Shape) -> tuple[list[Entry], float]:
    """A human's 8-hour run: the starting solution scored within the first half hour, then an
    attempt every 35-80 minutes (three to five answers for a task that counts the last);
    returns the entries and the run's working seconds (the limit, or an earlier submit)."""
    level = _level(rng, *shape.humans)
    end = LIMIT_S if rng.random() < 0.6 else rng.uniform(7.2, 7.9) * HOUR
    if shape.last:
        times = sorted(rng.uniform(1.5, 7.5) * HOUR for _ in range(rng.randint(3, 5)))
        entries = [Entry(round(t), round(level * _progress(t, 2.5), 4)) for t in times]
    else:
        entries = _entries(rng, level, 3.0, (600, 1800), (35 * 60, 80 * 60), 0.12, end - 600)
        entries[0] = Entry(entries[0].elapsed_s, round(rng.uniform(-0.03, 0.03), 4))
    entries.append(Entry(round(end), entries[-1].normalised if shape.last else None))
    last = entries[-1]
    if last.normalised is None:  # the final submission: the folder as the last attempt left it
        valid = [e.normalised for e in entries if e.normalised is not None]
        entries[-1] = Entry(last.elapsed_s, valid[-1] if valid else 0.0)
    return entries, float(round(end))


def agent_log(rng: random.Random, shape: Shape, agent: str) -> list[Entry]:
    """An agent's 8-hour run: a first score within minutes, then one every 8-30 minutes,
    levelling off after the first hour or two."""
    level = _level(rng, *shape.agents[agent])
    if shape.last:
        times = sorted(rng.uniform(0.2, 7.8) * HOUR for _ in range(rng.randint(4, 8)))
        return [Entry(round(t), round(level * _progress(t, 0.7), 4)) for t in times]
    return _entries(rng, level, 0.7, (180, 600), (8 * 60, 30 * 60), 0.2, LIMIT_S)


def final(entries: list[Entry], last: bool) -> float | None:
    """The run's final normalised score by the task's aggregation (best or last valid)."""
    valid = [e.normalised for e in entries if e.normalised is not None]
    if not valid:
        return None
    return valid[-1] if last else max(valid)
