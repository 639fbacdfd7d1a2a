"""Calibrate triton_cumsum on a GPU: y_s (starting solution) and y_r (reference solution).

    python environments/triton_cumsum/calibrate.py [--out DIR] [--sweep]

Each solution is scored by the task's own scorer (scoring/score.py) in its own process:
correctness on fresh random inputs at several sizes and at 10**8 with poisoned output memory,
warm-up, then `--timed-calls` CUDA-event-timed calls, each on a freshly drawn input and each
checked; the score is ln(median ms). The copy floor (reading 10**8 int32 once and writing
them once, torch's device-to-device copy) is timed here, rotating among three buffers.
`--sweep` also scores variants of the reference kernel (tile size, warps, look-back).
The table is printed last; the full results go to DIR/calibration.json.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
SCORER = HERE / "scoring" / "score.py"
STARTING = HERE / "assets" / "solution" / "solution.py"
REFERENCE = HERE / "reference" / "solution" / "solution.py"
N = 10**8

# Keyword arguments of the reference's prefix_sum, one variant each (--sweep).
SWEEP = [
    dict(lookback=8),
    dict(lookback=32),
    dict(maxnreg=160),
    dict(maxnreg=0),
    dict(pack=False, maxnreg=0),
    dict(row=16, lookback=32, pack=False, maxnreg=0),  # the previous reference
]
PROFILE = [
    dict(row=16, lookback=32, pack=False, maxnreg=0),  # the previous reference
    dict(lookback=32),
    dict(lookback=8),
    dict(maxnreg=160),
    dict(maxnreg=0),
]
_SHORT = dict(
    block="b",
    chunk="c",
    num_warps="w",
    lookback="lb",
    ticket="t",
    row="row",
    maxnreg="r",
    pack="p",
)


def variant_name(kwargs: dict) -> str:
    if not kwargs:
        return "reference (default)"
    return "ref " + " ".join(f"{_SHORT.get(k, k)}{int(v)}" for k, v in kwargs.items())


WRAPPER = """\
import functools
import importlib.util

_spec = importlib.util.spec_from_file_location("cumsum_reference", {path!r})
_module = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_module)
prefix_sum = functools.partial(_module.prefix_sum, **{kwargs!r})
"""


def score(solution: Path, timed_calls: int, work: Path) -> dict:
    """Run the task's scorer on one solution file, in its own process."""
    result = work / "result.json"
    result.unlink(missing_ok=True)
    command = [
        *(sys.executable, str(SCORER), "--solution", str(solution), "--result", str(result)),
        *("--device", "cuda", "--n", str(N), "--timed-calls", str(timed_calls)),
        *("--warmup-timeout-s", "120", "--call-timeout-s", "10"),
    ]
    try:
        proc = subprocess.run(
            command, capture_output=True, text=True, timeout=400, cwd=solution.parent
        )
    except subprocess.TimeoutExpired:
        return {"score": None, "message": {"error": "scorer process timed out (400 s)"}}
    output = (proc.stdout + proc.stderr)[-2000:]
    if not result.is_file():
        error = f"no result (exit {proc.returncode})"
        return {"score": None, "message": {"error": error}, "details": {"output_tail": output}}
    outcome = json.loads(result.read_text())
    if output.strip():
        outcome.setdefault("details", {})["output_tail"] = output
    return outcome


