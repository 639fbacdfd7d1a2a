"""Count the words in a text: a tiny CPU-only family written strictly to METR's Task Standard.

It uses the standard library only, names ``/home/agent`` and the user ``agent`` as the standard
does, and has no ``baseliner:`` key in its manifest, so it shows how Baseliner treats a family
written for Vivaria. Scoring: 1 for the exact count, falling linearly to 0 at 100% off.
"""

from __future__ import annotations

import math
import os
import pwd
import shutil
from pathlib import Path

# Where the standard puts the agent's files; a module constant so tests can point it elsewhere.
AGENT_HOME = Path("/home/agent")

SHORT = "The quick brown fox jumps over the lazy dog."
LONG = " ".join(
    [
        "Research engineering is mostly waiting for experiments to finish,",
        "reading their logs, and deciding what to try next.",
        "Good engineers shorten the loop: smaller runs, faster feedback,",
        "and notes that say why each attempt was made.",
    ]
    * 5
)


class TaskFamily:
    standard_version = "0.5.0"

    @staticmethod
    def get_tasks() -> dict[str, dict]:
        return {
            "short": {"text": SHORT, "expected": len(SHORT.split())},
            "long": {"text": LONG, "expected": len(LONG.split())},
        }

    @staticmethod
    def get_instructions(t: dict) -> str:
        return (
            f"Count the words in {AGENT_HOME}/text.txt (words are separated by whitespace).\n"
            f"Write the count, as a whole number, to {AGENT_HOME}/answer.txt.\n"
            "Each scoring reads that file; the best score counts."
        )

    @staticmethod
    def get_permissions(t: dict) -> list[str]:
        return []

    @staticmethod
    def install() -> None:
        pass

    @staticmethod
    def start(t: dict) -> None:
        AGENT_HOME.mkdir(parents=True, exist_ok=True)
        (AGENT_HOME / "text.txt").write_text(t["text"] + "\n")
        # A deliberately wrong starting answer, so the starting solution scores 0.
        (AGENT_HOME / "answer.txt").write_text("0\n")
        if os.geteuid() == 0 and _user_exists("agent"):
            for path in (AGENT_HOME, AGENT_HOME / "text.txt", AGENT_HOME / "answer.txt"):
                shutil.chown(path, "agent", "agent")

    @staticmethod
    def intermediate_score(t: dict) -> dict:
        expected = t["expected"]
        try:
            text = (AGENT_HOME / "answer.txt").read_text().strip()
        except OSError as exc:
            return {
                "score": float("nan"),
                "message": {"error": f"cannot read answer.txt: {exc.strerror}"},
                "details": {},
            }
        try:
            answer = int(text)
        except ValueError:
            return {
                "score": float("nan"),
                "message": {"error": f"answer.txt must hold a whole number, not {text[:40]!r}"},
                "details": {"answer": text[:200]},
            }
        off = abs(answer - expected)
        return {
            "score": 1.0 - min(1, off / expected),
            "message": {"answer": answer, "off_by": off},
            "details": {"answer": answer, "expected": expected},
        }

    @staticmethod
    def aggregate_scores(t: dict, score_log: list[dict]) -> float | None:
        scores = [
            entry.get("score")
            for entry in score_log
            if isinstance(entry.get("score"), (int, float)) and math.isfinite(entry["score"])
        ]
        return max(scores) if scores else None


def _user_exists(name: str) -> bool:
    try:
        pwd.getpwnam(name)
    except KeyError:
        return False
    return True
