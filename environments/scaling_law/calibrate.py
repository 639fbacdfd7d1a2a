"""Calibrate scaling_law on a GPU (the lead runs this on the H100): measure the ground-truth
table, score the starting answer and the reference recipe against it, print a table.

    python3 calibrate.py --probe                 # ms/step per width, predicted sweep time (~30 s)
    python3 calibrate.py --sweep --commit        # the table (5 widths * 3 budgets), then score
    python3 calibrate.py                         # score start and reference on the committed table

--sweep trains every run of the table (scaling_setup.GPU: widths 64-384, 0.9/1.0/1.1 * C =
3e14 FLOPs; 21,400 steps of 16,384 tokens in all: ~4 minutes on an H100 at 9-14 ms a
step; run --probe first to see) and writes
ground_truth_h100.json to --out, and with --commit also to scoring/ (the committed table that
install() requires on a GPU host). Without --sweep the committed table is used. Either way it
then builds a task folder in a temporary directory, scores assets/answer.json (the starting
answer), runs reference/reference_solution.py there (about 10-20 s) and scores its answer.
Tokenizing the corpus once takes ~10-30 s more (cached in .build/cache). Everything printed is
also written to --out/calibration.json.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import ground_truth  # noqa: E402
from scaling_setup import CPU, FRACTIONS, GPU  # noqa: E402

SCORER = HERE / "scoring" / "score.py"
COMMITTED = HERE / "scoring" / "ground_truth_h100.json"
CACHE = HERE / ".build" / "cache"
SETUP = GPU  # --cpu-dry-run: the tiny CPU setup, to try this script without a GPU
DEVICE = "cuda"


def _scorer():
    import importlib.util

    spec = importlib.util.spec_from_file_location("scaling_law_score", SCORER)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def tokens(split: str):
    from lmkit import corpus

    corpus.verify()
    return corpus.token_ids(split, CACHE, limit_chars=SETUP.limit_chars)


def probe(steps: int = 30) -> list[dict]:
    """Milliseconds per training step at each table width (and the reference's widths), and
    what that predicts for one run at C and for the whole sweep."""
    import numpy as np

    trainer = ground_truth.train_module()
    config = SETUP.as_json()
    data = np.asarray(tokens("train"))
    rows, sweep_s = [], 0.0
    widths = sorted(w for w in {*SETUP.table_widths, 32, 160} if w <= SETUP.max_width)
    for n_embd in widths:
        trainer.train_model(config, n_embd, 5, data, device=DEVICE)  # warm-up
        started = time.monotonic()
        trainer.train_model(config, n_embd, steps, data, device=DEVICE)
        ms = 1000 * (time.monotonic() - started) / steps
        at_c = SETUP.steps_for(n_embd, SETUP.budget_flops)
        row = {
            "n_embd": n_embd,
            "ms_per_step": round(ms, 3),
            "tokens_per_s_M": round(SETUP.tokens_per_step / ms / 1000, 3),
            "steps_at_C": at_c,
            "seconds_at_C": round(at_c * ms / 1000, 1),
            "steps_at_cap": SETUP.steps_for(n_embd, SETUP.cap_flops),
        }
        if n_embd in SETUP.table_widths:
            sweep_s += sum(f * row["seconds_at_C"] for f in FRACTIONS)
        rows.append(row)
        print(json.dumps(row), flush=True)
    print(f"predicted sweep: {sweep_s:.0f} s of training (+ model set-up and evaluation)")
    return rows


def task_folder(home: Path, train_tokens) -> None:
    """What start() gives the expert on a GPU host, built without install()."""
    import numpy as np

    shutil.copytree(HERE / "assets", home)
    (home / "config.json").write_text(json.dumps(SETUP.as_json(), indent=2) + "\n")
    if SETUP is not GPU:  # assets/answer.json is the GPU's starting answer
        from scaling_law import start_answer

        (home / "answer.json").write_text(json.dumps(start_answer(SETUP)) + "\n")
    (home / "data").mkdir()
    np.save(home / "data" / "train_tokens.npy", np.asarray(train_tokens))
    (home / "lmkit").mkdir()
    for module in (HERE / "lmkit").glob("*.py"):
        if module.name != "corpus.py":
            shutil.copyfile(module, home / "lmkit" / module.name)


def score_start_and_reference(table: Path, train_tokens) -> dict:
    scorer = _scorer()
    with tempfile.TemporaryDirectory(prefix="scaling-calibrate-") as tmp:
        home = Path(tmp) / "home"
        task_folder(home, train_tokens)
        start = scorer.score(home / "answer.json", table, home / "runs.jsonl")
        shutil.copyfile(
            HERE / "reference" / "reference_solution.py", home / "reference_solution.py"
        )
        started = time.monotonic()
        proc = subprocess.run(
            [sys.executable, "reference_solution.py"],
            cwd=home,
            env={**os.environ, "HOME": str(home)},
            capture_output=True,
            text=True,
            timeout=600,
        )
        seconds = time.monotonic() - started
        print(proc.stdout[-4000:], proc.stderr[-2000:], flush=True)
        reference = scorer.score(home / "answer.json", table, home / "runs.jsonl")
        answer = json.loads((home / "answer.json").read_text())
    return {
        "start": start,
        "reference": reference,
        "reference_answer": answer,
        "reference_seconds": round(seconds, 1),
        "reference_exit": proc.returncode,
    }


def print_table(table: dict) -> None:
    env = table["environment"]
    print(f"\ncard {env['card']}  torch {env['torch']}  CUDA {env['cuda']}  {env['date']}")
    print(f"C = {SETUP.budget_flops:.3g} FLOPs; validation loss (dev loss) per width and budget")
    print(f"{'n_embd':>6} " + " ".join(f"{f'{f:.1f} C':>24}" for f in FRACTIONS) + "   s at C")
    by_width: dict[int, list[dict]] = {}
    for run in table["runs"]:
        by_width.setdefault(run["n_embd"], []).append(run)
    for n_embd, runs in sorted(by_width.items()):
        cells = " ".join(
            f"{r['max_iters']:6d} {r['val_loss']:.4f} ({r['dev_loss']:.4f})" for r in runs
        )
        at_c = next(r for r in runs if abs(r["fraction"] - 1) < 0.05)
        print(f"{n_embd:6d} {cells}   {at_c['train_seconds']:6.1f}")
    best = min(
        (r for r in table["runs"] if abs(r["fraction"] - 1) < 0.05), key=lambda r: r["val_loss"]
    )
    print(
        f"best at C: n_embd {best['n_embd']}, {best['max_iters']} steps, val {best['val_loss']:.4f}"
    )


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    default_out = os.environ.get("OUT") or Path(tempfile.gettempdir()) / "scaling_law_calibration"
    p.add_argument("--out", type=Path, default=Path(default_out))
    p.add_argument("--probe", action="store_true", help="only time steps per width")
    p.add_argument("--sweep", action="store_true", help="measure the ground-truth table")
    p.add_argument("--commit", action="store_true", help="write the table to scoring/ too")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--jobs", type=int, default=1, help="runs of the sweep trained at once (GPU: 5)")
    p.add_argument("--cpu-dry-run", action="store_true", help="tiny CPU setup (a smoke test)")
    args = p.parse_args()
    if args.cpu_dry_run:
        global SETUP, DEVICE
        SETUP, DEVICE = CPU, "cpu"
        os.environ["BASELINER_LM_DEVICE"] = "cpu"
    args.out.mkdir(parents=True, exist_ok=True)
    report: dict = {"setup": SETUP.as_json()}
    started = time.monotonic()
    if args.probe:
        report["probe"] = probe()
        (args.out / "calibration.json").write_text(json.dumps(report, indent=2))
        return 0
    train_tokens = tokens("train")
    print(f"corpus: {len(train_tokens):,} training tokens ({time.monotonic() - started:.0f} s)")
    table_path = COMMITTED
    if args.sweep:
        sweep_started = time.monotonic()
        table = ground_truth.build(
            SETUP,
            train_tokens,
            tokens("valid"),
            DEVICE,
            seed=args.seed,
            jobs=args.jobs,
            progress=print,
        )
        table["sweep_seconds"] = round(time.monotonic() - sweep_started, 1)
        text = json.dumps(table, indent=2) + "\n"
        table_path = args.out / "ground_truth_h100.json"
        table_path.write_text(text)
        if args.commit and SETUP is GPU:
            COMMITTED.write_text(text)
        print(f"sweep: {table['sweep_seconds']:.0f} s")
    if not table_path.is_file():
        print(f"no table at {table_path}: run with --sweep first (and --commit to keep it)")
        return 1
    table = json.loads(table_path.read_text())
    print_table(table)
    report["table"] = table
    outcome = score_start_and_reference(table_path, train_tokens)
    report.update(outcome)
    report["total_seconds"] = round(time.monotonic() - started, 1)
    (args.out / "calibration.json").write_text(json.dumps(report, indent=2, default=str))
    print()
    for name in ("start", "reference"):
        result = outcome[name]
        d = result.get("details", {})
        if result.get("score") is None:
            print(f"{name:10} INVALID {result['message'].get('error')}")
            continue
        m = result["message"]
        print(
            f"{name:10} score {result['score']:.4f}  n_embd {m['n_embd']} steps {m['max_iters']} "
            f"({m['budget_fraction']:.3f} C)  L(answer) {d['loss_of_answer']:.4f}  "
            f"L* {d['best_loss']:.4f}  predicted {d['predicted_loss']:.4f}"
        )
    print(f"reference recipe: {outcome['reference_seconds']} s (exit {outcome['reference_exit']})")
    print(f"total: {report['total_seconds']:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
