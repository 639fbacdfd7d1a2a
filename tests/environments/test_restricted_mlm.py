"""The restricted_mlm family on a machine without a GPU (BASELINER_LM_DEVICE=cpu): it installs
tiny models in seconds, starts, scores the starting solution (valid, not comparable), scores the
reference recipe better, refuses each forbidden operation (at run time with the operation and
line, and statically without running the model), refuses a read of the protected validation
data, and turns every other bad submission into an invalid score, leaving the expert's files as
they were.

The family is installed once per session from the shared corpus (lmkit.corpus; 300k characters a
split in CPU mode) into a copy of the family folder.
"""

import hashlib
import importlib.util
import math
import os
import shutil
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from environments.catalogue import BUILTIN_DIR, discover

FAMILY_DIR = BUILTIN_DIR / "restricted_mlm"
EXPERT_FILES = {
    "README.md",
    "train.py",
    "submission/model.py",
    "submission/model.pt",
    "data/train.npy",
    "data/tokenizer.json",
}

torch = pytest.importorskip("torch")
np = pytest.importorskip("numpy")


@pytest.fixture(scope="module")
def family_copy(tmp_path_factory):
    """The family copied (its lmkit link resolved) and installed once, in CPU mode."""
    root = tmp_path_factory.mktemp("family")
    target = root / "restricted_mlm"
    shutil.copytree(
        FAMILY_DIR, target, symlinks=False, ignore=shutil.ignore_patterns(".build", "__pycache__")
    )
    patch = pytest.MonkeyPatch()
    patch.setenv("BASELINER_LM_DEVICE", "cpu")
    _load(target).install()
    yield target
    patch.undo()


