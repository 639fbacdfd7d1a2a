"""The scaling_law family on a machine without a GPU: install builds a tiny ground-truth table,
start gives the expert only their files, train.py keeps to the FLOP cap and logs runs, the
scorer interpolates the table in width and steps, turns every bad answer into an invalid score
whose message says why (and never shows the score), the reference recipe beats the starting
answer, and the last valid score counts.

The H100 table is measured by environments/scaling_law/calibrate.py and committed; the GPU
figures are in the family's README.
"""

import hashlib
import importlib.util
import json
import math
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from environments.catalogue import BUILTIN_DIR, discover

FAMILY_DIR = BUILTIN_DIR / "scaling_law"
# lmkit's Python modules reach the expert, never its corpus (which holds the validation split).
LMKIT_MODULES = [
    f"lmkit/{p.name}" for p in (FAMILY_DIR / "lmkit").glob("*.py") if p.name != "corpus.py"
]
EXPERT_FILES = sorted(
    ["README.md", "answer.json", "config.json", "data/train_tokens.npy", "train.py", *LMKIT_MODULES]
)


def _load(name: str, path: Path):
    if str(FAMILY_DIR) not in sys.path:
        sys.path.insert(0, str(FAMILY_DIR))
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _module():
    return _load("scaling_law_family", FAMILY_DIR / "scaling_law.py")


def _family():
    return _module().TaskFamily


def _scorer():
    return _load("scaling_law_scorer", FAMILY_DIR / "scoring" / "score.py")


def _setup():
    return _load("scaling_setup", FAMILY_DIR / "scaling_setup.py")


@pytest.fixture(scope="module")
def installed():
    """The family installed in CPU mode (a tiny table in .build/; stamped, so once)."""
    pytest.importorskip("torch")
    pytest.importorskip("tokenizers")
    saved = os.environ.get("BASELINER_LM_DEVICE")
    os.environ["BASELINER_LM_DEVICE"] = "cpu"
    try:
        _family().install()
        yield
    finally:
        if saved is None:
            os.environ.pop("BASELINER_LM_DEVICE", None)
        else:
            os.environ["BASELINER_LM_DEVICE"] = saved


