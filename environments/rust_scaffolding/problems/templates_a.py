# Embedded Rust lines run long, and l/r name interval ends as in the statements.
# ruff: noqa: E501, E741
"""Templates: prefix-sum queries, counting pairs, intervals, grid paths, strings, modular
arithmetic, greedy scheduling."""

from __future__ import annotations

import random
from collections import deque

from .kit import BIG, Spec, ints, lines, pick

M7 = 1_000_000_007

# --------------------------------------------------------------------------- prefix queries

_PREFIX = [
    # (title, story noun, op, combine(Rust), query(Rust), wrong edit)
    ("Rain Gauge Totals", "rain gauge readings along a valley road", "sum"),
    ("Lantern Parity Checks", "signal codes of lanterns on a bridge", "xor"),
    (
        "Warehouse Ledger Windows",
        "daily ledger amounts of a warehouse (possibly negative)",
        "summod",
    ),
    ("Orchard Multiples", "apple counts of trees in an orchard row", "divcount"),
    ("Quarry Energy Readings", "energy readings of quarry drills", "sqmod"),
    ("Exact Tide Marks", "tide marks recorded each hour", "eqcount"),
]


def prefix_queries(v: int) -> Spec:
    title, noun, op = _PREFIX[v]
    d = pick(v, [3, 4, 7, 5, 6, 9])
    mod = pick(v, [M7, 998_244_353, 1_000_003])
    ask = {
        "sum": "the sum of the readings with positions from `l` to `r` inclusive",
        "xor": "the bitwise XOR of the codes with positions from `l` to `r` inclusive",
        "summod": f"the sum of the amounts with positions from `l` to `r` inclusive, taken "
        f"modulo {mod} (print a value between 0 and {mod - 1})",
        "divcount": f"how many values with positions from `l` to `r` inclusive are divisible "
        f"by {d}",
        "sqmod": f"the sum of the squares of the readings with positions from `l` to `r` "
        f"inclusive, modulo {mod}",
        "eqcount": f"how many marks with positions from `l` to `r` inclusive are exactly {d}",
    }[op]
    lo, hi = {
        "summod": (-(10**9), 10**9),
        "xor": (0, 2**30 - 1),
        "sqmod": (0, 10**9),
        "divcount": (1, 60),
        "eqcount": (1, 12),
        "sum": (0, 10**9),
    }[op]
    combine = {
        "sum": "p[i] + x",
        "xor": "p[i] ^ x",
        "summod": f"((p[i] + x) % {mod} + {mod}) % {mod}",
        "divcount": f"p[i] + if x % {d} == 0 {{ 1 }} else {{ 0 }}",
        "sqmod": f"(p[i] + (x % {mod}) * (x % {mod})) % {mod}",
        "eqcount": f"p[i] + if x == {d} {{ 1 }} else {{ 0 }}",
    }[op]
    query = {
        "sum": "p[r] - p[l - 1]",
        "xor": "p[r] ^ p[l - 1]",
        "summod": f"(p[r] - p[l - 1] + {mod}) % {mod}",
        "divcount": "p[r] - p[l - 1]",
        "sqmod": f"(p[r] - p[l - 1] + {mod}) % {mod}",
        "eqcount": "p[r] - p[l - 1]",
    }[op]
    wrong = {
        "sum": [("p[r] - p[l - 1]", "p[r] - p[l]")],
        "xor": [("p[r] ^ p[l - 1]", "p[r] ^ p[l]")],
        "summod": [(f"(p[r] - p[l - 1] + {mod}) % {mod}", f"(p[r] - p[l - 1]) % {mod}")],
        "divcount": [("let r = rd!(usize);", "let r = rd!(usize) - 1;")],
        "sqmod": [(f"(p[r] - p[l - 1] + {mod}) % {mod}", f"(p[r] - p[l - 1]) % {mod}")],
        "eqcount": [("p[r] - p[l - 1]", "p[r - 1] - p[l - 1]")],
    }[op]

    def gen(rng: random.Random, n: int) -> str:
        q = n
        top = hi
        a = [rng.randint(lo, top) for _ in range(n)]
        qs = []
        for _ in range(q):
            l, r = sorted((rng.randint(1, n), rng.randint(1, n)))
            if rng.random() < 0.15:
                r = l
            qs.append((l, r))
        return lines((n, q), a, *qs)

    def solve(text: str) -> str:
        v_ = ints(text)
        n, q = v_[0], v_[1]
        a = v_[2 : 2 + n]
        res = []
        for k in range(q):
            l, r = v_[2 + n + 2 * k], v_[3 + n + 2 * k]
            seg = a[l - 1 : r]
            if op == "sum":
                res.append(sum(seg))
            elif op == "xor":
                acc = 0
                for x in seg:
                    acc ^= x
                res.append(acc)
            elif op == "summod":
                res.append(sum(seg) % mod)
            elif op == "divcount":
                res.append(sum(1 for x in seg if x % d == 0))
            elif op == "sqmod":
                res.append(sum(x * x for x in seg) % mod)
            else:
                res.append(sum(1 for x in seg if x == d))
        return "\n".join(map(str, res)) + "\n"

    def solve_fast(text: str) -> str:
        v_ = ints(text)
        n, q = v_[0], v_[1]
        a = v_[2 : 2 + n]
        p = [0]
        for x in a:
            p.append(_py_combine(op, p[-1], x, d, mod))
        res = []
        for k in range(q):
            l, r = v_[2 + n + 2 * k], v_[3 + n + 2 * k]
            res.append(_py_query(op, p[r], p[l - 1], mod))
        return "\n".join(map(str, res)) + "\n"

    body = f"""    let n = rd!(usize);
    let q = rd!(usize);
    let mut p = vec![0i64; n + 1];
    for i in 0..n {{
        let x = rd!(i64);
        p[i + 1] = {combine};
    }}
    for _ in 0..q {{
        let l = rd!(usize);
        let r = rd!(usize);
        let ans = {query};
        out.push_str(&ans.to_string());
        out.push('\\n');
    }}
"""
    return Spec(
        title=title,
        statement=f"You are given the {noun}: a sequence of `n` integers `a_1, ..., a_n`. "
        f"Answer `q` questions; each gives two positions `l` and `r` and asks for {ask}.",
        input_format=f"The first line holds `n` and `q` (1 <= n, q <= 10^5). The second line "
        f"holds `a_1 ... a_n` ({lo} <= a_i <= {hi}). Each of the next `q` lines holds `l r` "
        f"(1 <= l <= r <= n).",
        output_format="Print `q` lines, the answer to each question in order.",
        gen=gen,
        solve=lambda t: solve_fast(t) if len(t) > 20000 else solve(t),
        body=body,
        wrong=wrong,
    )


def _py_combine(op: str, acc: int, x: int, d: int, mod: int) -> int:
    if op == "sum":
        return acc + x
    if op == "xor":
        return acc ^ x
    if op == "summod":
        return (acc + x) % mod
    if op == "divcount":
        return acc + (x % d == 0)
    if op == "sqmod":
        return (acc + x * x) % mod
    return acc + (x == d)


