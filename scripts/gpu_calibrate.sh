#!/usr/bin/env bash
# On the lent GPU machine: calibrate one family, write its y_s and y_r into its manifest, then
# check it through the platform (`baseliner env check`, a fresh install) against those numbers.
#
#   bash scripts/gpu_calibrate.sh FAMILY [calibrate.py options...]
#
# The family's calibrate.py writes $OUT/FAMILY/calibration.json (start.score, reference.score);
# the manifest as calibrated comes back as $OUT/FAMILY/manifest.yaml, and gpu_env_check.sh's
# log and table as $OUT/gpu_env_check.log and $OUT/table.txt. environments/GPU.md says how to
# call it with the device tool; copy the numbers in with scripts/set_calibration.py.
set -uo pipefail
cd "$(dirname "$0")/.."
family=${1:?usage: gpu_calibrate.sh FAMILY [calibrate.py options]}
shift
out="${OUT:-/tmp/gpu-calibrate}/$family"
mkdir -p "$out"
started=$(date +%s)
echo "==> calibrate $family ($(date -u +%FT%TZ))"
(cd "environments/$family" && PYTHONUNBUFFERED=1 python3 calibrate.py --out "$out" "$@") 2>&1 \
  | tee "$out/calibrate.log"
status=${PIPESTATUS[0]}
calibrated=$(date +%s)
echo "==> calibrate.py: exit $status after $((calibrated - started)) s"
[ "$status" -eq 0 ] || exit "$status"
python3 scripts/set_calibration.py "$family" "$out/calibration.json" || exit 1
cp "environments/$family/manifest.yaml" "$out/manifest.yaml"
PYTHONUNBUFFERED=1 bash scripts/gpu_env_check.sh "$family/main"
status=$?
echo "==> $family: calibrated in $((calibrated - started)) s, checked in $(( $(date +%s) - calibrated )) s"
exit "$status"
