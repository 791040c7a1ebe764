#!/usr/bin/env bash
# Run the tests whose figures depend on the CPU's integer kernels (pytest marker "kernel") on onnxruntime's
# AVX2 kernel, without VNNI or AVX-512, from any x86-64 machine: QEMU user-mode emulation of a Haswell CPU.
# QEMU 7.2's TCG emulates AVX2 but neither AVX-512 nor VNNI, and onnxruntime picks its kernels from the
# emulated CPUID, so u8 x s8 products saturate as on an AVX2-only AMD EPYC. Detection measures that
# (devices/kernels.py) and picks the x86_64-avx2 profile by itself.
#
#   benchmarks/emulate/x86_kernels.sh                 # every kernel test
#   benchmarks/emulate/x86_kernels.sh -k resnet18     # extra pytest arguments
#   QEMU_CPU=Nehalem benchmarks/emulate/x86_kernels.sh   # SSE4.2 only: onnxruntime's SSE kernels
#
# Needs Debian's qemu-user (apt-get install qemu-user) and the project's venv (PYTHON, default .venv/bin/python).
set -euo pipefail
cd "$(dirname "$0")/../.."
PYTHON=${PYTHON:-.venv/bin/python}
QEMU_CPU=${QEMU_CPU:-Haswell}
command -v qemu-x86_64 >/dev/null || { echo "qemu-x86_64 not found: apt-get install qemu-user" >&2; exit 2; }
# TCG warns once per CPUID bit it cannot emulate (TSX, INVPCID): not about the kernels measured here.
qemu-x86_64 -cpu "$QEMU_CPU" "$PYTHON" -m edge_sdk.cli devices 2> >(grep -v "TCG doesn't support" >&2)
exec qemu-x86_64 -cpu "$QEMU_CPU" "$PYTHON" -m pytest -q -p no:cacheprovider -m kernel "$@" 2> >(grep -v "TCG doesn't support" >&2)
