#!/usr/bin/env bash
# Installs otel-discord with its demo extra into .venv and runs `otel-discord demo`: a real
# discord.py bot, offline (no server, no Discord token), its spans printed to the console and
# written by the file exporter to demo-output/.
# Extra arguments go to the demo, e.g. `bash scripts/demo.sh --otlp http://127.0.0.1:4318`.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/python -m pip install -q --disable-pip-version-check uv
.venv/bin/uv pip install -q --python .venv/bin/python -e '.[demo]'
# --out keeps the run's spans and events as OTLP/JSON lines (the file exporter) in demo-output/,
# replaced at each run; a later --out in "$@" wins.
exec .venv/bin/otel-discord demo --out demo-output "$@"
