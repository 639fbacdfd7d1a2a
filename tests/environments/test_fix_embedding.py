"""The fix_embedding family on a machine without a GPU (BASELINER_LM_DEVICE=cpu, tiny models):
it installs from the pinned corpus (and refuses a corpus whose hash differs), starts with
exactly the expert's files and nothing protected, scores the starting solution (valid, marked
not comparable), scores the reference recipe better than the start, turns each bad submission
into an invalid score that says why without touching the expert's files, and aggregates.

GPU figures are not tested here: calibrate.py measures them on an H100 and the README holds them.
"""

import hashlib
import importlib.util
import math
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from environments.catalogue import BUILTIN_DIR, discover

FAMILY_DIR = BUILTIN_DIR / "fix_embedding"
EXPERT_FILES = [
    "README.md",
    "data/tokenizer.json",
    "data/train.npy",
    "example.py",
    "large_model.pt",
    "lmkit/__init__.py",
    "lmkit/data.py",
    "lmkit/hardware.py",
    "lmkit/model.py",
    "lmkit/train.py",
    "small_model.pt",
    "submission/model.pt",
]
PROTECTED = ["original.pt", "permutation.npy", "valid.npy"]


def _family():
    spec = importlib.util.spec_from_file_location(
        "fix_embedding_family", FAMILY_DIR / "fix_embedding.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.TaskFamily


@pytest.fixture(scope="module")
def build() -> Path:
    """The CPU build (tiny models), made once for the module; its folder."""
    pytest.importorskip("torch")
    pytest.importorskip("tokenizers")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("BASELINER_LM_DEVICE", "cpu")
        _family().install()
    return FAMILY_DIR / ".build" / "cpu"


@pytest.fixture
def home(build, tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("BASELINER_LM_DEVICE", "cpu")
    monkeypatch.setenv("BASELINER_FIXEMB_SCORE_TIMEOUT_S", "120")
    family = _family()
    family.start(family.get_tasks()["main"])
    return tmp_path


def _score() -> dict:
    family = _family()
    return family.intermediate_score(family.get_tasks()["main"])


def _digests(home: Path) -> dict[str, str]:
    return {
        p.relative_to(home).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(home.rglob("*"))
        if p.is_file()
    }


def test_family_is_in_the_catalogue():
    catalogue = discover()
    assert not [e for e in catalogue.errors if "fix_embedding" in e]
    family = next(f for f in catalogue.families if f.name == "fix_embedding")
    task = family.tasks[0]
    assert (task.name, task.gpu_count, task.gpu_model) == ("main", (1, 1), "h100")
    meta = task.meta
    assert meta["metric"] == "ln(loss - floor)" and meta["direction"] == "lower"
    assert meta["aggregation"] == "best" and meta["time_limit_s"] == 28800
    assert meta["reference_command"] == "python3 reference_solution.py"
    assert (FAMILY_DIR / meta["reference"] / "reference_solution.py").is_file()
    if meta["y_s"] is not None:  # set by the lead's H100 calibration
        assert meta["y_r"] < meta["y_s"]


def test_start_copies_exactly_the_experts_files_and_nothing_protected(home, build):
    family = _family()
    t = family.get_tasks()["main"]
    assert family.standard_version == "0.5.0" and family.get_permissions(t) == []
    assert "submission/model.pt" in family.get_instructions(t)
    copied = _digests(home)
    assert sorted(copied) == EXPERT_FILES
    protected = {hashlib.sha256((build / name).read_bytes()).hexdigest() for name in PROTECTED}
    assert not protected & set(copied.values())
    assert copied["submission/model.pt"] == copied["large_model.pt"]
    assert not (home / "large_model.pt").stat().st_mode & 0o222  # the reference copy: read-only
    family.start(t)  # again (a restart): over the read-only copy, the same files
    assert _digests(home) == copied


def test_starting_solution_scores_and_is_marked_not_comparable(home, build):
    result = _score()
    assert math.isfinite(result["score"]), result
    message, details = result["message"], result["details"]
    assert message["comparable"] is False and "not comparable: no GPU" in message["note"]
    import json

    meta = json.loads((build / "meta.json").read_text())
    assert details["floor"] == pytest.approx(meta["original_loss"] - 1.05)
    assert details["loss"] == pytest.approx(meta["start_loss"], abs=1e-4)
    assert result["score"] == pytest.approx(math.log(details["loss"] - details["floor"]))


def test_the_original_model_scores_ln_1_05(home, build):
    shutil.copyfile(build / "original.pt", home / "submission" / "model.pt")
    assert _score()["score"] == pytest.approx(math.log(1.05), abs=1e-4)


def test_reference_recipe_scores_better_than_the_start(home):
    start = _score()["score"]
    shutil.copy(FAMILY_DIR / "reference" / "reference_solution.py", home)
    subprocess.run(
        [sys.executable, "reference_solution.py"], cwd=home, check=True, capture_output=True
    )
    reference = _score()
    assert math.isfinite(reference["score"]), reference
    assert reference["score"] < start


def _checkpoint(home: Path, change) -> None:
    import torch

    path = home / "submission" / "model.pt"
    data = torch.load(path, weights_only=True)
    change(data)
    torch.save(data, path)


def _nan_row(data):
    data["state_dict"]["blocks.0.qkv.weight"][3, 5] = float("nan")


def _layers(data):
    data["config"]["n_layer"] = 1


def _narrow(data):
    data["state_dict"]["head.weight"] = data["state_dict"]["head.weight"][:, :-1]


BAD = {
    "another config": (_layers, ["config field n_layer is 1, must be 2"]),
    "NaN weights": (_nan_row, ["NaN or infinite", "blocks.0.qkv.weight"]),
    "weights that do not fit": (_narrow, ["cannot be loaded", "head.weight"]),
    "not a checkpoint": (b"just some bytes\n", ["cannot be loaded as a checkpoint"]),
    "a pickled object": (None, ["cannot be loaded as a checkpoint", "weights_only"]),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_submissions_are_invalid_and_leave_the_files_alone(home, case):
    change, expected = BAD[case]
    path = home / "submission" / "model.pt"
    if isinstance(change, bytes):
        path.write_bytes(change)
    elif change is None:
        import torch

        torch.save({"config": Path("/"), "state_dict": {}}, path)  # not allowed by weights_only
    else:
        _checkpoint(home, change)
    before = _digests(home)
    result = _score()
    assert math.isnan(result["score"]), result
    for words in expected:
        assert words in result["message"]["error"], result["message"]["error"]
    assert _digests(home) == before


def test_missing_submission_and_scoring_timeout_are_invalid(home, monkeypatch):
    monkeypatch.setenv("BASELINER_FIXEMB_SCORE_TIMEOUT_S", "0.05")
    result = _score()
    assert math.isnan(result["score"])
    assert "longer than its limit of 0.05 s" in result["message"]["error"]
    (home / "submission" / "model.pt").unlink()
    result = _score()
    assert math.isnan(result["score"]) and "no submission at" in result["message"]["error"]


def test_running_out_of_gpu_memory_is_invalid_and_says_so(home, build, monkeypatch):
    """The scorer's own outcome, in this process, with evaluation raising what CUDA raises."""
    import torch

    spec = importlib.util.spec_from_file_location("fixemb_score", FAMILY_DIR / "scoring/score.py")
    scorer = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(scorer)
    from lmkit import train

    def out_of_memory(*args, **kwargs):
        raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")

    monkeypatch.setattr(train, "evaluate", out_of_memory)
    monkeypatch.setattr(torch, "set_num_threads", lambda n: None)  # keep this process's threads
    args = scorer.parse_args(
        ["--submission", str(home / "submission/model.pt"), "--build", str(build)]
    )
    outcome = scorer.outcome_of(args)
    assert outcome["score"] is None
    assert outcome["message"]["error"].startswith("out of GPU memory")


def test_a_corpus_file_whose_hash_differs_stops_install(build, tmp_path, monkeypatch):
    _family()  # puts the family's folder (and so lmkit) on sys.path
    from lmkit import corpus

    data = tmp_path / "data"
    shutil.copytree(corpus.DATA_DIR, data)
    with (data / "valid-00.txt.xz").open("ab") as f:
        f.write(b"\0")
    monkeypatch.setattr(corpus, "DATA_DIR", data)
    with pytest.raises(corpus.CorpusError) as failure:
        _family().install()
    text = str(failure.value)
    expected = hashlib.sha256((FAMILY_DIR / "lmkit/data/valid-00.txt.xz").read_bytes())
    actual = hashlib.sha256((data / "valid-00.txt.xz").read_bytes())
    assert "valid-00.txt.xz" in text
    assert expected.hexdigest() in text and actual.hexdigest() in text


def test_aggregate_picks_the_best_valid_comparable_score():
    family = _family()
    t = family.get_tasks()["main"]
    gpu = {"comparable": True}
    cpu = {"comparable": False, "note": "not comparable: no GPU"}
    log = [
        {"score": 2.1, "message": gpu},
        {"score": float("nan"), "message": {"error": "config field n_layer is 4, must be 8"}},
        {"score": None, "message": {"error": "scoring took longer than its limit"}},
        {"score": 0.3, "message": gpu},
        {"score": -1.0, "message": cpu},
        {"score": 0.9, "message": gpu},
    ]
    assert family.aggregate_scores(t, log) == 0.3
    assert family.aggregate_scores(t, [{"score": 3.0, "message": cpu}]) == 3.0
    assert math.isnan(family.aggregate_scores(t, log[1:3]))
    assert math.isnan(family.aggregate_scores(t, []))
