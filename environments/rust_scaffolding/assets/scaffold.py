"""Your scaffold: make the model write Rust programs that solve competitive-programming problems.

`task score` imports this file and awaits `generate_solution(client, semaphore, problem)` for
every hidden problem (all at once: the semaphore is how many model calls may run together). It
must return the Rust source of a complete program (std only, reading stdin, writing stdout).
`problem` holds "id", "title", "statement", "input_format", "output_format", "examples" (a list
of {"input", "output"}) and "time_limit_s"; its private tests are not given.

This starting scaffold asks once and returns the first Rust block of the answer.

Try it on the development problems with the run's development model (one budget for the whole
run, shown on the run page):

    eval "$(task model env)"     # sets OPENAI_BASE_URL and OPENAI_API_KEY for this shell
    python3 scaffold.py 3        # the first 3 problems of problems/dev.json (all without a number)
"""

import os
import re
import sys

MODEL = os.environ.get("BASELINER_MODEL", "")
FENCE = re.compile(r"```(?:rust)?\s*\n(.*?)```", re.S)


def prompt(problem: dict) -> str:
    examples = "\n\n".join(
        f"Example input:\n{e['input']}\nExample output:\n{e['output']}" for e in problem["examples"]
    )
    return (
        f"Solve this problem in Rust (edition 2021, std only; read stdin, write stdout).\n\n"
        f"# {problem['title']}\n\n{problem['statement']}\n\n"
        f"Input: {problem['input_format']}\nOutput: {problem['output_format']}\n\n{examples}\n\n"
        "Answer with one ```rust code block holding the whole program."
    )


def extract(text: str) -> str:
    found = FENCE.search(text or "")
    return found.group(1) if found else (text or "")


async def generate_solution(client, semaphore, problem: dict) -> str:
    async with semaphore:
        answer = await client.chat.completions.create(
            model=MODEL,
            messages=[{"role": "user", "content": prompt(problem)}],
            temperature=0,
        )
    return extract(answer.choices[0].message.content)


# -- trying the scaffold on the development problems (not used by `task score`) ----------------


def _judge(source: str, tests: list, folder: str) -> str:
    """'accepted', or why not: compiled with rustc -O, run on each test (no sandbox: your own
    program, on your own machine)."""
    import subprocess

    with open(os.path.join(folder, "main.rs"), "w") as f:
        f.write(source)
    binary = os.path.join(folder, "main")
    built = subprocess.run(
        ["rustc", "--edition", "2021", "-O", "-o", binary, os.path.join(folder, "main.rs")],
        capture_output=True,
        text=True,
    )
    if built.returncode:
        return "compile error"
    for k, test in enumerate(tests, 1):
        try:
            ran = subprocess.run(
                [binary], input=test["input"], capture_output=True, text=True, timeout=6
            )
        except subprocess.TimeoutExpired:
            return f"time limit exceeded on test {k}"
        got = [line.rstrip() for line in ran.stdout.rstrip().splitlines()]
        if ran.returncode or got != [
            line.rstrip() for line in test["output"].rstrip().splitlines()
        ]:
            return f"wrong answer on test {k}"
    return "accepted"


class _PlainClient:
    """``client.chat.completions.create(**request)`` over urllib, for a Python without the
    ``openai`` package; answers read as attributes (``answer.choices[0].message.content``)."""

    def __init__(self) -> None:
        from types import SimpleNamespace

        if not os.environ.get("OPENAI_BASE_URL"):
            sys.exit('OPENAI_BASE_URL is unset: run eval "$(task model env)" first')
        self.base_url = os.environ["OPENAI_BASE_URL"].rstrip("/")
        self.key = os.environ.get("OPENAI_API_KEY", "")
        self.chat = SimpleNamespace(completions=SimpleNamespace(create=self._create))

    async def _create(self, **request):
        import asyncio

        return await asyncio.get_running_loop().run_in_executor(None, self._post, request)

    def _post(self, request: dict):
        import json
        import urllib.error
        import urllib.request
        from types import SimpleNamespace

        call = urllib.request.Request(
            self.base_url + "/chat/completions",
            json.dumps(request).encode(),
            {"Authorization": f"Bearer {self.key}", "Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(call, timeout=600) as answer:
                text = answer.read().decode()
        except urllib.error.HTTPError as exc:
            raise RuntimeError(f"HTTP {exc.code}: {exc.read().decode()[:300]}") from None
        return json.loads(text, object_hook=lambda d: SimpleNamespace(**d))


async def _try_dev(count: int) -> None:
    import asyncio
    import json
    import tempfile

    try:
        from openai import AsyncOpenAI  # reads OPENAI_BASE_URL and OPENAI_API_KEY
    except ImportError:  # no openai package here: the few calls a scaffold makes, by hand
        AsyncOpenAI = _PlainClient

    with open(
        os.path.join(os.path.dirname(os.path.abspath(__file__)), "problems", "dev.json")
    ) as f:
        problems = json.load(f)["problems"][:count]
    client, semaphore = AsyncOpenAI(), asyncio.Semaphore(4)
    solved = 0
    for problem in problems:
        public = {k: v for k, v in problem.items() if k != "tests"}
        try:
            source = await generate_solution(client, semaphore, public)
        except Exception as exc:  # shown, as scoring would record it
            print(f"{problem['id']} {problem['title']}: the scaffold raised {exc!r}")
            continue
        with tempfile.TemporaryDirectory() as folder:
            outcome = _judge(source, problem["examples"] + problem["tests"], folder)
        solved += outcome == "accepted"
        print(f"{problem['id']} {problem['title']}: {outcome}")
    print(f"solved {solved}/{len(problems)} development problems")


if __name__ == "__main__":
    import asyncio

    asyncio.run(_try_dev(int(sys.argv[1]) if len(sys.argv) > 1 else 10**6))