def _load(family_dir: Path):
    spec = importlib.util.spec_from_file_location(
        f"restricted_mlm_{abs(hash(family_dir))}", family_dir / "restricted_mlm.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.TaskFamily


@pytest.fixture
def home(family_copy, tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("BASELINER_LM_DEVICE", "cpu")
    monkeypatch.setenv("BASELINER_MLM_EVAL_BATCHES", "2")
    monkeypatch.setenv("BASELINER_MLM_EVAL_BATCH_SIZE", "8")
    monkeypatch.setenv("BASELINER_MLM_SCORE_TIMEOUT_S", "120")
    family = _load(family_copy)
    family.start(family.get_tasks()["main"])
    return tmp_path


def _files(home: Path) -> dict[str, str]:
    return {
        p.relative_to(home).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(home.rglob("*"))
        if p.is_file()
    }


def _score(family_copy: Path) -> dict:
    family = _load(family_copy)
    return family.intermediate_score(family.get_tasks()["main"])


def test_family_is_in_the_catalogue():
    catalogue = discover()
    assert not [e for e in catalogue.errors if "restricted_mlm" in e]
    family = next(f for f in catalogue.families if f.name == "restricted_mlm")
    task = family.tasks[0]
    assert (task.name, task.gpu_count, task.gpu_model) == ("main", (1, 1), "h100")
    meta = task.meta
    assert meta["direction"] == "lower" and meta["aggregation"] == "best"
    assert meta["time_limit_s"] == 28800 and meta["reference"] == "reference/"
    assert meta["reference_command"] == "python3 reference_solution.py"
    assert (FAMILY_DIR / "reference" / "reference_solution.py").is_file()


def test_start_copies_exactly_the_experts_files(home, family_copy):
    family = _load(family_copy)
    t = family.get_tasks()["main"]
    assert family.standard_version == "0.5.0" and family.get_permissions(t) == []
    assert "build_model" in family.get_instructions(t)
    files = set(_files(home))
    lmkit = {f for f in files if f.startswith("lmkit/")}
    assert files - lmkit == EXPERT_FILES
    assert "lmkit/corpus.py" not in lmkit and "lmkit/train.py" in lmkit
    assert not [f for f in lmkit if f.startswith("lmkit/data/")]  # the corpus stays behind
    assert not [f for f in files if "val" in Path(f).name]
    validation = (family_copy / ".build" / "val.npy").read_bytes()
    assert all((home / f).read_bytes() != validation for f in files)


def test_start_scores_valid_and_reference_scores_better(home, family_copy):
    before = _files(home)
    start = _score(family_copy)
    assert math.isfinite(start["score"]), start
    assert start["message"]["comparable"] is False
    assert "not comparable: no GPU" in start["message"]["note"]
    details = start["details"]
    assert start["score"] == pytest.approx(math.log(details["loss"] - details["floor"]))
    assert details["masked_positions"] >= 2 * 8 and details["batches"] == 2
    assert _files(home) == before  # scoring only reads the expert's files
    shutil.copytree(family_copy / "reference", home, dirs_exist_ok=True)
    subprocess.run(
        [sys.executable, "reference_solution.py"],
        cwd=home,
        check=True,
        capture_output=True,
        timeout=120,
    )
    reference = _score(family_copy)
    assert math.isfinite(reference["score"]), reference
    assert reference["score"] < start["score"] - 0.05, (start, reference)


MODEL = """
import torch
from torch import nn


class M(nn.Module):
    def __init__(self, vocab_size):
        super().__init__()
        self.embed = nn.Embedding(vocab_size, 8)
        self.head = nn.Linear(8, vocab_size)

    def forward(self, ids):
        x = self.embed(ids)
        x = BODY
        return self.head(x)


def build_model(vocab_size, seq_len):
    return M(vocab_size)
"""


def _submit(home: Path, body: str = "x", model_source: str | None = None) -> None:
    source = model_source or MODEL.replace("BODY", body)
    (home / "submission" / "model.py").write_text(textwrap.dedent(source))
    spec = importlib.util.spec_from_file_location("m", home / "submission" / "model.py")
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
        torch.save(module.build_model(8192, 128).state_dict(), home / "submission" / "model.pt")
    except Exception:
        pass


def _line_of(source: str, text: str) -> int:
    return next(i for i, line in enumerate(source.splitlines(), 1) if text in line)


GUARDED = {  # forward body -> what the run-time message must name (category, operation)
    "torch.softmax(x, -1)": ("softmax/gelu/layer_norm", "torch.softmax"),
    "x / 2": ("division", "the / operator"),
    "torch.where(x.sum(-1, keepdim=True) > 0, x, 0 * x)": ("comparison", "the > operator"),
    "x if (x > 0).any() else x": ("comparison", "the > operator"),
    "x if x.sum() else x": ("branching on tensor values", "truth value"),
    "x + x.sum().item()": ("branching on tensor values", "Tensor.item"),
    "torch.where(self.flag, x, 0 * x)": ("mean/max/min/where", "torch.where"),
    "x ** 2": ("exp/log/sqrt/pow", "the ** operator"),
    "torch.exp(x)": ("exp/log/sqrt/pow", "torch.exp"),
    "x.sqrt()": ("exp/log/sqrt/pow", "Tensor.sqrt"),
    "x.mean(-1, keepdim=True) + x": ("mean/max/min/where", "Tensor.mean"),
    "x.max(-1, keepdim=True).values + x": ("mean/max/min/where", "Tensor.max"),
    "torch.nn.functional.gelu(x)": ("softmax/gelu/layer_norm", "torch.nn.functional.gelu"),
    "torch.nn.functional.layer_norm(x, (8,))": ("softmax/gelu/layer_norm", "layer_norm"),
    "torch.nn.LayerNorm(8)(x)": ("softmax/gelu/layer_norm", "torch.nn.LayerNorm"),
    "torch.nn.functional.conv1d(x, torch.ones(8, 8, 3), padding=1)": ("convolution", "conv1d"),
    "EXP(x)": ("exp/log/sqrt/pow", "aten.exp"),  # an alias bound before the guard began
    "torch.ops.aten.div(x, 2)": ("division", "aten.div"),
}


@pytest.mark.parametrize("body", sorted(GUARDED))
def test_the_run_time_guard_names_each_forbidden_operation_and_line(tmp_path, body):
    sys.path.insert(0, str(FAMILY_DIR / "scoring"))
    import rules

    source = (
        MODEL.replace("BODY", body)
        .replace("import torch\n", "import torch\nEXP = getattr(torch, 'e' + 'xp')\n")
        .replace(
            "self.head = nn.Linear(8, vocab_size)\n",
            "self.head = nn.Linear(8, vocab_size)\n        self.flag = torch.ones(1).bool()\n",
        )
    )
    (tmp_path / "model.py").write_text(source)
    spec = importlib.util.spec_from_file_location("guarded_model", tmp_path / "model.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    model = module.build_model(50, 16).eval()
    with pytest.raises(rules.RuleViolation) as caught, torch.no_grad(), rules.Guard([tmp_path]):
        model(torch.randint(0, 50, (2, 16)))
    category, operation = GUARDED[body]
    message = str(caught.value)
    line = _line_of(source, f"x = {body}")
    assert category in message and operation in message, message
    assert f"model.py:{line} (in forward)" in message, message
    assert torch.softmax(torch.zeros(2), 0).sum() == 1  # everything is restored afterwards


STATIC = {  # model source change -> what the static message must name
    "x / 2": "the / operator",
    "x ** 2": "the ** operator",
    "torch.softmax(x, -1)": "torch.softmax",
    "x.mean(-1, keepdim=True) + x": "Tensor.mean",
    "torch.ops.aten.relu(x)": "torch.ops",
}


@pytest.mark.parametrize("body", sorted(STATIC))
def test_the_static_check_names_the_operation_and_line(body):
    sys.path.insert(0, str(FAMILY_DIR / "scoring"))
    import rules

    source = MODEL.replace("BODY", body)
    found = rules.static_check(source, "model.py")
    assert found, body
    message = found[0].message("static check")
    assert STATIC[body] in message and f"model.py:{_line_of(source, 'x = ' + body)}" in message


def test_the_static_check_reads_more_than_forward():
    sys.path.insert(0, str(FAMILY_DIR / "scoring"))
    import rules

    source = textwrap.dedent("""
        import math
        import torch
        from torch.nn.functional import gelu
        act = torch.nn.functional.silu

        def helper(x):
            return x.exp()

        class M(torch.nn.Module):
            def __init__(self):
                super().__init__()
                self.scale = 1 / math.sqrt(8)  # fine: not reachable from forward

            def forward(self, x):
                return helper(x) * self.scale
    """)
    operations = {v.operation for v in rules.static_check(source, "model.py")}
    assert operations == {
        "torch.nn.functional.gelu (imported by name)",
        "silu (aliased)",
        "Tensor.exp",
    }, operations
    assert not rules.static_check(
        (FAMILY_DIR / "reference" / "submission" / "model.py").read_text(), "model.py"
    )


def test_a_run_time_violation_makes_the_score_invalid(home, family_copy):
    # getattr at call time hides the name from the static check: only the guard sees it.
    source = MODEL.replace("BODY", "getattr(torch, 'soft' + 'max')(x, -1)")
    _submit(home, model_source=source)
    before = _files(home)
    result = _score(family_copy)
    assert math.isnan(result["score"]), result
    error = result["message"]["error"]
    line = _line_of(source, "getattr(torch")
    assert "forbidden operation torch.softmax" in error and f"model.py:{line}" in error, error
    assert "[run-time check]" in error
    assert _files(home) == before


def test_the_static_check_refuses_without_running(home, family_copy, tmp_path):
    marker = tmp_path / "model-was-imported"
    _submit(home, "x")  # weights that fit, written before the model changes
    source = MODEL.replace("BODY", "x / 2").replace(
        "import torch\n", f"import torch\nopen({str(marker)!r}, 'w').write('yes')\n", 1
    )
    (home / "submission" / "model.py").write_text(source)
    result = _score(family_copy)
    assert math.isnan(result["score"])
    error = result["message"]["error"]
    line = _line_of(source, "x = x / 2")
    assert "the / operator" in error and f"model.py:{line}" in error and "static check" in error
    assert not marker.exists()  # refused before anything of the model ran


@pytest.mark.parametrize("protected", [".build/val.npy", "lmkit/data/valid-00.txt.xz"])
def test_reading_the_protected_validation_data_is_refused(home, family_copy, protected):
    # The model catches the error: the audit hook has reported the attempt already.
    path = family_copy / protected
    source = MODEL.replace("BODY", "x").replace(
        "def build_model(vocab_size, seq_len):\n",
        f"def build_model(vocab_size, seq_len):\n    try:\n        open({str(path)!r}, 'rb')\n"
        "    except Exception:\n        pass\n",
    )
    _submit(home, model_source=source)
    result = _score(family_copy)
    assert math.isnan(result["score"])
    assert result["message"]["error"].startswith(
        f"tried to read the protected validation data ({path.resolve()})"
    )


def test_a_legitimate_as_strided_einsum_model_passes(home, family_copy):
    body = (
        "torch.einsum('btkd,kde->bte', torch.cat([x, 0 * x[:, :2]], 1).as_strided("
        "(x.shape[0], x.shape[1], 3, 8), (x.shape[1] * 8 + 16, 8, 8, 1)), self.w) + torch.relu(x)"
    )
    source = MODEL.replace("BODY", body).replace(
        "self.head = nn.Linear(8, vocab_size)\n",
        "self.head = nn.Linear(8, vocab_size)\n"
        "        self.w = nn.Parameter(torch.randn(3, 8, 8))\n",
    )
    _submit(home, model_source=source)
    result = _score(family_copy)
    assert math.isfinite(result["score"]), result


BAD = {
    "missing model.pt": (None, ["missing file: submission/model.pt"]),
    "missing model.py": ("NO_MODEL_PY", ["missing file: submission/model.py"]),
    # What a forward pass too big for the GPU raises (the CPU cannot run out the same way).
    "out of GPU memory": (
        MODEL.replace("BODY", "x").replace(
            "return self.head(x)",
            "raise torch.cuda.OutOfMemoryError('CUDA out of memory. Tried to allocate 80 GiB')",
        ),
        ["out of GPU memory (torch.cuda.OutOfMemoryError) in the forward pass"],
    ),
    "no build_model": ("import torch\n", ["defines no function build_model"]),
    "build_model raises": (
        "def build_model(v, t):\n    raise RuntimeError('boom')\n",
        ["build_model raised RuntimeError: boom"],
    ),
    "wrong shape": (
        MODEL.replace("BODY", "x").replace("return self.head(x)", "return self.head(x)[:, :-1]"),
        ["wrong logits shape"],
    ),
    "NaN": (MODEL.replace("BODY", "x * float('nan')"), ["NaN"]),
    "weights do not fit": ("STATE", ["model.pt does not fit"]),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_submissions_are_invalid_and_files_untouched(home, family_copy, case):
    source, expected = BAD[case]
    if source is None:
        (home / "submission" / "model.pt").unlink()
    elif source == "NO_MODEL_PY":
        (home / "submission" / "model.py").unlink()
    elif source == "STATE":
        _submit(home, "x")
        torch.save({"other": torch.zeros(1)}, home / "submission" / "model.pt")
    else:
        _submit(home, model_source=source)
    before = _files(home)
    result = _score(family_copy)
    assert math.isnan(result["score"]), result
    for words in expected:
        assert words in result["message"]["error"], result
    assert _files(home) == before


def test_scoring_timeout_is_invalid(home, family_copy, monkeypatch):
    monkeypatch.setenv("BASELINER_MLM_SCORE_TIMEOUT_S", "3")
    _submit(home, "x")  # weights that fit; then a build_model that never returns in time
    slow = "def build_model(vocab_size, seq_len):\n    import time\n    time.sleep(60)\n"
    source = MODEL.replace("BODY", "x").replace("def build_model(vocab_size, seq_len):\n", slow)
    (home / "submission" / "model.py").write_text(source)
    started = time.monotonic()
    result = _score(family_copy)
    assert math.isnan(result["score"])
    assert "scoring took longer than its limit of 3 s" in result["message"]["error"]
    assert time.monotonic() - started < 20


def test_install_refuses_a_corpus_whose_hash_differs(tmp_path):
    target = tmp_path / "restricted_mlm"
    shutil.copytree(FAMILY_DIR, target, ignore=shutil.ignore_patterns(".build", "__pycache__"))
    corrupt = target / "lmkit" / "data" / "valid-00.txt.xz"
    corrupt.write_bytes(corrupt.read_bytes() + b"!")
    install = "import restricted_mlm; restricted_mlm.TaskFamily.install()"
    result = subprocess.run(
        [sys.executable, "-c", install],
        cwd=target,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "BASELINER_LM_DEVICE": "cpu", "PYTHONPATH": str(target)},
    )
    assert result.returncode != 0
    assert "CorpusError: valid-00.txt.xz: sha256 is" in result.stderr, result.stderr[-2000:]
    assert ", expected " in result.stderr
    assert not (target / ".build").exists()


def test_aggregate_scores():
    family = _load(FAMILY_DIR)
    t = family.get_tasks()["main"]
    assert (
        family.aggregate_scores(t, [{"score": 1.2}, {"score": float("nan")}, {"score": 0.9}]) == 0.9
    )
    cpu = {"comparable": False}
    assert family.aggregate_scores(t, [{"score": 0.1, "message": cpu}, {"score": 0.9}]) == 0.9
    assert family.aggregate_scores(t, [{"score": 0.4, "message": cpu}]) == 0.4
    assert math.isnan(family.aggregate_scores(t, [{"score": None}]))
