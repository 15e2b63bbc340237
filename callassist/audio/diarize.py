"""Who spoke when in a mono recording: speech regions -> voice embeddings -> two speakers.

A mono call recording (or a speakerphone) holds the agent and the caller on one channel. This
module tells the two voices apart; it never reads anything else from a voice (no emotion, no
age, no gender: mood is a reading of the words, see mood/).

1. Speech regions from the Silero VAD the recogniser already uses (32 ms frames).
2. Voice embeddings from Resemblyzer's speaker encoder (GE2E, weights in the PyPI package):
   one per 1.6 s window, every 0.2 s, inside each region; a region shorter than a window is
   embedded whole.
3. Two clusters (scikit-learn agglomerative clustering, cosine, average linkage) unless the
   two voices are too alike to be two people (then one speaker).
4. A two-state Viterbi pass over each region's windows with a cost per change of speaker, then
   the voices' centroids are re-estimated from what it decided (twice): turn changes inside a
   long stretch of speech are found there, and one odd window does not flip a turn.

The result is a list of turns, each one speaker's; `assign_roles` says which speaker is the agent.
"""
from __future__ import annotations

import logging
import re
import threading
import warnings
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Callable, Sequence

import numpy as np

from .vad import FRAME, RATE, SileroVad

log = logging.getLogger(__name__)

HOP = 160  # mel frame hop of the speaker encoder at 16 kHz (10 ms)
WINDOW = 160  # mel frames in one embedding window (1.6 s)
STEP = 20  # mel frames between windows (0.2 s)
MIN_REGION = 0.25  # seconds: shorter speech is given to the speaker around it
SAME_VOICE = 0.86  # cosine of the two centroids above which the "two" voices are one person
SWITCH_COST = 0.6  # Viterbi: what changing speaker inside a stretch of speech costs (in cosine)
GAP_SWITCH_COST = 0.02  # and across a pause
MIN_VOICE = 1.5  # seconds of speech a second voice needs to count as a speaker
JOIN_GAP = 0.6  # seconds: one speaker's speech with a shorter pause inside is one turn


@dataclass(frozen=True)
class Turn:
    start: float  # seconds
    end: float
    speaker: int


@dataclass
class Diarization:
    turns: list[Turn]
    speakers: int  # voices found: 0 (no speech), 1 or 2
    centroids: np.ndarray  # (speakers, 256) unit vectors
    duration: float = 0.0
    separation: float = 0.0  # 1 - cosine of the two voices (0: alike .. ~1: far apart)

    def speech(self, speaker: int) -> float:
        return sum(t.end - t.start for t in self.turns if t.speaker == speaker)


# ---- the speaker encoder (one per process) ---------------------------------------------------------

_ENCODER = None
_ENCODER_LOCK = threading.Lock()


def _encoder():
    global _ENCODER
    with _ENCODER_LOCK:
        if _ENCODER is None:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # webrtcvad's pkg_resources deprecation notice
                from resemblyzer import VoiceEncoder
                _ENCODER = VoiceEncoder("cpu", verbose=False)
            _ENCODER.eval()
        return _ENCODER


N_FFT, N_MELS = 400, 40  # the encoder's front end: 25 ms frames every 10 ms, 40 mel bands


def _hz_to_mel(f: np.ndarray) -> np.ndarray:  # the Slaney mel scale (librosa's default)
    f = np.asarray(f, dtype=np.float64)
    mel = f / (200.0 / 3)
    log = f >= 1000.0
    return np.where(log, 15.0 + np.log(np.maximum(f, 1e-9) / 1000.0) / (np.log(6.4) / 27), mel)


def _mel_to_hz(m: np.ndarray) -> np.ndarray:
    m = np.asarray(m, dtype=np.float64)
    return np.where(m >= 15.0, 1000.0 * np.exp((np.log(6.4) / 27) * (m - 15.0)), m * 200.0 / 3)


