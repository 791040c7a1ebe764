#!/usr/bin/env bash
# CUDA profile proof on an NVIDIA GPU machine with no network. Installs nothing from the network.
#
# Needs, in the working tree copied to the device:
#   .cache/bench-home/bundles/   the default bundles built here (EDGE_SDK_HOME points at it)
#   wheels/onnxruntime_gpu-*.whl.part-*   the onnxruntime-gpu wheel split into parts under 64 MiB
#                                         (split -b 60M), carried over consecutive calls while warm
# Writes under $OUT (default ./bench-cuda): gpu_check.json, report.json, report.md, charts.
set -euo pipefail
cd "$(dirname "$0")/../.."
OUT=${OUT:-bench-cuda}
export EDGE_SDK_HOME=${EDGE_SDK_HOME:-$PWD/.cache/bench-home}
PY=${PY:-python3}
if ! $PY -c "import onnxruntime, sys; sys.exit('CUDAExecutionProvider' not in onnxruntime.get_available_providers())"; then
  parts=(wheels/onnxruntime_gpu-*.whl.part-*)
  if [ -e "${parts[0]}" ]; then
    whl=$(basename "${parts[0]%.part-*}")
    cat "${parts[@]}" > "/tmp/$whl"
    $PY -m pip install --no-index --no-deps --force-reinstall "/tmp/$whl"
  fi
fi
$PY -m pip install --no-index --no-deps -e . >/dev/null 2>&1 || true
$PY -c "import onnxruntime; print('providers:', onnxruntime.get_available_providers())" | tee "$OUT.providers.txt"
mkdir -p "$OUT"
$PY -m edge_sdk --profile cuda devices --doctor | tee "$OUT/doctor.txt"
$PY -m edge_sdk.bench.gpu_check --out "$OUT" | tee "$OUT/gpu_check.txt"
$PY -m edge_sdk --profile cuda bench --variants fp16,fp32 --out "$OUT" --data "${DATA:-../shared/data}"
