"""Fix Embedding (RE-Bench) as a METR Task Standard family.

A large causal language model, trained by install() from the shared corpus with fixed seeds,
had the rows of its input embedding permuted by a fixed seeded permutation; a smaller model
trained on the same data is intact. The expert gets both (and the training tokens) and must
hand in a large model of exactly the same config with the lowest validation loss. Score:
ln(validation loss - floor), lower is better; the best valid score counts.

Paths come from $HOME (METR's /home/agent when unset). The original model, the permutation and
the validation tokens stay in FAMILY_DIR/.build/ (never copied to the workspace); the scorer
(scoring/score.py) runs as its own process and only reads the submission's weights
(``weights_only``), so no code of the expert's runs while scoring.

Settings, read from the environment (tests use them; production leaves them unset):
    BASELINER_LM_DEVICE               auto (default), cuda or cpu: which build (cpu = tiny)
    BASELINER_FIXEMB_SCORE_TIMEOUT_S  limit for the whole scoring process (default 180 s)
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

FAMILY_DIR = Path(__file__).resolve().parent
if str(FAMILY_DIR) not in sys.path:
    sys.path.insert(0, str(FAMILY_DIR))  # fixemb_build and lmkit (a link to the shared toolkit)

from familykit import scorer, scores  # noqa: E402
from familykit.workspace import hand_over  # noqa: E402
from familykit.workspace import home as _home  # noqa: E402

ASSETS = FAMILY_DIR / "assets"
SCORER = FAMILY_DIR / "scoring" / "score.py"
LMKIT = FAMILY_DIR / "lmkit"
LMKIT_FILES = ("__init__.py", "model.py", "data.py", "train.py", "hardware.py")  # for the expert
TOKENIZER = LMKIT / "data" / "tokenizer.json"
SUBMISSION = Path("submission") / "model.pt"  # inside the task folder ($HOME)
DEFAULT_SCORE_TIMEOUT_S = 180.0  # RE-Bench's scoring limit for this task


def _mode() -> str:
    from lmkit import hardware

    return hardware.device()


def expert_files(build: Path) -> dict[str, Path]:
    """Workspace path -> source: everything start() copies (and nothing protected)."""
    files = {p.relative_to(ASSETS).as_posix(): p for p in ASSETS.rglob("*") if p.is_file()}
    files |= {f"lmkit/{name}": LMKIT / name for name in LMKIT_FILES}
    files |= {
        "data/tokenizer.json": TOKENIZER,
        "data/train.npy": build / "train.npy",
        "small_model.pt": build / "small.pt",
        "large_model.pt": build / "large.pt",
        str(SUBMISSION): build / "large.pt",  # the starting solution: the broken model itself
    }
    return files


class TaskFamily:
    standard_version = "0.5.0"
    required_environment_variables: list[str] = []

    @staticmethod
    def get_tasks() -> dict[str, dict]:
        return {"main": {"submission": str(SUBMISSION)}}

    @staticmethod
    def get_instructions(t: dict) -> str:
        return (ASSETS / "README.md").read_text()

    @staticmethod
    def get_permissions(t: dict) -> list[str]:
        return []

    @staticmethod
    def install() -> None:
        """Check the corpus (a bad hash raises, naming the file and both hashes), then train
        the large and small models into .build/<mode>/ (instant when already built)."""
        import fixemb_build
        from lmkit import corpus

        corpus.verify()
        fixemb_build.build(_mode())

    @staticmethod
    def start(t: dict) -> None:
        """Copy the expert's files into $HOME, owned by the workspace user when root runs
        this; the broken large model is both the reference copy and the starting submission."""
        import fixemb_build

        mode = _mode()
        if not fixemb_build.is_built(mode):
            TaskFamily.install()
        home = _home()
        for rel, source in expert_files(fixemb_build.build_dir(mode)).items():
            target = home / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            target.unlink(missing_ok=True)  # a second start: large_model.pt is read-only
            shutil.copyfile(source, target)
        (home / "large_model.pt").chmod(0o444)  # a read-only copy, for reference
        hand_over(home)

    @staticmethod
    def intermediate_score(t: dict) -> dict[str, Any]:
        """Score $HOME/submission/model.pt in a fresh process; NaN with a reason if invalid."""
        import fixemb_build

        submission = _home() / t.get("submission", str(SUBMISSION))
        if not submission.is_file():
            return scores.invalid(f"no submission at {submission}")
        mode = _mode()
        if not fixemb_build.is_built(mode):
            raise RuntimeError(f"fix_embedding is not built for {mode}: run its install first")
        limit_s = float(
            os.environ.get("BASELINER_FIXEMB_SCORE_TIMEOUT_S") or DEFAULT_SCORE_TIMEOUT_S
        )
        with tempfile.TemporaryDirectory(prefix="fix-embedding-score-") as tmp:
            command = [
                sys.executable,
                # No user site: $HOME/.local is the expert's, and a usercustomize there would
                # run inside the scorer. (PYTHONPATH is the platform's, and the GPU machines'
                # python finds numpy through it, so -I would be too much.)
                "-s",
                str(SCORER),
                "--submission",
                str(submission),
                "--build",
                str(fixemb_build.build_dir(mode)),
                "--result",
                str(Path(tmp) / "result.json"),
            ]
            return scorer.run(
                command,
                workdir=Path(tmp),
                limit_s=limit_s,
                tail_if_invalid=False,
            )

    @staticmethod
    def aggregate_scores(t: dict, score_log: list[dict[str, Any]]) -> float:
        """The best (lowest) valid score in the log; NaN if there is none.

        Scores marked not comparable (tiny CPU models) count only when the log holds no
        comparable one.
        """
        return scores.aggregate(score_log, "lowest")
