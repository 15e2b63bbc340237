"""Speech recognition engines behind one interface, and the automatic choice between them."""
from __future__ import annotations

from pathlib import Path

from ..errors import ConfigError, ModelError
from .base import SAMPLE_RATE, SpeechEngine, SpeechStream

ENGINES = ("auto", "vosk", "whisper")


def load_engine(engine: str = "auto", vosk_model: str | Path | None = None,
                whisper_model: str | Path | None = None) -> SpeechEngine:
    """Vosk when a Vosk model is given or found, else the bundled Whisper; `engine` forces one.

    A model found in the default folders (not one the user named) that is damaged or incomplete
    does not stop `auto`: the bundled Whisper is used, and the engine's `problems` say which
    folder is broken and what to do (the command line prints it, the pipeline publishes it as
    a warning Status at the start of each call). With `vosk` chosen it is a one-line error."""
    from .vosk_models import broken_vosk_models, find_vosk_model

    engine = (engine or "auto").lower()
    if engine not in ENGINES:
        raise ConfigError(f"unknown speech engine '{engine}': choose one of {', '.join(ENGINES)}")
    problem = None
    if engine in ("auto", "vosk"):
        path = find_vosk_model(vosk_model)
        if path is not None:
            from .vosk_engine import VoskEngine
            try:
                return VoskEngine(path)
            except ModelError as exc:
                if engine == "vosk" or vosk_model:
                    raise
                problem = f"{exc}; using the bundled Whisper engine meanwhile"
        else:
            broken = [] if vosk_model else broken_vosk_models()
            if broken:
                why = (f"{broken[0]} holds no usable Vosk model (no am/final.mdl and conf/: an "
                       f"unfinished download?): delete that folder, or run `callassist "
                       f"download-model`")
                if engine == "vosk":
                    raise ModelError(why)
                problem = f"{why}; using the bundled Whisper engine meanwhile"
            elif engine == "vosk":
                raise ModelError("no Vosk model found: pass --vosk-model FOLDER, set vosk_model "
                                 "in the config, or run `callassist download-model`")
    from .whisper_engine import WhisperEngine
    whisper = WhisperEngine(whisper_model)
    if problem is not None:
        whisper.problems = (problem,)
    return whisper


__all__ = ["SAMPLE_RATE", "SpeechEngine", "SpeechStream", "load_engine", "ENGINES"]
