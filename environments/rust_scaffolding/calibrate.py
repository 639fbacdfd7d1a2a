"""Measure y_s and y_r: the starting and the reference scaffold scored on every hidden problem
against a model, as `task score` scores them (the same code: rust_scaffolding.score). Prints one
line per scaffold and the manifest's lines.

    cd environments/rust_scaffolding && python calibrate.py [--repeats 1]

With BASELINER_MODEL_BASE_URL unset this is the deterministic stand-in (standin.py, seed
BASELINER_RUST_STANDIN_SEED); with an operator's endpoint set it measures that model, whose y_s
and y_r then belong to it (the README says so): scores under different models are never pooled.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import rust_scaffolding as family  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=1)
    args = parser.parse_args()
    problems = family.hidden_problems()
    found = {}
    for label, path in (("start", HERE / "assets" / "scaffold.py"),
                        ("reference", HERE / "reference" / "scaffold.py")):  # fmt: skip
        values = []
        for _ in range(args.repeats):
            began = time.monotonic()
            result = family.score(path, problems)
            seconds = time.monotonic() - began
            values.append(result["score"])
            print(f"{label}: {json.dumps(result['message'])} in {seconds:.0f} s", flush=True)
        found[label] = statistics.median(values)
    print(f"y_s: {found['start']:.4f}")
    print(f"y_r: {found['reference']:.4f}")


if __name__ == "__main__":
    main()
