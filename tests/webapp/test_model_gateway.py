"""The portal's model gateway (/api/v1/task/model/v1) against the real stand-in that the portal
starts from rust_scaffolding's manifest: one budget per run, the run's token only, refusals with
OpenAI-shaped reasons and a ledger row per request, tokens per checkpoint."""

import concurrent.futures
import importlib.util
import json
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr
from sqlmodel import Session, select

from baselines import checkpoints, model_usage, run_tokens
from baselines.model_usage import ModelUsage
from baselines.runs import Run, RunStatus
from baselines.users import Role
from environments.catalogue import BUILTIN_DIR
from fleet.testing_sshd import free_port
from tests.conftest import login
from timetracking.utc import utcnow
from webapp.app import create_app

BASE = "/api/v1/task/model/v1"
BUDGET = 2_000_000
ASK = {
    "model": "whatever-the-expert-wrote",
    "messages": [{"role": "user", "content": "Say hello."}],
}


def make_run(engine, expert_id: int, environment: str = "rust_scaffolding/main") -> tuple[int, str]:
    now = utcnow()
    with Session(engine) as s:
        run = Run(
            expert_id=expert_id,
            environment=environment,
            status=RunStatus.active,
            created_at=now - timedelta(minutes=10),
            started_at=now - timedelta(minutes=10),
            time_limit_s=8 * 3600,
        )
        s.add(run)
        s.flush()
        token = run_tokens.issue(s, run.id, now)
        s.commit()
        return run.id, token


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def rows(engine, run_id: int) -> list[ModelUsage]:
    with Session(engine) as s:
        return list(s.exec(select(ModelUsage).where(ModelUsage.run_id == run_id)).all())


@pytest.fixture
def expert(make_user):
    return make_user(Role.expert)


@pytest.fixture
def run(engine, expert) -> tuple[int, str]:
    return make_run(engine, expert.id)


def test_a_chat_goes_to_the_standin_with_the_configured_model_and_is_counted(client, engine, run):
    run_id, token = run
    models = client.get(f"{BASE}/models", headers=bearer(token))
    assert models.status_code == 200, models.text
    assert [m["id"] for m in models.json()["data"]] == ["baseliner-standin"]
    answer = client.post(f"{BASE}/chat/completions", json=ASK, headers=bearer(token))
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["model"] == "baseliner-standin"  # the request's model was replaced
    total = body["usage"]["total_tokens"]
    assert answer.headers["X-Baseliner-Tokens-Used"] == str(total)
    assert answer.headers["X-Baseliner-Tokens-Budget"] == str(BUDGET)
    (row,) = rows(engine, run_id)
    assert (row.prompt_tokens + row.completion_tokens, row.status) == (total, "ok")
    info = client.get("/api/v1/task/model", headers=bearer(token)).json()
    assert info["used_tokens"] == total and info["budget_tokens"] == BUDGET
    assert info["path"] == BASE


def test_max_tokens_is_capped_to_what_is_left_then_the_budget_is_refused(client, engine, run):
    run_id, token = run
    with Session(engine) as s:
        model_usage.record(s, run_id, utcnow(), 0, BUDGET - 5, "ok")
    ask = {**ASK, "max_tokens": 1000}
    answer = client.post(f"{BASE}/chat/completions", json=ask, headers=bearer(token))
    assert answer.status_code == 200, answer.text
    capped = answer.json()
    assert capped["choices"][0]["finish_reason"] == "length"  # capped: nothing was left
    assert capped["usage"]["completion_tokens"] <= 2
    refused = client.post(f"{BASE}/chat/completions", json=ask, headers=bearer(token))
    assert refused.status_code == 429
    error = refused.json()["error"]
    assert error["type"] == "budget_exceeded" and "is spent" in error["message"]
    assert [r.status for r in rows(engine, run_id)] == ["ok", "ok", "budget_exceeded"]


def test_one_runs_spent_budget_leaves_another_runs_alone(client, engine, expert, run):
    run_id, token = run
    other_id, other_token = make_run(engine, expert.id)
    with Session(engine) as s:
        model_usage.record(s, run_id, utcnow(), 0, BUDGET, "ok")
    assert (
        client.post(f"{BASE}/chat/completions", json=ASK, headers=bearer(token)).status_code == 429
    )
    answer = client.post(f"{BASE}/chat/completions", json=ASK, headers=bearer(other_token))
    assert answer.status_code == 200, answer.text
    assert [r.status for r in rows(engine, other_id)] == ["ok"]
    assert len(rows(engine, run_id)) == 2  # its own refusal only


@pytest.mark.parametrize("token", ["", "blr_not-a-token", "sk-something"])
def test_a_bad_token_is_refused(client, engine, run, token):
    answer = client.post(f"{BASE}/chat/completions", json=ASK, headers=bearer(token))
    assert answer.status_code == 401
    assert answer.json()["error"]["code"] == "invalid_api_key"
    assert rows(engine, run[0]) == []


