# Embedded Rust lines run long.
# ruff: noqa: E501
"""Templates: brackets, sequence DP, custom sorting, robot simulation, sliding windows,
binary search on the answer."""

from __future__ import annotations

import functools
import random

from .kit import Spec, ints, lines

M7 = 1_000_000_007


def _one(x: object) -> str:
    return f"{x}\n"


# --------------------------------------------------------------------------- brackets

_BRACKETS = [
    ("Balanced Chant", "valid", "()"),
    ("Nested Crates", "valid", "()[]{}"),
    ("Deepest Cave", "depth", "()"),
    ("Arrow Nesting Depth", "depth", "<>"),
    ("Fixing the Parentheses", "insert", "()"),
    ("Closing the Brackets", "insert", "[]"),
]


def brackets(v: int) -> Spec:
    title, op, chars = _BRACKETS[v]
    opens, closes = chars[0::2], chars[1::2]
    story = {
        "valid": f"A string over the characters `{chars}` is balanced when every opening "
        "bracket is closed by the matching closing bracket of the same kind, in the right "
        "order. Print `YES` if the string is balanced, otherwise `NO`.",
        "depth": f"The string over `{chars}` is balanced. Its depth is the largest number of "
        "brackets open at the same time. Print the depth.",
        "insert": f"Print the fewest characters `{chars[0]}` or `{chars[1]}` that must be "
        "inserted anywhere into the string to make it balanced.",
    }[op]

    def gen(rng: random.Random, n: int) -> str:
        if op == "depth" or (op == "valid" and rng.random() < 0.5):
            out, st = [], []
            while len(out) + len(st) < 2 * n:
                if st and (rng.random() < 0.5 or len(out) + 2 * len(st) >= 2 * n):
                    out.append(closes[opens.index(st.pop())])
                else:
                    st.append(rng.choice(opens))
                    out.append(st[-1])
            out += [closes[opens.index(c)] for c in reversed(st)]
            if op == "valid" and rng.random() < 0.5 and len(out) > 1:
                i = rng.randrange(len(out))
                out[i] = rng.choice(chars)
            return lines("".join(out))
        return lines("".join(rng.choice(chars) for _ in range(2 * n)))

    def solve(text: str) -> str:
        s = text.split()[0]
        st, depth, need = [], 0, 0
        for c in s:
            if c in opens:
                st.append(c)
                depth = max(depth, len(st))
            elif st and opens.index(st[-1]) == closes.index(c):
                st.pop()
            elif op == "valid":
                return "NO\n"
            else:
                need += 1
        if op == "valid":
            return "NO\n" if st else "YES\n"
        return _one(depth if op == "depth" else need + len(st))

    match = " || ".join(
        f"(top == b'{o}' && c == b'{c}')" for o, c in zip(opens, closes, strict=True)
    )
    is_open = " || ".join(f"c == b'{o}'" for o in opens)
    body = f"""    let s = it.next().unwrap().as_bytes();
    let mut st: Vec<u8> = Vec::new();
    let mut depth = 0usize;
    let mut need = 0usize;
    let mut ok = true;
    for &c in s {{
        if {is_open} {{
            st.push(c);
            depth = depth.max(st.len());
        }} else if let Some(&top) = st.last() {{
            if {match} {{
                st.pop();
            }} else {{
                ok = false;
                need += 1;
            }}
        }} else {{
            ok = false;
            need += 1;
        }}
    }}
"""
    body += {
        "valid": '    out.push_str(if ok && st.is_empty() { "YES\\n" } else { "NO\\n" });\n',
        "depth": '    out.push_str(&format!("{}\\n", depth));\n',
        "insert": '    out.push_str(&format!("{}\\n", need + st.len()));\n',
    }[op]
    wrong = {
        "valid": [("if ok && st.is_empty() {", "if ok {")]
        if chars == "()"
        else [(match, " || ".join(f"top == b'{o}'" for o in opens))],
        "depth": [("depth = depth.max(st.len());", "depth = depth.max(st.len() - 1);")],
        "insert": [("need + st.len()", "need.max(st.len())")],
    }[op]
    return Spec(
        title=title,
        statement=story,
        input_format=f"One line: a non-empty string of the characters `{chars}` "
        "(length at most 2*10^5).",
        output_format="Print the answer on one line.",
        gen=gen,
        solve=solve,
        body=body,
        wrong=wrong,
        edges=[lines(chars[:2]), lines(chars[1] + chars[0]), lines(chars[0] * 2 + chars[1])]
        if op != "depth"
        else [lines(chars[:2])],
    )


