"""CallAssist: offline speech recognition, caller mood and agent help for phone calls."""
__version__ = "0.1.0"

import os as _os

# Nothing leaves the machine: every dependency's telemetry, update check and model-hub lookup is
# off before any of them loads (the package is imported before them by the command line, the
# panel and batch workers). A user who wants the hub (e.g. to download another Whisper model) can
# set HF_HUB_OFFLINE=0 themselves.
OFFLINE_ENV = {
    "ORT_DISABLE_TELEMETRY": "1",  # onnxruntime (Silero VAD): looked up its telemetry host
    "HF_HUB_OFFLINE": "1",  # huggingface_hub, transformers, faster-whisper: local files only
    "TRANSFORMERS_OFFLINE": "1",
    "HF_DATASETS_OFFLINE": "1",
    "HF_HUB_DISABLE_TELEMETRY": "1",
    "HF_HUB_DISABLE_IMPLICIT_TOKEN": "1",
    "HF_HUB_DISABLE_UPDATE_CHECK": "1",
    "DISABLE_TELEMETRY": "1",
    "DO_NOT_TRACK": "1",
    "RAY_USAGE_STATS_ENABLED": "0",  # Ray (batch analysis on a cluster)
    "RAY_USAGE_STATS_PROMPT_ENABLED": "0",
    "OTEL_SDK_DISABLED": "true",
}
for _k, _v in OFFLINE_ENV.items():
    _os.environ.setdefault(_k, _v)
