"""rust_scaffolding's stand-in model and model proxy, driven by the official ``openai`` client.

The stand-in answers from a tiny table made here (its "Rust" need not compile: the judge is not
involved); the proxy forwards to a real stand-in on loopback. Faults are the stand-in's own
(429, 500, latency, hangs) or a port nothing listens on.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import importlib.util
import json
import logging
import os
import socket
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import httpx
import openai
import pytest

FAMILY = Path(__file__).resolve().parents[2] / "environments" / "rust_scaffolding"


def run_async(make):
    """``asyncio.run(make())`` in a thread of its own: in the suite, Playwright's sync API may
    hold an event loop in this thread already (browser journeys run first)."""
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(lambda: asyncio.run(make())).result()


def _load(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"rust_scaffolding_{name}", FAMILY / f"{name}.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


standin_mod = _load("standin")
proxy_mod = _load("model_proxy")

TABLE = {
    "p1": {
        "correct": "fn main() { /* p1 ok */ }",
        "wrong": "fn main() { /* p1 wrong */ }",
        "broken": "fn main( {",
    },
    "p2": {
        "correct": "fn main() { /* p2 ok */ }",
        "wrong": "fn main() { /* p2 wrong */ }",
        "broken": "fn main) }",
    },
    "p3": {
        "correct": "fn main() { /* p3 ok */ }",
        "wrong": "fn main() { /* p3 wrong */ }",
        "broken": "fn {",
    },
}
PROBLEMS = {
    "version": 1,
    "split": "test",
    "problems": [
        {"id": "p1", "title": "Sum of Pairs"},
        {"id": "p2", "title": "Sum of Pairs II"},
        {"id": "p3", "title": "Grid Walk"},
    ],
}
SECRET = "sk-test-0123456789abcdefSECRET"
MODEL = "operator-model-7b"


def prompt(title: str) -> list[dict[str, str]]:
    return [
        {"role": "system", "content": "You write Rust programs for programming contests."},
        {
            "role": "user",
            "content": f"# {title}\n\nRead n numbers and print their sum.\nAnswer in Rust.",
        },
    ]


def outcome(content: str, pid: str) -> str:
    """Which of the table's programs an answer holds."""
    for kind, source in TABLE[pid].items():
        if f"```rust\n{source}\n```" in content:
            return kind
    raise AssertionError(f"no program of {pid} in {content!r}")


@pytest.fixture
def standin() -> Iterator[object]:
    with standin_mod.StandinModel(TABLE, [PROBLEMS], seed=7) as model:
        yield model


@pytest.fixture
def client(standin: object) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=standin.base_url, api_key="unused", max_retries=0, timeout=5) as c:
        yield c


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# -- the stand-in ---------------------------------------------------------------------------


