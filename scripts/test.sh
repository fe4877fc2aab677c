#!/usr/bin/env bash
# Installs everything the tests need into .venv (and bugsink into .venv-bugsink), then runs
# ruff, mypy (strict) and pytest. Used as-is by the README and by .ci/run.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/python -m pip install -q --disable-pip-version-check uv
.venv/bin/uv pip install -q --python .venv/bin/python -r requirements/test.txt -e '.[test,sentry]'
# bugsink (a real Sentry-protocol server) lives in its own venv: its pins clash with Red's.
if [ ! -x .venv-bugsink/bin/gunicorn ]; then
  [ -x .venv-bugsink/bin/python ] || "$PY" -m venv .venv-bugsink
  .venv/bin/uv pip install -q --python .venv-bugsink/bin/python -r requirements/bugsink.txt
fi
echo "== ruff"
.venv/bin/ruff check otel_discord tests benchmarks examples
echo "== mypy --strict"
.venv/bin/mypy
echo "== pytest"
.venv/bin/python -m pytest "$@"
