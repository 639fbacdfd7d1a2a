# Embedded Rust lines run long.
# ruff: noqa: E501
"""Templates: sliding windows, knapsacks, string DP, robot walks, 2D prefix sums, splitting by
binary search on the answer."""

from __future__ import annotations

import random

from .kit import Spec, ints, lines

M7 = 1_000_000_007


def _one(x: object) -> str:
    return f"{x}\n"


# --------------------------------------------------------------------------- sliding windows

_WINDOW = [
    ("Best Week of Sales", "fixed", "days", "sales"),
    ("Longest Affordable Trip", "atmost", "stops", "fares"),
    ("Shortest Rich Streak", "atleast", "days", "earnings"),
    ("Best Month of Rainfall", "fixed", "days", "rainfall readings"),
    ("Longest Budget Playlist", "atmost", "songs", "durations"),
    ("Quickest Fundraiser", "atleast", "donors", "gifts"),
]


def windows(v: int) -> Spec:
    title, op, things, vals = _WINDOW[v]
    ask = {
        "fixed": f"Print the largest total of `K` consecutive {vals}.",
        "atmost": f"Print the length of the longest block of consecutive {things} whose "
        f"{vals} total at most `K` (0 if none).",
        "atleast": f"Print the length of the shortest block of consecutive {things} whose "
        f"{vals} total at least `K`, or `-1` if no block does.",
    }[op]

    def gen(rng: random.Random, n: int) -> str:
        top = rng.choice([10, 10**9]) if n > 2 else 5
        a = [rng.randint(1, top) for _ in range(n)]
        if op == "fixed":
            k = rng.randint(1, n)
        else:
            k = rng.randint(
                1, max(1, sum(a) // rng.choice([1, 3, 10])) + (top if rng.random() < 0.2 else 0)
            )
        return lines((n, k), a)

    def solve(text: str) -> str:
        v_ = ints(text)
        n, k, a = v_[0], v_[1], v_[2:]
        if op == "fixed":
            s = best = sum(a[:k])
            for i in range(k, n):
                s += a[i] - a[i - k]
                best = max(best, s)
            return _one(best)
        best, s, j = (0 if op == "atmost" else n + 1), 0, 0
        for i in range(n):
            s += a[i]
            if op == "atmost":
                while s > k:
                    s -= a[j]
                    j += 1
                best = max(best, i - j + 1)
            else:
                while s - a[j] >= k and j < i:
                    s -= a[j]
                    j += 1
                if s >= k:
                    best = min(best, i - j + 1)
        return _one(best if best <= n else -1)

    head = "    let n = rd!(usize);\n    let k = rd!(i64);\n    let a: Vec<i64> = (0..n).map(|_| rd!(i64)).collect();\n"
    body, wrong = {
        "fixed": (
            """    let k = k as usize;
    let mut s: i64 = a[..k].iter().sum();
    let mut best = s;
    for i in k..n {
        s += a[i] - a[i - k];
        best = best.max(s);
    }
    out.push_str(&format!("{}\\n", best));
""",
            [("for i in k..n {", "for i in k..n.saturating_sub(1) {")],
        ),
        "atmost": (
            """    let (mut best, mut s, mut j) = (0usize, 0i64, 0usize);
    for i in 0..n {
        s += a[i];
        while s > k {
            s -= a[j];
            j += 1;
        }
        best = best.max(i + 1 - j);
    }
    out.push_str(&format!("{}\\n", best));
""",
            [("while s > k {", "while s >= k && j <= i {")],
        ),
        "atleast": (
            """    let (mut best, mut s, mut j) = (n + 1, 0i64, 0usize);
    for i in 0..n {
        s += a[i];
        while j < i && s - a[j] >= k {
            s -= a[j];
            j += 1;
        }
        if s >= k {
            best = best.min(i + 1 - j);
        }
    }
    if best > n {
        out.push_str("-1\\n");
    } else {
        out.push_str(&format!("{}\\n", best));
    }
""",
            [
                (
                    'if best > n {\n        out.push_str("-1\\n");',
                    'if best > n {\n        out.push_str("0\\n");',
                )
            ],
        ),
    }[op]
    kfmt = {"fixed": "1 <= K <= n", "atmost": "1 <= K <= 10^18", "atleast": "1 <= K <= 10^18"}[op]
    return Spec(
        title=title,
        statement=f"There are `n` {things} in a row with positive {vals} `a_1, ..., a_n`. {ask}",
        input_format=f"The first line holds `n K` (1 <= n <= 2*10^5, {kfmt}); the second holds "
        "`a_1 ... a_n` (1 <= a_i <= 10^9).",
        output_format="Print one integer.",
        gen=gen,
        solve=solve,
        body=head + body,
        wrong=wrong,
        edges=[lines((1, 1), [1]), lines((3, 1 if op == "fixed" else 100), [1, 2, 3])],
    )


# --------------------------------------------------------------------------- knapsacks

_KNAP = [
    ("Backpack for the Summit", "value01"),
    ("Exact Change Machine", "mincoins"),
    ("Ways to Pay the Toll", "ways"),
    ("Cargo Hold Planner", "value01"),
    ("Fewest Stamps", "mincoins"),
    ("Bead Necklace Combinations", "ways"),
]


def knapsack(v: int) -> Spec:
    title, op = _KNAP[v]
    ask = {
        "value01": "There are `n` items with weights `w_i` and values `c_i`; each can be taken "
        "at most once. Print the largest total value with total weight at most `W`.",
        "mincoins": "There are `n` coin denominations `w_i`, each available without limit. "
        "Print the fewest coins summing exactly to `W`, or `-1` if impossible.",
        "ways": f"There are `n` denominations `w_i`, each available without limit. Print the "
        f"number of multisets of coins summing exactly to `W` (order does not matter), modulo "
        f"{M7}.",
    }[op]

    def gen(rng: random.Random, n: int) -> str:
        n = min(n, 100)
        cap = rng.randint(0, min(10**4, 30 * n + 5))
        ws = [rng.randint(1, max(2, cap // 2 + 1)) for _ in range(n)]
        if op == "value01":
            return lines((n, cap), *[(w, rng.randint(1, 10**9)) for w in ws])
        if op == "mincoins" and rng.random() < 0.5:
            ws = [w * 2 for w in ws]
        return lines((n, cap), ws)

    def solve(text: str) -> str:
        v_ = ints(text)
        n, cap = v_[0], v_[1]
        if op == "value01":
            best = [0] * (cap + 1)
            for i in range(n):
                w, c = v_[2 + 2 * i], v_[3 + 2 * i]
                for x in range(cap, w - 1, -1):
                    best[x] = max(best[x], best[x - w] + c)
            return _one(best[cap])
        ws = v_[2:]
        if op == "ways":
            ways = [1] + [0] * cap
            for w in ws:
                for x in range(w, cap + 1):
                    ways[x] = (ways[x] + ways[x - w]) % M7
            return _one(ways[cap])
        inf = 10**9
        dp = [0] + [inf] * cap
        for x in range(1, cap + 1):
            for w in ws:
                if w <= x and dp[x - w] + 1 < dp[x]:
                    dp[x] = dp[x - w] + 1
        return _one(dp[cap] if dp[cap] < inf else -1)

    head = "    let n = rd!(usize);\n    let cap = rd!(usize);\n"
    body, wrong = {
        "value01": (
            """    let mut best = vec![0i64; cap + 1];
    for _ in 0..n {
        let w = rd!(usize);
        let c = rd!(i64);
        if w > cap {
            continue;
        }
        for x in (w..=cap).rev() {
            best[x] = best[x].max(best[x - w] + c);
        }
    }
    out.push_str(&format!("{}\\n", best[cap]));
""",
            [("for x in (w..=cap).rev() {", "for x in w..=cap {")],
        ),
        "ways": (
            f"""    const M: u64 = {M7};
    let ws: Vec<usize> = (0..n).map(|_| rd!(usize)).collect();
    let mut ways = vec![0u64; cap + 1];
    ways[0] = 1;
    for &w in &ws {{
        for x in w..=cap {{
            ways[x] = (ways[x] + ways[x - w]) % M;
        }}
    }}
    out.push_str(&format!("{{}}\\n", ways[cap]));
""",
            [
                (
                    "    for &w in &ws {\n        for x in w..=cap {\n",
                    "    for x in 0..=cap {\n        for &w in ws.iter().filter(|&&w| w <= x) {\n",
                )
            ],
        ),
        "mincoins": (
            """    let ws: Vec<usize> = (0..n).map(|_| rd!(usize)).collect();
    const INF: u64 = u64::MAX / 2;
    let mut dp = vec![INF; cap + 1];
    dp[0] = 0;
    for x in 1..=cap {
        for &w in &ws {
            if w <= x && dp[x - w] + 1 < dp[x] {
                dp[x] = dp[x - w] + 1;
            }
        }
    }
    if dp[cap] >= INF {
        out.push_str("-1\\n");
    } else {
        out.push_str(&format!("{}\\n", dp[cap]));
    }
""",
            [("if dp[cap] >= INF {", "if dp[cap] > INF {")],
        ),
    }[op]
    row = (
        "Each of the next `n` lines holds `w_i c_i` (1 <= w_i <= 10^4, 1 <= c_i <= 10^9)."
        if op == "value01"
        else "The second line holds `w_1 ... w_n` (1 <= w_i <= 10^4)."
    )
    return Spec(
        title=title,
        statement=ask,
        input_format=f"The first line holds `n W` (1 <= n <= 100, 0 <= W <= 10^4). {row}",
        output_format="Print one integer.",
        gen=gen,
        solve=solve,
        body=head + body,
        wrong=wrong,
        edges=[
            lines((1, 0), (5, 7)) if op == "value01" else lines((1, 0), [3]),
            lines((2, 6), (3, 4), (3, 5)) if op == "value01" else lines((2, 7), [2, 4]),
        ],
    )


# --------------------------------------------------------------------------- string DP

_SDP = [
    ("Common Thread", "lcs"),
    ("Spellchecker Distance", "edit"),
    ("Hidden Palindrome", "lps"),
    ("Shared Melody", "lcs"),
    ("Typo Repair Cost", "edit"),
    ("Mirror Subsequence", "lps"),
]


def string_dp(v: int) -> Spec:
    title, op = _SDP[v]
    alphabet = "ab" if v < 3 else "abcd"
    ask = {
        "lcs": "Print the length of the longest common subsequence of the two strings.",
        "edit": "Print the fewest single-character insertions, deletions and substitutions "
        "that turn the first string into the second.",
        "lps": "Print the length of the longest subsequence of the string that reads the same "
        "forwards and backwards.",
    }[op]

    def gen(rng: random.Random, n: int) -> str:
        n = min(n, 2000)
        word = lambda m: "".join(rng.choice(alphabet) for _ in range(max(1, m)))  # noqa: E731
        if op == "lps":
            return lines(word(n))
        return lines(word(n), word(rng.randint(max(1, n // 2), n)))

    def solve(text: str) -> str:
        t = text.split()
        a = t[0]
        b = t[1] if op != "lps" else a[::-1]
        if op == "edit":
            prev = list(range(len(b) + 1))
            for i in range(1, len(a) + 1):
                cur = [i] + [0] * len(b)
                for j in range(1, len(b) + 1):
                    cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] != b[j - 1]))
                prev = cur
            return _one(prev[-1])
        prev = [0] * (len(b) + 1)
        for i in range(1, len(a) + 1):
            cur = [0] * (len(b) + 1)
            for j in range(1, len(b) + 1):
                cur[j] = prev[j - 1] + 1 if a[i - 1] == b[j - 1] else max(prev[j], cur[j - 1])
            prev = cur
        return _one(prev[-1])

    read = "    let a = it.next().unwrap().as_bytes();\n" + (
        "    let rev: Vec<u8> = a.iter().rev().cloned().collect();\n    let b = &rev[..];\n"
        if op == "lps"
        else "    let b = it.next().unwrap().as_bytes();\n"
    )
    if op == "edit":
        body = """    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for i in 1..=a.len() {
        let mut cur = vec![i; b.len() + 1];
        for j in 1..=b.len() {
            let sub = prev[j - 1] + if a[i - 1] == b[j - 1] { 0 } else { 1 };
            cur[j] = sub.min(prev[j] + 1).min(cur[j - 1] + 1);
        }
        prev = cur;
    }
"""
        wrong = [
            (
                "let mut prev: Vec<usize> = (0..=b.len()).collect();",
                "let mut prev: Vec<usize> = vec![0; b.len() + 1];",
            )
        ]
    else:
        body = """    let mut prev = vec![0usize; b.len() + 1];
    for i in 1..=a.len() {
        let mut cur = vec![0usize; b.len() + 1];
        for j in 1..=b.len() {
            cur[j] = if a[i - 1] == b[j - 1] { prev[j - 1] + 1 } else { prev[j].max(cur[j - 1]) };
        }
        prev = cur;
    }
"""
        wrong = [
            (
                "{ prev[j - 1] + 1 }",
                "{ prev[j - 1] + 1 } else if j > 1 && a[i - 1] == b[j - 2] { prev[j - 1] + 1 }",
            )
        ]
    body += '    out.push_str(&format!("{}\\n", prev[b.len()]));\n'
    fmt = (
        "One line: a string of lowercase letters (1 <= length <= 2000)."
        if op == "lps"
        else "Two lines, each a string of lowercase letters (1 <= length <= 2000)."
    )
    return Spec(
        title=title,
        statement=ask,
        input_format=fmt,
        output_format="Print one integer.",
        gen=gen,
        solve=solve,
        body=read + body,
        wrong=wrong,
        edges=[
            lines("a") if op == "lps" else lines("a", "a"),
            lines("ab") if op == "lps" else lines("ab", "ba"),
        ],
    )


# --------------------------------------------------------------------------- robot walks

_ROBOT = [
    ("Lawn Mower Log", "distinct"),
    ("Rover Return Count", "origin"),
    ("Fenced Yard Robot", "fenced"),
    ("Vacuum Cleaner Trail", "distinct"),
    ("Homing Pigeon Flights", "origin"),
    ("Walled Garden Bot", "fenced"),
]


def robot(v: int) -> Spec:
    title, op = _ROBOT[v]
    size = 5 + v
    ask = {
        "distinct": "Print the number of distinct cells visited, the starting cell included.",
        "origin": "Print how many times the robot stands on the starting cell after a command "
        "(the start itself does not count).",
        "fenced": f"The robot is fenced into the square of cells with both coordinates from "
        f"`-{size}` to `{size}`; a command that would leave the square is ignored. Print the "
        "final coordinates `x y`.",
    }[op]

    def gen(rng: random.Random, n: int) -> str:
        pool = "UDLR" if rng.random() < 0.7 else "UURDL"
        return lines(n, "".join(rng.choice(pool) for _ in range(n)))

    def solve(text: str) -> str:
        s = text.split()[1]
        x = y = 0
        seen, back = {(0, 0)}, 0
        for c in s:
            dx, dy = {"U": (0, 1), "D": (0, -1), "L": (-1, 0), "R": (1, 0)}[c]
            if op == "fenced" and (abs(x + dx) > size or abs(y + dy) > size):
                continue
            x, y = x + dx, y + dy
            seen.add((x, y))
            back += (x, y) == (0, 0)
        if op == "distinct":
            return _one(len(seen))
        if op == "origin":
            return _one(back)
        return f"{x} {y}\n"

    body = f"""    let _n = rd!(usize);
    let s = it.next().unwrap().as_bytes();
    let (mut x, mut y) = (0i64, 0i64);
    let mut seen = std::collections::HashSet::new();
    seen.insert((0i64, 0i64));
    let mut back = 0u64;
    for &c in s {{
        let (dx, dy) = match c {{
            b'U' => (0, 1),
            b'D' => (0, -1),
            b'L' => (-1, 0),
            _ => (1, 0),
        }};
        if {"(x + dx).abs() > " + str(size) + " || (y + dy).abs() > " + str(size) if op == "fenced" else "false"} {{
            continue;
        }}
        x += dx;
        y += dy;
        seen.insert((x, y));
        if x == 0 && y == 0 {{
            back += 1;
        }}
    }}
"""
    body += {
        "distinct": '    out.push_str(&format!("{}\\n", seen.len()));\n',
        "origin": '    out.push_str(&format!("{}\\n", back));\n',
        "fenced": '    out.push_str(&format!("{} {}\\n", x, y));\n',
    }[op]
    wrong = {
        "distinct": [("    seen.insert((0i64, 0i64));\n", "")],
        "origin": [("if x == 0 && y == 0 {", "if x == 0 {")],
        "fenced": [(f"(x + dx).abs() > {size}", f"(x + dx).abs() >= {size}")],
    }[op]
    return Spec(
        title=title,
        statement="A robot starts at cell `(0, 0)` of a grid and follows `n` commands: `U` "
        "moves to `(x, y + 1)`, `D` to `(x, y - 1)`, `L` to `(x - 1, y)`, `R` to `(x + 1, y)`. "
        + ask,
        input_format="The first line holds `n` (1 <= n <= 2*10^5); the second a string of `n` "
        "characters from `UDLR`.",
        output_format="Print the answer on one line.",
        gen=gen,
        solve=solve,
        body=body,
        wrong=wrong,
        edges=[lines(1, "U"), lines(2, "LR")],
        sizes=(1, 2, 3, 5, 8, 13, 40, 200, 1000, 20000),
    )


# --------------------------------------------------------------------------- 2D prefix sums

_RECT = [
    ("Farm Plot Harvest", "sum"),
    ("Counting Trees in Parks", "count"),
    ("Best Square Plot", "bestsq"),
    ("Solar Panel Output", "sum"),
    ("Rocks in the Quarry", "count"),
    ("Richest Square Claim", "bestsq"),
]


def rect_sums(v: int) -> Spec:
    title, op = _RECT[v]
    k = 2 + v % 3
    ask = {
        "sum": "Answer `q` questions; each gives a rectangle by its corners `r1 c1 r2 c2` "
        "(rows `r1..r2`, columns `c1..c2`, inclusive) and asks for the sum of its values.",
        "count": "Answer `q` questions; each gives a rectangle by its corners `r1 c1 r2 c2` "
        "(inclusive) and asks how many of its values are zero.",
        "bestsq": f"Print the largest sum of a `{k} x {k}` square of cells (the grid is at least "
        f"`{k} x {k}`).",
    }[op]

    def gen(rng: random.Random, n: int) -> str:
        h = max(k if op == "bestsq" else 1, min(n, 120))
        w = max(k if op == "bestsq" else 1, min(n + 1, 100))
        top = rng.choice([3, 10**6])
        grid = [
            [rng.randint(0 if op == "count" else -top, top) for _ in range(w)] for _ in range(h)
        ]
        if op == "bestsq":
            return lines((h, w), *grid)
        qs = []
        for _ in range(n):
            r1, r2 = sorted((rng.randint(1, h), rng.randint(1, h)))
            c1, c2 = sorted((rng.randint(1, w), rng.randint(1, w)))
            qs.append((r1, c1, r2, c2))
        return lines((h, w), *grid, n, *qs)

    def solve(text: str) -> str:
        v_ = ints(text)
        h, w = v_[0], v_[1]
        g = [v_[2 + r * w : 2 + (r + 1) * w] for r in range(h)]
        p = [[0] * (w + 1) for _ in range(h + 1)]
        for r in range(h):
            for c in range(w):
                val = (g[r][c] == 0) if op == "count" else g[r][c]
                p[r + 1][c + 1] = val + p[r][c + 1] + p[r + 1][c] - p[r][c]
        if op == "bestsq":
            return _one(
                max(
                    p[r + k][c + k] - p[r][c + k] - p[r + k][c] + p[r][c]
                    for r in range(h - k + 1)
                    for c in range(w - k + 1)
                )
            )
        rest = v_[2 + h * w :]
        res = []
        for i in range(rest[0]):
            r1, c1, r2, c2 = rest[1 + 4 * i : 5 + 4 * i]
            res.append(p[r2][c2] - p[r1 - 1][c2] - p[r2][c1 - 1] + p[r1 - 1][c1 - 1])
        return "".join(map(_one, res))

    val = "if x == 0 { 1 } else { 0 }" if op == "count" else "x"
    body = f"""    let h = rd!(usize);
    let w = rd!(usize);
    let mut p = vec![vec![0i64; w + 1]; h + 1];
    for r in 0..h {{
        for c in 0..w {{
            let x = rd!(i64);
            p[r + 1][c + 1] = {val} + p[r][c + 1] + p[r + 1][c] - p[r][c];
        }}
    }}
"""
    if op == "bestsq":
        body += f"""    let k = {k};
    let mut best = i64::MIN;
    for r in 0..=h - k {{
        for c in 0..=w - k {{
            best = best.max(p[r + k][c + k] - p[r][c + k] - p[r + k][c] + p[r][c]);
        }}
    }}
    out.push_str(&format!("{{}}\\n", best));
"""
        wrong = [("for r in 0..=h - k {", "for r in 0..h - k {")]
    else:
        body += """    let q = rd!(usize);
    for _ in 0..q {
        let (r1, c1, r2, c2) = (rd!(usize), rd!(usize), rd!(usize), rd!(usize));
        let ans = p[r2][c2] - p[r1 - 1][c2] - p[r2][c1 - 1] + p[r1 - 1][c1 - 1];
        out.push_str(&format!("{}\\n", ans));
    }
"""
        wrong = [("- p[r2][c1 - 1] + p[r1 - 1][c1 - 1]", "- p[r2][c1 - 1] + p[r1 - 1][c1 - 1] * 0")]
    qfmt = (
        ""
        if op == "bestsq"
        else (
            " Then a line with `q` (1 <= q <= 10^5) and `q` lines "
            "`r1 c1 r2 c2` (1 <= r1 <= r2 <= h, 1 <= c1 <= c2 <= w)."
        )
    )
    return Spec(
        title=title,
        statement=f"A field is a grid of `h` rows and `w` columns of integers. {ask}",
        input_format="The first line holds `h w` (1 <= h, w <= 500); then `h` lines of `w` "
        f"integers (|value| <= 10^6).{qfmt}",
        output_format="Print one integer."
        if op == "bestsq"
        else "Print the answers, one per line.",
        gen=gen,
        solve=solve,
        body=body,
        wrong=wrong,
        edges=[lines((k, k), *[[1] * k] * k)]
        if op == "bestsq"
        else [lines((1, 1), [0], 1, (1, 1, 1, 1))],
        sizes=(1, 2, 3, 5, 8, 13, 40, 100),
    )


# --------------------------------------------------------------------------- answer search

_SPLIT = [
    ("Dividing the Scrolls", "split"),
    ("Spacing the Beacons", "spread"),
    ("Slowest Safe Reading Speed", "speed"),
    ("Splitting the Convoy", "split"),
    ("Placing Wind Turbines", "spread"),
    ("Steady Eating Pace", "speed"),
]


def answer_search(v: int) -> Spec:
    title, op = _SPLIT[v]
    ask = {
        "split": "Cut the sequence into at most `K` blocks of consecutive elements so that the "
        "largest block sum is as small as possible; print that sum.",
        "spread": "The values are distinct positions on a line. Choose `K` of them so that the "
        "smallest distance between two chosen positions is as large as possible; print it.",
        "speed": "Each value is a pile size. At speed `s` one hour reduces one pile by up to "
        "`s` (a pile of size `a` takes `ceil(a / s)` hours). Print the smallest integer speed "
        "that finishes every pile within `K` hours.",
    }[op]

    def gen(rng: random.Random, n: int) -> str:
        top = rng.choice([10, 10**9])
        if op == "spread":
            pos = set()
            while len(pos) < n:
                pos.add(rng.randint(0, max(top, 2 * n)))
            a = sorted(pos)
            rng.shuffle(a)
            return lines((n, rng.randint(2, n) if n >= 2 else 1), a)
        a = [rng.randint(1, top) for _ in range(n)]
        k = rng.randint(1, n) if op == "split" else rng.randint(n, 3 * n)
        return lines((n, k), a)

    def feasible(a, k, x):
        if op == "split":
            blocks, s = 1, 0
            for v_ in a:
                if v_ > x:
                    return False
                if s + v_ > x:
                    blocks, s = blocks + 1, v_
                else:
                    s += v_
            return blocks <= k
        if op == "speed":
            return sum((v_ + x - 1) // x for v_ in a) <= k
        cnt, last = 1, a[0]
        for v_ in a[1:]:
            if v_ - last >= x:
                cnt, last = cnt + 1, v_
        return cnt >= k

    def solve(text: str) -> str:
        v_ = ints(text)
        k, a = v_[1], v_[2:]
        if op == "spread":
            a = sorted(a)
            if k == 1:
                return _one(0)
            lo, hi = 0, a[-1] - a[0]
            while lo < hi:
                mid = (lo + hi + 1) // 2
                lo, hi = (mid, hi) if feasible(a, k, mid) else (lo, mid - 1)
            return _one(lo)
        lo, hi = 1, sum(a) if op == "split" else max(a)
        while lo < hi:
            mid = (lo + hi) // 2
            lo, hi = (lo, mid) if feasible(a, k, mid) else (mid + 1, hi)
        return _one(lo)

    head = "    let n = rd!(usize);\n    let k = rd!(i64);\n    let mut a: Vec<i64> = (0..n).map(|_| rd!(i64)).collect();\n"
    body, wrong = {
        "split": (
            """    let ok = |x: i64| {
        let (mut blocks, mut s) = (1i64, 0i64);
        for &v in &a {
            if v > x {
                return false;
            }
            if s + v > x {
                blocks += 1;
                s = v;
            } else {
                s += v;
            }
        }
        blocks <= k
    };
    let (mut lo, mut hi) = (1i64, a.iter().sum::<i64>());
    while lo < hi {
        let mid = (lo + hi) / 2;
        if ok(mid) { hi = mid; } else { lo = mid + 1; }
    }
    a.clear();
    out.push_str(&format!("{}\\n", lo));
""",
            [("(1i64, a.iter().sum::<i64>())", "(1i64, a.iter().sum::<i64>() - 1)")],
        ),
        "speed": (
            """    let ok = |x: i64| a.iter().map(|&v| (v + x - 1) / x).sum::<i64>() <= k;
    let (mut lo, mut hi) = (1i64, *a.iter().max().unwrap());
    while lo < hi {
        let mid = (lo + hi) / 2;
        if ok(mid) { hi = mid; } else { lo = mid + 1; }
    }
    a.clear();
    out.push_str(&format!("{}\\n", lo));
""",
            [("(v + x - 1) / x", "v / x + 1")],
        ),
        "spread": (
            """    a.sort();
    let ok = |x: i64| {
        let (mut cnt, mut last) = (1i64, a[0]);
        for &v in &a[1..] {
            if v - last >= x {
                cnt += 1;
                last = v;
            }
        }
        cnt >= k
    };
    let (mut lo, mut hi) = (0i64, a[n - 1] - a[0]);
    if k == 1 {
        hi = 0;
    }
    while lo < hi {
        let mid = (lo + hi + 1) / 2;
        if ok(mid) { lo = mid; } else { hi = mid - 1; }
    }
    out.push_str(&format!("{}\\n", lo));
""",
            [("    a.sort();\n", "")],
        ),
    }[op]
    kfmt = {"split": "1 <= K <= n", "spread": "1 <= K <= n", "speed": "n <= K <= 10^9"}[op]
    return Spec(
        title=title,
        statement=f"You are given `n` positive integers `a_1, ..., a_n` and `K`. {ask}",
        input_format=f"The first line holds `n K` (1 <= n <= 2*10^5, {kfmt}); the second the `n` "
        "integers (1 <= a_i <= 10^9).",
        output_format="Print one integer.",
        gen=gen,
        solve=solve,
        body=head + body,
        wrong=wrong,
        edges=[lines((1, 1), [7]), lines((3, 2), [10, 1, 4])]
        if op != "speed"
        else [lines((1, 1), [7]), lines((2, 4), [4, 8])],
    )


TEMPLATES = [
    ("windows", windows, len(_WINDOW)),
    ("knapsack", knapsack, len(_KNAP)),
    ("string_dp", string_dp, len(_SDP)),
    ("robot", robot, len(_ROBOT)),
    ("rect_sums", rect_sums, len(_RECT)),
    ("answer_search", answer_search, len(_SPLIT)),
]

# A sentence of setting per problem, so variants sharing a question read as different tasks.
FLAVOUR = {
    "Backpack for the Summit": "A climber packs for the summit push.",
    "Exact Change Machine": "A vending machine must return exact change.",
    "Ways to Pay the Toll": "A bridge toll is paid in coins.",
    "Cargo Hold Planner": "A ship's quartermaster loads the cargo hold.",
    "Fewest Stamps": "A clerk franks a parcel with postage stamps.",
    "Bead Necklace Combinations": "A jeweller strings beads of several sizes onto a clasp.",
    "Common Thread": "Two weavers compare their thread patterns.",
    "Spellchecker Distance": "A spellchecker measures how far a typed word is from a "
    "dictionary word.",
    "Hidden Palindrome": "A puzzle book hides palindromes inside long words.",
    "Shared Melody": "Two songs are written as strings of notes.",
    "Typo Repair Cost": "An editor repairs a garbled line of text.",
    "Mirror Subsequence": "A calligrapher looks for a mirror-symmetric motif in a scroll.",
    "Lawn Mower Log": "A robotic lawn mower logs its moves.",
    "Rover Return Count": "A planetary rover replays its driving log.",
    "Fenced Yard Robot": "A toy robot plays in a fenced yard.",
    "Vacuum Cleaner Trail": "A robot vacuum cleaner records its trail.",
    "Homing Pigeon Flights": "A homing pigeon's flights are tracked cell by cell.",
    "Walled Garden Bot": "A gardening robot works inside a walled garden.",
    "Farm Plot Harvest": "A farm's yield (losses negative) is mapped per plot.",
    "Counting Trees in Parks": "A city map marks each cell's number of benches; zero cells "
    "hold trees.",
    "Best Square Plot": "A developer wants to buy a square plot of land.",
    "Solar Panel Output": "A solar farm records each panel's net output.",
    "Rocks in the Quarry": "A quarry survey marks rock cells with 0.",
    "Richest Square Claim": "Prospectors stake square claims on a gold field.",
    "Dividing the Scrolls": "Scrolls of given lengths are copied by scribes in order.",
    "Spacing the Beacons": "Beacons may be lit only at certain towers along a coast.",
    "Slowest Safe Reading Speed": "A student must read piles of pages before an exam.",
    "Splitting the Convoy": "Trucks of given loads leave in consecutive convoys.",
    "Placing Wind Turbines": "Turbines may stand only at surveyed sites along a ridge.",
    "Steady Eating Pace": "A bear eats piles of berries before winter.",
    "Best Week of Sales": "A shop reviews its sales records.",
    "Longest Affordable Trip": "A traveller rides a bus line with a fixed budget.",
    "Shortest Rich Streak": "A trader looks back at daily earnings.",
    "Best Month of Rainfall": "A weather station reviews its rainfall log.",
    "Longest Budget Playlist": "A radio host builds a playlist that fits the slot.",
    "Quickest Fundraiser": "A charity counts gifts from donors in arrival order.",
}


def _flavoured(template):
    def make(v: int) -> Spec:
        spec = template(v)
        spec.statement = FLAVOUR[spec.title] + " " + spec.statement
        return spec

    return make


TEMPLATES = [(name, _flavoured(t), count) for name, t, count in TEMPLATES]