def _py_query(op: str, pr: int, pl: int, mod: int) -> int:
    if op == "xor":
        return pr ^ pl
    if op in ("summod", "sqmod"):
        return (pr - pl) % mod
    return pr - pl


# --------------------------------------------------------------------------- counting pairs

_PAIRS = [
    ("Twin Ticket Sums", "ticket numbers", "sumk"),
    ("Divisible Duets", "stone weights", "divk"),
    ("Close Enough Friends", "heights of climbers", "diffd"),
    ("Out of Order Parcels", "parcel labels in arrival order", "inv"),
    ("Secret Handshake Codes", "handshake codes", "xork"),
    ("Matching Socks Drawer", "sock colours", "equal"),
]


def count_pairs(v: int) -> Spec:
    title, noun, op = _PAIRS[v]
    cond = {
        "sumk": "`a_i + a_j = K`",
        "divk": "`a_i + a_j` is divisible by `K`",
        "diffd": "`|a_i - a_j| <= K`",
        "inv": "`a_i > a_j`",
        "xork": "`a_i XOR a_j = K` (bitwise exclusive or)",
        "equal": "`a_i = a_j`",
    }[op]
    has_k = op not in ("inv", "equal")

    def gen(rng: random.Random, n: int) -> str:
        top = pick(n % 3, [10, 1000, 10**9]) if n < BIG else 50
        if n <= 3:
            top = 3
        a = [rng.randint(0 if op == "xork" else 1, top) for _ in range(n)]
        if not has_k:
            return lines(n, a)
        if op == "sumk":
            k = rng.choice(a) + rng.choice(a)
        elif op == "divk":
            k = rng.randint(1, 12)
        elif op == "diffd":
            k = rng.randint(0, max(1, top // 10))
        else:
            k = 0 if rng.random() < 0.4 else rng.choice(a) ^ rng.choice(a)
        return lines((n, k), a)

    def solve(text: str) -> str:
        v_ = ints(text)
        if has_k:
            n, k, a = v_[0], v_[1], v_[2:]
        else:
            n, k, a = v_[0], 0, v_[1:]
        from collections import Counter

        if op == "sumk":
            seen, c = Counter(), 0
            for x in a:
                c += seen[k - x]
                seen[x] += 1
        elif op == "divk":
            seen, c = Counter(), 0
            for x in a:
                c += seen[(k - x % k) % k]
                seen[x % k] += 1
        elif op == "xork":
            seen, c = Counter(), 0
            for x in a:
                c += seen[x ^ k]
                seen[x] += 1
        elif op == "equal":
            c = sum(m * (m - 1) // 2 for m in Counter(a).values())
        elif op == "diffd":
            b, c, j = sorted(a), 0, 0
            for i in range(n):
                while b[i] - b[j] > k:
                    j += 1
                c += i - j
        else:
            c = _inversions(a)
        return f"{c}\n"

    head = "    let n = rd!(usize);\n" + ("    let k = rd!(i64);\n" if has_k else "")
    head += "    let a: Vec<i64> = (0..n).map(|_| rd!(i64)).collect();\n"
    body, wrong, extra = {
        "sumk": (
            """    let mut seen: std::collections::HashMap<i64, u64> = std::collections::HashMap::new();
    let mut c: u64 = 0;
    for &x in &a {
        c += *seen.get(&(k - x)).unwrap_or(&0);
        *seen.entry(x).or_insert(0) += 1;
    }
""",
            [
                (
                    "        c += *seen.get(&(k - x)).unwrap_or(&0);\n"
                    "        *seen.entry(x).or_insert(0) += 1;\n",
                    "        *seen.entry(x).or_insert(0) += 1;\n"
                    "        c += *seen.get(&(k - x)).unwrap_or(&0);\n",
                )
            ],
            "",
        ),
        "divk": (
            """    let mut seen = vec![0u64; k as usize];
    let mut c: u64 = 0;
    for &x in &a {
        let r = x % k;
        c += seen[((k - r) % k) as usize];
        seen[r as usize] += 1;
    }
""",
            [
                (
                    "c += seen[((k - r) % k) as usize];",
                    "if r != 0 {\n            c += seen[(k - r) as usize];\n        }",
                )
            ],
            "",
        ),
        "xork": (
            """    let mut seen: std::collections::HashMap<i64, u64> = std::collections::HashMap::new();
    let mut c: u64 = 0;
    for &x in &a {
        c += *seen.get(&(x ^ k)).unwrap_or(&0);
        *seen.entry(x).or_insert(0) += 1;
    }
""",
            [
                (
                    "        c += *seen.get(&(x ^ k)).unwrap_or(&0);\n"
                    "        *seen.entry(x).or_insert(0) += 1;\n",
                    "        *seen.entry(x).or_insert(0) += 1;\n"
                    "        c += *seen.get(&(x ^ k)).unwrap_or(&0);\n",
                )
            ],
            "",
        ),
        "equal": (
            """    let mut b = a.clone();
    b.sort();
    let mut c: u64 = 0;
    let mut i = 0;
    while i < n {
        let mut j = i;
        while j < n && b[j] == b[i] {
            j += 1;
        }
        let m = (j - i) as u64;
        c += m * (m - 1) / 2;
        i = j;
    }
""",
            [("c += m * (m - 1) / 2;", "c += m * m / 2;")],
            "",
        ),
        "diffd": (
            """    let mut b = a.clone();
    b.sort();
    let mut c: u64 = 0;
    let mut j = 0;
    for i in 0..n {
        while b[i] - b[j] > k {
            j += 1;
        }
        c += (i - j) as u64;
    }
""",
            [("while b[i] - b[j] > k {", "while b[i] - b[j] >= k && j < i {")],
            "",
        ),
        "inv": (
            """    let mut vals = a.clone();
    vals.sort();
    vals.dedup();
    let m = vals.len();
    let mut tree = vec![0u64; m + 1];
    let mut c: u64 = 0;
    for (seen, &x) in a.iter().enumerate() {
        let pos = vals.binary_search(&x).unwrap() + 1;
        // count earlier values <= x, the rest are greater
        let mut le = 0u64;
        let mut p = pos;
        while p > 0 {
            le += tree[p];
            p &= p - 1;
        }
        c += seen as u64 - le;
        let mut p = pos;
        while p <= m {
            tree[p] += 1;
            p += p & p.wrapping_neg();
        }
    }
""",
            [
                (
                    "let mut p = pos;\n        while p > 0 {",
                    "let mut p = pos - 1;\n        while p > 0 {",
                )
            ],
            "",
        ),
    }[op]
    body = head + body + '    out.push_str(&format!("{}\\n", c));\n'
    kline = {
        "sumk": "`n` and `K` (1 <= n <= 2*10^5, 2 <= K <= 2*10^9)",
        "divk": "`n` and `K` (1 <= n <= 2*10^5, 1 <= K <= 100)",
        "diffd": "`n` and `K` (1 <= n <= 2*10^5, 0 <= K <= 10^9)",
        "xork": "`n` and `K` (1 <= n <= 2*10^5, 0 <= K < 2^31)",
        "inv": "`n` (1 <= n <= 2*10^5)",
        "equal": "`n` (1 <= n <= 2*10^5)",
    }[op]
    return Spec(
        title=title,
        statement=f"You are given `n` {noun} `a_1, ..., a_n`. Count the pairs of positions "
        f"`i < j` such that {cond}.",
        input_format=f"The first line holds {kline}. The second line holds the `n` integers "
        f"(0 <= a_i <= 10^9).",
        output_format="Print one integer, the number of such pairs (it may not fit in 32 bits).",
        gen=gen,
        solve=solve,
        body=body,
        wrong=wrong,
        extra=extra,
        big=op in ("sumk", "diffd", "inv"),
        edges=[lines((1, 2), [1]) if has_k else lines(1, [5])],
    )


def _inversions(a: list[int]) -> int:
    vals = sorted(set(a))
    index = {x: i + 1 for i, x in enumerate(vals)}
    tree = [0] * (len(vals) + 1)
    c = 0
    for seen, x in enumerate(a):
        p, le = index[x], 0
        while p > 0:
            le += tree[p]
            p &= p - 1
        c += seen - le
        p = index[x]
        while p <= len(vals):
            tree[p] += 1
            p += p & -p
    return c


# --------------------------------------------------------------------------- intervals

_INTERVALS = [
    (
        "Painted Fence Length",
        "painters each paint the half-open stretch `[l, r)` of a fence",
        "length",
        "Print the total length of fence that is painted at least once.",
    ),
    (
        "Touching Tarps",
        "tarps each cover the closed segment `[l, r]` of a road",
        "groups_touch",
        "Two tarps belong to the same group if their segments overlap or touch "
        "(share an end point), directly or through other tarps. Print the number of groups.",
    ),
    (
        "Contiguous Seat Blocks",
        "reservations each book the seats numbered `l` to `r` (inclusive) in one long row",
        "groups_adjacent",
        "Reservations form one block when the "
        "seats they book together are consecutive numbers with no free seat between them. "
        "Print the number of blocks.",
    ),
    (
        "Widest Quiet Gap",
        "concerts each play during the closed time interval `[l, r]`",
        "gap",
        "Consider the union of all intervals. Print the length of the longest gap "
        "strictly between two parts of the union (0 if the union is one interval).",
    ),
    (
        "Busiest Moment",
        "visitors each stay during the closed interval `[l, r]`",
        "overlap",
        "Print the largest number of visitors present at the same moment (a visitor "
        "leaving at time t and one arriving at time t are both present at t).",
    ),
    (
        "Lit Street Lamps",
        "repair crews each fix the lamps numbered `l` to `r` (inclusive)",
        "points",
        "Print how many distinct lamps are fixed by at least one crew.",
    ),
]


def intervals(v: int) -> Spec:
    title, story, op, ask = _INTERVALS[v]

    def gen(rng: random.Random, n: int) -> str:
        span = pick(n, [20, 10**3, 10**9])
        rows = []
        for _ in range(n):
            l = rng.randint(0, span)
            length = rng.randint(0 if op != "length" else 1, max(1, span // max(2, n // 2)))
            rows.append((l, l + length))
        if n >= 3:
            a = rng.randrange(n)
            b = rng.randrange(n)
            rows[b] = (rows[a][1] + (1 if op == "groups_adjacent" else 0), rows[a][1] + 5)
        return lines(n, *rows)

    def solve(text: str) -> str:
        v_ = ints(text)
        n = v_[0]
        segs = sorted((v_[1 + 2 * i], v_[2 + 2 * i]) for i in range(n))
        if op == "overlap":
            ev = sorted([(l, 0) for l, r in segs] + [(r, 1) for l, r in segs])
            cur = best = 0
            for _, kind in ev:
                cur += 1 if kind == 0 else -1
                best = max(best, cur)
            return f"{best}\n"
        glue = 1 if op == "groups_adjacent" else 0
        merged = []
        for l, r in segs:
            if merged and l <= merged[-1][1] + glue:
                merged[-1][1] = max(merged[-1][1], r)
            else:
                merged.append([l, r])
        if op == "length":
            return f"{sum(r - l for l, r in merged)}\n"
        if op == "points":
            return f"{sum(r - l + 1 for l, r in merged)}\n"
        if op == "gap":
            gaps = [merged[i + 1][0] - merged[i][1] for i in range(len(merged) - 1)]
            return f"{max(gaps, default=0)}\n"
        return f"{len(merged)}\n"

    read = """    let n = rd!(usize);
    let mut v: Vec<(i64, i64)> = (0..n).map(|_| (rd!(i64), rd!(i64))).collect();
    v.sort();
"""
    if op == "overlap":
        body = (
            read
            + """    let mut ev: Vec<(i64, i32)> = Vec::with_capacity(2 * n);
    for &(l, r) in &v {
        ev.push((l, 0));
        ev.push((r, 1));
    }
    ev.sort();
    let mut cur: i64 = 0;
    let mut best: i64 = 0;
    for &(_, kind) in &ev {
        if kind == 0 { cur += 1; } else { cur -= 1; }
        if cur > best { best = cur; }
    }
    out.push_str(&format!("{}\\n", best));
"""
        )
        wrong = [("ev.push((r, 1));", "ev.push((r, -1));")]
    else:
        glue = " + 1" if op == "groups_adjacent" else ""
        tail = {
            "length": "merged.iter().map(|&(l, r)| r - l).sum::<i64>()",
            "points": "merged.iter().map(|&(l, r)| r - l + 1).sum::<i64>()",
            "gap": "merged.windows(2).map(|w| w[1].0 - w[0].1).max().unwrap_or(0)",
            "groups_touch": "merged.len() as i64",
            "groups_adjacent": "merged.len() as i64",
        }[op]
        body = (
            read
            + f"""    let mut merged: Vec<(i64, i64)> = Vec::new();
    for &(l, r) in &v {{
        if let Some(last) = merged.last_mut() {{
            if l <= last.1{glue} {{
                if r > last.1 {{ last.1 = r; }}
                continue;
            }}
        }}
        merged.push((l, r));
    }}
    let ans = {tail};
    out.push_str(&format!("{{}}\\n", ans));
"""
        )
        wrong = {
            "length": [("    v.sort();\n", "")],
            "points": [("r - l + 1", "r - l")],
            "gap": [("if r > last.1 { last.1 = r; }", "last.1 = r;")],
            "groups_touch": [("if l <= last.1 {", "if l < last.1 {")],
            "groups_adjacent": [("if l <= last.1 + 1 {", "if l <= last.1 {")],
        }[op]
    return Spec(
        title=title,
        statement=f"There are `n` intervals: {story}. {ask}",
        input_format="The first line holds `n` (1 <= n <= 10^5). Each of the next `n` lines "
        "holds two integers `l r` (0 <= l <= r <= 2*10^9"
        + (", l < r" if op == "length" else "")
        + ").",
        output_format="Print one integer.",
        gen=gen,
        solve=solve,
        body=body,
        wrong=wrong,
        edges=[lines(1, (5, 9)), lines(3, (1, 4), (2, 3), (10, 12))],
    )


# --------------------------------------------------------------------------- grid paths

_GRID = [
    ("Courier in the Old Town", "4", "steps"),
    ("King on the Ice Rink", "8", "steps"),
    ("Knight Through the Hedge Maze", "knight", "steps"),
    ("Flooded Basement", "4", "reach"),
    ("Wrapping Space Station", "torus", "steps"),
    ("Nearest Fire Station", "multi", "steps"),
]


def grid_paths(v: int) -> Spec:
    title, moves, op = _GRID[v]
    how = {
        "4": "one step moves to a side-adjacent cell (up, down, left, right)",
        "8": "one step moves to any of the 8 neighbouring cells (sides and corners)",
        "knight": "one step is a chess knight's jump (two cells in one direction and one in the "
        "other); only the landing cell must be open",
        "torus": "one step moves to a side-adjacent cell, and the grid wraps around: leaving "
        "through the right edge enters at the left edge of the same row, and likewise for the "
        "other edges",
        "multi": "one step moves to a side-adjacent cell",
    }[moves]
    if op == "reach":
        ask = (
            "Water starts in cell `S` and spreads through open cells; print how many cells "
            "(including `S`) it reaches."
        )
    elif moves == "multi":
        ask = (
            "Several cells are marked `S` (fire stations). Print the fewest steps from the "
            "nearest `S` to `T`, or `-1` if no station can reach `T`."
        )
    else:
        ask = "Print the fewest steps from `S` to `T`, or `-1` if `T` cannot be reached."

    deltas = {
        "4": [(1, 0), (-1, 0), (0, 1), (0, -1)],
        "torus": [(1, 0), (-1, 0), (0, 1), (0, -1)],
        "multi": [(1, 0), (-1, 0), (0, 1), (0, -1)],
        "8": [(dr, dc) for dr in (-1, 0, 1) for dc in (-1, 0, 1) if dr or dc],
        "knight": [(1, 2), (2, 1), (-1, 2), (-2, 1), (1, -2), (2, -1), (-1, -2), (-2, -1)],
    }[moves]

    def gen(rng: random.Random, n: int) -> str:
        h = max(1, min(n, 60) if n < 200 else 100 if n < 1000 else 150)
        w = max(1, min(n + 1, 60) if n < 200 else 120 if n < 1000 else 150)
        if h * w < 2:
            w = 2
        density = rng.choice([0.1, 0.25, 0.35])
        g = [["#" if rng.random() < density else "." for _ in range(w)] for _ in range(h)]
        cells = [(r, c) for r in range(h) for c in range(w)]
        picks = rng.sample(cells, min(len(cells), 4 if moves == "multi" else 2))
        for r, c in picks[:-1] if moves == "multi" else picks[:1]:
            g[r][c] = "S"
        if op != "reach":
            r, c = picks[-1]
            g[r][c] = "T"
        return lines((h, w), *["".join(row) for row in g])

    def solve(text: str) -> str:
        parts = text.split()
        h, w = int(parts[0]), int(parts[1])
        g = parts[2 : 2 + h]
        dist = [[-1] * w for _ in range(h)]
        dq = deque()
        for r in range(h):
            for c in range(w):
                if g[r][c] == "S":
                    dist[r][c] = 0
                    dq.append((r, c))
        while dq:
            r, c = dq.popleft()
            for dr, dc in deltas:
                nr, nc = r + dr, c + dc
                if moves == "torus":
                    nr, nc = nr % h, nc % w
                if 0 <= nr < h and 0 <= nc < w and g[nr][nc] != "#" and dist[nr][nc] < 0:
                    dist[nr][nc] = dist[r][c] + 1
                    dq.append((nr, nc))
        if op == "reach":
            return f"{sum(1 for row in dist for x in row if x >= 0)}\n"
        for r in range(h):
            for c in range(w):
                if g[r][c] == "T":
                    return f"{dist[r][c]}\n"
        raise AssertionError("no T")

    rust_deltas = ", ".join(f"({a}, {b})" for a, b in deltas)
    step = (
        "let nr = (r as i64 + dr).rem_euclid(h as i64);\n"
        "            let nc = (c as i64 + dc).rem_euclid(w as i64);"
        if moves == "torus"
        else "let nr = r as i64 + dr;\n            let nc = c as i64 + dc;"
    )
    finish = (
        "    let cnt = dist.iter().filter(|&&d| d >= 0).count();\n"
        '    out.push_str(&format!("{}\\n", cnt));\n'
        if op == "reach"
        else "    let t = g.iter().position(|&ch| ch == b'T').unwrap();\n"
        '    out.push_str(&format!("{}\\n", dist[t]));\n'
    )
    body = f"""    let h = rd!(usize);
    let w = rd!(usize);
    let mut g: Vec<u8> = Vec::with_capacity(h * w);
    for _ in 0..h {{
        g.extend_from_slice(it.next().unwrap().as_bytes());
    }}
    let deltas: [(i64, i64); {len(deltas)}] = [{rust_deltas}];
    let mut dist = vec![-1i64; h * w];
    let mut queue = std::collections::VecDeque::new();
    for i in 0..h * w {{
        if g[i] == b'S' {{
            dist[i] = 0;
            queue.push_back(i);
        }}
    }}
    while let Some(cur) = queue.pop_front() {{
        let (r, c) = (cur / w, cur % w);
        for &(dr, dc) in deltas.iter() {{
            {step}
            if nr < 0 || nc < 0 || nr >= h as i64 || nc >= w as i64 {{
                continue;
            }}
            let next = nr as usize * w + nc as usize;
            if g[next] != b'#' && dist[next] < 0 {{
                dist[next] = dist[cur] + 1;
                queue.push_back(next);
            }}
        }}
    }}
{finish}"""
    wrong = {
        "4": [("dist[t]));", "dist[t].max(0)));")],
        "8": None,
        "knight": [("nr >= h as i64 ||", "nr + 1 >= h as i64 ||")],
        "reach": None,
        "torus": [(".rem_euclid(w as i64)", ".rem_euclid(h as i64)")],
        "multi": [
            (
                "dist[i] = 0;\n            queue.push_back(i);",
                "dist[i] = 0;\n            queue.push_back(i);\n            break;",
            )
        ],
    }
    reach_edit = [("filter(|&&d| d >= 0)", "filter(|&&d| d > 0)")]
    w_edit = reach_edit if op == "reach" else wrong[moves]
    if moves == "8":
        w_edit = [(rust_deltas, rust_deltas.replace("(1, 1)", "(1, 0)"))]
    edges = (
        [lines((1, 2), "ST"), lines((3, 3), "S#.", "##.", "..T")]
        if op != "reach"
        else [lines((1, 1), "S"), lines((2, 3), "S#.", "##.")]
    )
    if moves == "multi":
        edges = [lines((1, 3), "STS"), lines((3, 3), "S#.", "##.", "..T")]
    if moves == "knight":
        edges = [lines((1, 2), "ST"), lines((3, 4), "S...", "...#", ".T..")]
    return Spec(
        title=title,
        statement=f"A map is a grid of `h` rows and `w` columns; `#` is a wall, `.` is open, and "
        f"the special cells are open too. {how[0].upper()}{how[1:]}, never into a wall or off "
        f"the map. {ask}",
        input_format="The first line holds `h w` (1 <= h, w <= 1000). Each of the next `h` lines "
        "holds a string of `w` characters from `.#ST`"
        + (", with exactly one `S`" if moves != "multi" else ", with at least one `S`")
        + ("" if op == "reach" else " and exactly one `T`")
        + ".",
        output_format="Print one integer.",
        gen=gen,
        solve=solve,
        body=body,
        wrong=w_edit,
        edges=edges,
    )


# --------------------------------------------------------------------------- string transforms

_STRINGS = [
    ("Telegraph Compression", "rle"),
    ("Unpacking the Telegraph", "unrle"),
    ("Shifted Diary", "caesar"),
    ("Collapsing Twins", "collapse"),
    ("Mirror Case", "mirror"),
    ("Longest Drumroll", "longest"),
]


def string_transform(v: int) -> Spec:
    title, op = _STRINGS[v]
    shift = pick(v, [3, 5, 7, 11, 13, 19])
    text_of = {
        "rle": (
            "A telegraph operator shortens a word of lowercase letters: every maximal block "
            "of equal letters becomes the letter followed by the block's length in decimal, "
            "e.g. `aaabcc` becomes `a3b1c2`. Print the shortened word.",
            "A string `s` of lowercase letters (1 <= |s| <= 2*10^5).",
        ),
        "unrle": (
            "A shortened telegraph word is a sequence of pieces, each a lowercase letter "
            "followed by a positive decimal count (which may have several digits), e.g. "
            "`a3b12`. Expand every piece into that many copies of its letter and print the "
            "result.",
            "A string `t` of pieces (1 <= |t| <= 10^4); the expanded word has at most "
            "2*10^5 letters.",
        ),
        "caesar": (
            f"A diary was written with each lowercase letter replaced by the letter {shift} "
            f"places later in the alphabet, wrapping from `z` back to `a`. Given the "
            f"written text, recover the original by shifting every letter {shift} places "
            f"back.",
            "A string `s` of lowercase letters (1 <= |s| <= 2*10^5).",
        ),
        "collapse": (
            "Whenever two equal letters stand next to each other, both vanish; this "
            "repeats until no two neighbouring letters are equal. Print what remains, or "
            "`EMPTY` if nothing remains.",
            "A string `s` of lowercase letters (1 <= |s| <= 2*10^5).",
        ),
        "mirror": (
            "Write the string backwards and swap the case of every letter (lowercase "
            "becomes uppercase and vice versa); digits stay as they are. Print the result.",
            "A string `s` of letters and digits (1 <= |s| <= 2*10^5).",
        ),
        "longest": (
            "Find the longest block of consecutive equal characters. Print its character "
            "and its length separated by a space; if several blocks are equally long, "
            "choose the leftmost.",
            "A string `s` of lowercase letters (1 <= |s| <= 2*10^5).",
        ),
    }[op]

    def gen(rng: random.Random, n: int) -> str:
        alpha = "abc" if n < 40 or rng.random() < 0.5 else "abcdefghijklmnopqrstuvwxyz"
        if op == "unrle":
            pieces, total = [], 0
            for _ in range(max(1, min(n, 400))):
                c = rng.randint(1, 9) if rng.random() < 0.6 else rng.randint(10, 120)
                pieces.append(rng.choice(alpha) + str(c))
                total += c
            return lines("".join(pieces))
        if op == "mirror":
            pool = "aBcD9zZ0qQ"
            return lines("".join(rng.choice(pool) for _ in range(n)))
        if op == "collapse":
            half = [rng.choice("ab" if n < 40 else alpha[:4]) for _ in range(max(1, n // 2))]
            if rng.random() < 0.3:
                return lines("".join(half + half[::-1]))
            return lines("".join(half + [rng.choice(alpha) for _ in range(n - len(half))]))
        s, out = "", []
        while len(out) < n:
            out.extend(rng.choice(alpha) * rng.randint(1, 14 if n > 5 else 2))
        s = "".join(out[:n])
        return lines(s)

    def solve(text: str) -> str:
        s = text.split()[0]
        if op == "rle":
            res, i = [], 0
            while i < len(s):
                j = i
                while j < len(s) and s[j] == s[i]:
                    j += 1
                res.append(f"{s[i]}{j - i}")
                i = j
            return "".join(res) + "\n"
        if op == "unrle":
            res, i = [], 0
            while i < len(s):
                ch, j = s[i], i + 1
                while j < len(s) and s[j].isdigit():
                    j += 1
                res.append(ch * int(s[i + 1 : j]))
                i = j
            return "".join(res) + "\n"
        if op == "caesar":
            return "".join(chr((ord(c) - 97 - shift) % 26 + 97) for c in s) + "\n"
        if op == "collapse":
            st = []
            for c in s:
                if st and st[-1] == c:
                    st.pop()
                else:
                    st.append(c)
            return ("".join(st) or "EMPTY") + "\n"
        if op == "mirror":
            return s[::-1].swapcase() + "\n"
        best, bc, i = 0, "", 0
        while i < len(s):
            j = i
            while j < len(s) and s[j] == s[i]:
                j += 1
            if j - i > best:
                best, bc = j - i, s[i]
            i = j
        return f"{bc} {best}\n"

    body = (
        "    let s = it.next().unwrap().as_bytes();\n"
        + {
            "rle": """    let mut i = 0;
    while i < s.len() {
        let mut j = i;
        while j < s.len() && s[j] == s[i] {
            j += 1;
        }
        out.push(s[i] as char);
        out.push_str(&(j - i).to_string());
        i = j;
    }
    out.push('\\n');
""",
            "unrle": """    let mut i = 0;
    while i < s.len() {
        let ch = s[i] as char;
        let mut j = i + 1;
        let mut count = 0usize;
        while j < s.len() && s[j].is_ascii_digit() {
            count = count * 10 + (s[j] - b'0') as usize;
            j += 1;
        }
        for _ in 0..count {
            out.push(ch);
        }
        i = j;
    }
    out.push('\\n');
""",
            "caesar": f"""    for &c in s {{
        let x = (c - b'a' + 26 - {shift}) % 26;
        out.push((b'a' + x) as char);
    }}
    out.push('\\n');
""",
            "collapse": """    let mut st: Vec<u8> = Vec::new();
    for &c in s {
        if st.last() == Some(&c) {
            st.pop();
        } else {
            st.push(c);
        }
    }
    if st.is_empty() {
        out.push_str("EMPTY");
    } else {
        out.push_str(std::str::from_utf8(&st).unwrap());
    }
    out.push('\\n');
""",
            "mirror": """    for &c in s.iter().rev() {
        let d = if c.is_ascii_lowercase() {
            c.to_ascii_uppercase()
        } else {
            c.to_ascii_lowercase()
        };
        out.push(d as char);
    }
    out.push('\\n');
""",
            "longest": """    let (mut best, mut bc) = (0usize, b'a');
    let mut i = 0;
    while i < s.len() {
        let mut j = i;
        while j < s.len() && s[j] == s[i] {
            j += 1;
        }
        if j - i > best {
            best = j - i;
            bc = s[i];
        }
        i = j;
    }
    out.push_str(&format!("{} {}\\n", bc as char, best));
""",
        }[op]
    )
    wrong = {
        "rle": [
            (
                "out.push_str(&(j - i).to_string());",
                "if j - i > 1 {\n            out.push_str(&(j - i).to_string());\n        }",
            )
        ],
        "unrle": [
            ("count = count * 10 + (s[j] - b'0') as usize;", "count = (s[j] - b'0') as usize;")
        ],
        "caesar": [(f"(c - b'a' + 26 - {shift}) % 26", f"(c - b'a' + 25 - {shift}) % 26")],
        "collapse": [('out.push_str("EMPTY");', 'out.push_str("");')],
        "mirror": [("for &c in s.iter().rev() {", "for &c in s.iter() {")],
        "longest": [("if j - i > best {", "if j - i >= best {")],
    }[op]
    story, fmt = text_of
    edges = {
        "rle": [lines("z"), lines("a" * 12 + "b")],
        "unrle": [lines("a1"), lines("x10y1")],
        "caesar": [lines("a"), lines("abcxyz")],
        "collapse": [lines("abba"), lines("a")],
        "mirror": [lines("7"), lines("aB")],
        "longest": [lines("q"), lines("aabbcc"), lines("abbbcccdd")],
    }[op]
    return Spec(
        title=title,
        statement=story,
        input_format=fmt,
        output_format="Print the answer on one line.",
        gen=gen,
        solve=solve,
        body=body,
        wrong=wrong,
        edges=edges,
    )


# --------------------------------------------------------------------------- modular arithmetic

_MODULAR = [
    ("Tower of Exponents", "pow", 1_000_000_007),
    ("Choosing Committees", "binom", 998_244_353),
    ("Forbidden Multiples", "inclexcl", 0),
    ("Inverse Lookup", "inverse", 1_000_000_007),
    ("Pairwise Product Sum", "pairprod", 998_244_353),
    ("Power Towers Mod Nine", "pow", 1_000_000_009),
]


def modular(v: int) -> Spec:
    title, op, mod = _MODULAR[v]
    story, fmt = {
        "pow": (
            f"Answer `q` questions: for given `a` and `b`, print `a^b mod {mod}` (with `0^0 = 1`).",
            "The first line holds `q` (1 <= q <= 10^5); each of the next `q` lines holds "
            "`a b` (0 <= a, b <= 10^18).",
        ),
        "binom": (
            f"Answer `q` questions: in how many ways can a committee of `k` people be "
            f"chosen from `n`? Print the count modulo {mod} (0 if `k > n`).",
            "The first line holds `q` (1 <= q <= 10^5); each of the next `q` lines holds "
            "`n k` (0 <= n, k <= 10^6).",
        ),
        "inclexcl": (
            "A game forbids every number divisible by at least one of `m` given "
            "integers `d_1, ..., d_m`. How many integers from 1 to `N` are forbidden?",
            "The first line holds `N` and `m` (1 <= N <= 10^18, 1 <= m <= 12); the "
            "second line holds `d_1 ... d_m` (1 <= d_i <= 10^18).",
        ),
        "inverse": (
            f"Answer `q` questions: for a given `a`, print the `x` with "
            f"`0 <= x < {mod}` and `a*x mod {mod} = 1`, or `-1` if none exists "
            f"({mod} is prime).",
            "The first line holds `q` (1 <= q <= 10^5); each of the next `q` lines holds "
            "`a` (0 <= a <= 10^18).",
        ),
        "pairprod": (
            f"Given `n` integers, print the sum of `a_i * a_j` over all pairs `i < j`, "
            f"modulo {mod}.",
            "The first line holds `n` (1 <= n <= 2*10^5); the second holds "
            "`a_1 ... a_n` (0 <= a_i <= 10^18).",
        ),
    }[op]

    def gen(rng: random.Random, n: int) -> str:
        if op == "pow":
            rows = [
                (
                    rng.choice(
                        [rng.randint(0, 10), rng.randint(0, 10**18), mod * rng.randint(1, 9)]
                    ),
                    rng.choice([0, rng.randint(0, 30), rng.randint(0, 10**18)]),
                )
                for _ in range(n)
            ]
            return lines(n, *rows)
        if op == "binom":
            rows = []
            for _ in range(n):
                a = rng.randint(0, rng.choice([10, 10**6]))
                rows.append((a, rng.randint(0, a + 3)))
            return lines(n, *rows)
        if op == "inverse":
            return lines(
                n,
                *[
                    rng.choice([rng.randint(0, 10**18), mod * rng.randint(0, 5), 1])
                    for _ in range(n)
                ],
            )
        if op == "pairprod":
            return lines(
                n, [rng.randint(0, 10**18 if rng.random() < 0.7 else 100) for _ in range(n)]
            )
        m = rng.randint(1, min(12, n + 1))
        big = n > 5
        d = [
            rng.choice([rng.randint(1, 30), rng.randint(10**5, 10**7)])
            if big
            else rng.randint(2, 9)
            for _ in range(m)
        ]
        if big and rng.random() < 0.5:
            d[0] = 10**9 + 7
            d[-1] = 10**9 + 9
        return lines((rng.randint(1, 10**18) if big else rng.randint(1, 100), m), d)

    def solve(text: str) -> str:
        v_ = ints(text)
        if op == "pow":
            return "".join(f"{pow(a, b, mod)}\n" for a, b in zip(v_[1::2], v_[2::2], strict=True))
        if op == "binom":
            pairs = list(zip(v_[1::2], v_[2::2], strict=True))
            fact = [1]
            for i in range(1, max(a for a, _ in pairs) + 1):
                fact.append(fact[-1] * i % mod)
            return "".join(
                f"{fact[a] * pow(fact[b] * fact[a - b], -1, mod) % mod if b <= a else 0}\n"
                for a, b in pairs
            )
        if op == "inverse":
            return "".join(f"{pow(a, -1, mod) if a % mod else -1}\n" for a in v_[1:])
        if op == "pairprod":
            a = [x % mod for x in v_[1:]]
            s = sum(a)
            return f"{(s * s - sum(x * x for x in a)) * pow(2, -1, mod) % mod}\n"
        from math import gcd

        n_, m, d = v_[0], v_[1], v_[2:]
        total = 0
        for mask in range(1, 1 << m):
            l, bits = 1, 0
            for i in range(m):
                if mask >> i & 1:
                    l = l * d[i] // gcd(l, d[i])
                    bits += 1
            total += (-1) ** (bits + 1) * (n_ // l)
        return f"{total}\n"

    if op == "pow":
        body = f"""    let q = rd!(usize);
    const M: u64 = {mod};
    for _ in 0..q {{
        let mut a = rd!(u64) % M;
        let mut b = rd!(u64);
        let mut r: u64 = 1 % M;
        while b > 0 {{
            if b & 1 == 1 {{
                r = r * a % M;
            }}
            a = a * a % M;
            b >>= 1;
        }}
        out.push_str(&format!("{{}}\\n", r));
    }}
"""
        wrong = [("let mut a = rd!(u64) % M;", "let mut a = rd!(u64);")]
    elif op == "binom":
        body = f"""    let q = rd!(usize);
    const M: u64 = {mod};
    let qs: Vec<(usize, usize)> = (0..q).map(|_| (rd!(usize), rd!(usize))).collect();
    let top = qs.iter().map(|&(n, _)| n).max().unwrap_or(0) + 1;
    let mut fact = vec![1u64; top + 1];
    for i in 1..=top {{
        fact[i] = fact[i - 1] * i as u64 % M;
    }}
    let pw = |mut a: u64, mut e: u64| {{
        let mut r = 1u64;
        while e > 0 {{
            if e & 1 == 1 {{ r = r * a % M; }}
            a = a * a % M;
            e >>= 1;
        }}
        r
    }};
    for &(n, k) in &qs {{
        if k > n {{
            out.push_str("0\\n");
            continue;
        }}
        let den = fact[k] * fact[n - k] % M;
        let ans = fact[n] * pw(den, M - 2) % M;
        out.push_str(&format!("{{}}\\n", ans));
    }}
"""
        wrong = [("if k > n {", "if k > n + 1 {")]
    elif op == "inverse":
        body = f"""    let q = rd!(usize);
    const M: u64 = {mod};
    for _ in 0..q {{
        let mut a = rd!(u64) % M;
        if a == 0 {{
            out.push_str("-1\\n");
            continue;
        }}
        let mut e = M - 2;
        let mut r = 1u64;
        while e > 0 {{
            if e & 1 == 1 {{ r = r * a % M; }}
            a = a * a % M;
            e >>= 1;
        }}
        out.push_str(&format!("{{}}\\n", r));
    }}
"""
        wrong = [
            (
                'if a == 0 {\n            out.push_str("-1\\n");\n            continue;\n        }\n',
                "",
            )
        ]
    elif op == "pairprod":
        body = f"""    let n = rd!(usize);
    const M: u64 = {mod};
    let mut pref = 0u64;
    let mut ans = 0u64;
    for _ in 0..n {{
        let x = rd!(u64) % M;
        ans = (ans + x * pref) % M;
        pref = (pref + x) % M;
    }}
    out.push_str(&format!("{{}}\\n", ans));
"""
        wrong = [("let x = rd!(u64) % M;", "let x = rd!(u64);")]
    else:
        body = """    let n = rd!(u64);
    let m = rd!(usize);
    let d: Vec<u64> = (0..m).map(|_| rd!(u64)).collect();
    let mut total: i128 = 0;
    for mask in 1u32..(1 << m) {
        let mut l: u128 = 1;
        for i in 0..m {
            if mask >> i & 1 == 1 {
                let g = gcd(l, d[i] as u128);
                l = l / g * d[i] as u128;
                if l > n as u128 {
                    break;
                }
            }
        }
        let cnt = (n as u128 / l) as i128;
        if mask.count_ones() % 2 == 1 { total += cnt; } else { total -= cnt; }
    }
    out.push_str(&format!("{}\\n", total));
"""
        wrong = [
            (
                "                if l > n as u128 {\n                    break;\n                }\n",
                "                l = l as u64 as u128;\n",
            )
        ]
        return Spec(
            title=title,
            statement=story,
            input_format=fmt,
            output_format="Print one integer.",
            gen=gen,
            solve=solve,
            body=body,
            wrong=wrong,
            extra=_GCD128,
            edges=[lines((1, 1), [1]), lines((10, 2), [2, 3])],
        )
    edges = {
        "pow": [lines(1, (0, 0)), lines(2, (mod, 5), (2, 10))],
        "binom": [lines(2, (0, 0), (3, 4))],
        "inverse": [lines(2, 0, mod)],
        "pairprod": [lines(1, [7])],
    }[op]
    return Spec(
        title=title,
        statement=story,
        input_format=fmt,
        output_format="Print each answer on its own line."
        if op != "pairprod"
        else "Print one integer.",
        gen=gen,
        solve=solve,
        body=body,
        wrong=wrong,
        edges=edges,
    )


_GCD128 = """fn gcd(a: u128, b: u128) -> u128 {
    if b == 0 { a } else { gcd(b, a % b) }
}
"""


# --------------------------------------------------------------------------- greedy scheduling

_GREEDY = [
    ("Festival Stage Bookings", "select"),
    ("Meeting Rooms of the Guild", "rooms"),
    ("Harvest Before the Frost", "deadline"),
    ("Least Late Blacksmith", "lateness"),
    ("Pinning the Posters", "stab"),
    ("Patient Queue at the Clinic", "waiting"),
]


def greedy(v: int) -> Spec:
    title, op = _GREEDY[v]
    story, row = {
        "select": (
            "Bands request the stage for half-open time slots `[s, e)`. Two accepted "
            "bands must not overlap (one may start exactly when another ends). Print the "
            "largest number of bands that can be accepted.",
            "`s e` (0 <= s < e <= 10^9)",
        ),
        "rooms": (
            "Meetings take half-open time slots `[s, e)`; a room can host one meeting at a "
            "time, and a meeting may start in a room at the moment another ends there. "
            "Print the fewest rooms that host every meeting.",
            "`s e` (0 <= s < e <= 10^9)",
        ),
        "deadline": (
            "Each field takes one day to harvest and yields `p` coins if harvested on "
            "day `d` or earlier (days are numbered from 1; one field per day). Print the "
            "most coins you can collect.",
            "`d p` (1 <= d <= n, 1 <= p <= 10^9)",
        ),
        "lateness": (
            "Orders are forged one after another starting at time 0; an order takes `t` "
            "time and is due at time `d`. Its lateness is its finish time minus `d` when "
            "positive, else 0. Choose the order of work to minimise the largest "
            "lateness and print that value.",
            "`t d` (1 <= t <= 10^4, 0 <= d <= 10^9)",
        ),
        "stab": (
            "Posters cover closed segments `[l, r]` of a wall. A pin at integer point `x` "
            "holds every poster with `l <= x <= r`. Print the fewest pins that hold every "
            "poster.",
            "`l r` (0 <= l <= r <= 10^9)",
        ),
        "waiting": (
            "Patients are treated one at a time; patient `i` needs `t_i` minutes. A "
            "patient's waiting time is the time before their treatment starts (the first "
            "waits 0). Choose the order to minimise the total waiting time and print it.",
            "`t` (1 <= t <= 10^9)",
        ),
    }[op]

    def gen(rng: random.Random, n: int) -> str:
        span = pick(n, [10, 1000, 10**9])
        rows = []
        for _ in range(n):
            if op in ("select", "rooms"):
                s = rng.randint(0, span - 1)
                rows.append((s, rng.randint(s + 1, min(span, s + max(1, span // 4)))))
            elif op == "deadline":
                rows.append((rng.randint(1, n), rng.randint(1, 10**9 if n > 5 else 9)))
            elif op == "lateness":
                rows.append(
                    (
                        rng.randint(1, 10**4 if n > 13 else 5),
                        rng.randint(0, min(10**9, 3 * n * (10**4 if n > 13 else 5))),
                    )
                )
            elif op == "stab":
                l = rng.randint(0, span)
                rows.append((l, rng.randint(l, min(10**9, l + span // 5))))
            else:
                rows.append(rng.randint(1, 10**9 if n > 5 else 9))
        if op in ("select", "rooms", "stab") and n >= 2:
            rows[1] = (rows[0][1], rows[0][1] + 1)
        return lines(n, *rows)

    def solve(text: str) -> str:
        v_ = ints(text)
        n = v_[0]
        if op == "waiting":
            t = sorted(v_[1:])
            total, clock = 0, 0
            for x in t:
                total += clock
                clock += x
            return f"{total}\n"
        rows = [(v_[1 + 2 * i], v_[2 + 2 * i]) for i in range(n)]
        if op == "select":
            cnt, end = 0, -1
            for s, e in sorted(rows, key=lambda r: (r[1], r[0])):
                if s >= end:
                    cnt, end = cnt + 1, e
            return f"{cnt}\n"
        if op == "rooms":
            ev = sorted([(e, 0) for s, e in rows] + [(s, 1) for s, e in rows])
            cur = best = 0
            for _, k in ev:
                cur += 1 if k else -1
                best = max(best, cur)
            return f"{best}\n"
        if op == "stab":
            cnt, pin = 0, -1
            for l, r in sorted(rows, key=lambda x: x[1]):
                if l > pin:
                    cnt, pin = cnt + 1, r
            return f"{cnt}\n"
        if op == "lateness":
            clock, worst = 0, 0
            for t, d in sorted(rows, key=lambda x: x[1]):
                clock += t
                worst = max(worst, clock - d)
            return f"{worst}\n"
        import heapq

        heap = []
        for d, p in sorted(rows):
            heapq.heappush(heap, p)
            if len(heap) > d:
                heapq.heappop(heap)
        return f"{sum(heap)}\n"

    read = "    let n = rd!(usize);\n    let mut v: Vec<(i64, i64)> = (0..n).map(|_| (rd!(i64), rd!(i64))).collect();\n"
    body, wrong = {
        "select": (
            """    v.sort_by_key(|&(s, e)| (e, s));
    let (mut cnt, mut end) = (0u64, -1i64);
    for &(s, e) in &v {
        if s >= end {
            cnt += 1;
            end = e;
        }
    }
    out.push_str(&format!("{}\\n", cnt));
""",
            [("v.sort_by_key(|&(s, e)| (e, s));", "v.sort_by_key(|&(s, e)| (s, e));")],
        ),
        "rooms": (
            """    let mut ev: Vec<(i64, i64)> = Vec::new();
    for &(s, e) in &v {
        ev.push((e, -1));
        ev.push((s, 1));
    }
    ev.sort();
    let (mut cur, mut best) = (0i64, 0i64);
    for &(_, d) in &ev {
        cur += d;
        best = best.max(cur);
    }
    out.push_str(&format!("{}\\n", best));
""",
            [("    ev.sort();\n", "    ev.sort_by_key(|&(t, d)| (t, -d));\n")],
        ),
        "deadline": (
            """    v.sort();
    let mut heap = std::collections::BinaryHeap::new();
    for &(d, p) in &v {
        heap.push(std::cmp::Reverse(p));
        if heap.len() as i64 > d {
            heap.pop();
        }
    }
    let total: i64 = heap.iter().map(|r| r.0).sum();
    out.push_str(&format!("{}\\n", total));
""",
            [
                (
                    "heap.push(std::cmp::Reverse(p));",
                    "if (heap.len() as i64) < d {\n            heap.push(std::cmp::Reverse(p));\n        }",
                )
            ],
        ),
        "lateness": (
            """    v.sort_by_key(|&(_, d)| d);
    let (mut clock, mut worst) = (0i64, 0i64);
    for &(t, d) in &v {
        clock += t;
        worst = worst.max(clock - d);
    }
    out.push_str(&format!("{}\\n", worst));
""",
            [("v.sort_by_key(|&(_, d)| d);", "v.sort_by_key(|&(t, _)| t);")],
        ),
        "stab": (
            """    v.sort_by_key(|&(_, r)| r);
    let (mut cnt, mut pin) = (0u64, -1i64);
    for &(l, r) in &v {
        if l > pin {
            cnt += 1;
            pin = r;
        }
    }
    out.push_str(&format!("{}\\n", cnt));
""",
            [("if l > pin {", "if l >= pin {")],
        ),
        "waiting": (
            """    v.sort();
    let (mut total, mut clock) = (0i64, 0i64);
    for &x in &v {
        total += clock;
        clock += x;
    }
    out.push_str(&format!("{}\\n", total));
""",
            [("total += clock;\n        clock += x;", "clock += x;\n        total += clock;")],
        ),
    }[op]
    if op == "waiting":
        read = "    let n = rd!(usize);\n    let mut v: Vec<i64> = (0..n).map(|_| rd!(i64)).collect();\n"
    if op == "rooms":
        read = read.replace("let mut v", "let v")
    edges = {
        "select": [lines(1, (0, 1)), lines(2, (1, 3), (3, 5))],
        "rooms": [lines(2, (1, 3), (3, 5))],
        "deadline": [lines(1, (1, 5)), lines(3, (1, 5), (1, 9), (2, 1))],
        "lateness": [lines(1, (5, 10)), lines(1, (5, 2))],
        "stab": [lines(2, (1, 3), (3, 5)), lines(1, (4, 4))],
        "waiting": [lines(1, 7), lines(3, 5, 1, 3)],
    }[op]
    rowfmt = f"Each of the next `n` lines holds {row}."
    return Spec(
        title=title,
        statement=story,
        input_format=f"The first line holds `n` (1 <= n <= 2*10^5). {rowfmt}",
        output_format="Print one integer.",
        gen=gen,
        solve=solve,
        body=read + body,
        wrong=wrong,
        edges=edges,
    )


TEMPLATES = [
    ("prefix_queries", prefix_queries, len(_PREFIX)),
    ("count_pairs", count_pairs, len(_PAIRS)),
    ("intervals", intervals, len(_INTERVALS)),
    ("grid_paths", grid_paths, len(_GRID)),
    ("string_transform", string_transform, len(_STRINGS)),
    ("modular", modular, len(_MODULAR)),
    ("greedy", greedy, len(_GREEDY)),
]
