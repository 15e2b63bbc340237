"""Where CallAssist keeps its files: the repo's shipped models, the user's config and data."""
from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]  # a checkout; shipped files: callassist.resources


def config_dir() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config"
    return Path(base) / "callassist"


def data_dir() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
    return Path(base) / "callassist"


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "callassist"


def vosk_model_roots() -> list[Path]:
    """Folders searched for Vosk models, in order: models/vosk of a checkout, then the user's."""
    return [REPO_ROOT / "models" / "vosk", data_dir() / "models" / "vosk"]
