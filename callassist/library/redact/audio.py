"""Personal data taken out of a call's audio: where the stored transcript has a redaction tag, the
recording gets a tone instead of the voice.

The times come from the redacted words themselves (redaction keeps every word's timing and puts
the tag in its text), padded a little on each side because word edges from speech recognition are
approximate. An utterance that lost personal data but has no word timings is covered whole. All
channels are covered at those times: a stereo call loses the other side for the same second or
two, which is the safe way round. The original recording is never changed.
"""
from __future__ import annotations

import os
import re
from pathlib import Path

from ...errors import CallAssistError
from ...paths import private_file
from ...core.timeline import Timeline
from . import TAGS

TAG = re.compile("|".join(re.escape(tag) for tag in TAGS.values()))
PAD = 0.15  # seconds added before and after each redacted word
TONE_HZ = 1000.0
TONE_LEVEL = 0.12  # a soft beep, well below speech level


def redacted_spans(timeline: Timeline, pad: float = PAD) -> list[tuple[float, float]]:
    """Merged (start, end) times, in seconds, of everything redacted in the stored timeline."""
    spans = []
    for u in timeline.utterances:
        if not TAG.search(u.text):
            continue
        tagged = [w for w in u.words if TAG.search(w.text)]
        if tagged:
            spans += [(max(0.0, w.start - pad), w.end + pad) for w in tagged]
        else:  # no word times: the whole utterance
            spans.append((max(0.0, u.start - pad), u.end + pad))
    merged: list[list[float]] = []
    for a, b in sorted(spans):
        if merged and a <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], b)
        else:
            merged.append([a, b])
    return [(a, b) for a, b in merged]


def bleep(audio, rate: int, spans: list[tuple[float, float]]):
    """A copy of `audio` (frames x channels, float) with each span replaced by a soft tone."""
    import numpy as np

    out = np.array(audio, dtype=np.float32, copy=True)
    for a, b in spans:
        i, j = int(round(a * rate)), min(len(out), int(round(b * rate)))
        if j <= i:
            continue
        t = np.arange(j - i, dtype=np.float32) / rate
        tone = TONE_LEVEL * np.sin(2 * np.pi * TONE_HZ * t)
        ramp = min(len(tone) // 2, int(0.005 * rate))  # 5 ms fades: no clicks
        if ramp:
            fade = np.linspace(0.0, 1.0, ramp, dtype=np.float32)
            tone[:ramp] *= fade
            tone[-ramp:] *= fade[::-1]
        out[i:j] = tone[:, None] if out.ndim == 2 else tone
    return out


def write_redacted_audio(source: str | os.PathLike, timeline: Timeline,
                         out: str | os.PathLike) -> int:
    """Write `source` with the redacted spans of `timeline` bleeped to `out` (WAV, readable by its
    owner only); returns how many spans were covered. Errors are one-line CallAssistErrors."""
    import soundfile as sf

    source, out = Path(source).expanduser(), Path(out).expanduser()
    try:
        audio, rate = sf.read(str(source), dtype="float32", always_2d=True)
    except (OSError, RuntimeError, sf.LibsndfileError) as exc:
        raise CallAssistError(f"cannot read the recording {source} ({exc}): put the file back "
                              f"where the library expects it") from None
    spans = redacted_spans(timeline)
    try:
        if out.is_dir():
            raise IsADirectoryError(21, "is a folder")
        with private_file(out) as fh:  # 0600, also over an older, wider file
            sf.write(fh, bleep(audio, rate, spans), rate, format="WAV", subtype="PCM_16")
    except OSError as exc:
        raise CallAssistError(f"cannot write the redacted audio to {out} ({exc.strerror}): "
                              f"choose another file") from None
    return len(spans)