@pytest.fixture
def home(installed, tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("BASELINER_LM_DEVICE", "cpu")
    family = _family()
    family.start(family.get_tasks()["main"])
    return tmp_path


def _score() -> dict:
    family = _family()
    return family.intermediate_score(family.get_tasks()["main"])


def _snapshot(folder: Path) -> dict[str, str]:
    return {
        p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in folder.rglob("*")
        if p.is_file() and not p.is_symlink()
    }


def _config(home: Path) -> dict:
    return json.loads((home / "config.json").read_text())


def _steps(config: dict, n_embd: int, fraction: float = 1.0) -> int:
    setup = _setup().from_json(config)
    return setup.steps_for(n_embd, fraction * setup.budget_flops)


def _write_answer(home: Path, n_embd, max_iters, loss) -> None:
    text = json.dumps({"n_embd": n_embd, "max_iters": max_iters, "loss": loss})
    (home / "answer.json").write_text(text)


def test_family_is_in_the_catalogue_with_hidden_scores_and_the_last_answer_counting():
    catalogue = discover()
    assert not [e for e in catalogue.errors if "scaling_law" in e]
    family = catalogue.family("scaling_law")
    task = family.tasks[0]
    assert (task.name, task.gpu_count, task.gpu_model) == ("main", (1, 1), "h100")
    assert task.scoring.visible_to_agent is False
    meta = task.meta
    assert meta.direction == "higher" and meta.aggregation == "last"
    assert meta.time_limit_s == 28800 and meta.paths_from_home is True
    assert meta.reference == "reference/"
    assert meta.reference_command == "python3 reference_solution.py"
    assert (FAMILY_DIR / "reference" / "reference_solution.py").is_file()


def test_start_copies_exactly_the_experts_files_and_nothing_protected(home):
    family = _family()
    t = family.get_tasks()["main"]
    assert family.standard_version == "0.5.0" and family.get_permissions(t) == []
    assert "C / 50" in family.get_instructions(t)
    copied = sorted(p.relative_to(home).as_posix() for p in home.rglob("*") if p.is_file())
    assert copied == EXPERT_FILES and "lmkit/model.py" in copied
    assert not [p for p in home.rglob("*") if re.search(r"ground_truth|valid-|\.xz$", p.name)]
    assert _config(home)["mode"] == "cpu"


def test_flops_agree_with_lmkit_and_the_committed_start_answer_fits_the_gpu_budget():
    sys.path.insert(0, str(FAMILY_DIR))
    pytest.importorskip("torch")
    from lmkit.model import ModelConfig

    setup = _setup()
    for mode in (setup.GPU, setup.CPU):
        for n_embd in (mode.head_dim, *mode.table_widths, mode.max_width):
            lmkit_config = ModelConfig(
                mode.vocab_size, mode.n_layer, n_embd // mode.head_dim, n_embd, mode.seq_len
            )
            assert mode.flops_per_token(n_embd) == lmkit_config.flops_per_token()
    start = json.loads((FAMILY_DIR / "assets" / "answer.json").read_text())
    gpu = setup.GPU
    assert start == _module().start_answer(gpu)
    assert 0.9 <= gpu.flops(start["n_embd"], start["max_iters"]) / gpu.budget_flops <= 1.1
    readme = (FAMILY_DIR / "assets" / "README.md").read_text()
    stated = float(re.search(r"C = ([0-9.e]+) FLOPs", readme).group(1))
    assert stated == gpu.budget_flops and f"C / {gpu.cap_divisor}" in readme


def test_starting_answer_is_valid_and_the_message_carries_no_score(home):
    before = _snapshot(home)
    result = _score()
    assert math.isfinite(result["score"]), result
    message, details = result["message"], result["details"]
    assert set(message) == {
        "valid",
        "n_embd",
        "max_iters",
        "flops",
        "budget_fraction",
        "comparable",
        "note",
    }
    assert message["valid"] is True and message["comparable"] is False
    assert "not comparable: no GPU" in message["note"]
    assert 0.9 <= message["budget_fraction"] <= 1.1
    assert details["score"] == result["score"]
    for key in ("loss_of_answer", "best_loss", "predicted_loss", "regret", "prediction_error"):
        assert math.isfinite(details[key])
    assert result["score"] == pytest.approx(1 - (details["regret"] + details["prediction_error"]))
    assert _snapshot(home) == before


def test_the_reference_recipe_scores_better_than_the_start(home):
    start = _score()
    shutil.copy(FAMILY_DIR / "reference" / "reference_solution.py", home)
    proc = subprocess.run(
        [sys.executable, "reference_solution.py"],
        cwd=home,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    reference = _score()
    assert math.isfinite(reference["score"]), reference
    assert reference["score"] > start["score"], (start["details"], reference["details"])
    logged = (home / "runs.jsonl").read_text().splitlines()
    assert logged and reference["details"]["runs_jsonl"]["runs"] == len(logged)
    assert reference["details"]["runs_jsonl"]["over_cap"] == 0


def test_train_py_refuses_a_run_over_the_cap_and_logs_the_runs_it_makes(home):
    config = _config(home)
    over = _steps(config, 16, 1 / config["cap_divisor"]) + 1
    command = [sys.executable, "train.py", "--n_embd", "16", "--max_iters"]
    refused = subprocess.run(
        [*command, str(over)], cwd=home, capture_output=True, text=True, timeout=60
    )
    assert refused.returncode == 2
    assert "refused" in refused.stderr and "over the cap" in refused.stderr
    assert not (home / "runs.jsonl").exists()
    done = subprocess.run([*command, "2"], cwd=home, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    (line,) = (home / "runs.jsonl").read_text().splitlines()
    record = json.loads(line)
    assert record["n_embd"] == 16 and record["max_iters"] == 2
    setup = _setup().from_json(config)
    assert record["flops"] == setup.flops(16, 2)
    assert math.isfinite(record["dev_loss"]) and math.isfinite(record["train_loss"])
    check = subprocess.run(
        [sys.executable, "train.py", "--check"], cwd=home, capture_output=True, text=True
    )
    assert check.returncode == 0 and "within the allowed 0.9-1.1 C" in check.stdout


def test_the_interpolation_uses_the_width(home):
    budget = _setup().GPU.budget_flops
    table = {
        "setup": _setup().GPU.as_json(),
        "runs": [
            {"n_embd": w, "flops": f * budget, "val_loss": loss + (0.1 if f < 1 else 0)}
            for w, loss in ((64, 4.5), (128, 4.0), (256, 4.2), (192, 4.1), (384, 4.6))
            for f in (0.9, 1.1)
        ],
    }
    scorer = _scorer()
    path = home / "table.json"
    path.write_text(json.dumps(table))
    _, curves = scorer.load_table(path)
    assert scorer.loss_at(curves, 128, 1.1) == pytest.approx(4.0)
    midway = math.exp((math.log(64) + math.log(128)) / 2)
    assert scorer.loss_at(curves, midway, 1.1) == pytest.approx(4.25)
    t = -math.log(0.9) / (math.log(1.1) - math.log(0.9))  # 1.0 C, in log FLOPs
    assert scorer.loss_at(curves, 128, 1.0) == pytest.approx(4.1 - 0.1 * t)
    assert scorer.loss_at(curves, 64, 1.0) != scorer.loss_at(curves, 96, 1.0)
    assert scorer.best_at(curves, 1.1) == (pytest.approx(4.0), 128)
    # Two valid answers with the same steps and different widths get different losses.
    gpu = _setup().GPU
    steps = round(budget / ((gpu.flops(352, 1) + gpu.flops(384, 1)) / 2))
    found = []
    for n_embd in (352, 384):
        _write_answer(home, n_embd, steps, 4.3)
        result = scorer.score(home / "answer.json", path)
        assert result["message"]["valid"] is True, result
        found.append(result["details"]["loss_of_answer"])
    assert found[0] != found[1]
    # Through the family, on the CPU table: each width spending C gets its own width's loss
    # (RE-Bench's original looked the loss up by steps alone).
    config = _config(home)
    table = json.loads((FAMILY_DIR / ".build" / "ground_truth_cpu.json").read_text())
    losses = []
    for n_embd in config["table_widths"][:2]:
        steps = _steps(config, n_embd)
        _write_answer(home, n_embd, steps, 5.0)
        result = _score()
        assert math.isfinite(result["score"]), result
        fraction = result["details"]["budget_fraction"]
        own = sorted((r["fraction"], r["val_loss"]) for r in table["runs"] if r["n_embd"] == n_embd)
        low = max(p for p in own if p[0] <= fraction)
        high = min(p for p in own if p[0] >= fraction)
        assert min(low[1], high[1]) <= result["details"]["loss_of_answer"] <= max(low[1], high[1])
        losses.append(result["details"]["loss_of_answer"])
    assert losses[0] != losses[1]


BAD = {
    "missing": (None, ["no answer at"]),
    "not json": ("{n_embd: 16", ["not valid JSON"]),
    "a list": ("[16, 56, 8.0]", ["must hold an object", "holds a JSON list"]),
    "no loss": ('{"n_embd": 16, "max_iters": 56}', ["has no 'loss'"]),
    "width a string": ('{"n_embd": "16", "max_iters": 56, "loss": 8.0}', ["n_embd must be an"]),
    "steps a float": ('{"n_embd": 16, "max_iters": 56.0, "loss": 8.0}', ["max_iters must be"]),
    "loss a bool": ('{"n_embd": 16, "max_iters": 56, "loss": true}', ["loss must be a number"]),
    "loss NaN": ('{"n_embd": 16, "max_iters": 56, "loss": NaN}', ["loss must be finite"]),
    "width below the table": (
        '{"n_embd": 8, "max_iters": 56, "loss": 8.0}',
        ["outside the table", "from 16 to 48"],
    ),
    "width above the table": (
        '{"n_embd": 64, "max_iters": 12, "loss": 8.0}',
        ["outside the table", "from 16 to 48"],
    ),
    "width between multiples": ('{"n_embd": 20, "max_iters": 56, "loss": 8.0}', ["multiple of"]),
    "too few FLOPs": (
        '{"n_embd": 16, "max_iters": 40, "loss": 8.0}',
        ["uses 2.116e+09 FLOPs = 0.7052 C", "allowed: 0.9-1.1 C, i.e. 2.7e+09 to 3.3e+09 FLOPs"],
    ),
    "too many FLOPs": (
        '{"n_embd": 16, "max_iters": 70, "loss": 8.0}',
        ["= 1.2340 C", "allowed: 0.9-1.1 C"],
    ),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_answers_are_invalid_with_a_clear_message_and_files_untouched(home, case):
    body, expected = BAD[case]
    assert _config(home)["table_widths"] == [16, 32, 48]  # the messages above assume it
    if body is None:
        (home / "answer.json").unlink()
    else:
        (home / "answer.json").write_text(body)
    before = _snapshot(home)
    result = _score()
    assert math.isnan(result["score"]), result
    error = result["message"]["error"]
    for words in expected:
        assert words in error, error
    assert "score" not in result["message"]
    assert _snapshot(home) == before


def test_an_answer_that_links_elsewhere_is_invalid(home):
    target = home / "elsewhere.json"
    target.write_text((home / "answer.json").read_text())
    (home / "answer.json").unlink()
    (home / "answer.json").symlink_to(target)
    result = _score()
    assert math.isnan(result["score"])
    assert "symbolic link" in result["message"]["error"]


def test_a_gpu_host_without_the_committed_table_refuses_to_install(tmp_path, monkeypatch):
    module = _module()
    monkeypatch.setattr(module, "_mode", lambda: "gpu")
    monkeypatch.setattr(module, "GPU_TABLE", tmp_path / "ground_truth_h100.json")
    with pytest.raises(RuntimeError, match=r"ground_truth_h100\.json is missing"):
        module.TaskFamily.install()
    other = {"setup": {**_setup().GPU.as_json(), "budget_flops": 10**15}, "runs": []}
    (tmp_path / "ground_truth_h100.json").write_text(json.dumps(other))
    with pytest.raises(RuntimeError, match="another setup"):
        module.TaskFamily.install()


def test_a_corpus_file_whose_hash_differs_stops_the_install(tmp_path, monkeypatch):
    sys.path.insert(0, str(FAMILY_DIR))
    from lmkit import corpus

    data = tmp_path / "data"
    shutil.copytree(corpus.DATA_DIR, data)
    shard = data / "train-00.txt.xz"
    content = bytearray(shard.read_bytes())
    content[100] ^= 0xFF
    shard.write_bytes(bytes(content))
    monkeypatch.setattr(corpus, "DATA_DIR", data)
    with pytest.raises(corpus.CorpusError) as caught:
        _family().install()
    text = str(caught.value)
    assert "train-00.txt.xz" in text
    assert hashlib.sha256(bytes(content)).hexdigest() in text and "expected" in text


def test_aggregate_takes_the_last_valid_comparable_score():
    family = _family()
    t = family.get_tasks()["main"]
    gpu = {"valid": True, "comparable": True}
    cpu = {"valid": True, "comparable": False, "note": "not comparable: no GPU"}
    log = [
        {"score": 0.9, "message": gpu},
        {"score": 0.2, "message": gpu},
        {"score": float("nan"), "message": {"error": "FLOPs outside"}},
        {"score": None, "message": {"error": "no answer"}},
        {"score": 0.95, "message": cpu},
    ]
    assert family.aggregate_scores(t, log) == 0.2
    assert family.aggregate_scores(t, [{"score": 0.3, "message": cpu}]) == 0.3
    assert math.isnan(family.aggregate_scores(t, log[2:4]))
    assert math.isnan(family.aggregate_scores(t, []))
