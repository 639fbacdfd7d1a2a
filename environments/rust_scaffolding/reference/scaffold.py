"""The reference scaffold (never installed in a workspace): several samples, each compiled and
run on the problem's public examples, and a choice among the programs that pass them (the one
most samples agree with, by their outputs on the examples; the first on a tie)."""

import asyncio
import os
import re
import shutil
import subprocess
import tempfile
from collections import Counter
from pathlib import Path

MODEL = os.environ.get("BASELINER_MODEL", "")
SAMPLES = 6
FENCE = re.compile(r"```(?:rust)?\s*\n(.*?)```", re.S)
RUSTC = shutil.which("rustc", path="/usr/bin:/usr/local/bin") or "rustc"


def prompt(problem: dict) -> str:
    examples = "\n\n".join(
        f"Example input:\n{e['input']}\nExample output:\n{e['output']}" for e in problem["examples"]
    )
    return (
        "You are an expert competitive programmer. Solve this problem in Rust (edition 2021,"
        " std only; read all of stdin, write stdout; mind the limits and edge cases).\n\n"
        f"# {problem['title']}\n\n{problem['statement']}\n\n"
        f"Input: {problem['input_format']}\nOutput: {problem['output_format']}\n\n{examples}\n\n"
        "Think about the edge cases, then answer with one ```rust code block holding the whole"
        " program."
    )


def extract(text: str) -> str:
    found = FENCE.search(text or "")
    return found.group(1) if found else ""


def same(a: str, b: str) -> bool:
    return [line.rstrip() for line in a.rstrip().splitlines()] == [
        line.rstrip() for line in b.rstrip().splitlines()
    ]


def check(source: str, examples: list[dict]) -> tuple[bool, tuple[str, ...]]:
    """Whether the program compiles and passes every example, and what it printed."""
    with tempfile.TemporaryDirectory() as tmp:
        main, binary = Path(tmp) / "main.rs", Path(tmp) / "main"
        main.write_text(source)
        built = subprocess.run(
            [RUSTC, "--edition", "2021", "-O", "-o", str(binary), str(main)],
            capture_output=True, timeout=60,
        )  # fmt: skip
        if built.returncode != 0:
            return False, ()
        outputs = []
        for example in examples:
            try:
                ran = subprocess.run(
                    [str(binary)], input=example["input"], capture_output=True, text=True,
                    timeout=5,
                )  # fmt: skip
            except subprocess.TimeoutExpired:
                return False, ()
            if ran.returncode != 0 or not same(ran.stdout, example["output"]):
                return False, ()
            outputs.append(ran.stdout.strip())
        return True, tuple(outputs)


async def sample(client, semaphore, problem: dict) -> list[str]:
    async with semaphore:
        answer = await client.chat.completions.create(
            model=MODEL,
            messages=[{"role": "user", "content": prompt(problem)}],
            temperature=1.0,
            n=SAMPLES,
        )
    return [extract(choice.message.content) for choice in answer.choices]


async def generate_solution(client, semaphore, problem: dict) -> str:
    sources = [s for s in await sample(client, semaphore, problem) if s]
    if not sources:
        return ""
    checks = await asyncio.gather(
        *(asyncio.to_thread(check, s, problem["examples"]) for s in sources)
    )
    passing = [(s, out) for s, (ok, out) in zip(sources, checks, strict=True) if ok]
    if not passing:
        return sources[0]
    votes = Counter(out for _, out in passing)
    best = max(votes, key=votes.get)
    return next(s for s, out in passing if out == best)