def kernel_report(kwargs: dict) -> dict:
    """Registers and spills of a reference variant, compiled for a small input."""
    import importlib.util

    import torch

    spec = importlib.util.spec_from_file_location("cumsum_reference", REFERENCE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    options = dict(
        block=module.BLOCK,
        chunk=module.CHUNK,
        num_warps=module.NUM_WARPS,
        lookback=module.LOOKBACK,
        ticket=module.TICKET,
        row=module.ROW,
        maxnreg=module.MAXNREG,
        pack=module.PACK,
    )
    options.update(kwargs)
    x = torch.randint(-10, 10, (10**6,), dtype=torch.int32, device="cuda")
    try:
        kernel = module._launch(x, torch.empty_like(x), **options)
        torch.cuda.synchronize()
        return {"regs": kernel.n_regs, "spills": kernel.n_spills}
    except Exception as exc:
        return {"error": f"{type(exc).__name__}: {exc}"[:200]}


def _load_reference():
    import importlib.util

    spec = importlib.util.spec_from_file_location("cumsum_reference", REFERENCE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def launch_profile(kwargs: dict, calls: int = 30) -> dict:
    """Where a reference call's time goes: event-timed single calls (as the scorer times them),
    back-to-back calls (GPU time, launch latency hidden) and the host time of a launch."""
    import functools

    import torch

    fn = functools.partial(_load_reference().prefix_sum, **kwargs)
    xs = [torch.randint(-10, 10, (N,), dtype=torch.int32, device="cuda") for _ in range(3)]
    for i in range(5):
        fn(xs[i % 3])
    torch.cuda.synchronize()
    single, host = [], []
    for i in range(calls):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        torch.cuda.synchronize()
        start.record()
        t0 = time.perf_counter()
        fn(xs[i % 3])
        host.append((time.perf_counter() - t0) * 1e3)
        end.record()
        end.synchronize()
        single.append(start.elapsed_time(end))
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    torch.cuda.synchronize()
    start.record()
    for i in range(calls):
        fn(xs[i % 3])
    end.record()
    end.synchronize()
    return {
        "single_ms": statistics.median(single),
        "single_min_ms": min(single),
        "back_to_back_ms": start.elapsed_time(end) / calls,
        "host_launch_ms": statistics.median(host),
    }


def copy_floor(repeats: int = 100) -> dict:
    """Median ms of a device-to-device copy of 10**8 int32: the least any solution can take."""
    import torch

    xs = [torch.randint(-10, 10, (N,), dtype=torch.int32, device="cuda") for _ in range(3)]
    y = torch.empty_like(xs[0])
    for x in xs:
        y.copy_(x)
    torch.cuda.synchronize()
    times = []
    for i in range(repeats):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        y.copy_(xs[i % 3])
        end.record()
        end.synchronize()
        times.append(start.elapsed_time(end))
    ms = statistics.median(times)
    return {"ms": ms, "tb_per_s": 2 * 4 * N / (ms * 1e-3) / 1e12, "times_ms": times}


def environment() -> dict:
    import torch

    info = {
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "card": torch.cuda.get_device_name(0),
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "python": sys.version.split()[0],
    }
    try:
        import triton

        info["triton"] = triton.__version__
    except ImportError:
        info["triton"] = None
    try:
        info["driver"] = subprocess.run(
            ["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"],
            capture_output=True,
            text=True,
            timeout=30,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        info["driver"] = None
    return info


def _regs(kernel: dict) -> str:
    if "regs" in kernel:
        return f"{kernel['regs']}" + (f" spills {kernel['spills']}" if kernel["spills"] else "")
    return kernel.get("error", "")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    default_out = os.environ.get("OUT") or Path(tempfile.gettempdir()) / "triton_cumsum_calibration"
    p.add_argument("--out", type=Path, default=Path(default_out))
    p.add_argument("--timed-calls", type=int, default=100)
    p.add_argument("--sweep", action="store_true", help="also score reference variants")
    p.add_argument(
        "--profile",
        type=int,
        default=0,
        metavar="K",
        help="also profile the reference's launches, in K fresh processes",
    )
    p.add_argument("--profile-one", help=argparse.SUPPRESS)
    p.add_argument(
        "--reference-repeats",
        type=int,
        default=1,
        metavar="K",
        help="score the reference K times, each in a fresh process",
    )
    args = p.parse_args()
    if args.profile_one is not None:
        print(json.dumps(launch_profile(json.loads(args.profile_one))))
        return 0
    args.out.mkdir(parents=True, exist_ok=True)

    info = environment()
    print(json.dumps(info), flush=True)
    floor = copy_floor()
    print(f"copy floor: {floor['ms']:.4f} ms ({floor['tb_per_s']:.2f} TB/s)", flush=True)

    runs = [("starting (PyTorch)", STARTING, None)]
    runs += [("reference (Triton)", REFERENCE, {})] * args.reference_repeats
    if args.sweep:
        runs += [(variant_name(kwargs), REFERENCE, kwargs) for kwargs in SWEEP]
    rows = []
    with tempfile.TemporaryDirectory(prefix="cumsum-calibrate-") as tmp:
        work = Path(tmp)
        for number, (name, path, kwargs) in enumerate(runs):
            solution = path
            if kwargs:  # a folder each: same-sized files written within a second share a .pyc
                solution = work / f"variant{number}" / "solution.py"
                solution.parent.mkdir()
                solution.write_text(WRAPPER.format(path=str(path), kwargs=kwargs))
            calls = min(args.timed_calls, 30) if kwargs else args.timed_calls
            outcome = score(solution, calls, work)
            ok = outcome.get("score") is not None
            det = outcome.get("details", {})
            row = {
                "name": name,
                "kwargs": kwargs,
                "valid": ok,
                "ms": det.get("median_ms") if ok else None,
                "ln_ms": outcome["score"] if ok else None,
                "host_ms": det.get("host_median_ms"),
                "timed_calls": det.get("timed_calls"),
                "error": None if ok else outcome.get("message", {}).get("error"),
                "kernel": kernel_report(kwargs) if ok and kwargs is not None else {},
                "outcome": outcome,
            }
            rows.append(row)
            shown = f"{row['ms']:.4f} ms ln {row['ln_ms']:.3f}" if ok else f"INVALID {row['error']}"
            print(f"{name}: {shown} {row['kernel']}", flush=True)

    profiles = []
    for number, kwargs in enumerate([{}, *PROFILE] if args.profile else []):
        for _ in range(args.profile if number == 0 else 1):
            proc = subprocess.run(
                [sys.executable, __file__, "--profile-one", json.dumps(kwargs)],
                capture_output=True,
                text=True,
                timeout=300,
            )
            try:
                prof = json.loads(proc.stdout.strip().splitlines()[-1])
            except (ValueError, IndexError):
                prof = {"error": (proc.stdout + proc.stderr)[-300:]}
            profiles.append({"name": variant_name(kwargs), **prof})
            print(profiles[-1], flush=True)

    (args.out / "calibration.json").write_text(
        json.dumps(
            {"environment": info, "copy_floor": floor, "runs": rows, "profiles": profiles},
            indent=2,
        )
    )
    print()
    print(
        f"card: {info['card']}  driver {info['driver']}  torch {info['torch']}  "
        f"triton {info['triton']}  CUDA {info['cuda']}  {info['date']}"
    )
    print(f"{'solution':28} {'valid':>5} {'ms':>9} {'ln ms':>7} {'host ms':>8} {'calls':>5} regs")
    print(
        f"{'copy floor (read+write)':28} {'-':>5} {floor['ms']:9.4f} "
        f"{math.log(floor['ms']):7.3f} {'-':>8} {100:5d}"
    )
    for prof in profiles:
        if "error" in prof:
            print(f"profile {prof['name']:20} {prof['error'][:80]}")
        else:
            print(
                f"profile {prof['name']:20} single {prof['single_ms']:.4f} (min "
                f"{prof['single_min_ms']:.4f})  back-to-back {prof['back_to_back_ms']:.4f}  "
                f"host launch {prof['host_launch_ms']:.4f} ms"
            )
    for r in rows:
        if r["valid"]:
            print(
                f"{r['name']:28} {'yes':>5} {r['ms']:9.4f} {r['ln_ms']:7.3f} "
                f"{r['host_ms']:8.4f} {r['timed_calls']:5d}"
            )
        else:
            print(f"{r['name']:28} {'NO':>5}  {str(r['error'])[:90]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
