"""Speech recognition engines behind one interface, and the automatic choice between them."""
from __future__ import annotations

from pathlib import Path

from ..errors import ConfigError, ModelError
from .base import SAMPLE_RATE, SpeechEngine, SpeechStream

ENGINES = ("auto", "vosk", "whisper")


def load_engine(engine: str = "auto", vosk_model: str | Path | None = None,
                whisper_model: str | Path | None = None) -> SpeechEngine:
    """Vosk when a Vosk model is given or found, else the bundled Whisper; `engine` forces one."""
    from .vosk_models import find_vosk_model

    engine = (engine or "auto").lower()
    if engine not in ENGINES:
        raise ConfigError(f"unknown speech engine '{engine}': choose one of {', '.join(ENGINES)}")
    if engine in ("auto", "vosk"):
        path = find_vosk_model(vosk_model)
        if path is not None:
            from .vosk_engine import VoskEngine
            return VoskEngine(path)
        if engine == "vosk":
            raise ModelError("no Vosk model found: pass --vosk-model FOLDER, set vosk_model in the "
                             "config, or run `callassist download-model`")
    from .whisper_engine import WhisperEngine
    return WhisperEngine(whisper_model)


__all__ = ["SAMPLE_RATE", "SpeechEngine", "SpeechStream", "load_engine", "ENGINES"]
