"""Your scaffold: make the model write Rust programs that solve competitive-programming problems.

`task score` imports this file and awaits `generate_solution(client, semaphore, problem)` for
every hidden problem (all at once: the semaphore is how many model calls may run together). It
must return the Rust source of a complete program (std only, reading stdin, writing stdout).
`problem` holds "id", "title", "statement", "input_format", "output_format", "examples" (a list
of {"input", "output"}) and "time_limit_s"; its private tests are not given.

This starting scaffold asks once and returns the first Rust block of the answer.
"""

import os
import re

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
