#!/usr/bin/env bash
# Set up (system packages + .venv) if needed, then run the whole test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export QT_QPA_PLATFORM=offscreen HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
# the library tests run on SQLite and on a real PostgreSQL server they start (tests/pgserver.py,
# 127.0.0.1 only, stopped at the end): a missing server is a failure here, not a skip
export CALLASSIST_REQUIRE_PG=1
exec .venv/bin/python -m pytest "$@"