def test_an_environment_without_a_model_is_404(client, engine, expert):
    run_id, token = make_run(engine, expert.id, "triton_cumsum/main")
    answer = client.post(f"{BASE}/chat/completions", json=ASK, headers=bearer(token))
    assert answer.status_code == 404
    assert "lends no model" in answer.json()["error"]["message"]
    assert client.get(f"{BASE}/models", headers=bearer(token)).status_code == 404
    assert rows(engine, run_id) == []


def test_a_paused_or_ended_run_is_409(client, engine, run):
    run_id, token = run
    assert client.post("/api/v1/task/pause", headers=bearer(token)).status_code == 200
    answer = client.post(f"{BASE}/chat/completions", json=ASK, headers=bearer(token))
    assert answer.status_code == 409
    assert "paused" in answer.json()["error"]["message"]
    with Session(engine) as s:
        row = s.get(Run, run_id)
        row.status = RunStatus.finished
        s.add(row)
        s.commit()
    answer = client.post(f"{BASE}/chat/completions", json=ASK, headers=bearer(token))
    assert answer.status_code == 409 and "ended" in answer.json()["error"]["message"]
    assert rows(engine, run_id) == []


@pytest.mark.parametrize(
    "body, said",
    [
        (b'{"messages": [', "not valid JSON"),
        (b"[1, 2]", "JSON object"),
        (b'{"messages": []}', "non-empty list"),
        (b'{"messages": [{"role": "user", "content": "x"}], "stream": true}', "Streaming"),
        (b'{"messages": [{"role": "user", "content": "x"}], "max_tokens": -3}', "positive"),
        (b'{"messages": [{"role": "user", "content": "x"}], "n": 1000}', "'n'"),
    ],
)
def test_bad_requests_are_400_with_the_reason(client, engine, run, body, said):
    answer = client.post(
        f"{BASE}/chat/completions",
        content=body,
        headers={**bearer(run[1]), "Content-Type": "application/json"},
    )
    assert answer.status_code == 400
    assert said in answer.json()["error"]["message"]
    assert rows(engine, run[0]) == []


def test_an_upstream_that_is_down_is_502_and_the_key_never_shows(settings, engine, run, caplog):
    key = "sk-operator-secret-0123456789"
    down = settings.model_copy(
        update={
            "model_base_url": f"http://127.0.0.1:{free_port()}/v1",
            "model": "operator-model",
            "model_api_key": SecretStr(key),
        }
    )
    with TestClient(create_app(down, migrate=False)) as client:
        answer = client.post(f"{BASE}/chat/completions", json=ASK, headers=bearer(run[1]))
        models = client.get(f"{BASE}/models", headers=bearer(run[1]))
    assert answer.status_code == 502
    assert answer.json()["error"]["type"] == "upstream_unreachable"
    assert models.json()["data"][0]["id"] == "operator-model"
    assert key not in answer.text and key not in caplog.text
    assert [r.status for r in rows(engine, run[0])] == ["upstream_unreachable"]


def test_each_checkpoint_records_the_tokens_used_since_the_one_before(client, engine, run):
    run_id, token = run
    totals = []
    for _ in range(2):
        answer = client.post(f"{BASE}/chat/completions", json=ASK, headers=bearer(token))
        totals.append(answer.json()["usage"]["total_tokens"])
    submitted = []
    with Session(engine) as s:
        for extra in (totals, []):
            row = checkpoints.submit(
                s,
                run_id,
                now=utcnow(),
                working_s=60,
                snapshot_sha256="0" * 64,
                snapshot_bytes=1,
                source="cli",
            )
            submitted.append(row.details["development_model"])
            if extra:  # one more call between the first checkpoint and the second
                answer = client.post(f"{BASE}/chat/completions", json=ASK, headers=bearer(token))
                totals.append(answer.json()["usage"]["total_tokens"])
    assert submitted[0]["total_tokens"] == totals[0] + totals[1]
    assert submitted[0]["requests"] == 2
    assert submitted[1]["total_tokens"] == totals[2] and submitted[1]["requests"] == 1
    # The scorer's details are added to it, not put in its place.
    with Session(engine) as s:
        row = checkpoints.get(s, run_id, 1)
        checkpoints.record_result(
            s,
            row,
            status=checkpoints.CheckpointStatus.scored,
            score=0.5,
            normalized=None,
            message={},
            details={"solved": 1},
            output="",
            seconds=1.0,
            comparable=True,
            now=utcnow(),
        )
        s.commit()
        s.refresh(row)
        assert row.details == {"solved": 1, "development_model": submitted[0]}


