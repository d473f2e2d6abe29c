#!/usr/bin/env bash
# The whole full-size GPU check in one command (issue 12), run from the repository root on the device machine:
#   benchmarks/gpu_wheels.sh                      # here, once: wheels the device lacks -> .whl/
#   bash benchmarks/gpu_check.sh [--budget-s 470]  # there, with .whl carried; figures -> $OUT (else runs/gpu_check/)
#   bash benchmarks/gpu_check.sh --tiny           # anywhere: the same sections on tiny models (CPU smoke run)
# Installs the carried wheels into /tmp/site (never touching the machine's torch), runs the package from src/,
# writes gpu_check.json after every section (a run cut short keeps what it measured) and gpu_check.log.
set -uo pipefail
cd "$(dirname "$0")/.."
out="${OUT:-runs/gpu_check}"
mkdir -p "$out"
if compgen -G ".whl/*.whl" >/dev/null; then
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
    export PYTHONPATH="/tmp/site${PYTHONPATH:+:$PYTHONPATH}"
fi
export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1
py="${PYTHON:-python3}"
"$py" benchmarks/gpu_check.py --out "$out" "$@" 2>&1 | tee "$out/gpu_check.log"
exit "${PIPESTATUS[0]}"
