#!/usr/bin/env bash
# Run the SDK's speech, vision and text paths with the aarch64 builds of Python 3.11, numpy, onnxruntime and
# tokenizers under QEMU user-mode emulation, on the bundles of EDGE_SDK_HOME, and compare them with the same run on
# this x86-64 machine: transcripts, top-1 labels, log-probabilities, encoder outputs and sentence embeddings, fp32
# and int8, on emulated CPUs with and without the dot-product instructions (onnxruntime picks its aarch64 kernels
# from the emulated CPU's features).
#
#   benchmarks/emulate/aarch64.sh             # 3 clips, 6 photos, 2 texts on max, neoverse-n1 (int8), cortex-a53
#   benchmarks/emulate/aarch64.sh --quick     # 1 clip, 2 photos, 1 text on cortex-a53, max (int8): what the test runs
#   QEMU_CPUS="cortex-a72 max,sme=off:int8" benchmarks/emulate/aarch64.sh --quick   # CPU[:variants], space-separated
#   OUT=/tmp/report benchmarks/emulate/aarch64.sh     # writes /tmp/report.json and /tmp/report.md
#
# Default OUT is benchmarks/experiments/emulate-aarch64 (--quick: .cache/aarch64/report-quick). Exit status 1 when a
# comparison is outside its limit (listed in the report), 2 when a tool is missing.
#
# Set up once under .cache/aarch64/ (idempotent, about 120 MB of downloads): Debian bookworm's arm64 python3.11 and
# the libraries it needs, unpacked with dpkg -x into a sysroot (apt-get with a private package list, so neither
# root nor dpkg --add-architecture is needed), and the manylinux aarch64 wheels of the versions the x86 venv runs.
# The SDK itself is built from this working tree into a wheel on every run.
#
# qemu-user 7.2 (Debian 12's) passes the host's /proc/cpuinfo through, and onnxruntime's cpuinfo library crashes on
# x86 text (SIGSEGV at import). qemu -L looks a guest path up in the sysroot first, so each emulated CPU gets a root
# whose proc/cpuinfo is what Linux prints for that CPU (MIDR_EL1 and HWCAP read inside the guest); QEMU 10 shows its
# own text for the emulated CPU instead. The report records what the bare sysroot gives.
#
# Needs apt-get and dpkg (Debian or Ubuntu, with debian-archive-keyring), the Debian mirror and PyPI, and the
# project's venv (PYTHON, default .venv/bin/python) with soundfile and OpenCV to decode the inputs. QEMU=path runs
# that qemu-aarch64; otherwise the one on PATH when it is QEMU 10 or newer, else bookworm-backports' QEMU 10.
set -euo pipefail
cd "$(dirname "$0")/../.."
PYTHON=${PYTHON:-.venv/bin/python}
CACHE=${AARCH64_CACHE:-.cache/aarch64}
QUICK=""
[[ ${1:-} == --quick ]] && QUICK=--quick
if [[ -n $QUICK ]]; then
  CPUS=${QEMU_CPUS:-"cortex-a53 max:int8"}
  OUT=${OUT:-$CACHE/report-quick}
  RUNS=$CACHE/runs-quick
else
  CPUS=${QEMU_CPUS:-"max neoverse-n1:int8 cortex-a53"}
  OUT=${OUT:-benchmarks/experiments/emulate-aarch64}
  RUNS=$CACHE/runs
fi
COMPARE=benchmarks/emulate/aarch64_compare.py
for tool in apt-get dpkg; do
  command -v $tool >/dev/null || { echo "$tool not found: this script runs on Debian or Ubuntu" >&2; exit 2; }
done
mkdir -p "$CACHE" "$RUNS"
CACHE=$(cd "$CACHE" && pwd)
log() { echo "[aarch64 $(date +%T)] $*" >&2; }
pip_quiet() { "$PYTHON" -m pip -q "$@" 2>&1 | grep -v "is ignored" >&2 || true; }  # less the local indexes' noise

