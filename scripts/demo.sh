#!/usr/bin/env bash
# Installs otel-discord into .venv and runs the offline demo bot: real spans, no server, no token.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/python -m pip install -q --disable-pip-version-check uv
.venv/bin/uv pip install -q --python .venv/bin/python -e .
exec .venv/bin/python examples/demo.py "$@"