@lru_cache(maxsize=1)
def _mel_filters() -> np.ndarray:
    """(40, 201) Slaney-normalised mel filter bank, as librosa.filters.mel(sr=16000, n_fft=400,
    n_mels=40) makes it (a test checks they are equal): computed here, because librosa's first
    call takes ~1 s (and its first ever ~15 s of numba compiling) for a 40-row matrix."""
    mel_f = _mel_to_hz(np.linspace(_hz_to_mel(0.0), _hz_to_mel(RATE / 2), N_MELS + 2))
    fft_f = np.linspace(0, RATE / 2, 1 + N_FFT // 2)
    fdiff = np.diff(mel_f)
    ramps = mel_f[:, None] - fft_f[None, :]
    lower = -ramps[:-2] / fdiff[:-1, None]
    upper = ramps[2:] / fdiff[1:, None]
    weights = np.maximum(0, np.minimum(lower, upper))
    weights *= (2.0 / (mel_f[2:] - mel_f[:-2]))[:, None]
    return weights.astype(np.float32)


def _mel(samples: np.ndarray) -> np.ndarray:
    """(frames, 40) mel power spectrogram as the encoder was trained on (speech at -30 dBFS;
    Resemblyzer's wav_to_mel_spectrogram, in numpy)."""
    from numpy.lib.stride_tricks import sliding_window_view

    wav = samples.astype(np.float32, copy=False)
    rms = float(np.sqrt(np.mean(wav ** 2))) if len(wav) else 0.0
    if rms > 1e-6:
        wav = wav * (10 ** (-30 / 20) / rms)
    padded = np.pad(wav, N_FFT // 2)
    frames = sliding_window_view(padded, N_FFT)[::HOP]
    window = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(N_FFT) / N_FFT)  # periodic Hann
    power = np.abs(np.fft.rfft(frames * window, n=N_FFT)) ** 2
    return (power @ _mel_filters().T).astype(np.float32)


def _embed(mels: list[np.ndarray]) -> np.ndarray:
    """Unit embeddings of mel windows (each (WINDOW, 40)). Always on one torch thread: the
    LSTM's two threads spin-wait on each other on a busy machine (40 windows: 5.9 s on two
    threads beside another busy program, 0.2 s on one; see mood/threads.py)."""
    import torch

    from ..mood.threads import torch_threads
    if not mels:
        return np.zeros((0, 256), dtype=np.float32)
    enc = _encoder()
    out = []
    with torch_threads(1), torch.inference_mode():
        for i in range(0, len(mels), 256):
            batch = torch.from_numpy(np.stack(mels[i:i + 256]).astype(np.float32))
            out.append(enc(batch).numpy())
    emb = np.concatenate(out)
    return emb / np.maximum(np.linalg.norm(emb, axis=1, keepdims=True), 1e-9)


def _fit(frames: np.ndarray) -> np.ndarray:
    """A region shorter than a window, repeated to fill one (better than padding with silence)."""
    if len(frames) >= WINDOW:
        return frames[:WINDOW]
    return np.resize(frames, (WINDOW, frames.shape[1]))


def voice(samples: np.ndarray) -> tuple[np.ndarray, float]:
    """One speaker's voice as a 256-d unit vector (the mean of its speech windows' embeddings:
    what an agent's voice profile stores), and the seconds of speech it was made from.
    Raises ValueError without speech."""
    regions = speech_regions(samples)
    mel = _mel(samples)
    mels = [m for s, e in regions for _, m in _windows(mel, s, e)]
    if not mels:
        raise ValueError("no speech in the recording")
    v = _embed(mels).mean(axis=0)
    return v / max(np.linalg.norm(v), 1e-9), float(sum(e - s for s, e in regions))


def voice_profile(samples: np.ndarray) -> np.ndarray:
    return voice(samples)[0]


# ---- 1. speech regions ------------------------------------------------------------------------------

def speech_regions(samples: np.ndarray, threshold: float = 0.5, neg_threshold: float = 0.35,
                   min_gap: float = 0.12) -> list[tuple[float, float]]:
    """(start, end) seconds of speech: Silero VAD with hysteresis, pauses under `min_gap`
    bridged, regions under MIN_REGION dropped."""
    probs = SileroVad()(np.asarray(samples, dtype=np.float32))
    fs = FRAME / RATE
    regions: list[list[float]] = []
    on = False
    for i, p in enumerate(probs):
        if not on and p >= threshold:
            on = True
            if regions and i * fs - regions[-1][1] < min_gap:
                regions[-1][1] = (i + 1) * fs
            else:
                regions.append([i * fs, (i + 1) * fs])
        elif on:
            if p >= neg_threshold:
                regions[-1][1] = (i + 1) * fs
            else:
                on = False
    return [(s, e) for s, e in regions if e - s >= MIN_REGION]


def _windows(mel: np.ndarray, start: float, end: float) -> list[tuple[float, np.ndarray]]:
    """(centre time, mel window) for the speech from `start` to `end`."""
    a, b = int(start * RATE / HOP), min(len(mel), int(np.ceil(end * RATE / HOP)))
    if b - a <= 0:
        return []
    if b - a <= WINDOW + STEP:
        return [((start + end) / 2, _fit(mel[a:b]))]
    out = []
    n = (b - a - WINDOW) // STEP + 1
    for k in range(n):
        s = a + k * STEP
        out.append(((s + WINDOW / 2) * HOP / RATE, mel[s:s + WINDOW]))
    tail = b - WINDOW  # the last window ends where the region ends
    if tail > a + (n - 1) * STEP:
        out.append(((tail + WINDOW / 2) * HOP / RATE, mel[tail:b]))
    return out


# ---- 3. clustering ----------------------------------------------------------------------------------

def _two_clusters(emb: np.ndarray, weights: np.ndarray) -> np.ndarray:
    # scipy's average linkage is what scikit-learn's AgglomerativeClustering runs for this case,
    # without scikit-learn's second of imports (pandas, scipy.stats) on every analysis
    from scipy.cluster.hierarchy import cut_tree, linkage

    if len(emb) < 2:
        return np.zeros(len(emb), dtype=int)
    tree = linkage(np.asarray(emb, dtype=np.float64), method="average", metric="cosine")
    cut = cut_tree(tree, n_clusters=2).ravel()  # the root's two sides, even when tied
    # numbered by first appearance: 0 is the side heard first
    labels = (cut != cut[0]).astype(int)
    # average linkage may put a handful of odd windows (a cough, a laugh) on their own: when one
    # side holds under 5 % of the speech, split by k-means on the unit sphere instead
    share = weights[labels == 1].sum() / max(weights.sum(), 1e-9)
    if min(share, 1 - share) < 0.05:
        from sklearn.cluster import KMeans
        labels = KMeans(n_clusters=2, n_init=10, random_state=0).fit_predict(emb)
    return labels


def _centroids(emb: np.ndarray, labels: np.ndarray, k: int) -> np.ndarray:
    cs = []
    for j in range(k):
        m = emb[labels == j]
        v = m.mean(axis=0) if len(m) else np.zeros(emb.shape[1])
        cs.append(v / max(np.linalg.norm(v), 1e-9))
    return np.stack(cs)


# ---- 4. decoding ------------------------------------------------------------------------------------

def _viterbi(scores: np.ndarray, costs: np.ndarray) -> np.ndarray:
    """Best speaker per window: `scores` (n, k) cosine to each voice, `costs[i]` the price of a
    change between window i-1 and i."""
    n, k = scores.shape
    total = scores[0].copy()
    back = np.zeros((n, k), dtype=int)
    for i in range(1, n):
        stay = total
        move = total.max() - costs[i]
        best_other = int(total.argmax())
        back[i] = np.where(stay >= move, np.arange(k), best_other)
        total = np.maximum(stay, move) + scores[i]
    path = np.zeros(n, dtype=int)
    path[-1] = int(total.argmax())
    for i in range(n - 1, 0, -1):
        path[i - 1] = back[i, path[i]]
    return path


class Diarizer:
    """Call it with 16 kHz mono float32 samples; returns a Diarization. Thread-safe."""

    def __init__(self, max_speakers: int = 2):
        self.max_speakers = max_speakers
        _encoder()  # load now, not on the first call

    def __call__(self, samples: np.ndarray) -> Diarization:
        samples = np.asarray(samples, dtype=np.float32)
        duration = len(samples) / RATE
        regions = speech_regions(samples)
        if not regions:
            return Diarization([], 0, np.zeros((0, 256), np.float32), duration)
        mel = _mel(samples)
        times, mels, region_of = [], [], []
        for r, (s, e) in enumerate(regions):
            for t, m in _windows(mel, s, e):
                times.append(t)
                mels.append(m)
                region_of.append(r)
        emb = _embed(mels)
        times_a, region_a = np.array(times), np.array(region_of)
        # how far a window can be trusted: a region shorter than a window ("yes", "okay") is
        # embedded from too little speech to say much about the voice
        lengths = np.array([e - s for s, e in regions])
        counts = np.bincount(region_a, minlength=len(regions))
        trust = np.where(counts[region_a] > 1, 1.0, np.minimum(1.0, lengths[region_a] / 1.6))
        one = np.zeros(len(emb), dtype=int)
        if self.max_speakers < 2 or len(emb) < 2:
            return self._turns(regions, times_a, region_a, one, _centroids(emb, one, 1),
                               duration, 0.0)
        sure = trust >= 0.6
        if sure.sum() < 4:
            sure[:] = True
        labels = np.zeros(len(emb), dtype=int)
        labels[sure] = _two_clusters(emb[sure], trust[sure])
        cents = _centroids(emb[sure], labels[sure], 2)
        costs = np.where(np.r_[True, region_a[1:] != region_a[:-1]], GAP_SWITCH_COST, SWITCH_COST)
        for _ in range(2):
            labels = _viterbi((emb @ cents.T) * trust[:, None], costs)
            if len(set(labels[sure].tolist())) < 2:
                break
            cents = _centroids(emb[sure], labels[sure], 2)
        speech = np.array([(trust * (labels == k)).sum() * STEP * HOP / RATE for k in (0, 1)])
        sim = float(cents[0] @ cents[1]) if len(set(labels[sure].tolist())) == 2 else 1.0
        if sim > SAME_VOICE or speech.min() < max(MIN_VOICE, 0.03 * speech.sum()):
            # one person (a voicemail, a monologue): two voices that are one, or a "second
            # voice" heard for a moment (a cough, a click, one odd window)
            return self._turns(regions, times_a, region_a, one, _centroids(emb, one, 1),
                               duration, 1.0 - sim)
        return self._turns(regions, times_a, region_a, labels, cents, duration, 1.0 - sim)

    @staticmethod
    def _turns(regions, times, region_of, labels, cents, duration, separation) -> Diarization:
        pieces: list[Turn] = []
        for r, (s, e) in enumerate(regions):
            idx = np.flatnonzero(region_of == r)
            lab, ts = labels[idx], times[idx]
            start = s
            for j in range(1, len(idx)):
                if lab[j] != lab[j - 1]:
                    cut = float((ts[j] + ts[j - 1]) / 2)
                    pieces.append(Turn(round(start, 3), round(cut, 3), int(lab[j - 1])))
                    start = cut
            pieces.append(Turn(round(start, 3), round(e, 3), int(lab[-1])))
        # one speaker's pieces with only a pause between them (a breath, a full stop) are one
        # turn: a turn is what someone says until the other speaks or a real silence
        turns: list[Turn] = []
        for t in pieces:
            if turns and turns[-1].speaker == t.speaker and t.start - turns[-1].end < JOIN_GAP:
                turns[-1] = Turn(turns[-1].start, t.end, t.speaker)
            else:
                turns.append(t)
        used = sorted({t.speaker for t in turns})
        remap = {old: new for new, old in enumerate(used)}
        turns = [Turn(t.start, t.end, remap[t.speaker]) for t in turns]
        return Diarization(turns, len(used), cents[used], duration, separation)


# ---- roles ------------------------------------------------------------------------------------------

_AGENT_WORDS = re.compile(
    r"\b(thank(s| you) for (calling(?! (me )?back)|holding|waiting|your patience)|"
    r"(calling|ringing) (you )?(back )?(from|on behalf of) |i'?m (calling|ringing) from|"
    r"returning your call|how (can|may|might) i "
    r"(help|assist)|what can i do for you|my name is \w+|you'?re (speaking|through) (to|with)|"
    r"this is \w+ (from|at|with)|is there anything else|anything else i can|let me (check|look|"
    r"pull|see|just)|can i (have|get|take) your|could you (confirm|give me|spell)|"
    r"i can (see|help)|bear with me|i'?ll (put|transfer|send|raise|arrange|book)|"
    r"for security|have a (great|good|nice|lovely) (day|evening|afternoon|weekend))\b", re.I)
_CALLER_WORDS = re.compile(
    r"\b(i'?m calling (about|because|to|regarding)|i('?m| am) (ringing|phoning)|i called "
    r"(before|yesterday|last)|my (order|account|card|bill|package|parcel|phone|internet|"
    r"flight|booking|claim|appointment|subscription)|i (want|need|would like|'d like) to "
    r"(cancel|complain|speak|know|change|return)|i'?ve been (on hold|waiting|trying))\b", re.I)


@dataclass
class Roles:
    agent: int | None  # speaker index of the agent; None: one voice (nothing to assign)
    confidence: float  # 0..1
    by: str  # "profile" | "words" | "first" | "one voice"
    evidence: dict = field(default_factory=dict)

    def role(self, speaker: int, single: str = "customer") -> str:
        if self.agent is None:
            return single
        return "agent" if speaker == self.agent else "customer"


def role_words(text: str) -> int:
    """How much `text` sounds like the agent (positive) or the caller (negative)."""
    return len(_AGENT_WORDS.findall(text)) - len(_CALLER_WORDS.findall(text))


def assign_roles(d: Diarization, samples: np.ndarray, *, profile: np.ndarray | None = None,
                 peek: Callable[[np.ndarray], str] | None = None, peek_seconds: float = 12.0,
                 single: str = "customer") -> Roles:
    """Which speaker is the agent: the agent's voice profile when there is one, else what each
    speaker says in their first `peek_seconds` (`peek`: audio -> text, a recogniser), else who
    speaks first (agents answer the phone). The evidence of each is kept."""
    if d.speakers < 2:
        return Roles(None, 1.0 if d.speakers else 0.0, "one voice")
    evidence: dict = {}
    first = d.turns[0].speaker
    for t in d.turns:  # the first turn of some length (a breath or a click is not a turn)
        if t.end - t.start >= 0.5:
            first = t.speaker
            break
    evidence["first"] = first
    if profile is not None:
        sims = d.centroids @ (profile / max(np.linalg.norm(profile), 1e-9))
        evidence["profile"] = [round(float(s), 3) for s in sims]
        margin = float(abs(sims[0] - sims[1]))
        if margin >= 0.05:
            agent = int(np.argmax(sims))
            return Roles(agent, round(min(1.0, 0.6 + margin), 2), "profile", evidence)
    if peek is not None:
        scores = []
        for k in range(2):
            audio = _first_speech(d, samples, k, peek_seconds)
            text = peek(audio) if len(audio) else ""
            scores.append(role_words(text))
        evidence["words"] = scores
        if scores[0] != scores[1]:
            agent = int(np.argmax(scores))
            return Roles(agent, round(min(0.95, 0.7 + 0.1 * abs(scores[0] - scores[1])), 2),
                         "words", evidence)
    return Roles(first, 0.55, "first", evidence)


def _first_speech(d: Diarization, samples: np.ndarray, speaker: int, seconds: float) -> np.ndarray:
    parts, total = [], 0.0
    for t in d.turns:
        if t.speaker != speaker:
            continue
        take = min(t.end - t.start, seconds - total)
        a = int(t.start * RATE)
        parts.append(samples[a:a + int(take * RATE)])
        parts.append(np.zeros(int(0.3 * RATE), dtype=np.float32))
        total += take
        if total >= seconds:
            break
    return np.concatenate(parts) if parts else np.zeros(0, dtype=np.float32)


def masks(d: Diarization, n_samples: int, pad: float = 0.08) -> list[np.ndarray]:
    """One boolean mask per speaker: where that speaker's audio is kept (their turns, a little
    padded); elsewhere their stream is silent."""
    out = [np.zeros(n_samples, dtype=bool) for _ in range(max(d.speakers, 1))]
    for t in d.turns:
        a = max(0, int((t.start - pad) * RATE))
        b = min(n_samples, int((t.end + pad) * RATE))
        out[t.speaker][a:b] = True
    return out


def split(samples: np.ndarray, d: Diarization, roles: Roles,
          names: Sequence[str] = ("agent", "customer")) -> dict[str, np.ndarray]:
    """The mono audio as one stream per role, each silent where the other speaks."""
    if d.speakers < 2 or roles.agent is None:
        return {roles.role(0): samples}
    ms = masks(d, len(samples))
    agent, caller = roles.agent, 1 - roles.agent
    return {names[0]: np.where(ms[agent], samples, 0.0).astype(np.float32),
            names[1]: np.where(ms[caller], samples, 0.0).astype(np.float32)}
