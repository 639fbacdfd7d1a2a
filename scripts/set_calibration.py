"""Write a calibration's y_s and y_r into a family's manifest.yaml, keeping its comments.

    python3 scripts/set_calibration.py FAMILY CALIBRATION_JSON

CALIBRATION_JSON is what the family's calibrate.py wrote: ``start.score`` and
``reference.score``. Used on the GPU machine between calibrating and ``env check``
(scripts/gpu_calibrate.sh), so the check judges the numbers just measured, and here to copy
them into the repository.
"""

import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def set_numbers(manifest: Path, y_s: float, y_r: float) -> None:
    text = manifest.read_text()
    text = re.sub(r"^(\s*)y_[sr]: .*\n", "", text, flags=re.MULTILINE)
    match = re.search(r"^(\s*)baseliner:\n(\s*)", text, flags=re.MULTILINE)
    if match is None:
        raise SystemExit(f"{manifest}: no baseliner: block")
    indent = match.group(2)
    lines = f"y_s: {y_s:.4f}\n{indent}y_r: {y_r:.4f}\n{indent}"
    manifest.write_text(text[: match.end()] + lines + text[match.end() :])


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    family, path = argv
    report = json.loads(Path(path).read_text())
    y_s, y_r = report["start"]["score"], report["reference"]["score"]
    if y_s is None or y_r is None:
        print(f"no valid scores in {path}: start {y_s}, reference {y_r}", file=sys.stderr)
        return 1
    set_numbers(ROOT / "environments" / family / "manifest.yaml", float(y_s), float(y_r))
    print(f"{family}: y_s {y_s:.4f}, y_r {y_r:.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
