#!/usr/bin/env bash
# Run here, before scripts/gpu_env_check.sh runs on the lent GPU machine: puts into .whl/ (ignored
# by git, carried with `carry: [".whl"]`) one cp312 manylinux x86_64 wheel of every platform
# dependency that machine's python3 lacks, and .whl/needs.txt; prints their sizes and the total.
# Needs the .venv (`make install`): its versions are the ones fetched. scripts/gpu_wheels.py says
# how; --dry-run lists without downloading.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x .venv/bin/python ] || { echo "no .venv: run make install first" >&2; exit 2; }
exec .venv/bin/python scripts/gpu_wheels.py "$@"
