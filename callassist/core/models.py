"""What is loaded once per process, apart from what lives for one call.

`Models` holds the speech engine, the mood model, the one shared sentence encoder, the knowledge
index and the phrase library. They are loaded once (`shared_models`, in the background with
`preload`) and shared: every call of the panel, the QA window's imports and `analyze` take a
fresh per-call session from them (`Models.session`: recogniser streams, mood tracker and assistant
state), so a call starts at once and no state carries over from one call to the next.

Thread safety: sessions run in their own threads side by side. The speech engines make one
recogniser per stream; the mood model and the encoder only read their weights (the encoder
serialises its calls); the knowledge base guards its index with a lock.
"""
from __future__ import annotations

import atexit
import importlib
import logging
import threading
import time
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Callable

from ..errors import CallAssistError

log = logging.getLogger(__name__)
Progress = Callable[[str], None]


@dataclass
class Models:
    speech: object  # asr.SpeechEngine
    mood: object  # mood.sentiment.SentimentModel
    knowledge: object | None  # assist.knowledge.KnowledgeBase
    phrases: object | None  # assist.phrases.PhraseLibrary
    key: tuple = ()  # Config.model_key() of the settings they were loaded with
    load_seconds: float = 0.0
    wrapup: object | None = None  # assist.wrapup_codes.WrapUpCodes (None: the shipped list)
    rules: object | None = None  # assist.rulebook.Rulebook (None: the built-in rules alone)

    @classmethod
    def load(cls, config, progress: Progress | None = None) -> "Models":
        """Load everything `config` names; errors are CallAssistErrors that say what to do."""
        from ..asr import load_engine
        from ..assist.knowledge import KnowledgeBase
        from ..assist.phrases import PhraseLibrary
        from ..assist.rulebook import Rulebook
        from ..assist.wrapup_codes import WrapUpCodes
        from ..mood.sentiment import SentimentModel

        def say(message: str) -> None:  # a listener gone (a closed window) never stops a load
            try:
                if progress is not None:
                    progress(message)
            except Exception:
                pass
        t0 = time.perf_counter()
        phrases = PhraseLibrary.load(config.phrases)  # first: a broken file is said in a second
        wrapup = WrapUpCodes.load(getattr(config, "wrapup_codes", None))
        rules = Rulebook.for_centre(getattr(config, "rules", None))
        say("Loading speech model…")
        # the speech model loads in native code (CTranslate2, Vosk) while the mood model's
        # Python libraries are imported: side by side, not one after the other
        speech_box: list = []
        try:  # its Python modules here, not beside transformers' (two threads importing
            importlib.import_module("faster_whisper")  # the same packages can meet half-made
        except ImportError:  # modules)
            pass  # load_engine says what to do

        def load_speech():
            try:
                speech_box.append(load_engine(config.engine, config.vosk_model,
                                              config.whisper_model))
            except BaseException as exc:  # handed to the loading thread below
                speech_box.append(exc)
        speech_thread = threading.Thread(target=load_speech, name="callassist-speech-load",
                                         daemon=True)
        speech_thread.start()
        try:
            say("Loading mood model…")
            mood = SentimentModel.load(config.mood_model)
        except BaseException:
            speech_thread.join()
            if speech_box and isinstance(speech_box[0], BaseException):  # said, not lost
                log.warning("the speech model could not be loaded either: %s", speech_box[0])
            raise
        speech_thread.join()
        if isinstance(speech_box[0], BaseException):
            raise speech_box[0]
        speech = speech_box[0]
        for problem in getattr(speech, "problems", ()):
            log.warning("%s", problem)
        say("Loading knowledge base…")
        knowledge = KnowledgeBase(config.knowledge)
        for problem in knowledge.problems + phrases.problems + rules.problems:
            log.warning("%s", problem)
        wrapup.prepare(knowledge.embedder)  # the codes' meanings, once: a hang-up embeds one text
        rules.prepare(knowledge.embedder)  # the rules' "means" texts, once
        return cls(speech, mood, knowledge, phrases, key=config.model_key(),
                   load_seconds=time.perf_counter() - t0, wrapup=wrapup, rules=rules)

    @property
    def problems(self) -> list[str]:
        """One line each: why the speech engine is not the one expected (a broken Vosk model,
        asr.load_engine), files of the knowledge base or phrase library that were skipped."""
        return (list(getattr(self.speech, "problems", ()))
                + (self.knowledge.problems if self.knowledge else [])
                + (self.phrases.problems if self.phrases else [])
                + (self.rules.problems if self.rules else []))

    def session(self, config, *, partials: bool = True, reload_knowledge: bool = True):
        """A pipeline for ONE call with these models and `config`'s thresholds. Run it once.

        `reload_knowledge=False` for batch imports: several calls share the index, and edits
        to the articles are picked up by the next import rather than mid-batch.
        """
        from ..assist.assistant import Assistant, AssistSettings
        from ..assist.rulebook import Rulebook
        from .pipeline import Pipeline

        settings = AssistSettings(escalation=config.escalation())
        if not reload_knowledge:
            settings.reload_seconds = float("inf")
        assistant = Assistant(self.knowledge, self.phrases, settings,
                              embedder=self.knowledge.embedder if self.knowledge else None,
                              codes=self.wrapup, rules=self.rules)
        rules = self.rules if self.rules is not None else Rulebook.builtin()
        return Pipeline(self.speech, self.mood, partials=partials,
                        cue_detector=rules.cue_detector(),
                        mood_window=config.mood_window, assistant=assistant)


# ---- one set per process ----------------------------------------------------------------------

_LOCK = threading.Lock()
_LOADED: dict[tuple, Future] = {}


@atexit.register
def _let_loads_finish() -> None:
    """A process that exits while a load is inside the model libraries' native code aborts
    (std::terminate): wait for loads in flight to end first (they take seconds)."""
    for fut in list(_LOADED.values()):
        try:
            fut.exception(timeout=120)
        except Exception:
            pass


def preload(config, progress: Progress | None = None) -> Future:
    """Start loading the models `config` names in a background thread (once per process: a
    second call with the same model settings returns the same future). The future's result is
    the `Models`, or it raises the CallAssistError that stopped the load."""
    key = config.model_key()
    with _LOCK:
        fut = _LOADED.get(key)
        if fut is not None and not (fut.done() and fut.exception() is not None):
            return fut  # loaded, or loading: share it (a failed load is tried again)
        fut = _LOADED[key] = Future()

    def load():
        try:
            fut.set_result(Models.load(config, progress))
        except CallAssistError as exc:
            fut.set_exception(exc)
        except Exception as exc:  # an unexpected failure still ends the wait with a message
            log.exception("loading the models failed")
            fut.set_exception(CallAssistError(f"the models could not be loaded "
                                              f"({exc.__class__.__name__}: {exc}); see the log"))

    threading.Thread(target=load, name="callassist-models", daemon=True).start()
    return fut


def shared_models(config, progress: Progress | None = None) -> Models:
    """The process's models for `config` (loaded now if nobody has started them)."""
    return preload(config, progress).result()


def trim_memory() -> None:
    """Hand memory freed after a call back to the system (glibc keeps freed heap otherwise:
    ~60 MB after a call's decoding). A no-op where there is no glibc."""
    try:
        import ctypes
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


def forget_models() -> None:
    """Drop the process's loaded models (tests that change model files; settings changes load a
    new set under its own key)."""
    with _LOCK:
        _LOADED.clear()
