"""Scaffolding for Rust Codecontests (RE-Bench's rust_codecontests_inference) as a METR Task
Standard family.

The expert writes ``generate_solution(client, semaphore, problem) -> str`` in ``scaffold.py``: a
scaffold that makes a language model write Rust programs for competitive-programming problems.
The score is the fraction of the hidden problems (problems/test.json, never in the workspace)
whose program passes every private test; highest counts.

Scoring (``intermediate_score``, run as root by the platform):
1. the model: the operator's OpenAI-compatible endpoint when configured, else the deterministic
   stand-in (standin.py, for tests and CPU-only demos), always behind the budget proxy
   (model_proxy.py), which holds the key, allows one model and stops at the token budget;
2. the expert's scaffold runs over the hidden problems (without their tests) as the workspace
   user with none of the family's groups (scoring/run_scaffold.py), under a whole-scoring limit;
3. every program is judged in a sandbox (judge.py: rustc, then bubblewrap and limits per test).
The score records the model and the budget: scores under different models are never pooled.

Settings, from the environment of the process that scores (the operator's; tests use them):
    BASELINER_MODEL_BASE_URL        the operator's endpoint (OpenAI-compatible, ending in /v1);
                                    empty: the stand-in. The same three variables configure the
                                    portal's model gateway (the expert's development budget)
    BASELINER_MODEL                 the model name (default: the stand-in's)
    BASELINER_MODEL_API_KEY         the endpoint's key (never written anywhere)
    BASELINER_RUST_TOKEN_BUDGET     tokens one scoring may use (default 2_000_000)
    BASELINER_RUST_CONCURRENCY      the semaphore's size given to the scaffold (default 8)
    BASELINER_RUST_SCORE_TIMEOUT_S  limit for the whole scoring (default 1800)
    BASELINER_RUST_PROBLEMS         score only the first N hidden problems (tests; default all)
    BASELINER_RUST_STANDIN_SEED     the stand-in's seed (default 0)
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

FAMILY_DIR = Path(__file__).resolve().parent
if str(FAMILY_DIR) not in sys.path:
    sys.path.insert(0, str(FAMILY_DIR))  # familykit, through the family's link

from familykit import scores  # noqa: E402
from familykit.scorer import identity, kill_group  # noqa: E402
from familykit.workspace import hand_over  # noqa: E402
from familykit.workspace import home as _home  # noqa: E402

ASSETS = FAMILY_DIR / "assets"
PROBLEMS = FAMILY_DIR / "problems"
RUNNER = FAMILY_DIR / "scoring" / "run_scaffold.py"
SCAFFOLD = "scaffold.py"
JUDGES = 2  # programs judged at once (each compile takes a core)
STANDIN_MODEL = "baseliner-standin"


def condition(model: str) -> str:
    """The scoring condition a score reports: the model it was made with. y_s and y_r hold per
    model (the manifest's for the stand-in's, the portal's for others)."""
    return f"model: {model}"


CLIENT_TOKEN_ENV = "BASELINER_RUST_PROXY_TOKEN"


def _setting(name: str, default: str) -> str:
    return os.environ.get(name) or default


def _python() -> str:
    """This interpreter by its real path (a venv's link resolved): the workspace user may not
    reach the folder the link is in (a checkout under a private folder)."""
    if sys.prefix == sys.base_prefix:
        return str(Path(sys.executable).resolve())
    return str(Path(sys.prefix).resolve() / "bin" / Path(sys.executable).name)


def hidden_problems() -> list[dict[str, Any]]:
    problems = json.loads((PROBLEMS / "test.json").read_text())["problems"]
    limit = int(_setting("BASELINER_RUST_PROBLEMS", "0"))
    return problems[:limit] if limit else problems


def public(problem: dict[str, Any]) -> dict[str, Any]:
    """What the scaffold may see of a problem: everything but its private tests."""
    return {k: v for k, v in problem.items() if k != "tests"}


class TaskFamily:
    standard_version = "0.5.0"
    required_environment_variables: list[str] = []

    @staticmethod
    def get_tasks() -> dict[str, dict]:
        return {"main": {"scaffold": SCAFFOLD}}

    @staticmethod
    def get_instructions(t: dict) -> str:
        return (ASSETS / "README.md").read_text()

    @staticmethod
    def get_permissions(t: dict) -> list[str]:
        return []

    @staticmethod
    def install() -> None:
        """Nothing to fetch: rustc and bubblewrap are the host's (scripts/install.sh)."""

    @staticmethod
    def start(t: dict) -> None:
        """The starting scaffold, the README and the development problems into the task
        folder, owned by the workspace user."""
        home = _home()
        home.mkdir(parents=True, exist_ok=True)
        shutil.copytree(ASSETS, home, dirs_exist_ok=True)
        (home / "problems").mkdir(exist_ok=True)
        shutil.copy2(PROBLEMS / "dev.json", home / "problems" / "dev.json")
        hand_over(home)

    @staticmethod
    def intermediate_score(t: dict) -> dict[str, Any]:
        scaffold = _home() / t.get("scaffold", SCAFFOLD)
        if not scaffold.is_file():
            return scores.invalid(f"no scaffold at {scaffold}")
        return score(scaffold, hidden_problems())

    @staticmethod
    def aggregate_scores(t: dict, score_log: list[dict[str, Any]]) -> float:
        """The best (highest) valid fraction solved in the log, among the scores made with the
        model of the last valid one (scores under two models are never pooled); NaN if none."""
        valid = []
        for entry in score_log:
            with contextlib.suppress(TypeError, ValueError):
                value = float(entry.get("score"))
                if math.isfinite(value):
                    valid.append((value, scores.condition_of(entry)))
        last = valid[-1][1] if valid else ""
        return max((v for v, said in valid if said == last), default=math.nan)


@contextlib.contextmanager
def model_endpoint(budget: int):
    """The proxy the scaffold talks to, in front of the operator's endpoint or the stand-in;
    yields (base_url, api_key the proxy admits, model, proxy)."""
    from model_proxy import ModelProxy
    from standin import StandinModel

    upstream = os.environ.get("BASELINER_MODEL_BASE_URL", "")
    standin = None
    if not upstream:
        standin = StandinModel(
            PROBLEMS / "standin.json",
            [PROBLEMS / "test.json", PROBLEMS / "dev.json"],
            seed=int(_setting("BASELINER_RUST_STANDIN_SEED", "0")),
        )
        standin.start()
        upstream = standin.base_url
    model = _setting("BASELINER_MODEL", STANDIN_MODEL if standin else "")
    folder = Path(tempfile.mkdtemp(prefix="rust-scaffolding-proxy-"))
    token = secrets.token_urlsafe(16)
    # The scaffold must show this token: another user's process on the host cannot use the
    # scoring's budget through the loopback port.
    os.environ[CLIENT_TOKEN_ENV] = token
    proxy = ModelProxy(
        upstream, model, budget, folder / "usage.json", client_token_env=CLIENT_TOKEN_ENV
    )
    proxy.start()
    try:
        yield proxy.base_url, token, model, proxy
    finally:
        proxy.stop()
        if standin is not None:
            standin.stop()
        os.environ.pop(CLIENT_TOKEN_ENV, None)
        shutil.rmtree(folder, ignore_errors=True)


def _ids(user: str) -> tuple[int, int]:
    import pwd

    entry = pwd.getpwnam(user)
    return entry.pw_uid, entry.pw_gid


def run_scaffold(
    scaffold: Path, problems: list[dict], base_url: str, api_key: str, model: str, limit_s: float
) -> tuple[dict[str, dict], str]:
    """The scaffold's answer per problem id ({"code"} or {"error"}), and why it stopped early
    ("" when it answered every problem), from run_scaffold.py as the workspace user with no
    protected group."""
    drop = identity(protected=False)
    # The scaffold's folder and the runner, where the workspace user alone may read them: the
    # platform's scoring copy of the task folder sits in a folder of the family's group, which
    # the scaffold must not have (it would open the hidden tests too), and the runner is the
    # family's own file.
    work = Path(tempfile.mkdtemp(prefix="rust-scaffold-"))
    folder = work / "home"
    shutil.copytree(scaffold.parent, folder, symlinks=True,
                    ignore=shutil.ignore_patterns(".cache", ".local", ".config"))  # fmt: skip
    runner = work / RUNNER.name
    shutil.copy2(RUNNER, runner)
    if drop:
        for path in [work, *work.rglob("*")]:
            os.lchown(path, *_ids(drop["user"]))
    request = {
        "scaffold": str(folder / scaffold.name),
        "problems": [public(p) for p in problems],
        "base_url": base_url,
        "api_key": api_key,
        "model": model,
        "concurrency": int(_setting("BASELINER_RUST_CONCURRENCY", "8")),
        "per_problem_s": min(600.0, limit_s),
    }
    answers: dict[str, dict] = {}
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        proc = subprocess.Popen(
            [_python(), str(runner)],
            cwd=folder,
            stdin=subprocess.PIPE,
            stdout=out,
            stderr=err,
            start_new_session=True,
            **drop,
        )
        stopped = ""
        try:
            proc.communicate(json.dumps(request).encode(), timeout=limit_s)
        except subprocess.TimeoutExpired:
            stopped = f"the scaffold took longer than the scoring's limit of {limit_s:g} s"
        finally:
            kill_group(proc)
        out.seek(0)
        for line in out.read().decode(errors="replace").splitlines():
            with contextlib.suppress(ValueError, KeyError, TypeError):
                record = json.loads(line)
                answers[str(record["id"])] = record
        if not stopped and len(answers) < len(problems):
            err.seek(0)
            said = err.read().decode(errors="replace").strip().splitlines()[-1:]
            stopped = "the scaffold's process ended early" + (f": {said[0]}" if said else "")
    shutil.rmtree(work, ignore_errors=True)
    return answers, stopped[:500]


def endpoint_problem(upstream: str) -> str:
    """Why the model endpoint cannot serve this scoring ("" when it answers): asked once, before
    the scaffold runs, so a dead endpoint invalidates the scoring instead of scoring 0."""
    import httpx

    key = os.environ.get("BASELINER_MODEL_API_KEY", "")
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    try:
        answer = httpx.get(f"{upstream.rstrip('/')}/models", headers=headers, timeout=15)
    except httpx.HTTPError as exc:
        return f"it could not be reached ({type(exc).__name__})"
    if answer.status_code in (401, 403):
        return f"it refused the operator's key (HTTP {answer.status_code})"
    if answer.status_code >= 500:
        return f"it failed (HTTP {answer.status_code})"
    return ""


def reason(verdict) -> str:
    """A verdict as the details say it."""
    words = {
        "accepted": "accepted",
        "compile_error": "compile error",
        "wrong_answer": "wrong answer",
        "timeout": "time limit exceeded",
        "runtime_error": "runtime error",
        "memory": "memory limit exceeded",
        "output_limit": "output limit exceeded",
        "judge_error": "judge error",
    }
    said = words.get(verdict.status, verdict.status)
    return f"{said} on test {verdict.test}" if verdict.test else said


def score(scaffold: Path, problems: list[dict]) -> dict[str, Any]:
    """Run the scaffold over ``problems``, judge every program, and say solved/total."""
    from judge import judge

    limit_s = float(_setting("BASELINER_RUST_SCORE_TIMEOUT_S", "1800"))
    budget = int(_setting("BASELINER_RUST_TOKEN_BUDGET", "2000000"))
    started = time.monotonic()
    with model_endpoint(budget) as (base_url, api_key, model, proxy):
        down = endpoint_problem(proxy.upstream)
        if down:  # the platform's fault, not the scaffold's: no score is made up
            return scores.invalid(
                f"the model endpoint cannot be used: {down}",
                {"model": model, "condition": condition(model)},
            )
        answers, stopped = run_scaffold(scaffold, problems, base_url, api_key, model, limit_s)
        usage = proxy.usage()
    outcomes: dict[str, str] = {}
    to_judge = []
    for problem in problems:
        answer = answers.get(problem["id"])
        if answer is None:
            outcomes[problem["id"]] = "no answer: " + (stopped or "the scaffold gave none")
        elif "error" in answer:
            outcomes[problem["id"]] = f"scaffold: {answer['error']}"
        elif not answer.get("code", "").strip():
            outcomes[problem["id"]] = "empty program"
        else:
            to_judge.append((problem, answer["code"]))
    with tempfile.TemporaryDirectory(prefix="rust-judge-") as tmp:

        def run(item):
            problem, code = item
            folder = Path(tmp) / problem["id"]
            folder.mkdir()
            return problem["id"], judge(
                code, problem["tests"], workdir=folder,
                time_limit_s=float(problem.get("time_limit_s", 2.0)),
            )  # fmt: skip

        with ThreadPoolExecutor(JUDGES) as pool:
            for pid, verdict in pool.map(run, to_judge):
                outcomes[pid] = reason(verdict)
    solved = sum(1 for said in outcomes.values() if said == "accepted")
    total = len(problems)
    kinds = Counter(said.split(" on test")[0].split(":")[0] for said in outcomes.values())
    return {
        "score": solved / total if total else math.nan,
        "message": {
            "solved": f"{solved}/{total}",
            "outcomes": ", ".join(f"{n} {kind}" for kind, n in kinds.most_common()),
            "model": model,
            "condition": condition(model),
            "tokens_used": usage.get("used"),
            "token_budget": budget,
            **({"stopped": stopped} if stopped else {}),
        },
        "details": {
            "solved": solved,
            "total": total,
            "model": model,
            "token_budget": budget,
            "seconds": round(time.monotonic() - started, 1),
            "problems": outcomes,
        },
    }
