# Embedded Rust lines run long.
# ruff: noqa: E501
"""Templates: graph components, shortest paths, sieves, monotonic stacks."""

from __future__ import annotations

import functools
import heapq
import random

from .kit import Spec, ints, lines

M7 = 1_000_000_007


def _one(x: object) -> str:
    return f"{x}\n"


def _edges(rng: random.Random, n: int, m: int, wmax: int = 0) -> list[tuple]:
    rows = []
    for _ in range(m):
        u, w = rng.randint(1, n), rng.randint(1, n)
        rows.append((u, w, rng.randint(1, wmax)) if wmax else (u, w))
    return rows


# --------------------------------------------------------------------------- components

_COMP = [
    ("Island Ferries", "count", "islands", "ferry lines"),
    ("Largest Trading Bloc", "largest", "towns", "trade agreements"),
    ("Wiring the Campus", "needed", "buildings", "cables"),
    ("Village Footpaths", "count", "villages", "footpaths"),
    ("Biggest Friend Circle", "largest", "students", "friendships"),
    ("Redundant Roads", "redundant", "cities", "roads"),
]


def components(v: int) -> Spec:
    title, op, nodes, links = _COMP[v]
    ask = {
        "count": f"Print the number of groups of {nodes} that are connected (directly or "
        f"through others); a {nodes[:-1]} with no {links} forms a group alone.",
        "largest": f"Print the number of {nodes} in the largest connected group.",
        "needed": f"Print the fewest new {links} needed so that every pair of {nodes} is "
        "connected.",
        "redundant": f"A {links[:-1]} is redundant if, when the {links} are added one by one in "
        f"the given order, its two ends are already connected (a {links[:-1]} from a place to "
        "itself is always redundant). Print the number of redundant ones.",
    }[op]

    def gen(rng: random.Random, n: int) -> str:
        m = rng.randint(0, n + n // 2) if n > 1 else rng.randint(0, 1)
        return lines((n, m), *_edges(rng, n, m))

    def solve(text: str) -> str:
        v_ = ints(text)
        n, m = v_[0], v_[1]
        parent = list(range(n + 1))

        def find(x):
            while parent[x] != x:
                parent[x] = parent[parent[x]]
                x = parent[x]
            return x

        red = 0
        for i in range(m):
            a, b = find(v_[2 + 2 * i]), find(v_[3 + 2 * i])
            if a == b:
                red += 1
            else:
                parent[a] = b
        roots = [find(x) for x in range(1, n + 1)]
        groups = len(set(roots))
        if op == "count":
            return _one(groups)
        if op == "needed":
            return _one(groups - 1)
        if op == "redundant":
            return _one(red)
        from collections import Counter

        return _one(max(Counter(roots).values()))

    tail = {
        "count": "groups",
        "needed": "groups - 1",
        "redundant": "red",
        "largest": "*size.iter().max().unwrap()",
    }[op]
    body = f"""    let n = rd!(usize);
    let m = rd!(usize);
    let mut parent: Vec<usize> = (0..=n).collect();
    let mut size = vec![1usize; n + 1];
    size[0] = 0;
    fn find(p: &mut Vec<usize>, mut x: usize) -> usize {{
        while p[x] != x {{
            p[x] = p[p[x]];
            x = p[x];
        }}
        x
    }}
    let mut red = 0usize;
    let mut groups = n;
    for _ in 0..m {{
        let a = find(&mut parent, rd!(usize));
        let b = find(&mut parent, rd!(usize));
        if a == b {{
            red += 1;
        }} else {{
            parent[a] = b;
            size[b] += size[a];
            groups -= 1;
        }}
    }}
    let ans = {tail};
    out.push_str(&format!("{{}}\\n", ans));
"""
    wrong = {
        "count": [
            (
                "if a == b {\n            red += 1;",
                "if a == b {\n            red += 1;\n            groups -= 1;",
            )
        ],
        "needed": [("let mut groups = n;", "let mut groups = n - 1;")],
        "redundant": [("let a = find(&mut parent, rd!(usize));", "let a = rd!(usize);")],
        "largest": [("size[b] += size[a];", "size[b] += 1;")],
    }[op]
    return Spec(
        title=title,
        statement=f"There are `n` {nodes} numbered 1 to `n` and `m` {links}, each joining two "
        f"{nodes} (both directions). {ask}",
        input_format="The first line holds `n m` (1 <= n <= 2*10^5, 0 <= m <= 3*10^5). Each of "
        "the next `m` lines holds `u v` (1 <= u, v <= n).",
        output_format="Print one integer.",
        gen=gen,
        solve=solve,
        body=body,
        wrong=wrong,
        edges=[lines((1, 0)), lines((3, 3), (1, 2), (2, 1), (3, 3))],
    )


# --------------------------------------------------------------------------- shortest paths

_DIJ = [
    ("Mountain Relay", "dist", "checkpoints", "trails", "minutes"),
    ("Cheapest Courier", "dist", "depots", "routes", "coins"),
    ("All Roads From the Capital", "all", "cities", "roads", "hours"),
    ("Farthest Outpost", "far", "outposts", "passes", "days"),
    ("Counting Quick Routes", "count", "stations", "tracks", "minutes"),
    ("Lighthouse Distances", "all", "lighthouses", "sea lanes", "hours"),
]


def shortest_paths(v: int) -> Spec:
    title, op, nodes, links, unit = _DIJ[v]
    ask = {
        "dist": f"Print the least total {unit} to travel from {nodes[:-1]} 1 to {nodes[:-1]} "
        "`n`, or `-1` if it is impossible.",
        "all": f"For every {nodes[:-1]} `i` from 1 to `n`, print the least total {unit} to "
        f"travel from {nodes[:-1]} 1 to `i` (`-1` if impossible), separated by spaces.",
        "far": f"Among the {nodes} reachable from {nodes[:-1]} 1, print the largest least-"
        f"travel-time (in {unit}) from {nodes[:-1]} 1.",
        "count": f"Print the number of different fastest routes from {nodes[:-1]} 1 to "
        f"{nodes[:-1]} `n`, modulo {M7} (0 if `n` cannot be reached).",
    }[op]

    def gen(rng: random.Random, n: int) -> str:
        m = rng.randint(0, 3 * n) if n > 2 else rng.randint(0, 2)
        if op == "count" and n > 2:
            m = rng.randint(2 * n, 4 * n)
        wmax = 2 if op == "count" else 3 if rng.random() < 0.3 else 10**9
        return lines((n, m), *_edges(rng, n, m, wmax))

    def solve(text: str) -> str:
        v_ = ints(text)
        n, m = v_[0], v_[1]
        adj = [[] for _ in range(n + 1)]
        for i in range(m):
            a, b, w = v_[2 + 3 * i : 5 + 3 * i]
            adj[a].append((b, w))
            adj[b].append((a, w))
        inf = float("inf")
        dist, ways = [inf] * (n + 1), [0] * (n + 1)
        dist[1], ways[1] = 0, 1
        pq = [(0, 1)]
        while pq:
            d, u = heapq.heappop(pq)
            if d > dist[u]:
                continue
            for b, w in adj[u]:
                if d + w < dist[b]:
                    dist[b], ways[b] = d + w, ways[u]
                    heapq.heappush(pq, (d + w, b))
                elif d + w == dist[b]:
                    ways[b] = (ways[b] + ways[u]) % M7
        shown = [d if d < inf else -1 for d in dist[1:]]
        if op == "dist":
            return _one(shown[-1])
        if op == "all":
            return " ".join(map(str, shown)) + "\n"
        if op == "far":
            return _one(max(shown))
        return _one(ways[n])

    tail = {
        "dist": '    out.push_str(&format!("{}\\n", show(dist[n])));\n',
        "all": "    let shown: Vec<String> = (1..=n).map(|i| show(dist[i]).to_string()).collect();\n"
        "    out.push_str(&shown.join(\" \"));\n    out.push('\\n');\n",
        "far": "    let far = (1..=n).map(|i| show(dist[i])).max().unwrap();\n"
        '    out.push_str(&format!("{}\\n", far));\n',
        "count": '    out.push_str(&format!("{}\\n", ways[n]));\n',
    }[op]
    body = f"""    let n = rd!(usize);
    let m = rd!(usize);
    let mut adj: Vec<Vec<(usize, i64)>> = vec![Vec::new(); n + 1];
    for _ in 0..m {{
        let a = rd!(usize);
        let b = rd!(usize);
        let w = rd!(i64);
        adj[a].push((b, w));
        adj[b].push((a, w));
    }}
    const INF: i64 = i64::MAX;
    const M: u64 = {M7};
    let mut dist = vec![INF; n + 1];
    let mut ways = vec![0u64; n + 1];
    dist[1] = 0;
    ways[1] = 1;
    let mut pq = std::collections::BinaryHeap::new();
    pq.push(std::cmp::Reverse((0i64, 1usize)));
    while let Some(std::cmp::Reverse((d, u))) = pq.pop() {{
        if d > dist[u] {{
            continue;
        }}
        for &(b, w) in &adj[u] {{
            if d + w < dist[b] {{
                dist[b] = d + w;
                ways[b] = ways[u];
                pq.push(std::cmp::Reverse((d + w, b)));
            }} else if d + w == dist[b] {{
                ways[b] = (ways[b] + ways[u]) % M;
            }}
        }}
    }}
    let show = |d: i64| if d == INF {{ -1 }} else {{ d }};
{tail}"""
    wrong = {
        "dist": [
            ("if d == INF {{ -1 }}".replace("{{", "{").replace("}}", "}"), "if d == INF { 0 }")
        ],
        "all": [("adj[b].push((a, w));", "let _ = a;")],
        "far": [("(1..=n).map(|i| show(dist[i])).max()", "(1..n).map(|i| show(dist[i])).max()")],
        "count": [("ways[b] = ways[u];", "ways[b] = (ways[b] + ways[u]) % M;")],
    }[op]
    return Spec(
        title=title,
        statement=f"There are `n` {nodes} numbered 1 to `n` and `m` {links}; {links[:-1]} `j` "
        f"joins two {nodes} in both directions and takes `w_j` {unit}. {ask}",
        input_format="The first line holds `n m` (1 <= n <= 10^5, 0 <= m <= 3*10^5). Each of the "
        "next `m` lines holds `u v w` (1 <= u, v <= n, 1 <= w <= 10^9).",
        output_format="Print the answer as described above.",
        gen=gen,
        solve=solve,
        body=body,
        wrong=wrong,
        edges=[
            lines((1, 0)),
            lines((3, 1), (1, 2, 5)),
            lines((4, 4), (1, 2, 1), (2, 4, 1), (1, 3, 1), (3, 4, 1)),
        ],
    )


# --------------------------------------------------------------------------- sieves

_SIEVE = [
    ("Prime Lanterns", "pcount"),
    ("Totient Tokens", "phi"),
    ("Divisor Feast", "sigma"),
    ("Counting Divisors of Crates", "tau"),
    ("Smallest Factor Sum", "spf"),
    ("Twin Prime Benches", "twins"),
]


def sieve(v: int) -> Spec:
    title, op = _SIEVE[v]
    ask = {
        "pcount": "how many primes are at most `x`",
        "phi": "Euler's totient of `x`: how many integers from 1 to `x` share no common factor "
        "greater than 1 with `x`",
        "sigma": "the sum of all positive divisors of `x`",
        "tau": "the number of positive divisors of `x`",
        "spf": "the sum of the smallest prime factors of all integers from 2 to `x` (0 when "
        "`x < 2`)",
        "twins": "how many pairs of primes `(p, p + 2)` have `p + 2 <= x`",
    }[op]
    lim = 10**6

    def gen(rng: random.Random, n: int) -> str:
        return lines(n, *[rng.choice([rng.randint(1, 30), rng.randint(1, lim)]) for _ in range(n)])

    def solve(text: str) -> str:
        xs = ints(text)[1:]
        top = lim
        spf = _spf_table(lim)

        def factor(x):
            f = {}
            while x > 1:
                p = spf[x]
                f[p] = f.get(p, 0) + 1
                x //= p
            return f

        res = []
        if op in ("pcount", "spf", "twins"):
            pre = _prefix_table(op, top)
            return "".join(_one(pre[x]) for x in xs)
        for x in xs:
            f = factor(x)
            r = 1
            for p, e in f.items():
                if op == "phi":
                    r *= (p - 1) * p ** (e - 1)
                elif op == "sigma":
                    r *= (p ** (e + 1) - 1) // (p - 1)
                else:
                    r *= e + 1
            res.append(r)
        return "".join(map(_one, res))

    per = {
        "pcount": ("acc += if spf[i] == i { 1 } else { 0 };", None),
        "spf": ("acc += spf[i] as u64;", None),
        "twins": ("acc += if i >= 5 && spf[i] == i && spf[i - 2] == i - 2 { 1 } else { 0 };", None),
        "phi": (None, "r *= (p - 1) * p.pow(e - 1);"),
        "sigma": (None, "r *= (p.pow(e + 1) - 1) / (p - 1);"),
        "tau": (None, "r *= (e + 1) as u64;"),
    }[op]
    body = """    let q = rd!(usize);
    let xs: Vec<usize> = (0..q).map(|_| rd!(usize)).collect();
    let top = (*xs.iter().max().unwrap()).max(2);
    let mut spf: Vec<usize> = (0..=top).collect();
    let mut i = 2;
    while i * i <= top {
        if spf[i] == i {
            let mut j = i * i;
            while j <= top {
                if spf[j] == j {
                    spf[j] = i;
                }
                j += i;
            }
        }
        i += 1;
    }
"""
    if per[0]:
        body += f"""    let mut pre = vec![0u64; top + 1];
    let mut acc = 0u64;
    for i in 2..=top {{
        {per[0]}
        pre[i] = acc;
    }}
    for &x in &xs {{
        out.push_str(&format!("{{}}\\n", pre[x]));
    }}
"""
        wrong = {
            "pcount": [("for i in 2..=top {", "for i in 3..=top {")],
            "spf": [
                ("acc += spf[i] as u64;", "acc += if spf[i] == i { 0 } else { spf[i] as u64 };")
            ],
            "twins": [("i >= 5 && ", "i >= 6 && ")],
        }[op]
    else:
        body += f"""    for &x0 in &xs {{
        let mut x = x0;
        let mut r: u64 = 1;
        while x > 1 {{
            let p = spf[x];
            let mut e = 0u32;
            while x % p == 0 {{
                x /= p;
                e += 1;
            }}
            let p = p as u64;
            {per[1]}
        }}
        out.push_str(&format!("{{}}\\n", r));
    }}
"""
        wrong = {
            "phi": [("let mut r: u64 = 1;", "let mut r: u64 = if x0 == 1 { 0 } else { 1 };")],
            "sigma": [("r *= (p.pow(e + 1) - 1) / (p - 1);", "r *= 1 + p * e as u64;")],
            "tau": [("r *= (e + 1) as u64;", "r *= if e > 1 { e as u64 } else { 2 };")],
        }[op]
    return Spec(
        title=title,
        statement=f"Answer `q` questions: for a given integer `x`, print {ask}.",
        input_format="The first line holds `q` (1 <= q <= 10^5); each next line holds `x` "
        "(1 <= x <= 10^6).",
        output_format="Print the answers, one per line.",
        gen=gen,
        solve=solve,
        body=body,
        wrong=wrong,
        edges=[lines(1, 1), lines(3, 2, 3, 5)],
    )


@functools.cache
def _spf_table(top: int) -> list[int]:
    """Smallest prime factor of every integer up to top (computed once per build)."""
    spf = list(range(top + 1))
    for i in range(2, int(top**0.5) + 1):
        if spf[i] == i:
            for j in range(i * i, top + 1, i):
                if spf[j] == j:
                    spf[j] = i
    return spf


@functools.cache
def _prefix_table(op: str, top: int) -> list[int]:
    spf = _spf_table(top)
    acc, pre = 0, [0] * (top + 1)
    for i in range(2, top + 1):
        if op == "pcount":
            acc += spf[i] == i
        elif op == "spf":
            acc += spf[i]
        else:
            acc += i >= 5 and spf[i] == i and spf[i - 2] == i - 2
        pre[i] = acc
    return pre


# --------------------------------------------------------------------------- monotonic stacks

_STACK = [
    ("Taller Neighbour Ahead", "next_greater"),
    ("Shadow of the Towers", "prev_smaller"),
    ("Biggest Billboard", "histogram"),
    ("Streak of Calm Days", "span"),
    ("Sunset View Count", "visible"),
    ("Minimum Sums of Stretches", "summin"),
]


def mono_stack(v: int) -> Spec:
    title, op = _STACK[v]
    ask = {
        "next_greater": "For each position print the value of the first element to its right "
        "that is strictly greater, or `-1` if none.",
        "prev_smaller": "For each position print the index (1-based) of the nearest element to "
        "its left that is strictly smaller, or `0` if none.",
        "histogram": "The values are heights of adjacent bars of width 1. Print the largest "
        "area of an axis-parallel rectangle inside the bars.",
        "span": "For each day print its span: the number of consecutive days ending with it "
        "(itself included) whose values are at most its value.",
        "visible": "Towers stand in a row, the sea to the right. A tower sees the sunset if "
        "every tower to its right is strictly lower. Print how many towers see it.",
        "summin": f"Print the sum, over all non-empty blocks of consecutive elements, of the "
        f"block's minimum, modulo {M7}.",
    }[op]

    def gen(rng: random.Random, n: int) -> str:
        top = rng.choice([5, 10**9]) if n > 3 else 3
        return lines(n, [rng.randint(1, top) for _ in range(n)])

    def solve(text: str) -> str:
        a = ints(text)[1:]
        n = len(a)
        if op == "next_greater":
            res, st = [-1] * n, []
            for i in range(n - 1, -1, -1):
                while st and st[-1] <= a[i]:
                    st.pop()
                res[i] = st[-1] if st else -1
                st.append(a[i])
            return " ".join(map(str, res)) + "\n"
        if op == "prev_smaller":
            res, st = [], []
            for i in range(n):
                while st and a[st[-1]] >= a[i]:
                    st.pop()
                res.append(st[-1] + 1 if st else 0)
                st.append(i)
            return " ".join(map(str, res)) + "\n"
        if op == "span":
            res, st = [], []
            for i in range(n):
                while st and a[st[-1]] <= a[i]:
                    st.pop()
                res.append(i - (st[-1] if st else -1))
                st.append(i)
            return " ".join(map(str, res)) + "\n"
        if op == "visible":
            best, c = 0, 0
            for x in reversed(a):
                if x > best:
                    c, best = c + 1, x
            return _one(c)
        left, right, st = [0] * n, [0] * n, []
        for i in range(n):
            while st and a[st[-1]] >= a[i]:
                st.pop()
            left[i] = st[-1] if st else -1
            st.append(i)
        st = []
        for i in range(n - 1, -1, -1):
            while st and a[st[-1]] > a[i]:
                st.pop()
            right[i] = st[-1] if st else n
            st.append(i)
        if op == "histogram":
            r2, st = [0] * n, []
            for i in range(n - 1, -1, -1):
                while st and a[st[-1]] >= a[i]:
                    st.pop()
                r2[i] = st[-1] if st else n
                st.append(i)
            return _one(max(a[i] * (r2[i] - left[i] - 1) for i in range(n)))
        return _one(sum(a[i] * (i - left[i]) * (right[i] - i) for i in range(n)) % M7)

    read = "    let n = rd!(usize);\n    let a: Vec<i64> = (0..n).map(|_| rd!(i64)).collect();\n"
    code, wrong = {
        "next_greater": (
            """    let mut res = vec![-1i64; n];
    let mut st: Vec<i64> = Vec::new();
    for i in (0..n).rev() {
        while let Some(&top) = st.last() {
            if top <= a[i] { st.pop(); } else { break; }
        }
        res[i] = *st.last().unwrap_or(&-1);
        st.push(a[i]);
    }
""",
            [("if top <= a[i]", "if top < a[i]")],
        ),
        "prev_smaller": (
            """    let mut res = vec![0i64; n];
    let mut st: Vec<usize> = Vec::new();
    for i in 0..n {
        while let Some(&top) = st.last() {
            if a[top] >= a[i] { st.pop(); } else { break; }
        }
        res[i] = st.last().map_or(0, |&j| j as i64 + 1);
        st.push(i);
    }
""",
            [("if a[top] >= a[i]", "if a[top] > a[i]")],
        ),
        "span": (
            """    let mut res = vec![0i64; n];
    let mut st: Vec<usize> = Vec::new();
    for i in 0..n {
        while let Some(&top) = st.last() {
            if a[top] <= a[i] { st.pop(); } else { break; }
        }
        res[i] = i as i64 - st.last().map_or(-1, |&j| j as i64);
        st.push(i);
    }
""",
            [("if a[top] <= a[i]", "if a[top] < a[i]")],
        ),
        "visible": (
            """    let (mut best, mut c) = (0i64, 0u64);
    for &x in a.iter().rev() {
        if x > best {
            c += 1;
            best = x;
        }
    }
    out.push_str(&format!("{}\\n", c));
""",
            [("if x > best {", "if x >= best {")],
        ),
        "histogram": (
            """    let mut left = vec![-1i64; n];
    let mut right = vec![n as i64; n];
    let mut st: Vec<usize> = Vec::new();
    for i in 0..n {
        while let Some(&top) = st.last() {
            if a[top] >= a[i] { right[top] = i as i64; st.pop(); } else { break; }
        }
        left[i] = st.last().map_or(-1, |&j| j as i64);
        st.push(i);
    }
    let best = (0..n).map(|i| a[i] * (right[i] - left[i] - 1)).max().unwrap();
    out.push_str(&format!("{}\\n", best));
""",
            [
                (
                    "a[i] * (right[i] - left[i] - 1)",
                    "a[i] * (right[i] - left[i] - 1).min(n as i64 - 1).max(1)",
                )
            ],
        ),
        "summin": (
            f"""    const M: i64 = {M7};
    let mut left = vec![-1i64; n];
    let mut right = vec![n as i64; n];
    let mut st: Vec<usize> = Vec::new();
    for i in 0..n {{
        while let Some(&top) = st.last() {{
            if a[top] > a[i] {{ right[top] = i as i64; st.pop(); }} else {{ break; }}
        }}
        left[i] = st.last().map_or(-1, |&j| j as i64);
        st.push(i);
    }}
    let mut total = 0i64;
    for i in 0..n {{
        let cnt = ((i as i64 - left[i]) * (right[i] - i as i64)) % M;
        total = (total + a[i] % M * cnt) % M;
    }}
    out.push_str(&format!("{{}}\\n", total));
""",
            [("(i as i64 - left[i])", "(i as i64 - left[i] - 1).max(1)")],
        ),
    }[op]
    if op in ("next_greater", "prev_smaller", "span"):
        code += (
            "    let shown: Vec<String> = res.iter().map(|x| x.to_string()).collect();\n"
            "    out.push_str(&shown.join(\" \"));\n    out.push('\\n');\n"
        )
    return Spec(
        title=title,
        statement=f"You are given `n` positive integers `a_1, ..., a_n`. {ask}",
        input_format="The first line holds `n` (1 <= n <= 2*10^5); the second holds the `n` "
        "integers (1 <= a_i <= 10^9).",
        output_format="Print the answer as described above.",
        gen=gen,
        solve=solve,
        body=read + code,
        wrong=wrong,
        edges=[lines(1, [4]), lines(4, [2, 2, 2, 2]), lines(3, [1, 5, 1])],
    )


TEMPLATES = [
    ("components", components, len(_COMP)),
    ("shortest_paths", shortest_paths, len(_DIJ)),
    ("sieve", sieve, len(_SIEVE)),
    ("mono_stack", mono_stack, len(_STACK)),
]