def test_standin_answers_the_problem_by_its_longest_title(
    client: openai.OpenAI, standin: object
) -> None:
    answer = client.chat.completions.create(
        model="anything", messages=prompt("Sum of Pairs II"), n=4
    )
    assert len(answer.choices) == 4
    assert all(outcome(c.message.content, "p2") for c in answer.choices)  # p2, not p1
    chars = sum(len(m["content"]) for m in prompt("Sum of Pairs II"))
    assert answer.usage.prompt_tokens == -(-chars // 4)
    assert answer.usage.completion_tokens == sum(
        -(-len(c.message.content) // 4) for c in answer.choices
    )
    assert answer.usage.total_tokens == answer.usage.prompt_tokens + answer.usage.completion_tokens
    stats = standin.stats()
    assert stats["requests"] == 1 and stats["samples"] == 4
    assert stats["total_tokens"] == answer.usage.total_tokens
    assert stats["correct"] + stats["wrong"] + stats["broken"] == 4


def test_standin_is_deterministic_per_seed_and_greedy_at_temperature_0() -> None:
    def run(seed: int, temperature: float) -> list[str]:
        with (
            standin_mod.StandinModel(TABLE, [PROBLEMS], seed=seed) as model,
            openai.OpenAI(base_url=model.base_url, api_key="x", max_retries=0) as c,
        ):
            kinds = []
            for title, pid in (
                ("Sum of Pairs", "p1"),
                ("Grid Walk", "p3"),
                ("Sum of Pairs II", "p2"),
            ):
                for _ in range(2):
                    answer = c.chat.completions.create(
                        model="m", messages=prompt(title), n=5, temperature=temperature
                    )
                    kinds += [outcome(ch.message.content, pid) for ch in answer.choices]
            return kinds

    first = run(7, 0.8)
    assert first == run(7, 0.8)
    assert first != run(8, 0.8)
    assert set(first) == {"correct", "wrong", "broken"}  # 30 samples at 0.35/0.45/0.2
    greedy = run(7, 0)
    for block in range(3):  # every sample of a problem is the same program at temperature 0
        assert len(set(greedy[block * 10 : block * 10 + 10])) == 1


def test_standin_rates_and_unknown_problem() -> None:
    with (
        standin_mod.StandinModel(TABLE, [PROBLEMS], seed=1, rates=(0, 0, 1)) as model,
        openai.OpenAI(base_url=model.base_url, api_key="x", max_retries=0) as c,
    ):
        answer = c.chat.completions.create(model="m", messages=prompt("grid walk"), n=3)
        assert [outcome(ch.message.content, "p3") for ch in answer.choices] == ["broken"] * 3
        lost = c.chat.completions.create(model="m", messages=prompt("Knapsack"))
        assert "```" not in lost.choices[0].message.content
        assert lost.usage.completion_tokens > 0
        assert model.stats()["unknown_problem"] == 1
        repair = [
            *prompt("Grid Walk"),
            {"role": "assistant", "content": answer.choices[0].message.content},
            {"role": "user", "content": "It does not compile: error[E0425]. Fix it."},
        ]
        fixed = c.chat.completions.create(model="m", messages=repair)
        assert outcome(fixed.choices[0].message.content, "p3") == "broken"
        cut = c.chat.completions.create(model="m", messages=prompt("Grid Walk"), max_tokens=3)
        assert cut.choices[0].finish_reason == "length"
        assert cut.usage.completion_tokens == 3


def test_standin_faults(client: openai.OpenAI, standin: object) -> None:
    standin.set_faults(rate_limit_every=2)
    client.chat.completions.create(model="m", messages=prompt("Grid Walk"))
    with pytest.raises(openai.RateLimitError):
        client.chat.completions.create(model="m", messages=prompt("Grid Walk"))
    standin.set_faults(rate_limit_every=0, error_every=1)
    with pytest.raises(openai.InternalServerError):
        client.chat.completions.create(model="m", messages=prompt("Grid Walk"))
    standin.set_faults(error_every=0, hang_every=1)
    with pytest.raises(openai.APITimeoutError):
        client.with_options(timeout=0.3).chat.completions.create(
            model="m", messages=prompt("Grid Walk")
        )
    assert standin.stats()["rate_limited"] == 1 and standin.stats()["hung"] == 1


def test_standin_refuses_bad_requests(standin: object) -> None:
    url = standin.base_url + "/chat/completions"
    assert httpx.post(url, content=b"{not json").status_code == 400
    for body in (
        {"messages": []},
        {"messages": prompt("Grid Walk"), "n": 0},
        {"messages": prompt("Grid Walk"), "stream": True},
        {"messages": prompt("Grid Walk"), "temperature": "hot"},
        ["a list"],
    ):
        r = httpx.post(url, json=body)
        assert r.status_code == 400, body
        assert r.json()["error"]["message"]
    assert httpx.get(standin.url + "/nowhere").status_code == 404
    assert httpx.get(standin.base_url + "/models").json()["data"][0]["id"] == "baseliner-standin"


def test_standin_command_line(tmp_path: Path) -> None:
    (tmp_path / "standin.json").write_text(json.dumps({"version": 1, "sources": TABLE}))
    (tmp_path / "test.json").write_text(json.dumps(PROBLEMS))
    (tmp_path / "dev.json").write_text(json.dumps({"problems": [{"id": "d1", "title": "Dev One"}]}))
    command = [
        sys.executable,
        str(FAMILY / "standin.py"),
        "--table",
        str(tmp_path / "standin.json"),
    ]
    command += ["--problems", str(tmp_path / "test.json"), str(tmp_path / "dev.json")]
    command += ["--port", "0", "--seed", "3", "--rates", "1,0,0"]
    with subprocess.Popen(command, stdout=subprocess.PIPE, text=True) as process:
        try:
            started = json.loads(process.stdout.readline())
            assert started["problems"] == 3
            with openai.OpenAI(base_url=started["base_url"], api_key="x", max_retries=0) as c:
                answer = c.chat.completions.create(model="m", messages=prompt("Sum of Pairs"))
                assert outcome(answer.choices[0].message.content, "p1") == "correct"
            stats = httpx.get(started["base_url"].removesuffix("/v1") + "/standin/stats").json()
            assert stats["correct"] == 1
        finally:
            process.terminate()
        assert process.wait(10) == 0
    bad = [sys.executable, str(FAMILY / "standin.py"), "--table", str(tmp_path / "test.json")]
    refused = subprocess.run(
        [*bad, "--problems", str(tmp_path / "test.json")], capture_output=True, text=True
    )
    assert refused.returncode == 2 and "holds no problem" in refused.stderr


# -- the proxy --------------------------------------------------------------------------------


@pytest.fixture
def keyed_standin(monkeypatch: pytest.MonkeyPatch) -> Iterator[object]:
    """A stand-in that wants the operator's key, which the proxy reads from its variable."""
    monkeypatch.setenv("BASELINER_MODEL_API_KEY", SECRET)
    with standin_mod.StandinModel(TABLE, [PROBLEMS], seed=7, api_key=SECRET) as model:
        yield model


def make_proxy(upstream: str, state: Path, budget: int = 100_000, **kw: object) -> object:
    return proxy_mod.ModelProxy(upstream, MODEL, budget, state, **kw).start()


def test_proxy_forwards_with_the_key_and_counts_usage(
    keyed_standin: object,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
) -> None:
    caplog.set_level(logging.DEBUG)  # every logger, httpx's and openai's included
    state = tmp_path / "run" / "proxy.json"
    proxy = make_proxy(keyed_standin.base_url, state)
    try:
        with openai.OpenAI(
            base_url=proxy.base_url, api_key="expert-has-no-key", max_retries=0
        ) as c:
            answer = c.chat.completions.create(
                model="gpt-whatever", messages=prompt("Grid Walk"), n=2
            )
            assert answer.model == MODEL  # the request's model is replaced by the operator's
            assert [outcome(ch.message.content, "p3") for ch in answer.choices]
            assert [m.id for m in c.models.list()] == [MODEL]
            raw = c.chat.completions.with_raw_response.create(
                model="m", messages=prompt("Sum of Pairs")
            )
            assert int(raw.headers["x-baseliner-tokens-used"]) > answer.usage.total_tokens
            second = raw.parse()
        usage = httpx.get(proxy.base_url.removesuffix("/v1") + "/usage").json()
        assert usage["used"] == answer.usage.total_tokens + second.usage.total_tokens
        assert usage["by_label"] == {"default": usage["used"]}
        assert usage["model"] == MODEL and usage["requests"] == 2
        assert usage["used"] == keyed_standin.stats()["total_tokens"]
        assert stat.S_IMODE(state.stat().st_mode) == 0o600
        assert json.loads(state.read_text())["used"] == usage["used"]
        seen = [
            httpx.get(proxy.base_url.removesuffix("/v1") + p).text for p in ("/usage", "/v1/models")
        ]
    finally:
        proxy.stop()
    out, err = capfd.readouterr()
    everything = (
        caplog.text + out + err + state.read_text() + "".join(seen) + answer.model_dump_json()
    )
    assert "model proxy on" in caplog.text and "used" in caplog.text
    assert SECRET not in everything
    assert not any(SECRET in p.read_text() for p in tmp_path.rglob("*") if p.is_file())


def test_proxy_scrubs_the_key_from_an_upstream_that_quotes_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    monkeypatch.setenv("BASELINER_MODEL_API_KEY", SECRET)
    with standin_mod.StandinModel(TABLE, [PROBLEMS], api_key="sk-the-right-one") as upstream:
        proxy = make_proxy(upstream.base_url, tmp_path / "s.json")
        try:
            r = httpx.post(
                proxy.base_url + "/chat/completions",
                json={"model": "m", "messages": prompt("Grid Walk")},
            )
        finally:
            proxy.stop()
    assert r.status_code == 502
    error = r.json()["error"]
    assert error["type"] == "upstream_auth" and "operator" in error["message"]
    assert "[redacted]" in error["message"]  # the stand-in quoted the key it was given
    assert SECRET not in r.text and SECRET not in caplog.text


def test_proxy_async_client_labels_and_n(standin: object, tmp_path: Path) -> None:
    proxy = make_proxy(standin.base_url, tmp_path / "s.json")

    async def ask() -> list[object]:
        async with openai.AsyncOpenAI(
            base_url=proxy.base_url,
            api_key="x",
            max_retries=0,
            default_headers={"X-Baseliner-Label": "checkpoint-2"},
        ) as c:
            calls = [
                c.chat.completions.create(model="m", messages=prompt(t), n=3)
                for t in ("Grid Walk", "Sum of Pairs")
            ]
            return await asyncio.gather(*calls)

    try:
        proxy.set_label("checkpoint-1")
        with openai.OpenAI(base_url=proxy.base_url, api_key="x", max_retries=0) as c:
            first = c.chat.completions.create(model="m", messages=prompt("Sum of Pairs II"))
        answers = run_async(ask)
        assert [len(a.choices) for a in answers] == [3, 3]
        r = httpx.post(
            proxy.base_url.removesuffix("/v1") + "/label", json={"label": "checkpoint-3"}
        )
        assert r.status_code == 200 and r.json()["label"] == "checkpoint-3"
        assert (
            httpx.post(
                proxy.base_url.removesuffix("/v1") + "/label", json={"label": "no spaces"}
            ).status_code
            == 400
        )
        usage = proxy.usage()
    finally:
        proxy.stop()
    assert usage["by_label"] == {
        "checkpoint-1": first.usage.total_tokens,
        "checkpoint-2": sum(a.usage.total_tokens for a in answers),
    }


def test_proxy_budget_spent_is_a_clear_429_and_survives_a_restart(
    standin: object, tmp_path: Path
) -> None:
    state = tmp_path / "s.json"
    proxy = make_proxy(standin.base_url, state, budget=150)
    try:
        with openai.OpenAI(base_url=proxy.base_url, api_key="x", max_retries=2) as c:
            while proxy.usage()["used"] < 150:
                c.chat.completions.create(model="m", messages=prompt("Grid Walk"), max_tokens=1000)
            used = proxy.usage()["used"]
            asked = standin.stats()["requests"]
            with pytest.raises(openai.RateLimitError) as caught:
                c.chat.completions.create(model="m", messages=prompt("Grid Walk"))
            assert standin.stats()["requests"] == asked  # refused before the upstream, no retries
    finally:
        proxy.stop()
    assert caught.value.status_code == 429
    assert (
        caught.value.body["code"] == "budget_exceeded"
        and caught.value.body["type"] == "budget_exceeded"
    )
    assert (
        caught.value.body["message"]
        == f"The token budget of 150 tokens for this run is spent (used {used})."
    )
    assert used < 150 + 60  # capped max_tokens: only the prompt's estimate can overshoot

    again = make_proxy(standin.base_url, state, budget=150)
    try:
        assert again.usage()["used"] == used and again.usage()["refused"] == 1
        r = httpx.post(again.base_url + "/chat/completions", json={"messages": prompt("Grid Walk")})
        assert r.status_code == 429 and r.headers["x-should-retry"] == "false"
    finally:
        again.stop()
    with pytest.raises(proxy_mod.StateError, match="a run keeps one model"):
        proxy_mod.ModelProxy(standin.base_url, "another-model", 150, state)
    state.write_text("{broken")
    with pytest.raises(proxy_mod.StateError, match="not readable"):
        proxy_mod.ModelProxy(standin.base_url, MODEL, 150, state)


def test_proxy_caps_max_tokens_to_what_remains(standin: object, tmp_path: Path) -> None:
    proxy = make_proxy(standin.base_url, tmp_path / "s.json", budget=40)
    try:
        with openai.OpenAI(base_url=proxy.base_url, api_key="x", max_retries=0) as c:
            answer = c.chat.completions.create(
                model="m", messages=prompt("Grid Walk"), max_tokens=5000
            )
    finally:
        proxy.stop()
    assert answer.choices[0].finish_reason == "length"
    assert answer.usage.total_tokens <= 40  # the prompt is about 30 tokens


def test_proxy_upstream_faults_are_clear_errors(standin: object, tmp_path: Path) -> None:
    proxy = make_proxy(standin.base_url, tmp_path / "s.json", timeout_s=0.5)
    down = make_proxy(f"http://127.0.0.1:{free_port()}/v1", tmp_path / "d.json")
    try:
        with openai.OpenAI(base_url=proxy.base_url, api_key="x", max_retries=0) as c:
            standin.set_faults(rate_limit_every=1)
            with pytest.raises(openai.RateLimitError) as limited:
                c.chat.completions.create(model="m", messages=prompt("Grid Walk"))
            assert limited.value.body["type"] == "upstream_rate_limited"
            assert "rate limiting (HTTP 429)" in limited.value.message
            standin.set_faults(rate_limit_every=0, error_every=1)
            with pytest.raises(openai.InternalServerError) as failed:
                c.chat.completions.create(model="m", messages=prompt("Grid Walk"))
            assert failed.value.status_code == 502 and "failed (HTTP 500)" in failed.value.message
            standin.set_faults(error_every=0, latency_s=2.0)
            with pytest.raises(openai.InternalServerError) as slow:
                c.chat.completions.create(model="m", messages=prompt("Grid Walk"))
            assert (
                slow.value.status_code == 504
                and "did not answer within 0.5 s" in slow.value.message
            )
            standin.set_faults(latency_s=0)
            assert proxy.usage()["used"] == 0  # nothing answered, nothing counted
        with openai.OpenAI(base_url=down.base_url, api_key="x", max_retries=0) as c:
            with pytest.raises(openai.InternalServerError) as unreachable:
                c.chat.completions.create(model="m", messages=prompt("Grid Walk"))
            assert unreachable.value.status_code == 502
            assert unreachable.value.body["type"] == "upstream_unreachable"
            assert "could not be reached" in unreachable.value.message
    finally:
        proxy.stop()
        down.stop()


def test_proxy_refuses_bad_requests(
    standin: object, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RUN_CLIENT_TOKEN", "tok-123")
    proxy = make_proxy(standin.base_url, tmp_path / "s.json", client_token_env="RUN_CLIENT_TOKEN")
    url = proxy.base_url + "/chat/completions"
    auth = {"Authorization": "Bearer tok-123"}
    try:
        assert httpx.post(url, json={"messages": prompt("Grid Walk")}).status_code == 401
        with openai.OpenAI(base_url=proxy.base_url, api_key="tok-123", max_retries=0) as c:
            with pytest.raises(openai.BadRequestError, match="Streaming is not supported"):
                c.chat.completions.create(model="m", messages=prompt("Grid Walk"), stream=True)
            assert c.chat.completions.create(model="m", messages=prompt("Grid Walk")).choices
        assert httpx.post(url, content=b"{oops", headers=auth).status_code == 400
        for body in (
            {"messages": "hi"},
            {"messages": prompt("Grid Walk"), "n": 0},
            {"messages": prompt("x"), "max_tokens": -1},
        ):
            r = httpx.post(url, json=body, headers=auth)
            assert r.status_code == 400 and r.json()["error"]["message"], body
        r = httpx.post(
            url,
            json={"messages": prompt("Grid Walk")},
            headers={**auth, "X-Baseliner-Label": "a b"},
        )
        assert r.status_code == 400 and "X-Baseliner-Label" in r.json()["error"]["message"]
        assert httpx.get(proxy.base_url + "/nothing", headers=auth).status_code == 404
    finally:
        proxy.stop()


def test_proxy_command_line(standin: object, tmp_path: Path) -> None:
    env = {**os.environ, "OPERATOR_KEY": SECRET}
    command = [sys.executable, str(FAMILY / "model_proxy.py"), "--upstream", standin.base_url]
    command += ["--model", MODEL, "--budget-tokens", "1000", "--state", str(tmp_path / "s.json")]
    command += ["--key-env", "OPERATOR_KEY", "--label", "cp-0"]
    with subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
    ) as process:
        try:
            started = json.loads(process.stdout.readline())
            assert started["budget"] == 1000 and started["used"] == 0 and started["model"] == MODEL
            with openai.OpenAI(base_url=started["base_url"], api_key="x", max_retries=0) as c:
                c.chat.completions.create(model="m", messages=prompt("Grid Walk"))
            usage = httpx.get(started["base_url"].removesuffix("/v1") + "/usage").json()
            assert list(usage["by_label"]) == ["cp-0"] and usage["used"] > 0
        finally:
            process.terminate()
        _, err = process.communicate(timeout=10)
    assert process.returncode == 0
    assert "OPERATOR_KEY (set)" in err and SECRET not in err


def test_proxy_under_a_flood_counts_every_token_and_stops_at_the_budget(
    standin: object, tmp_path: Path
) -> None:
    """Forty requests at once against a budget of a few: none lost from the count, the rest
    refused with the budget's error, the budget not overshot by the requests in flight."""
    proxy = make_proxy(standin.base_url, tmp_path / "s.json", budget=400, max_in_flight=8)
    standin.set_faults(latency_s=0.05)

    async def flood() -> list[object]:
        async with openai.AsyncOpenAI(base_url=proxy.base_url, api_key="x", max_retries=0) as c:
            calls = [
                c.chat.completions.create(model="m", messages=prompt("Grid Walk"), max_tokens=500)
                for _ in range(40)
            ]
            return await asyncio.gather(*calls, return_exceptions=True)

    try:
        results = run_async(flood)
        later = run_async(flood)
        usage = proxy.usage()
    finally:
        proxy.stop()
    refused = [r for r in results + later if isinstance(r, Exception)]
    answered = [r for r in results if not isinstance(r, Exception)]
    assert answered and refused
    assert all(isinstance(r, openai.RateLimitError) for r in refused)
    assert all(r.body["code"] == "budget_exceeded" for r in refused)
    assert all(isinstance(r, openai.RateLimitError) for r in later)  # the budget stays spent
    assert usage["refused"] == len(refused) and usage["requests"] == len(answered)
    assert (
        usage["used"]
        == standin.stats()["total_tokens"]
        == sum(a.usage.total_tokens for a in answered)
    )
    # Near the end requests wait for those in flight: only the last one, whose prompt (about 30
    # tokens) no longer fits, goes over, with one token of answer.
    assert 400 <= usage["used"] <= 400 + 31


def test_servers_answer_other_methods_405(standin: object, tmp_path: Path) -> None:
    proxy = make_proxy(standin.base_url, tmp_path / "s.json")
    try:
        for url in (standin.base_url + "/chat/completions", proxy.base_url + "/chat/completions"):
            assert httpx.put(url, json={}).status_code == 405
            assert httpx.delete(url).status_code == 405
    finally:
        proxy.stop()
