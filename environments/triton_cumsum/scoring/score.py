"""Scores a triton_cumsum solution: is `prefix_sum` right, and how many milliseconds does it take?

Run as its own process (the task family does, so that a crash, a hang or a stray CUDA error in
the solution cannot take the scorer down with it):

    python score.py --solution ~/solution/solution.py [--result result.json] [--device auto]

Steps, each call of the solution on fresh random input (a new seed per scoring, recorded):
  1. import the solution file and find `prefix_sum`;
  2. check it on several small sizes (including 1 and sizes that are not multiples of a power
     of two) against an int64 reference; the memory it is likely to get for its output is
     filled with a poison value first, so elements it never writes show up as wrong;
  3. warm up on the full size (10**8 int32 on the GPU), checking each output;
  4. time `timed_calls` calls, each on a freshly drawn input, with CUDA events around the call
     on the current stream, checking each output; the score is ln(median milliseconds).
     Before each call the scorer reads a 256 MB buffer, so every call starts with an L2 cache
     that holds neither its input nor dirty lines left by the scorer's own work.

Any wrong value, shape, dtype or device, any exception, and any call that takes longer than
its limit makes the score invalid (NaN) with a message that says which and where.

Without a GPU the same steps run on the CPU at a small size (plain PyTorch, and Triton kernels
through its interpreter, TRITON_INTERPRET=1); such a score is valid but marked "not
comparable: no GPU".

Overflow: the output is int32. For the task's inputs (integers in [-10, 10), n = 1e8) every
prefix lies within +-1e9, inside int32, so the int32 result is exact; the reference computes
in int64 and the comparison is exact.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import importlib.util
import json
import math
import os
import secrets
import statistics
import sys
import threading
import time
import traceback
from contextlib import contextmanager
from pathlib import Path

FULL_N = 10**8
CPU_N = 1_000_003
LOW, HIGH = -10, 10  # torch.randint(LOW, HIGH): integers in [-10, 9]
CHECK_SIZES = (1, 2, 3, 17, 1000, 4096, 4097, 65537, 2**20, 1_000_003)
POISON = -1_234_567_891
FLUSH_BYTES = 256 * 2**20  # several times any L2 (H100: 50 MB)
EXIT_TIMEOUT = 3


class Invalid(Exception):
    """The solution broke a rule; the message says which, for the expert to read."""


class Result:
    """Writes the outcome once, from whichever thread finishes first (the run or the watchdog)."""

    def __init__(self, path: Path | None):
        self.path = path
        self._lock = threading.Lock()
        self._written = False

    def write(self, outcome: dict) -> bool:
        with self._lock:
            if self._written:
                return False
            self._written = True
        text = json.dumps(outcome, indent=2, default=str)
        if self.path is None:
            sys.__stdout__.write(text + "\n")
            sys.__stdout__.flush()
        else:
            tmp = self.path.with_suffix(".tmp")
            tmp.write_text(text)
            tmp.replace(self.path)
        return True


class Watchdog:
    """Ends the process when a call outlives its limit. A thread, so it fires even while the
    main thread is inside a CUDA call or a C loop that never returns to Python."""

    def __init__(self, result: Result, details: dict):
        self.result = result
        self.details = details
        self._deadline: float | None = None
        self._what = ""
        self._limit = 0.0
        threading.Thread(target=self._watch, daemon=True, name="watchdog").start()

    @contextmanager
    def limit(self, seconds: float, what: str):
        self._what, self._limit = what, seconds
        self._deadline = time.monotonic() + seconds
        try:
            yield
        finally:
            self._deadline = None

    def _watch(self) -> None:
        while True:
            time.sleep(0.02)
            deadline = self._deadline
            if deadline is not None and time.monotonic() > deadline:
                error = f"{self._what} took longer than its limit of {self._limit:g} s"
                if self.result.write(invalid(error, self.details)):
                    os._exit(EXIT_TIMEOUT)


def invalid(error: str, details: dict) -> dict:
    return {"score": None, "message": {"error": error}, "details": details}


def reference_prefix_sum(x):
    """The definition, computed in int64: Y_i = sum_{j<=i} x_j * [#{k < j : x_k > 0} is odd]."""
    import torch

    positive = (x > 0).to(torch.int64)
    odd = (torch.cumsum(positive, 0) - positive) & 1
    del positive
    return torch.cumsum(x.to(torch.int64) * odd, 0)


def check_output(y, x, ref, label: str) -> None:
    import torch

    if not isinstance(y, torch.Tensor):
        raise Invalid(f"{label}: prefix_sum returned {type(y).__name__}, not a torch.Tensor")
    if y.dtype != torch.int32:
        raise Invalid(f"{label}: prefix_sum returned dtype {y.dtype}, expected torch.int32")
    if y.device != x.device:
        raise Invalid(f"{label}: prefix_sum returned a tensor on {y.device}, expected {x.device}")
    if tuple(y.shape) != tuple(x.shape):
        raise Invalid(
            f"{label}: prefix_sum returned shape {tuple(y.shape)}, expected {tuple(x.shape)}"
        )
    wrong = y.to(torch.int64) != ref
    count = int(wrong.sum())
    if count:
        first = int(wrong.nonzero()[0, 0])
        raise Invalid(
            f"{label}: wrong values at {count} of {x.numel()} positions; first at index "
            f"{first}: got {int(y[first])}, expected {int(ref[first])}"
        )


def load_solution(path: Path):
    if not path.is_file():
        raise Invalid(f"no solution file at {path}")
    sys.path.insert(0, str(path.parent))
    spec = importlib.util.spec_from_file_location("solution", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules["solution"] = module
    try:
        spec.loader.exec_module(module)
    except BaseException as exc:
        raise Invalid(f"importing {path.name} failed: {_describe(exc)}") from exc
    fn = getattr(module, "prefix_sum", None)
    if not callable(fn):
        raise Invalid(f"{path.name} defines no function prefix_sum(x)")
    return fn


def _describe(exc: BaseException) -> str:
    text = f"{type(exc).__name__}: {exc}".strip()
    return text if len(text) <= 600 else text[:600] + " ..."


def _version(name: str) -> str | None:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


class Scorer:
    def __init__(self, args, result: Result):
        import torch

        self.torch = torch
        self.args = args
        self.on_gpu = args.device == "cuda" or (args.device == "auto" and torch.cuda.is_available())
        self.device = torch.device("cuda" if self.on_gpu else "cpu")
        self.n = args.n if self.on_gpu else args.cpu_n
        self.seed = args.seed if args.seed is not None else secrets.randbits(62)
        self.generator = torch.Generator(device=self.device)
        self.generator.manual_seed(self.seed)
        self.details: dict = {
            "n": self.n,
            "seed": self.seed,
            "device": torch.cuda.get_device_name(self.device) if self.on_gpu else "cpu",
            "comparable": self.on_gpu,
            "torch": torch.__version__,
            "triton": _version("triton"),
            "solution": str(args.solution),
        }
        self.watchdog = Watchdog(result, self.details)
        self.scratch = None

    def draw(self, n: int, out=None):
        return self.torch.randint(
            LOW,
            HIGH,
            (n,),
            dtype=self.torch.int32,
            device=self.device,
            generator=self.generator,
            out=out,
        )

    def sync(self) -> None:
        if self.on_gpu:
            self.torch.cuda.synchronize()

    def poison(self, n: int) -> None:
        """Leave a poisoned block of the output's size in the allocator's cache, where the
        solution's torch.empty is likely to land: unwritten elements then read as wrong."""
        block = self.torch.full((n,), POISON, dtype=self.torch.int32, device=self.device)
        self.sync()
        del block

    def settle(self) -> None:
        """Before a timed call: read a buffer larger than L2, so that the call starts with no
        dirty lines to write back and none of its input cached, whatever ran before it."""
        if self.on_gpu:
            if self.scratch is None:
                self.scratch = self.torch.ones(
                    FLUSH_BYTES // 4, dtype=self.torch.int32, device=self.device
                )
            self.scratch.sum()
            self.sync()

    def call(self, fn, x, label: str, limit_s: float):
        """One checked call; returns (output, event ms, host ms)."""
        torch = self.torch
        self.sync()
        with self.watchdog.limit(limit_s, f"{label}: prefix_sum"):
            try:
                if self.on_gpu:
                    start = torch.cuda.Event(enable_timing=True)
                    end = torch.cuda.Event(enable_timing=True)
                    t0 = time.perf_counter()
                    start.record()
                    y = fn(x)
                    end.record()
                    torch.cuda.synchronize()
                    host_ms = (time.perf_counter() - t0) * 1e3
                    ms = start.elapsed_time(end)
                else:
                    t0 = time.perf_counter()
                    y = fn(x)
                    ms = host_ms = (time.perf_counter() - t0) * 1e3
            except Invalid:
                raise
            except BaseException as exc:
                self.details["traceback"] = traceback.format_exc()[-3000:]
                raise Invalid(f"{label}: prefix_sum raised {_describe(exc)}") from exc
        return y, ms, host_ms

    def run(self) -> dict:
        args = self.args
        with self.watchdog.limit(args.warmup_timeout_s, "importing the solution"):
            fn = load_solution(Path(args.solution))
        # Without a GPU, Triton kernels (if the solution has any) run in the interpreter.
        self.details["triton_interpreter"] = not self.on_gpu and "triton" in sys.modules

        sizes = [s for s in CHECK_SIZES if s < self.n]
        for n in sizes:
            x = self.draw(n)
            ref = reference_prefix_sum(x)
            self.poison(n)
            y, _, _ = self.call(fn, x, f"check n={n}", args.warmup_timeout_s)
            check_output(y, x, ref, f"check n={n}")
        self.details["checked_sizes"] = [*sizes, self.n]

        x = self.draw(self.n)
        for i in range(args.warmup_calls):
            self.draw(self.n, out=x)
            ref = reference_prefix_sum(x)
            self.poison(self.n)
            self.settle()
            y, _, _ = self.call(fn, x, f"warm-up {i + 1} (n={self.n})", args.warmup_timeout_s)
            check_output(y, x, ref, f"warm-up {i + 1} (n={self.n})")
            del y, ref

        times, host_times = [], []
        for i in range(args.timed_calls):
            self.draw(self.n, out=x)
            ref = reference_prefix_sum(x)
            self.poison(self.n)
            self.settle()
            label = f"timed call {i + 1} (n={self.n})"
            y, ms, host_ms = self.call(fn, x, label, args.call_timeout_s)
            check_output(y, x, ref, label)
            del y, ref
            times.append(ms)
            host_times.append(host_ms)

        median_ms = statistics.median(times)
        if not median_ms > 0:
            raise Invalid(f"the median time was {median_ms} ms; it must be positive")
        score = math.log(median_ms)
        self.details.update(
            times_ms=[round(t, 5) for t in times],
            median_ms=median_ms,
            host_median_ms=statistics.median(host_times),
            timed_calls=args.timed_calls,
            warmup_calls=args.warmup_calls,
            timing="CUDA events on the current stream" if self.on_gpu else "host clock",
        )
        message = {
            "ms": round(median_ms, 4),
            "score": round(score, 4),
            "n": self.n,
            "device": self.details["device"],
            "comparable": self.on_gpu,
        }
        if not self.on_gpu:
            message["note"] = (
                f"not comparable: no GPU (timed on the CPU at n={self.n}; the real score "
                f"times n={FULL_N} on the GPU)"
            )
        return {"score": score, "message": message, "details": self.details}


def _env_float(name: str, default: float) -> float:
    return float(os.environ.get(name) or default)


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--solution", type=Path, required=True, help="the file defining prefix_sum")
    p.add_argument("--result", type=Path, help="write the JSON result here (default: stdout)")
    p.add_argument("--device", choices=("auto", "cuda", "cpu"), default="auto")
    p.add_argument("--n", type=int, default=FULL_N, help="input size on the GPU")
    p.add_argument("--cpu-n", type=int, default=CPU_N, help="input size without a GPU")
    p.add_argument("--warmup-calls", type=int, default=None)
    p.add_argument("--timed-calls", type=int, default=None)
    p.add_argument("--call-timeout-s", type=float, default=None, help="limit for each timed call")
    p.add_argument(
        "--warmup-timeout-s",
        type=float,
        default=None,
        help="limit for the import and for each checking or warm-up call (compilation included)",
    )
    p.add_argument("--seed", type=int, default=None, help="default: a fresh random seed")
    return p.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    result = Result(args.result)
    details: dict = {"solution": str(args.solution)}
    try:
        if args.device == "cpu":
            os.environ["TRITON_INTERPRET"] = "1"
        import torch

        gpu = args.device == "cuda" or (args.device == "auto" and torch.cuda.is_available())
        if args.device == "cuda" and not torch.cuda.is_available():
            raise Invalid("--device cuda was asked for, but PyTorch sees no GPU")
        if not gpu:
            os.environ["TRITON_INTERPRET"] = "1"  # before the solution imports triton
        defaults = (3, 20, 10.0, 300.0) if gpu else (1, 5, 60.0, 300.0)
        for name, default in zip(
            ("warmup_calls", "timed_calls", "call_timeout_s", "warmup_timeout_s"),
            defaults,
            strict=True,
        ):
            if getattr(args, name) is None:
                setattr(args, name, default)
        if args.timed_calls < 1:
            raise Invalid("--timed-calls must be at least 1")
        scorer = Scorer(args, result)
        details = scorer.details
        outcome = scorer.run()
    except Invalid as exc:
        outcome = invalid(str(exc), details)
    except BaseException as exc:  # the scorer's own failure: say so, never a score
        details["traceback"] = traceback.format_exc()[-3000:]
        outcome = invalid(f"the scorer failed: {_describe(exc)}", details)
    result.write(outcome)
    # Skip interpreter teardown: a solution may have left threads or CUDA state behind.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


if __name__ == "__main__":
    main()