# 1. Debian bookworm's packages, from a private package list (no root, no dpkg --add-architecture, any host distro):
#    arm64 python3.11 and the shared libraries numpy, onnxruntime and tokenizers load, unpacked into a sysroot; and,
#    when the qemu-aarch64 here is older than 10, bookworm-backports' qemu-user unpacked beside it: under QEMU 7.2,
#    Debian 12's own, onnxruntime's SME int8 MatMul kernels (-cpu max) compute garbage; under QEMU 10 they do not.
MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
KEYRING=${DEBIAN_KEYRING:-/usr/share/keyrings/debian-archive-keyring.gpg}
APT=$CACHE/apt
HOST_ARCH=$(dpkg --print-architecture)
APTOPTS=(-q -o "APT::Architecture=$HOST_ARCH" -o "APT::Architectures::=$HOST_ARCH" -o APT::Architectures::=arm64
  -o "Dir::State::Lists=$APT/lists" -o "Dir::Cache=$APT" -o Dir::State::status=/dev/null
  -o "Dir::Etc::SourceList=$APT/sources.list" -o Dir::Etc::SourceParts=/nonexistent -o Debug::NoLocking=1
  -o APT::Sandbox::User="$(id -un)")
apt_lists() {  # once per run at most
  [[ -f $APT/.updated ]] && return
  [[ -f $KEYRING ]] || { echo "no Debian archive keyring at $KEYRING: apt-get install debian-archive-keyring" >&2; exit 2; }
  mkdir -p "$APT/lists/partial" "$APT/archives/partial"
  {
    for suite in bookworm bookworm-updates bookworm-backports; do echo "deb [signed-by=$KEYRING] $MIRROR $suite main"; done
    echo "deb [signed-by=$KEYRING] ${MIRROR%/debian}/debian-security bookworm-security main"
  } > "$APT/sources.list"
  apt-get "${APTOPTS[@]}" update >/dev/null
  touch "$APT/.updated"
}
rm -f "$APT/.updated"
PACKAGES="python3.11-minimal libpython3.11-minimal libpython3.11-stdlib libc6 libstdc++6 libgcc-s1 zlib1g libffi8
  libssl3 libexpat1 libbz2-1.0 liblzma5 libsqlite3-0 libuuid1 libcrypt1"
SYSROOT=$CACHE/sysroot
if [[ ! -f $SYSROOT/.packages || $(cat "$SYSROOT/.packages") != "$(echo $PACKAGES)" ]]; then
  log "sysroot: Debian bookworm arm64 packages"
  apt_lists
  rm -rf "$APT/debs" "$SYSROOT"
  mkdir -p "$APT/debs" "$SYSROOT"
  (cd "$APT/debs" && apt-get "${APTOPTS[@]}" download $(for p in $PACKAGES; do echo "$p:arm64"; done) >/dev/null)
  for deb in "$APT"/debs/*.deb; do dpkg -x "$deb" "$SYSROOT"; done
  echo $PACKAGES > "$SYSROOT/.packages"
fi
qemu_major() { "$1" --version 2>/dev/null | sed -n 's/^qemu-aarch64 version \([0-9]*\)\..*/\1/p'; }
COMMAND="${QEMU:+QEMU=$QEMU }QEMU_CPUS=\"$CPUS\" benchmarks/emulate/aarch64.sh${QUICK:+ $QUICK}"
if [[ -z ${QEMU:-} ]]; then  # QEMU=/path/to/qemu-aarch64 runs that one, whatever its version
  QEMU=$(command -v qemu-aarch64 || true)
  if [[ -z $QEMU || $(qemu_major "$QEMU") -lt 10 ]]; then
    if [[ ! -x $CACHE/qemu/usr/bin/qemu-aarch64 ]]; then
      log "qemu: ${QEMU:+$("$QEMU" --version | head -1) is older than 10; }bookworm-backports' qemu-user"
      apt_lists
      rm -rf "$CACHE/qemu" "$APT/qemu"
      mkdir -p "$APT/qemu"
      (cd "$APT/qemu" && apt-get "${APTOPTS[@]}" download qemu-user/bookworm-backports >/dev/null)
      mkdir -p "$CACHE/qemu"  # of the 370 MB of emulators, the aarch64 one
      dpkg-deb --fsys-tarfile "$APT"/qemu/qemu-user_*.deb | tar -x -C "$CACHE/qemu" ./usr/bin/qemu-aarch64
      rm -rf "$APT/qemu"
    fi
    QEMU=$CACHE/qemu/usr/bin/qemu-aarch64
  fi
