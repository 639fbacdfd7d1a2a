#!/usr/bin/env bash
# `baseliner env check` through the platform itself on a bare GPU machine (the lent device machine,
# as root, its python3, no venv, no code-server): the wheels scripts/gpu_wheels.sh put in .whl/
# are installed into /tmp/site, a throwaway data folder gets a SQLite database, this machine is
# registered as the local process host (its GPUs read by nvidia-smi; it reads "down" without
# code-server, which env check does not need), then each FAMILY/TASK given is prepared (the
# family installed, its install() run) and checked. A table of the scores comes last.
#
#   bash scripts/gpu_env_check.sh triton_cumsum/main [FAMILY/TASK ...]
#
# Settings: GPU_CHECK_PYTHON (default python3) and GPU_CHECK_WHEELS=0 to use an interpreter that
# has the platform already (e.g. .venv/bin/python here, for a try without a GPU);
# GPU_CHECK_TIMEOUT, the limit for each scoring in seconds (default 600); OUT, where the log and
# the table are written (else only printed). Exit status: 1 when any check failed.
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
PY=${GPU_CHECK_PYTHON:-python3}
[ $# -gt 0 ] || { echo "usage: $0 FAMILY/TASK..." >&2; exit 2; }

DATA=$(mktemp -d /tmp/baseliner-gpu-check.XXXXXX)
trap 'rm -rf "$DATA"' EXIT
[ -n "${OUT:-}" ] && exec > >(tee "$OUT/gpu_env_check.log") 2>&1

say() { printf '==> %s\n' "$*"; }
bl() { "$PY" -c 'import sys; sys.argv[0] = "baseliner"; from webapp.cli import main; main()' "$@"; }
# step NAME COMMAND...: run it, keep its output in $DATA/NAME.out, record its wall seconds.
step() {
  local name=$1 start rc
  shift
  say "$name: $*"
  start=$(date +%s%N)
  "$@" 2>&1 | tee "$DATA/$name.out"
  rc=${PIPESTATUS[0]}
  awk -v n="$name" -v t="$(($(date +%s%N) - start))" -v rc="$rc" \
    'BEGIN {printf "%s\t%.1f\t%s\n", n, t / 1e9, rc}' >>"$DATA/steps"
  return "$rc"
}

say "$(date -u +%FT%TZ) on $(uname -n), $(id -un); $ROOT at $(git rev-parse --short HEAD 2>/dev/null)"
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv 2>&1 || echo "no nvidia-smi"

if [ "${GPU_CHECK_WHEELS:-1}" != 0 ]; then
  ls .whl/*.whl >/dev/null 2>&1 || { echo "no .whl/*.whl: run scripts/gpu_wheels.sh here first" >&2; exit 2; }
  step wheels "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
    --target /tmp/site .whl/*.whl || exit 2
  export PYTHONPATH=/tmp/site:$ROOT
else
  export PYTHONPATH=$ROOT
fi
# What the carried wheels expect of the packages that were already there (gpu_wheels.py).
[ -f .whl/needs.txt ] && "$PY" - .whl/needs.txt <<'EOF'
import importlib.metadata as md, sys
from packaging.requirements import Requirement
for line in open(sys.argv[1]):
    text, why = line.rstrip("\n").split("\t")
    req = Requirement(text)
    try:
        have = md.version(req.name)
    except md.PackageNotFoundError:
        have = None
    if have is None or not req.specifier.contains(have, prereleases=True):
        print(f"warning: {req.name} {have or 'missing'} here; {why} needs {req.specifier}")
EOF
"$PY" -c 'import importlib.metadata as md, platform, sys
import torch
cuda = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no CUDA"
triton = md.version("triton")
print(f"python {platform.python_version()} ({sys.executable}); torch {torch.__version__}"
      f" (CUDA {torch.version.cuda}); triton {triton}; {cuda}")'

export BASELINER_DATA_DIR=$DATA/var BASELINER_SCHEDULER=false
unset BASELINER_DATABASE_URL BASELINER_CONFIG
step migrate bl db upgrade || exit 2
step host bl hosts add --name local --local || exit 2
bl hosts list

failed=0
for env in "$@"; do
  family=${env%%/*}
  # As `baseliner hosts prepare` does, for this one family: install it and run its install().
  step "prepare-$family" "$PY" - local "$family" <<'EOF' || failed=1
import sys
from sqlmodel import Session
from environments.catalogue import discover
from fleet import hosts, preparation
from fleet.connections import Connections
from webapp import db
from webapp.settings import Settings

settings = Settings()
connections = Connections(settings.prefix)
with Session(db.make_engine(settings.db_url)) as session:
    host = hosts.by_name(session, sys.argv[1])
    family = next(f for f in discover(settings.environment_dirs).families if f.name == sys.argv[2])
    outcome = preparation.install_one(session, connections.driver(host), host, family)
connections.close()
print(f"{family.name} {family.version[:8]}: {'installed' if outcome.ok else outcome.reason}")
sys.exit(0 if outcome.ok else 1)
EOF
  step "check-${env//\//-}" bl env check "$env" --host local --timeout "${GPU_CHECK_TIMEOUT:-600}" \
    || failed=1
done

# The table: each environment's two scores from env check's lines, and the seconds it took.
{
  printf '%-28s %9s %8s %9s %8s %7s %7s  %s\n' environment start norm reference norm prep_s check_s result
  for env in "$@"; do
    out=$DATA/check-${env//\//-}.out
    s=$(awk '/^starting solution/ {print $5, $7}' "$out" 2>/dev/null)
    r=$(awk '/^reference solution/ {print $5, $7}' "$out" 2>/dev/null)
    prep=$(awk -v n="prepare-${env%%/*}" '$1 == n {print $2}' "$DATA/steps" | tail -1)
    check=$(awk -v n="check-${env//\//-}" '$1 == n {print $2}' "$DATA/steps")
    result=$(grep -qx ok "$out" 2>/dev/null && echo ok || echo FAILED)
    grep -q 'not comparable' "$out" 2>/dev/null && result="$result (not comparable: no GPU)"
    read -r s1 s2 <<<"${s:-- -}"
    read -r r1 r2 <<<"${r:-- -}"
    printf '%-28s %9s %8s %9s %8s %7s %7s  %s\n' "$env" "$s1" "$s2" "$r1" "$r2" "${prep:--}" "${check:--}" "$result"
  done
  echo "steps (wall seconds, exit status):"
  awk -F'\t' '{printf "  %-32s %7s s  rc %s\n", $1, $2, $3}' "$DATA/steps"
} | tee "$DATA/table"
[ -n "${OUT:-}" ] && cp "$DATA/table" "$OUT/table.txt"
exit "$failed"
