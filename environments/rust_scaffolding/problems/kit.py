"""The shape of one problem template and the pieces every template shares.

A template is a function of a variant number that returns a Spec: wording, a seeded input
generator, a Python reference and a correct Rust program, with the textual edits that turn the
correct program into the stand-in's wrong one. Keeping wrong = correct + one small edit makes the
wrong program a realistic near-miss (off by one, a missed edge case, an overflow).
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Callable
from dataclasses import dataclass, field

# Test sizes most templates use: tiny edge-ish cases first, then growing ones.
SIZES: tuple[int, ...] = (1, 2, 3, 5, 8, 13, 40, 200, 1000)
# The size of the one large test of templates that make a quadratic solution time out.
BIG = 200_000

# Every correct program starts with this prelude (fast whole-stdin reading, one output buffer).
# The broken mutations below rely on these exact lines.
PRELUDE = """use std::io::{self, Read, Write};

fn main() {
    let mut s = String::new();
    io::stdin().read_to_string(&mut s).unwrap();
    let mut it = s.split_ascii_whitespace();
    let mut out = String::new();
    #[allow(unused_macros)]
    macro_rules! rd {
        ($t:ty) => {
            it.next().unwrap().parse::<$t>().unwrap()
        };
    }
"""
EPILOGUE = """    io::stdout().write_all(out.as_bytes()).unwrap();
}
"""


@dataclass
class Spec:
    """One problem: what the model sees, how tests are made and solved, and the stand-in's code."""

    title: str
    statement: str
    input_format: str
    output_format: str
    gen: Callable[[random.Random, int], str]
    solve: Callable[[str], str]
    body: str  # Rust statements between PRELUDE and EPILOGUE (helpers may follow via `extra`)
    wrong: list[tuple[str, str]]
    edges: list[str] = field(default_factory=list)
    sizes: tuple[int, ...] = SIZES
    big: bool = False  # add one test of size BIG (a quadratic program times out)
    examples: list[str] | None = None  # fixed public inputs; default: generated small ones
    extra: str = ""  # Rust items after main (helper functions)
    time_limit_s: float = 2.0

    def rust(self) -> str:
        """The full correct Rust program."""
        text = PRELUDE + self.body + EPILOGUE
        return text + ("\n" + self.extra if self.extra else "")

    def rust_wrong(self) -> str:
        """The correct program with the template's bug edits applied (each must match once)."""
        text = self.rust()
        for old, new in self.wrong:
            count = text.count(old)
            if count != 1:
                raise ValueError(f"{self.title}: wrong-edit {old!r} matches {count} times")
            text = text.replace(old, new)
        return text


# Ways to make a program that does not compile, each a plausible slip.
_BREAKS: list[tuple[str, str]] = [
    ("    let mut out = String::new();\n", "    let out = String::new();\n"),
    ("use std::io::{self, Read, Write};\n", "use std::io::{self, Read};\n"),
    ("    let mut it = s.split_ascii_whitespace();\n", "    let mut it = tokens(&s);\n"),
    (
        "    let mut s = String::new();\n",
        '    let mut s = String::new();\n    let cap: usize = "1024";\n',
    ),
    (
        "    io::stdin().read_to_string(&mut s).unwrap();\n",
        "    io::stdin().read_to_string(s).unwrap();\n",
    ),
]


def broken(source: str, key: str) -> str:
    """A non-compiling variant of `source`, the slip chosen by a hash of `key`."""
    index = int(hashlib.sha256(key.encode()).hexdigest(), 16) % len(_BREAKS)
    old, new = _BREAKS[index]
    if old not in source:
        raise ValueError(f"{key}: broken-edit anchor missing")
    return source.replace(old, new, 1)


def rng_for(*parts: object) -> random.Random:
    """A generator seeded from the parts' text, stable across Python versions."""
    seed = int(hashlib.sha256("/".join(map(str, parts)).encode()).hexdigest()[:16], 16)
    return random.Random(seed)


def lines(*rows: object) -> str:
    """Input text: one row per line, a row of a list/tuple joined by spaces, trailing newline."""
    out = []
    for row in rows:
        if isinstance(row, list | tuple):
            out.append(" ".join(map(str, row)))
        else:
            out.append(str(row))
    return "\n".join(out) + "\n"


def ints(text: str) -> list[int]:
    """All whitespace-separated integers of an input."""
    return [int(t) for t in text.split()]


def pick(v: int, options: list):
    """The variant's choice among options (cycling)."""
    return options[v % len(options)]