# --------------------------------------------------------------------------- sequence DP

_SEQDP = [
    ("Climbing Signal Towers", "lis", "strictly increasing"),
    ("Never Going Down", "lnds", "non-decreasing"),
    ("Best Trading Streak", "maxsub", "nonempty"),
    ("Optional Streak", "maxsub0", "possibly empty"),
    ("Hopping Frog Staircase", "stairs", (1, 2, 3)),
    ("Giant Strides", "stairs", (2, 3, 7)),
]


def seq_dp(v: int) -> Spec:
    title, op, param = _SEQDP[v]
    if op in ("lis", "lnds"):
        story = (
            f"Given a sequence of `n` integers, print the length of its longest {param} "
            "subsequence (elements kept in their original order, not necessarily adjacent)."
        )
        fmt = "The first line holds `n` (1 <= n <= 2*10^5); the second the `n` integers (|a_i| <= 10^9)."
    elif op.startswith("maxsub"):
        story = (
            "Given daily profits (possibly negative), print the largest sum of a block of "
            "consecutive days"
            + (
                " (the block must contain at least one day)."
                if op == "maxsub"
                else "; the empty block, with sum 0, is allowed."
            )
        )
        fmt = "The first line holds `n` (1 <= n <= 2*10^5); the second the `n` integers (|a_i| <= 10^9)."
    else:
        story = (
            f"A frog climbs a staircase of `n` steps, each jump going up by one of "
            f"{', '.join(map(str, param))} steps, and must land exactly on step `n`. In how "
            f"many ways can it climb from step 0? Print the count modulo {M7}. Answer `q` "
            "questions."
        )
        fmt = (
            "The first line holds `q` (1 <= q <= 10^5); each next line holds `n` (0 <= n <= 10^6)."
        )

    def gen(rng: random.Random, n: int) -> str:
        if op == "stairs":
            return lines(
                n, *[rng.randint(0, 10**6 if rng.random() < 0.3 else 40) for _ in range(n)]
            )
        top = 5 if n < 20 or rng.random() < 0.3 else 10**9
        a = [rng.randint(-top, top) for _ in range(n)]
        if op == "maxsub" and rng.random() < 0.4:
            a = [-abs(x) - 1 for x in a]
        return lines(n, a)

    def solve(text: str) -> str:
        v_ = ints(text)
        if op == "stairs":
            ways = _stairs(param, max(v_[1:]))
            return "".join(_one(ways[x]) for x in v_[1:])
        a = v_[1:]
        if op in ("lis", "lnds"):
            import bisect

            tails = []
            for x in a:
                i = (bisect.bisect_left if op == "lis" else bisect.bisect_right)(tails, x)
                tails[i : i + 1] = [x]
            return _one(len(tails))
        best, cur = (a[0], 0) if op == "maxsub" else (0, 0)
        for x in a:
            cur = max(x, cur + x) if op == "maxsub" else max(0, cur + x)
            best = max(best, cur)
        return _one(best)

    if op in ("lis", "lnds"):
        cmp = "t < x" if op == "lis" else "t <= x"
        body = f"""    let n = rd!(usize);
    let mut tails: Vec<i64> = Vec::new();
    for _ in 0..n {{
        let x = rd!(i64);
        let i = tails.partition_point(|&t| {cmp});
        if i == tails.len() {{
            tails.push(x);
        }} else {{
            tails[i] = x;
        }}
    }}
    out.push_str(&format!("{{}}\\n", tails.len()));
"""
        wrong = [(cmp, "t <= x" if op == "lis" else "t < x")]
    elif op.startswith("maxsub"):
        init = "i64::MIN" if op == "maxsub" else "0"
        step = "cur = x.max(cur + x);" if op == "maxsub" else "cur = (cur + x).max(0);"
        body = f"""    let n = rd!(usize);
    let mut best: i64 = {init};
    let mut cur: i64 = 0;
    for _ in 0..n {{
        let x = rd!(i64);
        {step}
        best = best.max(cur);
    }}
    out.push_str(&format!("{{}}\\n", best));
"""
        wrong = (
            [(step, "cur = (cur + x).max(0);")]
            if op == "maxsub"
            else [
                (
                    f"        {step}\n        best = best.max(cur);",
                    f"        best = best.max(cur);\n        {step}",
                )
            ]
        )
    else:
        terms = "\n".join(f"        if i >= {s} {{ w = (w + ways[i - {s}]) % M; }}" for s in param)
        body = f"""    let q = rd!(usize);
    const M: u64 = {M7};
    let qs: Vec<usize> = (0..q).map(|_| rd!(usize)).collect();
    let top = *qs.iter().max().unwrap();
    let mut ways = vec![0u64; top + 1];
    ways[0] = 1;
    for i in 1..=top {{
        let mut w = 0u64;
{terms}
        ways[i] = w;
    }}
    for &x in &qs {{
        out.push_str(&format!("{{}}\\n", ways[x]));
    }}
"""
        wrong = [(f"if i >= {param[0]} {{", f"if i > {param[0]} {{")]
    return Spec(
        title=title,
        statement=story,
        input_format=fmt,
        output_format="Print the answer" + ("s, one per line." if op == "stairs" else "."),
        gen=gen,
        solve=solve,
        body=body,
        wrong=wrong,
        edges=[lines(1, 0)] if op == "stairs" else [lines(1, [-7]), lines(3, [5, 5, 5])],
    )


