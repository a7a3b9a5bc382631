#!/usr/bin/env bash
# Sets maskstyle up in ./.venv (PyTorch from PyPI, CUDA build where pip picks it) and runs
# the demo with the built-in encoder. Safe to run again: it only adds what is missing.
set -euo pipefail
cd "$(dirname "$0")"
python3 -c 'import sys; sys.exit(sys.version_info < (3, 10))' \
  || { echo "maskstyle needs Python 3.10 or newer (found $(python3 --version))" >&2; exit 1; }
[ -x .venv/bin/python ] || python3 -m venv .venv
echo "==> installing maskstyle and its dependencies into .venv (PyTorch is a large download)"
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -e '.[dev,demo]'
if [ "${1:-}" != "--no-demo" ]; then
  echo "==> running the demo"
  .venv/bin/maskstyle demo --out maskstyle-demo
fi
