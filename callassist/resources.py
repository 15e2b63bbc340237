"""Files CallAssist ships: the mood model (models/mood), the stylesheet and icons (ui/) and the
demo knowledge base and phrase library (content/).

In the repository they lie at its top level; a wheel carries them inside the package
(callassist/_shipped/, see setup.py), where importlib.resources finds them.
"""
from __future__ import annotations

from importlib.resources import as_file, files
from pathlib import Path

_REPO = Path(__file__).resolve().parents[1]


def shipped(*parts: str) -> Path:
    """Path of a shipped file or folder, e.g. shipped("ui", "panel.qss")."""
    packaged = files("callassist").joinpath("_shipped", *parts)
    if packaged.is_file() or packaged.is_dir():
        with as_file(packaged) as path:  # a real path for an ordinary install
            return Path(path)
    return _REPO.joinpath(*parts)