def test_the_run_page_shows_the_model_the_tokens_used_and_each_checkpoints(client, engine, expert):
    run_id, token = make_run(engine, expert.id)
    answer = client.post(f"{BASE}/chat/completions", json=ASK, headers=bearer(token))
    total = answer.json()["usage"]["total_tokens"]
    with Session(engine) as s:
        checkpoints.submit(
            s,
            run_id,
            now=utcnow(),
            working_s=60,
            snapshot_sha256="0" * 64,
            snapshot_bytes=1,
            source="cli",
        )
    login(client, expert)
    page = client.get(f"/runs/{run_id}")
    assert page.status_code == 200
    assert f'<span id="model-tokens">{total:,}</span> of 2,000,000 development tokens' in page.text
    assert f'<td class="num model-tokens">{total:,}</td>' in page.text
    assert "Model tokens" in page.text
    other_id, _ = make_run(engine, expert.id, "triton_cumsum/main")
    assert "model-tokens" not in client.get(f"/runs/{other_id}").text


@pytest.fixture
def slow_standin() -> Iterator[str]:
    """The stand-in, answering after 1.5 s, as the operator's endpoint."""
    script = BUILTIN_DIR / "rust_scaffolding" / "standin.py"
    proc = subprocess.Popen(
        [sys.executable, str(script), "--latency-s", "1.5", "--model", "slow-model"],
        stdout=subprocess.PIPE,
    )
    try:
        yield json.loads(proc.stdout.readline())["base_url"]
    finally:
        proc.terminate()
        proc.wait(10)
        proc.stdout.close()


def test_requests_past_the_runs_cap_in_flight_are_429(settings, engine, run, slow_standin):
    one = settings.model_copy(
        update={"model_base_url": slow_standin, "model": "slow-model", "model_max_in_flight": 1}
    )
    with TestClient(create_app(one, migrate=False)) as client:

        def ask():
            return client.post(f"{BASE}/chat/completions", json=ASK, headers=bearer(run[1]))

        with concurrent.futures.ThreadPoolExecutor(2) as pool:
            first = pool.submit(ask)
            time.sleep(0.5)  # the first is in flight, waiting for the slow model
            second = pool.submit(ask).result()
            first = first.result()
    assert first.status_code == 200, first.text
    assert first.json()["model"] == "slow-model"
    assert second.status_code == 429
    assert second.json()["error"]["code"] == "too_many_in_flight"
    assert sorted(r.status for r in rows(engine, run[0])) == ["ok", "too_many_in_flight"]


def test_an_upstream_that_does_not_answer_in_time_is_504(settings, engine, run, slow_standin):
    impatient = settings.model_copy(
        update={"model_base_url": slow_standin, "model": "slow-model", "model_timeout_s": 0.5}
    )
    with TestClient(create_app(impatient, migrate=False)) as client:
        answer = client.post(f"{BASE}/chat/completions", json=ASK, headers=bearer(run[1]))
    assert answer.status_code == 504
    assert "did not answer within 0.5 s" in answer.json()["error"]["message"]
    assert [r.status for r in rows(engine, run[0])] == ["upstream_timeout"]


def test_an_upstream_that_quotes_the_operators_key_never_shows_it(settings, engine, run, caplog):
    """An endpoint refusing the key quotes it back, as OpenAI's does: the expert is told the
    operator must fix it, without the key, and nothing logged holds it."""
    spec = importlib.util.spec_from_file_location(
        "gateway_standin", BUILTIN_DIR / "rust_scaffolding" / "standin.py"
    )
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    problems = BUILTIN_DIR / "rust_scaffolding" / "problems"
    standin = module.StandinModel(
        problems / "standin.json", [problems / "dev.json"], api_key="the-right-key"
    ).start()
    key = "sk-operator-wrong-key-0123456789"
    try:
        wrong = settings.model_copy(
            update={
                "model_base_url": standin.base_url,
                "model": "baseliner-standin",
                "model_api_key": SecretStr(key),
            }
        )
        with TestClient(create_app(wrong, migrate=False)) as client:
            answer = client.post(f"{BASE}/chat/completions", json=ASK, headers=bearer(run[1]))
    finally:
        standin.stop()
    assert answer.status_code == 502
    error = answer.json()["error"]
    assert error["type"] == "upstream_auth" and "[redacted]" in error["message"]
    assert key not in answer.text and key not in caplog.text


def test_the_environment_page_shows_the_model_block(client, make_user):
    login(client, make_user(Role.coordinator))
    page = client.get("/coordinator/environments/rust_scaffolding/main")
    assert page.status_code == 200
    assert "2,000,000 tokens per run; stand-in <code>standin.py</code>" in page.text
    other = client.get("/coordinator/environments/triton_cumsum/main")
    assert '<dd id="env-model">none</dd>' in other.text
