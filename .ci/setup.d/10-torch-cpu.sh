#!/usr/bin/env bash
# PyTorch, CPU build, before `pip install -e '.[test]'`: sentence-transformers (the
# open-ended NEP reward, tests/test_rewards.py) needs torch, and resolving it through the
# test extra could pull a CUDA build. The machine's pip configuration finds the CPU wheel.
# Idempotent: does nothing when torch 2.13.0 is already installed.
set -euo pipefail
if python -c "import sys, torch; sys.exit(0 if torch.__version__.split('+')[0] == '2.13.0' else 1)" \
    >/dev/null 2>&1; then
  exit 0
fi
python -m pip install -q torch==2.13.0
python -c "import torch; print('torch', torch.__version__)"
