#!/usr/bin/env bash
# Set up (system packages + .venv) if needed, then run CallAssist on a bundled demo call.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
CALL="${1:-demo/calls/angry_calmed.flac}"
exec .venv/bin/callassist analyze "$CALL" --json "${CALL%.*}.timeline.json"
