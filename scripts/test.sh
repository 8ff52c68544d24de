#!/usr/bin/env bash
# The test command (README, `.ci/run`): installs everything the suite needs into the
# Python on PATH (a fresh venv is best), then runs it. Idempotent: a second run installs
# nothing new and compiles nothing.
#   1. Debian's chromium (the report's browser test) and ffmpeg (ffprobe/ffmpeg check the
#      cut clips), when apt-get is there.
#   2. PyTorch, CPU build: a local CPU wheel when this machine's pip configuration has one,
#      else PyTorch's CPU index (NEXTEVENT_TORCH_INDEX), so no CUDA wheel is downloaded.
#   3. llama-cpp-python (the SmolLM2 server of the model tests), built once per machine
#      without host-specific instructions (a VM may forbid what its CPU advertises), the
#      wheel cached in NEXTEVENT_WHEEL_CACHE (default ~/.cache/nextevent/wheels).
#   4. The package with its test extra, then pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_INPUT=1 DEBIAN_FRONTEND=noninteractive
PY="${PYTHON:-python}"
command -v "$PY" >/dev/null 2>&1 || PY=python3
TORCH_VERSION="${NEXTEVENT_TORCH_VERSION:-2.13.0}"
TORCH_INDEX="${NEXTEVENT_TORCH_INDEX:-https://download.pytorch.org/whl/cpu}"
LLAMA_VERSION="${NEXTEVENT_LLAMA_VERSION:-0.3.36}"
CACHE="${NEXTEVENT_WHEEL_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/nextevent/wheels}"
say() { echo "== $*"; }

# 1. chromium, ffmpeg
if { ! command -v chromium >/dev/null 2>&1 || ! command -v ffprobe >/dev/null 2>&1; } \
    && command -v apt-get >/dev/null 2>&1; then
  say "installing Debian's chromium (report browser test) and ffmpeg (clip checks)"
  SUDO=""; if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
  LOCK="-o DPkg::Lock::Timeout=600"  # wait for another apt run instead of failing
  $SUDO apt-get $LOCK update -qq >/dev/null
  $SUDO apt-get $LOCK install -y -qq --no-install-recommends chromium fonts-dejavu-core \
    ffmpeg >/dev/null
fi

# 2. torch, CPU build
if ! "$PY" -c "import torch" >/dev/null 2>&1; then
  say "installing torch $TORCH_VERSION (CPU build)"
  # A CPU wheel the local pip configuration finds without an index (find-links), then its
  # dependencies from the usual index; else PyTorch's CPU index, which has both.
  # (the version is read whole, not piped into grep -q: under pipefail, grep quitting
  # early makes pip fail on a broken pipe now and then, and the online index is tried)
  if "$PY" -m pip install -q --no-deps --no-index "torch==$TORCH_VERSION" 2>/dev/null \
      && [[ "$("$PY" -m pip show torch 2>/dev/null)" == *$'\nVersion: '*+cpu* ]]; then
    "$PY" -m pip install -q "torch==$TORCH_VERSION"  # its dependencies
  else
    "$PY" -m pip uninstall -q -y torch 2>/dev/null || true
    "$PY" -m pip install -q "torch==$TORCH_VERSION" --index-url "$TORCH_INDEX"
  fi
fi
"$PY" -c "import torch; print('torch', torch.__version__, 'cuda' if torch.version.cuda else 'cpu')"

# 3. llama-cpp-python, portable build, cached wheel
if ! "$PY" -c "import llama_cpp" >/dev/null 2>&1; then
  # x86-64-v3 (AVX2, FMA, F16C: x86 CPUs since 2013) when the CPU has them, else the
  # x86-64 baseline; never -march=native (GGML_NATIVE), which traps on a VM whose CPU
  # advertises instructions (AMX, AVX512-FP16) the hypervisor does not allow.
  if grep -qw avx2 /proc/cpuinfo 2>/dev/null && grep -qw fma /proc/cpuinfo \
      && grep -qw f16c /proc/cpuinfo; then
    VARIANT=x86-64-v3; FLAGS="-DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON"
  else
    VARIANT=baseline; FLAGS="-DGGML_NATIVE=OFF -DGGML_AVX=OFF -DGGML_AVX2=OFF -DGGML_FMA=OFF -DGGML_F16C=OFF"
  fi
  [ "$(uname -m)" = "x86_64" ] || { VARIANT="$(uname -m)"; FLAGS="-DGGML_NATIVE=OFF"; }
  WHEELS="$CACHE/llama-cpp-python-$LLAMA_VERSION-$VARIANT"
  if ! ls "$WHEELS"/llama_cpp_python-"$LLAMA_VERSION"-*.whl >/dev/null 2>&1; then
    say "building llama-cpp-python $LLAMA_VERSION ($VARIANT, once per machine: 15-25 min on 2 cores)"
    mkdir -p "$WHEELS"
    CMAKE_ARGS="${NEXTEVENT_LLAMA_CMAKE_ARGS:-$FLAGS}" CMAKE_BUILD_PARALLEL_LEVEL="$(nproc)" \
      "$PY" -m pip wheel -q --no-deps --no-binary llama-cpp-python -w "$WHEELS" \
      "llama-cpp-python==$LLAMA_VERSION"
  fi
  say "installing llama-cpp-python $LLAMA_VERSION from $WHEELS"
  "$PY" -m pip install -q --find-links "$WHEELS" --only-binary llama-cpp-python \
    "llama-cpp-python[server]==$LLAMA_VERSION"
fi

# 4. the package, then the tests
"$PY" -m pip install -q -e '.[test]'
exec "$PY" -m pytest -q "$@"
