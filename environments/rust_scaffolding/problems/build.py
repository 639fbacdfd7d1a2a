"""Write dev.json, test.json and standin.json from the templates, deterministically.

    python -m environments.rust_scaffolding.problems.build [--out DIR] [--check] [--workers N]

Every template variant becomes one problem; one variant each of DEV_TEMPLATES goes to the
development split (the expert sees it), the rest to the hidden test split. --check compiles
each problem's correct/wrong/broken Rust with rustc and runs it on every test: correct must pass
all, wrong must fail one, broken must not compile.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[3]))

from environments.rust_scaffolding.problems import (
    kit,
    rustcheck,
    templates_a,
    templates_b,
    templates_c,
    templates_d,
)

HERE = Path(__file__).resolve().parent
TEMPLATES = (
    templates_a.TEMPLATES + templates_b.TEMPLATES + templates_c.TEMPLATES + templates_d.TEMPLATES
)
# How many templates give one variant (their variant 0) to the development split.
DEV_COUNT = 15


def make_problem(pid: str, name: str, variant: int, spec: kit.Spec) -> tuple[dict, dict]:
    """(problem dict, stand-in sources) for one template variant."""
    key = f"{name}/{variant}"
    rng = kit.rng_for("tests", key)
    inputs = list(spec.edges) + [spec.gen(rng, n) for n in spec.sizes]
    if spec.big:
        inputs.append(spec.gen(rng, kit.BIG))
    ex_rng = kit.rng_for("examples", key)
    examples = spec.examples if spec.examples is not None else [spec.gen(ex_rng, n) for n in (3, 6)]
    statement = (
        spec.statement.strip()
        + "\n\n## Input\n\n"
        + spec.input_format.strip()
        + "\n\n## Output\n\n"
        + spec.output_format.strip()
        + "\n"
    )
    problem = {
        "id": pid,
        "title": spec.title,
        "statement": statement,
        "input_format": spec.input_format.strip(),
        "output_format": spec.output_format.strip(),
        "examples": [{"input": i, "output": spec.solve(i)} for i in examples],
        "tests": [{"input": i, "output": spec.solve(i)} for i in inputs],
        "time_limit_s": spec.time_limit_s,
    }
    correct = spec.rust()
    sources = {
        "correct": correct,
        "wrong": spec.rust_wrong(),
        "broken": kit.broken(correct, key),
    }
    return problem, sources


def build() -> tuple[dict, dict, dict]:
    """(dev, test, standin) documents."""
    variants = []
    for t_index, (name, template, count) in enumerate(TEMPLATES):
        for v in range(count):
            variants.append((t_index < DEV_COUNT and v == 0, name, v, template(v)))
    dev_specs = [x for x in variants if x[0]]
    test_specs = [x for x in variants if not x[0]]
    random.Random(19).shuffle(test_specs)
    dev, test, standin = [], [], {}
    for prefix, chosen, sink in (("d", dev_specs, dev), ("t", test_specs, test)):
        for i, (_, name, v, spec) in enumerate(chosen, 1):
            problem, sources = make_problem(f"{prefix}{i:03d}", name, v, spec)
            sink.append(problem)
            standin[problem["id"]] = sources
    _validate(dev + test)
    return (
        {"version": 1, "split": "dev", "problems": dev},
        {"version": 1, "split": "test", "problems": test},
        {"version": 1, "sources": standin},
    )


def _validate(problems: list[dict]) -> None:
    """Titles and statements are unique (the stand-in finds a problem by its title)."""
    for field in ("id", "title", "statement"):
        values = [p[field] for p in problems]
        dupes = {v for v in values if values.count(v) > 1}
        if dupes:
            raise SystemExit(f"duplicate {field}: {sorted(dupes)[:3]}")


def dump(doc: dict) -> str:
    """Stable JSON text (the tests compare it byte for byte)."""
    return json.dumps(doc, indent=1, ensure_ascii=False, sort_keys=False) + "\n"


def write(out: Path) -> dict[str, Path]:
    """Build and write the three files into `out`; their paths."""
    dev, test, standin = build()
    out.mkdir(parents=True, exist_ok=True)
    paths = {}
    for name, doc in (("dev.json", dev), ("test.json", test), ("standin.json", standin)):
        paths[name] = out / name
        paths[name].write_text(dump(doc))
    return paths


def check(out: Path, workers: int) -> int:
    """Run rustcheck over every problem in `out`; print failures; exit status."""
    problems = []
    for name in ("dev.json", "test.json"):
        problems += json.loads((out / name).read_text())["problems"]
    standin = json.loads((out / "standin.json").read_text())["sources"]
    started = time.monotonic()
    findings = rustcheck.check_all(problems, standin, workers=workers)
    bad = [f for f in findings if not f.ok]
    for f in bad:
        print(f"FAIL {f.problem} {f.kind}: {f.detail}")
    elapsed = time.monotonic() - started
    print(
        f"checked {len(problems)} problems, {len(findings)} sources in {elapsed:.1f}s; "
        f"{len(bad)} failures"
    )
    return 1 if bad else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=HERE)
    parser.add_argument("--check", action="store_true", help="compile and run the stand-in code")
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args(argv)
    paths = write(args.out)
    for path in paths.values():
        doc = json.loads(path.read_text())
        count = len(doc.get("problems", doc.get("sources", [])))
        print(f"{path}: {count} entries, {path.stat().st_size / 1e6:.2f} MB")
    if args.check:
        return check(args.out, args.workers)
    return 0


if __name__ == "__main__":
    sys.exit(main())
