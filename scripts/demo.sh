#!/usr/bin/env bash
# Set up (system packages + .venv) if needed, then run CallAssist on a bundled demo call:
# in the side panel when there is a screen, in the terminal (analyze) when there is none.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
CALL="${1:-demo/calls/angry_calmed.flac}"
if [ -n "${DISPLAY:-}${WAYLAND_DISPLAY:-}" ] && [ -z "${CALLASSIST_TERMINAL:-}" ]; then
  exec .venv/bin/callassist --play "$CALL"
fi
exec .venv/bin/callassist analyze "$CALL" --json "${CALL%.*}.timeline.json"