fi
log "emulator: $("$QEMU" --version | head -1)"

# 2. The aarch64 wheels, at the versions the x86 venv runs (so the comparison is between CPUs, not releases).
VERSIONS=$("$PYTHON" -c "import numpy as n, onnxruntime as o, tokenizers as t
print(f'numpy=={n.__version__} onnxruntime=={o.__version__} tokenizers=={t.__version__}')")
SITE=$CACHE/site
if [[ ! -f $SITE/.versions || $(cat "$SITE/.versions") != "$VERSIONS" ]]; then
  log "site: aarch64 wheels of $VERSIONS"
  PLATFORM=(--platform manylinux2014_aarch64 --platform manylinux_2_17_aarch64 --platform manylinux_2_28_aarch64
    --python-version 3.11 --implementation cp --only-binary=:all:)
  rm -rf "$SITE"
  pip_quiet download -d "$CACHE/wheels" "${PLATFORM[@]}" $VERSIONS
  pip_quiet install --no-warn-conflicts --no-index --find-links "$CACHE/wheels" --target "$SITE" "${PLATFORM[@]}" $VERSIONS
  for m in numpy onnxruntime tokenizers; do
    [[ -d $SITE/$m ]] || { echo "the aarch64 wheel of $m was not installed in $SITE" >&2; exit 2; }
  done
  echo "$VERSIONS" > "$SITE/.versions"
fi

# 3. The SDK from this working tree: a wheel, so that the package-dir mapping (devices/ -> edge_sdk.devices) holds.
log "sdk: wheel of the working tree"
rm -rf "$CACHE/sdk-src" "$CACHE/sdk"
mkdir -p "$CACHE/sdk-src"
tar -c --exclude=__pycache__ pyproject.toml README.md edge_sdk devices quantize | tar -x -C "$CACHE/sdk-src"
pip_quiet wheel --no-deps --no-build-isolation -w "$CACHE/sdk-src/dist" "$CACHE/sdk-src"
pip_quiet install --no-deps --no-compile --target "$CACHE/sdk" "$CACHE"/sdk-src/dist/*.whl
[[ -d $CACHE/sdk/edge_sdk/devices ]] || { echo "the SDK wheel was not installed in $CACHE/sdk" >&2; exit 2; }

# 4. One root per emulated CPU: the sysroot, and the /proc/cpuinfo Linux prints for that CPU (QEMU 7.2 reads it; QEMU 10
#    answers with its own text for the emulated CPU).
emulate() {  # emulate CPU ARGS...: the aarch64 python under qemu-aarch64 -cpu CPU, in that CPU's root
  local cpu=$1 root=$CACHE/roots/$1
  shift
  PYTHONPATH=$CACHE/sdk:$SITE PYTHONNOUSERSITE=1 nice "$QEMU" -cpu "$cpu" -L "$root" "$root/usr/bin/python3.11" "$@"
}
for spec in $CPUS; do
  cpu=${spec%%:*}
  root=$CACHE/roots/$cpu
  mkdir -p "$root/proc"
  for d in lib usr etc; do ln -sfn "$SYSROOT/$d" "$root/$d"; done
  emulate "$cpu" "$COMPARE" cpuinfo > "$root/proc/cpuinfo.new"
  mv "$root/proc/cpuinfo.new" "$root/proc/cpuinfo"
done

# 5. Without a cpuinfo file in the sysroot (what qemu-user itself shows: the host's file under QEMU 7.2, its own text
#    for the emulated CPU under QEMU 10): the SDK's detection, and whether onnxruntime imports.
first=${CPUS%% *}
first=${first%%:*}
NOTES=(--note "$RUNS/qemu-cpuinfo-detection.json" --note "$RUNS/emulator.json")
PYTHONPATH=$CACHE/sdk:$SITE "$QEMU" -cpu "$first" -L "$SYSROOT" "$SYSROOT/usr/bin/python3.11" "$COMPARE" detect \
  --out "$RUNS/qemu-cpuinfo-detection.json"
rc=0
PYTHONPATH=$SITE "$QEMU" -cpu "$first" -L "$SYSROOT" "$SYSROOT/usr/bin/python3.11" -c "import onnxruntime" 2>/dev/null || rc=$?
"$PYTHON" - "$RUNS" "$rc" "$first" "$("$QEMU" --version | head -1)" "$CPUS" "$COMMAND" <<'EOF'
import json, sys
from pathlib import Path
runs, rc, cpu, qemu, cpus, command = Path(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5], sys.argv[6]
path = runs / "qemu-cpuinfo-detection.json"
d = json.loads(path.read_text())
d |= {"qemu_cpu": cpu, "onnxruntime_import_exit_status": rc,
      "onnxruntime_import": "ok" if rc == 0 else f"failed (exit status {rc}{', SIGSEGV' if rc == 139 else ''})"}
path.write_text(json.dumps(d, indent=1))
(runs / "emulator.json").write_text(json.dumps({"qemu": qemu, "cpus": cpus.split(), "command": command}, indent=1))
EOF
profile=$(sed -n 's/^ "profile": "\(.*\)",$/\1/p' "$RUNS/qemu-cpuinfo-detection.json")
log "qemu's own /proc/cpuinfo: the SDK detects $profile; import onnxruntime: exit status $rc"

# 6. The inputs (decoded on x86), the x86 run, then each emulated CPU: the same script, the same arrays.
INPUTS=$CACHE/inputs${QUICK:+-quick}
"$PYTHON" "$COMPARE" prepare --out "$INPUTS" $QUICK
log "x86_64: native run"
"$PYTHON" "$COMPARE" run --inputs "$INPUTS" --out "$RUNS/x86_64"
ARMS=()
for spec in $CPUS; do
  cpu=${spec%%:*}
  variants=fp32,int8
  [[ $spec == *:* ]] && variants=${spec#*:}
  name=aarch64-${cpu//[,=]/-}  # max,sme=off: aarch64-max-sme-off
  if [[ -z $QUICK ]]; then  # the run records the same detection; the command itself costs 20 s emulated
    log "aarch64 -cpu $cpu: edge-sdk devices"
    emulate "$cpu" -m edge_sdk.cli devices --json > "$RUNS/devices-${name#aarch64-}.json"
    NOTES+=(--note "$RUNS/devices-${name#aarch64-}.json")
  fi
  log "aarch64 -cpu $cpu: run"
  start=$SECONDS
  emulate "$cpu" "$COMPARE" run --inputs "$INPUTS" --out "$RUNS/$name" --variants "$variants"
  log "aarch64 -cpu $cpu: $((SECONDS - start)) s"
  ARMS+=(--arm "$name=$RUNS/$name")
done

# 7. Compare: exit status 1 when a difference is outside its limit.
"$PYTHON" "$COMPARE" compare --x86 "$RUNS/x86_64" "${ARMS[@]}" "${NOTES[@]}" --json "$OUT.json" --md "$OUT.md"
log "report: $OUT.json, $OUT.md"
