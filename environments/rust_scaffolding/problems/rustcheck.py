"""Does each stand-in Rust source behave as labelled? Compile with the machine's rustc and run.

Used by build.py --check and by the tests. Not the judge (no sandbox): these are our own programs.
Binaries are cached by source hash so a re-check compiles only what changed.
"""

from __future__ import annotations

import functools
import hashlib
import os
import shutil
import subprocess
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

CACHE = Path(tempfile.gettempdir()) / "baseliner-rust-problems-cache"


def rustc() -> str | None:
    """Path of rustc: Debian's (/usr/bin, what the judge and the workspaces use), else PATH,
    ~/.cargo/bin and /root/.cargo/bin; None without one."""
    found = shutil.which("rustc", path="/usr/bin") or shutil.which("rustc")
    if found:
        return found
    for base in (Path.home(), Path("/root")):
        candidate = base / ".cargo" / "bin" / "rustc"
        if candidate.exists():
            return str(candidate)
    return None


@functools.cache
def _version(compiler: str) -> str:
    return subprocess.run([compiler, "--version"], capture_output=True, text=True).stdout.strip()


def compile_source(source: str) -> tuple[Path | None, str]:
    """(binary or None, stderr) for `source`, reusing a cached binary of the same source."""
    compiler = rustc()
    if compiler is None:
        raise RuntimeError("rustc not found")
    # Keyed by the compiler too: a binary of another rustc proves nothing about this one.
    digest = hashlib.sha256(f"{_version(compiler)}\n{source}".encode()).hexdigest()[:24]
    CACHE.mkdir(parents=True, exist_ok=True)
    binary = CACHE / f"{digest}.bin"
    failed = CACHE / f"{digest}.err"
    if binary.exists():
        return binary, ""
    if failed.exists():
        return None, failed.read_text()
    with tempfile.TemporaryDirectory(dir=CACHE) as tmp:
        src = Path(tmp) / "main.rs"
        src.write_text(source)
        out = Path(tmp) / "main"
        env = dict(os.environ, PATH=f"{Path(compiler).parent}:{os.environ.get('PATH', '')}")
        proc = subprocess.run(
            [compiler, "--edition", "2021", "-O", "-o", str(out), str(src)],
            capture_output=True,
            text=True,
            env=env,
            timeout=300,
        )
        if proc.returncode != 0:
            failed.write_text(proc.stderr)
            return None, proc.stderr
        os.replace(out, binary)
    return binary, ""


def same_output(got: str, want: str) -> bool:
    """Exact comparison, trailing whitespace forgiven per line and at the end."""
    a = [line.rstrip() for line in got.rstrip().split("\n")]
    b = [line.rstrip() for line in want.rstrip().split("\n")]
    return a == b


def run_tests(binary: Path, tests: list[dict], time_limit_s: float) -> tuple[int | None, str]:
    """(1-based index of the first failing test or None, reason)."""
    for k, test in enumerate(tests, 1):
        try:
            proc = subprocess.run(
                [str(binary)],
                input=test["input"],
                capture_output=True,
                text=True,
                timeout=time_limit_s,
            )
        except subprocess.TimeoutExpired:
            return k, "timeout"
        if proc.returncode != 0:
            return k, f"exit {proc.returncode}: {proc.stderr[-200:]}"
        if not same_output(proc.stdout, test["output"]):
            return k, "wrong answer"
    return None, "accepted"


@dataclass
class Finding:
    problem: str
    kind: str  # correct | wrong | broken
    ok: bool
    detail: str


def check_problem(problem: dict, sources: dict, time_limit_s: float | None = None) -> list[Finding]:
    """Correct passes every test (examples too), wrong fails one, broken fails to compile."""
    limit = time_limit_s or problem["time_limit_s"]
    tests = problem["examples"] + problem["tests"]
    pid = problem["id"]
    findings = []
    binary, err = compile_source(sources["correct"])
    if binary is None:
        findings.append(Finding(pid, "correct", False, "compile error: " + err[-400:]))
    else:
        bad, why = run_tests(binary, tests, limit)
        detail = "accepted" if bad is None else f"test {bad}: {why}"
        findings.append(Finding(pid, "correct", bad is None, detail))
    binary, err = compile_source(sources["wrong"])
    if binary is None:
        findings.append(Finding(pid, "wrong", False, "compile error: " + err[-400:]))
    else:
        bad, why = run_tests(binary, problem["tests"], limit)
        detail = "passed every test" if bad is None else f"fails test {bad}: {why}"
        findings.append(Finding(pid, "wrong", bad is not None, detail))
    binary, err = compile_source(sources["broken"])
    findings.append(Finding(pid, "broken", binary is None, "compiles" if binary else "no compile"))
    return findings


def check_all(problems: list[dict], standin: dict, workers: int = 2) -> list[Finding]:
    """check_problem over every problem with a small thread pool (rustc runs are the cost)."""
    with ThreadPoolExecutor(max_workers=workers) as pool:
        results = pool.map(lambda p: check_problem(p, standin[p["id"]]), problems)
        return [f for group in results for f in group]
