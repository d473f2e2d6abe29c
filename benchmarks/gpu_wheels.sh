#!/usr/bin/env bash
# Download, on a machine with PyPI, the wheels the GPU machine lacks (it has PyTorch, accelerate, einops,
# OpenCV (without contrib: cut-out edges fall back to a feather there) and scikit-image, but no diffusers, no ftfy,
# an older transformers, and no network) into .whl/ (git-ignored).
# Then run benchmarks/gpu_check.sh there with `.whl` carried. Pure-Python wheels: any x86-64 Python 3.12 takes them.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p .whl
python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
    --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
    -d .whl diffusers==0.42.1 transformers==5.23.0 ftfy==6.3.1 wcwidth==0.9.4  # ftfy: diffusers' Wan prompt cleaning
ls -l .whl
