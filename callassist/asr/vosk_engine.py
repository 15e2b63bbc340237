"""Vosk (Kaldi) streaming recognition: partial results while people talk, final utterances with
word start/end times and confidences."""
from __future__ import annotations

import json
import logging
import os
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from ..errors import ModelError
from ..core.events import PartialUtterance, Utterance, Word
from .base import SAMPLE_RATE, SpeechEngine, SpeechStream

log = logging.getLogger(__name__)


@contextmanager
def _native_stderr():
    """Hold what native code writes to the process's stderr while the block runs. Kaldi writes
    there itself, whatever vosk.SetLogLevel says: its ERROR lines, and for a bad config file a
    whole page of option help. The user gets our one line; `held[0]` is what Kaldi said."""
    held: list[str] = []
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError):  # no stderr to hold
        yield held
        held.append("")
        return
    with tempfile.TemporaryFile() as tmp:
        os.dup2(tmp.fileno(), 2)
        try:
            yield held
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            tmp.seek(0)
            held.append(tmp.read(1 << 16).decode("utf-8", "replace"))


def _kaldi_reason(said: str) -> str:
    """Kaldi's last ERROR line, without its source location, as the reason a model failed."""
    errors = [ln.split(") ", 1)[-1].strip() if ln.startswith("ERROR (") else
              ln.removeprefix("ERROR:").strip() for ln in said.splitlines() if ln.startswith("ERROR")]
    return errors[-1][:200] if errors else "damaged or incomplete?"


def check_vosk_model_dir(path: Path) -> Path:
    path = Path(path).expanduser()
    if not path.exists():
        raise ModelError(f"Vosk model folder not found: {path} (check --vosk-model, or run "
                         f"`callassist download-model`)")
    if not path.is_dir():
        raise ModelError(f"{path} is a file, not a Vosk model folder: unpack the model zip and "
                         f"pass the folder with --vosk-model")
    has_am = (path / "am" / "final.mdl").exists() or (path / "final.mdl").exists()
    has_conf = (path / "conf" / "model.conf").exists() or (path / "conf" / "mfcc.conf").exists()
    if not (has_am and has_conf):
        raise ModelError(f"{path} is not a Vosk model folder (no am/final.mdl and conf/): pass the "
                         f"unpacked model folder with --vosk-model, or run `callassist download-model`")
    return path


class VoskEngine(SpeechEngine):
    name = "vosk"

    def __init__(self, model_dir: str | Path):
        import vosk

        vosk.SetLogLevel(-1)
        self.model_dir = check_vosk_model_dir(Path(model_dir))
        t0 = time.perf_counter()
        model = None
        with _native_stderr() as said:
            try:
                model = vosk.Model(str(self.model_dir))
            except Exception:
                pass
        if model is None:
            errors = "\n".join(ln for ln in said[0].splitlines() if ln.startswith("ERROR"))
            log.warning("Vosk could not load %s:\n%s", self.model_dir, errors or said[0][-2000:])
            raise ModelError(f"Vosk could not load the model in {self.model_dir} "
                             f"({_kaldi_reason(said[0])}): download it again with `callassist "
                             f"download-model`, or delete that folder")
        self.model = model
        self.load_seconds = time.perf_counter() - t0
        self.description = f"Vosk ({self.model_dir.name})"

    def stream(self, speaker: str, partials: bool = True) -> "VoskStream":
        return VoskStream(self, speaker, partials)


class VoskStream(SpeechStream):
    def __init__(self, engine: VoskEngine, speaker: str, partials: bool = True):
        super().__init__(speaker, engine.name)
        self._engine = engine
        self._wants_partials = partials  # asked for by the caller of stream(); `partials` may shed
        self._new_recognizer()

    def _new_recognizer(self) -> None:
        import vosk

        self._rec = vosk.KaldiRecognizer(self._engine.model, SAMPLE_RATE)
        self._rec.SetWords(True)
        self._rec.SetPartialWords(True)
        self._last_partial = ""

    def _final(self, result_json: str) -> list[Utterance]:
        res = json.loads(result_json)
        words = tuple(Word(w["word"], round(w["start"], 3), round(w["end"], 3), round(w.get("conf", 1.0), 3))
                      for w in res.get("result", []))
        text = res.get("text", "").strip()
        self._last_partial = ""
        if not text or not words:
            return []
        return [Utterance(id=0, speaker=self.speaker, text=text, start=words[0].start,
                          end=words[-1].end, words=words, engine=self.engine)]

    def accept_audio(self, samples: np.ndarray) -> list[PartialUtterance | Utterance]:
        pcm = (np.clip(samples, -1.0, 1.0) * 32767.0).astype("<i2").tobytes()
        self.samples_in += len(samples)
        if self._rec.AcceptWaveform(pcm):
            return self._final(self._rec.Result())
        if not self._wants_partials:
            return []
        if not self.partials:
            self.partials_shed += 1
            return []
        res = json.loads(self._rec.PartialResult())
        text = res.get("partial", "").strip()
        if text and text != self._last_partial:
            self._last_partial = text
            pw = res.get("partial_result") or []
            start = pw[0]["start"] if pw else self.now
            return [PartialUtterance(self.speaker, text, round(start, 3), round(self.now, 3))]
        return []

    def finish(self) -> list[Utterance]:
        return self._final(self._rec.FinalResult())

    def reset(self) -> None:
        super().reset()
        self._new_recognizer()
