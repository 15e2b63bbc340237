"""The one interface every speech engine implements.

An engine holds the loaded model; `stream(speaker)` gives a recogniser for one speaker's audio
(one per channel), used as accept_audio -> events, finish -> events, reset.
"""
from __future__ import annotations

from abc import ABC, abstractmethod

import numpy as np

from ..core.events import PartialUtterance, Utterance

SAMPLE_RATE = 16000


class SpeechStream(ABC):
    """One speaker's recogniser. Two knobs let a live call shed work when the machine is busy
    (core.pacing): `partials` (text while they speak) and `economy` (cheaper decoding)."""

    def __init__(self, speaker: str, engine: str):
        self.speaker = speaker
        self.engine = engine
        self.samples_in = 0  # samples accepted so far, the stream's clock
        self.partials = True
        self.economy = False
        self.partials_shed = 0  # partial passes skipped because `partials` was turned off
        self._wants_partials = True  # asked for by the caller of stream(); `partials` may shed

    @property
    def now(self) -> float:
        return self.samples_in / SAMPLE_RATE

    @abstractmethod
    def accept_audio(self, samples: np.ndarray) -> list[PartialUtterance | Utterance]:
        """Feed float32 mono samples at 16 kHz; return partial and final results so far."""

    @abstractmethod
    def finish(self) -> list[PartialUtterance | Utterance]:
        """End of audio: flush what is pending as final utterances."""

    def reset(self) -> None:
        self.samples_in = 0

    def rename(self, speaker: str, partials: bool) -> None:
        """Whose words this stream hears, from now on and in what it still has to say (a live
        call on one microphone whose two speakers turned out the other way round)."""
        self.speaker = speaker
        self._wants_partials = partials


class SpeechEngine(ABC):
    name: str = "engine"
    sample_rate: int = SAMPLE_RATE
    load_seconds: float = 0.0
    description: str = ""
    problems: tuple[str, ...] = ()  # one line each: why this engine and not the one expected

    @abstractmethod
    def stream(self, speaker: str, partials: bool = True) -> SpeechStream:
        """A new recogniser for one speaker's audio."""
