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
    if separation.get("live"):
        if separation.get("agent_by") == "profile":
            return ("info", "one microphone for both speakers: the voices are told apart as the "
                            "call goes, the agent by their voice profile")
        if separation.get("agent_by") == "words":  # swapped live (core.events.Relabelled)
            return ("info", "one microphone for both speakers: the voices are told apart as the "
                            "call goes, the agent by what each side says")
        return ("warning", "one microphone for both speakers: the voices are told apart as the "
                           "call goes; the first voice is taken for the agent's until what each "
                           "side says shows otherwise (uncertain: save a stereo call with your "
                           "name to learn your voice)")
    if voices < 2:  # a caller-only recording is common: said, not warned about
        return ("info", "one voice heard in this mono recording: all of it is read as the "
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


# ---- one live input that hears both speakers -------------------------------------------------------

class _Voices:
    """The call's voices learnt as it goes: 0 is the agent, 1 the caller. Every stretch's voice
    is kept; each new one re-runs the clustering of audio.diarize over all of them (a few
    hundred vectors at most: milliseconds), so a second voice is recognised by the same test
    as in a recording, and the new stretch goes to the nearer of the two voices. Which voice is
    the agent: the one nearer their voice profile, else the first voice heard (the agent
    answers the phone)."""

    AGENT_LIKE = 0.75  # cosine to the agent's profile from which a lone voice is the agent's
    PROFILE_MARGIN = 0.05  # the profile tells the two voices apart: nearer one by this much (as
                           # audio.diarize.assign_roles does for a recording)

    def __init__(self, profile: np.ndarray | None = None):
        self.profile = None if profile is None else np.asarray(profile, dtype=np.float32)
        self.embs: list[np.ndarray] = []
        self.seconds: list[float] = []
        self.roles: list[int] = []
        self.last = 0
        self._voices: tuple[np.ndarray, int] | None = None  # (centroids, which is the agent)

    def _lone(self, cent: np.ndarray) -> int:
        if self.profile is None:
            return 0
        return 0 if float(cent @ self.profile) >= self.AGENT_LIKE else 1

    def assign(self, emb: np.ndarray, seconds: float) -> int:
        from . import diarize

        self.embs.append(emb)
        self.seconds.append(seconds)
        k = self._assign(np.stack(self.embs), np.array(self.seconds), diarize)
        self.roles.append(k)
        self.last = k
        return k

    def _assign(self, E: np.ndarray, secs: np.ndarray, diarize) -> int:
        trust = np.minimum(1.0, secs / 1.6)
        sure = trust >= 0.6
        if sure.sum() < 2:
            return self._lone(E[-1])
        labels = diarize._two_clusters(E[sure], trust[sure])
        cents = diarize._centroids(E[sure], labels, 2)
        speech = np.array([secs[sure][labels == j].sum() for j in (0, 1)])
        if float(cents[0] @ cents[1]) > diarize.SAME_VOICE or speech.min() < diarize.MIN_VOICE:
            self._voices = None
            one = E[sure].mean(axis=0)
            return self._lone(one / max(float(np.linalg.norm(one)), 1e-9))
        sims = cents @ self.profile if self.profile is not None else None
        if sims is not None and abs(float(sims[0] - sims[1])) >= self.PROFILE_MARGIN:
            agent = int(np.argmax(sims))
        else:  # no profile, or one that sounds as like the one voice as the other (another
            agent = int(labels[0])  # line: a profile from a headset, a call at 8 kHz): the first voice heard
        self._voices = (cents, agent)
        sims = cents @ E[-1]
        if abs(float(sims[0] - sims[1])) * trust[-1] < 0.02:
            return 1 - self.last  # a short "yes" or "okay" no voice claims: an answer
        return 0 if int(np.argmax(sims)) == agent else 1

    def clear(self, emb: np.ndarray, seconds: float, margin: float) -> int | None:
        """The speaker of a stretch's first part, when the two voices known so far leave no doubt
        (cosine nearer one by `margin`), else None (wait for more of it). Kept like `assign`."""
        if self._voices is None:
            return None
        cents, agent = self._voices
        sims = cents @ emb
        if abs(float(sims[0] - sims[1])) < margin:
            return None
        k = 0 if int(np.argmax(sims)) == agent else 1
        self.embs.append(emb)
        self.seconds.append(seconds)
        self.roles.append(k)
        self.last = k
        return k

    def settle(self, emb: np.ndarray, seconds: float) -> None:
        """The whole stretch's voice, once it has ended, in place of its first part's (and the two
        voices learnt again with it)."""
        from . import diarize

        if self.embs:
            self.embs[-1], self.seconds[-1] = emb, seconds
            self._assign(np.stack(self.embs), np.array(self.seconds), diarize)

    def other_is_clearer(self, emb: np.ndarray, k: int, margin: float = 0.2) -> bool:
        """Whether a window of a long turn is clearly the other voice (a change of speaker
        with no pause before it)."""
        if len(self.embs) < 2:
            return False
        mine = [e for e, r in zip(self.embs, self.roles) if r == k]
        theirs = [e for e, r in zip(self.embs, self.roles) if r != k]
        if len(mine) < 3 or len(theirs) < 3:
            return False
        a, b = np.mean(mine, axis=0), np.mean(theirs, axis=0)
        a, b = a / np.linalg.norm(a), b / np.linalg.norm(b)
        return float(emb @ b) - float(emb @ a) > margin


class LiveSeparatedSource:
    """One live input that carries both voices (a speakerphone, a recorder's mixed feed):
    each stretch of speech is given to the agent or the caller as the call goes, from its voice
    (audio.diarize's encoder) against the agent's voice profile and the voices heard so far.

    A stretch is held until there is enough of it to know whose it is (1.5 s, or its end when
    shorter; 0.5 s once the call's two voices are known and that much is clearly one of them),
    then passed on; the rest of a long turn goes straight through, checked every 1.6 s for a
    change of speaker without a pause. Both streams get every block (the other's silent), so
    each recogniser keeps the call's clock. While a stretch is held neither stream hears more
    of the call: the previous speaker's utterance cannot end before it is given away, which is
    why an early answer matters (turns follow each other closely). So once the last speaker has
    been quiet for as long as their recogniser waits before it ends an utterance (HAND_OVER), a
    first try is made on what is held so far (at least QUICK seconds, a wider margin): their
    utterance ends then, as on two channels, when the new stretch is clearly the other voice,
    and it goes on when it is clearly theirs; in doubt, 0.5 s as before."""

    speakers = (AGENT, CUSTOMER)
    DECIDE = 1.5  # seconds of speech before a stretch is given to a speaker
    EARLY = 0.5  # ... or this much, when it is clearly one of the two voices known so far
    EARLY_MARGIN = 0.05  # "clearly": cosine nearer that voice's by this much (tune mixes)
    HAND_OVER = 0.6  # the last speaker's silence after which their recogniser ends an utterance:
    QUICK = 0.25  # from then on, after this much of a new stretch, it is given away if it is
    QUICK_MARGIN = 0.1  # very clearly one voice (a first try on less speech, tune mixes)
    END_SILENCE = 0.15  # seconds below the VAD threshold that end a stretch of speech (turns
    # follow each other closely: at 0.25 s the next speaker's first words went to the last one's
    # stream at 64 of 160 changes of speaker on the tune mixes, 47 at 0.15 s; words to the right
    # stream 78 -> 86 %)

    def __init__(self, inner, *, profile: np.ndarray | None = None):
        self.inner = inner
        self.profile = profile
        self.separation = {"method": "voices", "live": True, "voices": 2,
                           "agent_by": "profile" if profile is not None else "first",
                           "confidence": 0.8 if profile is not None else 0.55}

    def __getattr__(self, name):  # devices, started, overflows, lost... of the input
        if name == "inner":
            raise AttributeError(name)
        return getattr(self.inner, name)

    @property
    def on_lost(self):
        return self.inner.on_lost

    @on_lost.setter
    def on_lost(self, callback) -> None:
        self.inner.on_lost = callback

    def open(self) -> None:
        self.inner.open()

    def stop(self) -> None:
        self.inner.stop()

    def close(self) -> None:
        self.inner.close()

    def __iter__(self) -> Iterator[AudioBlock]:
        from . import diarize
        from .vad import FRAME, SileroVad

        vad, voices = SileroVad(), _Voices(self.profile)
        held: list[AudioBlock] = []  # blocks of the stretch whose speaker is not known yet
        region: list[np.ndarray] = []  # the stretch's samples so far
        speaker: int | None = None  # the current stretch's speaker, once known
        on, quiet, since_check, early, quick = False, 0, 0, False, False
        rate = diarize.RATE
        voice_end: float | None = None  # call time the last stretch's speech ended

        def embed(samples: np.ndarray) -> np.ndarray:
            mel = diarize._mel(samples)
            wins = diarize._windows(mel, 0.0, len(samples) / rate)
            emb = diarize._embed([m for _, m in wins]).mean(axis=0)
            return emb / max(float(np.linalg.norm(emb)), 1e-9)

        arrived: dict[float, float] = {}  # block start -> when it came in (held ones)

        def route(blocks: list[AudioBlock], k: int) -> Iterator[AudioBlock]:
            now = time.monotonic()
            for b in blocks:
                held = max(0.0, now - arrived.pop(b.start, now))
                for i, name in enumerate(self.speakers):
                    yield AudioBlock(name, b.start,
                                     b.samples if i == k else np.zeros_like(b.samples), held)

        for block in self.inner:
            arrived[block.start] = time.monotonic()
            probs = vad(block.samples)
            for p in probs:
                if not on and p >= 0.5:
                    on, quiet = True, 0
                elif on:
                    quiet = 0 if p >= 0.35 else quiet + 1
            if on:
                region.append(block.samples)
            seconds = sum(len(r) for r in region) / rate
            ended = on and quiet * FRAME / rate >= self.END_SILENCE
            if speaker is None and on and not quick and not ended and seconds < self.EARLY \
                    and seconds >= self.QUICK and voice_end is not None \
                    and block.end - voice_end >= self.HAND_OVER:
                quick = True  # one try, once the last speaker's utterance waits on it
                speaker = voices.clear(embed(np.concatenate(region)), seconds, self.QUICK_MARGIN)
                early = speaker is not None
                since_check = 0
            if speaker is None and on and not early and self.EARLY <= seconds < self.DECIDE \
                    and not ended:
                early = True  # one try per stretch
                speaker = voices.clear(embed(np.concatenate(region)), seconds, self.EARLY_MARGIN)
                since_check = 0
            if speaker is None and on and (seconds >= self.DECIDE or ended):
                speaker = voices.assign(embed(np.concatenate(region)), seconds)
                since_check = 0
                early = False  # decided on enough of it
            elif speaker is not None and on and not ended:
                since_check += len(block.samples)
                if since_check >= 1.6 * rate:  # a long turn: still the same voice?
                    since_check = 0
                    last = np.concatenate(region)[-int(1.6 * rate):]
                    emb = embed(last)
                    if voices.other_is_clearer(emb, speaker):
                        speaker = 1 - speaker
                        voices.last = speaker
            if speaker is None and on:
                held.append(block)
                continue
            k = speaker if speaker is not None else voices.last
            yield from route([*held, block], k)
            held = []
            if ended and region:
                whole = np.concatenate(region)
                if len(whole) > self.DECIDE * rate * 1.2 or early:
                    voices.settle(embed(whole), len(whole) / rate)
            if ended:
                voice_end = block.end - quiet * FRAME / rate
            if ended or not on:
                on, quiet, speaker, region, early, quick = False, 0, None, [], False, False
        if held:
            k = voices.assign(embed(np.concatenate(region)), len(np.concatenate(region)) / rate) \
                if region else voices.last
            yield from route(held, k)