@functools.cache
def _stairs_full(steps: tuple[int, ...]) -> list[int]:
    top = 10**6
    ways = [1] + [0] * top
    for i in range(1, top + 1):
        ways[i] = sum(ways[i - s] for s in steps if i >= s) % M7
    return ways


def _stairs(steps: tuple[int, ...], top: int) -> list[int]:
    """Ways to climb 0..top steps (tables are computed once per step set)."""
    if top <= 1000:
        ways = [1] + [0] * top
        for i in range(1, top + 1):
            ways[i] = sum(ways[i - s] for s in steps if i >= s) % M7
        return ways
    return _stairs_full(steps)


# --------------------------------------------------------------------------- custom sorting

_SORTS = [
    ("Library Shelf Order", "len_lex"),
    ("Digit Sum Parade", "digitsum"),
    ("Bit Count Lineup", "popcount"),
    ("Leaderboard", "score_name"),
    ("Last Digit First", "lastdigit"),
    ("Vowel Heavy Words", "vowels"),
]


def custom_sort(v: int) -> Spec:
    title, op = _SORTS[v]
    words = op in ("len_lex", "vowels")
    story = {
        "len_lex": "Sort the words by length, shorter first; words of equal length in "
        "alphabetical order.",
        "digitsum": "Sort the numbers by the sum of their decimal digits, smaller first; equal "
        "digit sums by value, smaller first.",
        "popcount": "Sort the numbers by the count of 1 bits in binary, fewer first; equal "
        "counts by value, larger first.",
        "score_name": "Each player has a name and a score. Sort by score, higher first; equal "
        "scores by name in alphabetical order. Print the names.",
        "lastdigit": "Sort the numbers by their last decimal digit, smaller first; equal last "
        "digits by value, smaller first.",
        "vowels": "Sort the words by the number of vowels (`a e i o u`) they contain, more "
        "first; equal counts in alphabetical order.",
    }[op]
    fmt = {
        "score_name": "The first line holds `n` (1 <= n <= 10^5); each next line holds a name "
        "(lowercase letters, at most 10, all names distinct) and a score (0 <= score <= 10^9).",
    }.get(
        op,
        "The first line holds `n` (1 <= n <= 10^5); the second holds `n` "
        + (
            "distinct lowercase words (each at most 10 letters)."
            if words
            else "integers (0 <= a_i <= 10^9)."
        ),
    )

    def word(rng: random.Random) -> str:
        return "".join(
            rng.choice("abeiou" if op == "vowels" else "abcz") for _ in range(rng.randint(1, 6))
        )

    def gen(rng: random.Random, n: int) -> str:
        if op in ("len_lex", "vowels", "score_name"):
            ws = set()
            while len(ws) < n:
                ws.add(word(rng))
            ws = sorted(ws)
            rng.shuffle(ws)
            if op == "score_name":
                return lines(n, *[(w, rng.randint(0, 5 if n < 40 else 10**9)) for w in ws])
            return lines(n, ws)
        top = rng.choice([100, 10**9])
        return lines(n, [rng.randint(0, top) for _ in range(n)])

    def key(x):
        if op == "len_lex":
            return (len(x), x)
        if op == "vowels":
            return (-sum(c in "aeiou" for c in x), x)
        if op == "digitsum":
            return (sum(map(int, str(x))), x)
        if op == "popcount":
            return (bin(x).count("1"), -x)
        if op == "lastdigit":
            return (x % 10, x)
        return (-x[1], x[0])

    def solve(text: str) -> str:
        t = text.split()
        n = int(t[0])
        if op == "score_name":
            rows = [(t[1 + 2 * i], int(t[2 + 2 * i])) for i in range(n)]
            return " ".join(r[0] for r in sorted(rows, key=key)) + "\n"
        items = t[1:] if words else list(map(int, t[1:]))
        return " ".join(map(str, sorted(items, key=key))) + "\n"

    if op == "score_name":
        read = "    let n = rd!(usize);\n    let mut v: Vec<(String, i64)> = (0..n).map(|_| (it.next().unwrap().to_string(), rd!(i64))).collect();\n"
        sort = "v.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));"
        wrong = [(sort, "v.sort_by(|a, b| b.1.cmp(&a.1));")]
        show = "v.iter().map(|x| x.0.clone())"
    elif words:
        read = "    let n = rd!(usize);\n    let mut v: Vec<String> = (0..n).map(|_| it.next().unwrap().to_string()).collect();\n"
        sort = (
            "v.sort_by(|a, b| a.len().cmp(&b.len()).then(a.cmp(b)));"
            if op == "len_lex"
            else 'v.sort_by_key(|w| (std::cmp::Reverse(w.bytes().filter(|c| b"aeiou".contains(c)).count()), w.clone()));'
        )
        wrong = (
            [(sort, "v.sort_by_key(|w| w.len());")]
            if op == "len_lex"
            else [("std::cmp::Reverse(w.bytes()", "(w.bytes()")]
        )
        show = "v.iter().cloned()"
    else:
        read = "    let n = rd!(usize);\n    let mut v: Vec<u64> = (0..n).map(|_| rd!(u64)).collect();\n"
        sort = {
            "digitsum": "v.sort_by_key(|&x| (x.to_string().bytes().map(|c| (c - b'0') as u64).sum::<u64>(), x));",
            "popcount": "v.sort_by_key(|&x| (x.count_ones(), std::cmp::Reverse(x)));",
            "lastdigit": "v.sort_by_key(|&x| (x % 10, x));",
        }[op]
        wrong = {
            "digitsum": [(", x));", ", 0));")],
            "popcount": [("std::cmp::Reverse(x)", "x")],
            "lastdigit": [("(x % 10, x)", "(x % 10, 0)")],
        }[op]
        show = "v.iter().map(|x| x.to_string())"
    body = (
        read
        + f"    {sort}\n    let shown: Vec<String> = {show}.collect();\n"
        + "    out.push_str(&shown.join(\" \"));\n    out.push('\\n');\n"
    )
    return Spec(
        title=title,
        statement=story + " Print the sorted list on one line, separated by spaces.",
        input_format=fmt,
        output_format="One line with the sorted items.",
        gen=gen,
        solve=solve,
        body=body,
        wrong=wrong,
    )


TEMPLATES = [
    ("brackets", brackets, len(_BRACKETS)),
    ("seq_dp", seq_dp, len(_SEQDP)),
    ("custom_sort", custom_sort, len(_SORTS)),
]
