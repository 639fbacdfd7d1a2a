"""Throughput of the rust_scaffolding judge: problems judged per minute on this machine, each a
fresh compile (rustc -O, static, sandboxed) plus 10 small tests, each test its own sandbox.

Four small programs (sum, sort, prefix sums, gcd pairs) stand for typical accepted solutions;
each repetition changes a comment so nothing is cached. Run sequentially and with one worker
per core (the scorer judges with bounded concurrency).

    .venv/bin/python bench/rust_judge.py [PROBLEMS]   # as root: the judge drops to its own uids
"""

import functools
import itertools
import math
import os
import random
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from environments.rust_scaffolding import judge as rj

READ = "use std::io::Read;\nfn words() -> Vec<i64> { let mut s = String::new(); "
READ += "std::io::stdin().read_to_string(&mut s).unwrap(); "
READ += "s.split_whitespace().map(|x| x.parse().unwrap()).collect() }\n"
PROGRAMS = {
    "sum": (
        READ + 'fn main() { let v = words(); println!("{}", v[1..].iter().sum::<i64>()); }',
        lambda v: f"{sum(v)}\n",
    ),
    "sort": (
        READ + "fn main() { let mut v = words(); let n = v.remove(0) as usize; v.sort(); "
        "let s: Vec<String> = v[..n].iter().map(|x| x.to_string()).collect(); "
        'println!("{}", s.join(" ")); }',
        lambda v: " ".join(map(str, sorted(v))) + "\n",
    ),
    "prefix": (
        READ + "fn main() { let v = words(); let mut acc = 0i64; let mut out = String::new(); "
        'for x in &v[1..] { acc += x; out.push_str(&format!("{}\\n", acc)); } print!("{}", out); }',
        lambda v: "".join(f"{x}\n" for x in itertools.accumulate(v)),
    ),
    "gcd": (
        READ + "fn gcd(a: i64, b: i64) -> i64 { if b == 0 { a.abs() } else { gcd(b, a % b) } }\n"
        "fn main() { let v = words(); let g = v[1..].iter().fold(0, |g, &x| gcd(g, x)); "
        'println!("{}", g); }',
        lambda v: f"{functools.reduce(math.gcd, v, 0)}\n",
    ),
}


def problem(index: int, rng: random.Random) -> tuple[str, list[dict]]:
    name = list(PROGRAMS)[index % len(PROGRAMS)]
    source, answer = PROGRAMS[name]
    tests = []
    for _ in range(10):
        values = [rng.randint(1, 10**6) for _ in range(rng.randint(1, 2000))]
        tests.append({"input": f"{len(values)}\n{' '.join(map(str, values))}\n",
                      "output": answer(values)})  # fmt: skip
    return f"// problem {index} {rng.random()}\n{source}", tests


def run(problems: int, workers: int, root: Path) -> tuple[float, list[float]]:
    rng = random.Random(workers)
    cases = [problem(i, rng) for i in range(problems)]

    def one(i: int) -> float:
        source, tests = cases[i]
        verdict = rj.judge(source, tests, workdir=root / f"w{workers}-{i}")
        assert verdict.status == "accepted", verdict
        return verdict.seconds

    started = time.monotonic()
    with ThreadPoolExecutor(workers) as pool:
        seconds = list(pool.map(one, range(problems)))
    return time.monotonic() - started, seconds


def phases(root: Path, repetitions: int = 5) -> tuple[float, float]:
    """Median seconds of one compile, and of one test run in its own sandbox."""
    source, tests = problem(1, random.Random(1))
    compiles, runs = [], []
    for i in range(repetitions):
        started = time.monotonic()
        binary, _ = rj.compile_rust(f"// {i}\n{source}", root)
        compiles.append(time.monotonic() - started)
    (root / "run").mkdir(exist_ok=True)
    for test in tests:
        started = time.monotonic()
        failed, _ = rj._run_test(binary, test["input"], root / "run", 2.0, 256)
        runs.append(time.monotonic() - started)
        assert failed is None
    return statistics.median(compiles), statistics.median(runs)


def main() -> None:
    problems = int(sys.argv[1]) if len(sys.argv) > 1 else 24
    tools = rj.toolchain()
    print(f"{tools.version}; {os.cpu_count()} cores; {problems} problems x 10 tests")
    with tempfile.TemporaryDirectory(prefix="rust-judge-bench-") as tmp:
        rj.judge(*problem(0, random.Random(0)), workdir=Path(tmp) / "warm")
        compiles, tests = phases(Path(tmp) / "phases")
        print(f"one compile: median {compiles:.2f} s; one test's sandbox: median {tests:.3f} s")
        for workers in sorted({1, os.cpu_count() or 1}):
            wall, seconds = run(problems, workers, Path(tmp))
            print(
                f"{workers} worker(s): {problems / wall * 60:.1f} problems judged per minute "
                f"(median {statistics.median(seconds):.2f} s a problem, "
                f"max {max(seconds):.2f} s, {wall:.1f} s in all)"
            )


if __name__ == "__main__":
    main()
