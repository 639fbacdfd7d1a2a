"""Run the expert's scaffold over problems: the part of scoring that runs the expert's code.

Started by the scorer as the workspace user, WITHOUT the family's protected group (so nothing of
the hidden tests or the stand-in's table is readable from here), in a process group of its own
that the scorer kills at the whole scoring's limit. Reads one JSON request on stdin:

    {"scaffold": "/path/to/scaffold.py", "problems": [...],  # each without its private tests
     "base_url": "http://127.0.0.1:N/v1", "api_key": "...", "model": "...",
     "concurrency": 8, "per_problem_s": 120}

and writes one JSON line per problem to stdout as it finishes:

    {"id": "t001", "code": "fn main() {...}"}            or
    {"id": "t001", "error": "the scaffold raised ValueError: ..."}

Imports the scaffold's module fresh (its folder first on sys.path), builds one AsyncOpenAI
client and one asyncio.Semaphore(concurrency), and awaits
``generate_solution(client, semaphore, problem)`` for every problem, each under its own limit.
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
import os
import sys
import traceback
from pathlib import Path
from typing import Any

MAX_CODE_CHARS = 200_000


def load(path: Path):
    sys.path.insert(0, str(path.parent))
    spec = importlib.util.spec_from_file_location("scaffold", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def emit(record: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(record) + "\n")
    sys.stdout.flush()


async def one(generate, client, semaphore, problem: dict, limit_s: float) -> None:
    pid = problem["id"]
    try:
        code = await asyncio.wait_for(generate(client, semaphore, problem), limit_s)
    except TimeoutError:
        emit({"id": pid, "error": f"the scaffold took longer than {limit_s:g} s on it"})
        return
    except Exception as exc:  # the expert's code: any failure is this problem's
        last = traceback.extract_tb(exc.__traceback__)[-1:]
        where = f" (line {last[0].lineno})" if last else ""
        emit({"id": pid, "error": f"the scaffold raised {type(exc).__name__}{where}: {exc}"[:500]})
        return
    if not isinstance(code, str):
        emit({"id": pid, "error": f"the scaffold returned {type(code).__name__}, not a str"})
        return
    emit({"id": pid, "code": code[:MAX_CODE_CHARS]})


async def main() -> None:
    request = json.loads(sys.stdin.read())
    from openai import AsyncOpenAI

    # The scaffold names the model it asks for from here (the proxy allows only this one).
    os.environ["BASELINER_MODEL"] = request.get("model", "")
    module = load(Path(request["scaffold"]))
    generate = getattr(module, "generate_solution", None)
    if generate is None or not asyncio.iscoroutinefunction(generate):
        for problem in request["problems"]:
            emit({"id": problem["id"], "error": "scaffold.py has no async generate_solution"})
        return
    client = AsyncOpenAI(
        base_url=request["base_url"], api_key=request["api_key"], max_retries=2, timeout=60
    )
    semaphore = asyncio.Semaphore(int(request.get("concurrency", 8)))
    limit = float(request.get("per_problem_s", 120))
    try:
        await asyncio.gather(
            *(one(generate, client, semaphore, p, limit) for p in request["problems"])
        )
    finally:
        await client.close()


if __name__ == "__main__":
    asyncio.run(main())
