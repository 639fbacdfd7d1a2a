"""A task family for the Slurm backend's tests: the score is 1 when ``$HOME/answer.txt`` says 42,
else 0, and the details say in which Slurm job (``SLURM_JOB_ID``) and with which GPUs
(``CUDA_VISIBLE_DEVICES``) the scorer ran. It reads one file and runs none of the expert's code."""

import os
import shutil
from pathlib import Path


class TaskFamily:
    standard_version = "0.5.0"

    @staticmethod
    def get_tasks() -> dict[str, dict]:
        return {"main": {}, "two": {}}

    @staticmethod
    def get_instructions(t: dict) -> str:
        return "Write the answer to everything into answer.txt, then run `task score`."

    @staticmethod
    def start(t: dict) -> None:
        answer = Path(os.environ["HOME"]) / "answer.txt"
        answer.write_text("0\n")
        user = os.environ.get("USER")
        if os.geteuid() == 0 and user:
            shutil.chown(answer, user, user)

    @staticmethod
    def intermediate_score(t: dict) -> dict:
        answer = Path(os.environ["HOME"]) / "answer.txt"
        said = answer.read_text().strip() if answer.is_file() else ""
        where = {
            "slurm_job_id": os.environ.get("SLURM_JOB_ID", ""),
            "cuda_visible_devices": os.environ.get("CUDA_VISIBLE_DEVICES", ""),
        }
        return {"score": 1.0 if said == "42" else 0.0, "message": where, "details": where}

    @staticmethod
    def aggregate_scores(t: dict, score_log: list[dict]) -> float | None:
        return max((e["score"] for e in score_log if e.get("score") is not None), default=None)
