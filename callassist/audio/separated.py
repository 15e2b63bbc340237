"""A mono recording played as two speakers: the agent's stream and the caller's.

Many recorders store calls in mono. `SeparatedSource` reads the recording, tells the voices apart
(audio.diarize), decides which one is the agent, and yields the call as a stereo recording would:
one stream per speaker, each silent while the other speaks. Everything after it (a recogniser per
speaker, the caller's mood, the agent's checklist) works as on a two-channel call, and an utterance
never spans two speakers. What was decided, and how sure it is, is in `separation` (the pipeline
writes it into the call and says it in a status line).
"""
from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Callable, Iterator

import numpy as np

from ..core.events import AGENT, CUSTOMER
from ..errors import AudioError
from .sources import AudioBlock, FileSource

UNSURE = 0.7  # role confidence under this is said to the user as uncertain


def open_recording(path: str | Path, channels: str | None = None, *, mono: str = "separate",
                   realtime: bool = False, speed: float = 1.0, profile: np.ndarray | None = None):
    """The source for a recorded call: per channel for stereo (or whenever `channels` names the
    speakers), voices separated for mono unless `mono` says whose voice it is."""
    source = FileSource(path, channels=channels, realtime=realtime, speed=speed)
    if source.info.channels == 1 and not channels and mono == "separate":
        return SeparatedSource(source, profile=profile)
    if source.info.channels == 1 and not channels and mono in (AGENT, CUSTOMER):
        return FileSource(path, channels=mono, realtime=realtime, speed=speed)
    return source


class SeparatedSource:
    """Yields AudioBlocks for "agent" and "customer" from a mono FileSource."""

    speakers = (AGENT, CUSTOMER)

    def __init__(self, inner: FileSource, *, profile: np.ndarray | None = None,
                 peek: Callable[[np.ndarray], str] | None = None):
        if inner.info.channels != 1:
            raise ValueError("SeparatedSource takes a mono recording")
        self.inner = inner
        self.info, self.path = inner.info, inner.path
        self.realtime, self.speed = inner.realtime, inner.speed
        self.block_seconds, self.rate = inner.block_seconds, inner.rate
        inner.realtime = False  # read at once: the voices are told apart over the whole call
        self.profile = profile
        self.peek = peek  # audio -> text, for role words; the pipeline sets its recogniser here
        self.separation: dict | None = None  # set before the first block
        self._stop = threading.Event()

    @property
    def duration(self) -> float:
        return self.inner.duration

    def stop(self) -> None:
        self._stop.set()
        self.inner.stop()

    def _read(self) -> tuple[np.ndarray, AudioError | None]:
        parts, error = [], None
        try:
            for block in self.inner:
                parts.append(block.samples)
        except AudioError as exc:  # damaged part-way: separate and analyse what came before
            error = exc
        samples = np.concatenate(parts) if parts else np.zeros(0, dtype=np.float32)
        return samples, error

    def __iter__(self) -> Iterator[AudioBlock]:
        from . import diarize

        samples, error = self._read()
        if self._stop.is_set():
            return
        t0 = time.perf_counter()
        d = diarize.Diarizer()(samples)
        roles = diarize.assign_roles(d, samples, profile=self.profile, peek=self.peek)
        streams = diarize.split(samples, d, roles)
        self.separation = {
            "method": "voices", "voices": d.speakers, "agent_by": roles.by,
            "confidence": roles.confidence, "distinct": round(d.separation, 3),
            "turns": len(d.turns), "seconds": round(time.perf_counter() - t0, 3),
            "evidence": roles.evidence,
        }
        n = int(round(self.block_seconds * self.rate))
        start_wall = time.monotonic()
        for i in range(0, len(samples), n):
            start = i / self.rate
            if self.realtime:
                delay = start_wall + (i + n) / self.rate / self.speed - time.monotonic()
                if delay > 0 and self._stop.wait(delay):
                    return
            elif self._stop.is_set():
                return
            for speaker, audio in streams.items():
                yield AudioBlock(speaker, start, np.ascontiguousarray(audio[i:i + n]))
        if error is not None:
            raise error


def describe(separation: dict) -> tuple[str, str]:
    """(level, one line) saying how the speakers of a mono recording were told apart."""
    voices = separation.get("voices", 0)
    if voices < 2:
        return ("warning", "one voice heard in this mono recording: all of it is read as the "
                           "customer's (give --channels agent if it is the agent)")
    conf = float(separation.get("confidence", 0.0))
    how = {"profile": "the agent's voice profile", "words": "what each speaker says",
           "first": "who spoke first"}.get(separation.get("agent_by", ""), "a guess")
    if conf < UNSURE:
        return ("warning", f"mono recording: two voices separated; which one is the agent is "
                           f"uncertain (told by {how}, confidence {conf:.0%}): check the speakers")
    return ("info", f"mono recording: two voices separated, the agent told by {how} "
                    f"(confidence {conf:.0%})")


MIN_PROFILE_SPEECH = 8.0  # seconds of an agent's speech on a call before it adds to a profile


def channel_voice(path: str | Path, channels: str | None = None,
                  speaker: str = AGENT) -> tuple[np.ndarray, float] | None:
    """The voice of `speaker` on their own channel of a stereo recording (vector, seconds of
    speech), for their voice profile; None for a mono recording or too little speech."""
    from . import diarize

    source = FileSource(path, channels=channels)
    if source.info.channels < 2 or speaker not in source.speakers:
        return None
    parts = [b.samples for b in source if b.speaker == speaker]
    if not parts:
        return None
    try:
        vector, seconds = diarize.voice(np.concatenate(parts))
    except ValueError:
        return None
    return (vector, seconds) if seconds >= MIN_PROFILE_SPEECH else None
