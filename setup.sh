#!/usr/bin/env bash
# Kept for old instructions: the same as the README's first command (installer/install.py).
set -euo pipefail
cd "$(dirname "$0")"
exec python3 installer/install.py --venv .venv --dev --demo "$@"
