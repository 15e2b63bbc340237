"""Streaming voice-activity detection and utterance segmentation.

Uses the Silero VAD network that ships inside faster-whisper (ONNX, runs on one CPU thread),
carrying its recurrent state across calls so it can be fed live audio block by block.
`Segmenter` turns speech probabilities into utterances: it opens one when speech starts and
closes it after a stretch of silence, with a little padding on both sides.
"""
from __future__ import annotations

import os
import threading
from dataclasses import dataclass

import numpy as np

FRAME = 512  # samples per VAD frame at 16 kHz (32 ms)
CONTEXT = 64
RATE = 16000


_SESSION = None
_SESSION_LOCK = threading.Lock()


def _shared_session():
    """One ONNX session per process (loaded once; its run() is thread-safe): every stream of
    every call keeps only its own recurrent state."""
    global _SESSION
    with _SESSION_LOCK:
        if _SESSION is None:
            os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")  # before onnxruntime loads
            import onnxruntime
            from faster_whisper.utils import get_assets_path

            opts = onnxruntime.SessionOptions()
            opts.inter_op_num_threads = 1
            opts.intra_op_num_threads = 1
            opts.log_severity_level = 4
            path = os.path.join(get_assets_path(), "silero_vad_v6.onnx")
            _SESSION = onnxruntime.InferenceSession(path, providers=["CPUExecutionProvider"],
                                                    sess_options=opts)
        return _SESSION


class SileroVad:
    def __init__(self):
        self._session = _shared_session()
        self.reset()

    def reset(self) -> None:
        self._h = np.zeros((1, 1, 128), dtype=np.float32)
        self._c = np.zeros((1, 1, 128), dtype=np.float32)
        self._context = np.zeros(CONTEXT, dtype=np.float32)
        self._pending = np.zeros(0, dtype=np.float32)

    def __call__(self, samples: np.ndarray) -> np.ndarray:
        """Speech probability for each complete 32 ms frame in the audio fed so far."""
        audio = np.concatenate([self._pending, samples.astype(np.float32, copy=False)])
        n = len(audio) // FRAME
        self._pending = audio[n * FRAME:]
        if n == 0:
            return np.zeros(0, dtype=np.float32)
        frames = audio[: n * FRAME].reshape(n, FRAME)
        contexts = np.vstack([self._context[None, :], frames[:-1, -CONTEXT:]])
        self._context = frames[-1, -CONTEXT:].copy()
        batch = np.concatenate([contexts, frames], axis=1)
        out, self._h, self._c = self._session.run(None, {"input": batch, "h": self._h, "c": self._c})
        return np.asarray(out, dtype=np.float32).reshape(-1)


@dataclass
class SegmenterOptions:
    threshold: float = 0.5  # speech starts above this probability
    neg_threshold: float = 0.35  # and ends below this one
    min_silence: float = 0.6  # seconds of silence that end an utterance
    min_speech: float = 0.25  # shorter blips are dropped
    pad: float = 0.2  # seconds kept before and after the speech
    max_utterance: float = 20.0  # longer speech is cut (Whisper handles up to 30 s)


@dataclass
class Segment:
    start: float  # seconds in the stream
    end: float
    audio: np.ndarray


class Segmenter:
    """Cuts a stream into utterances. `feed` returns finished segments; `current` is the open one."""

    def __init__(self, vad: SileroVad | None = None, options: SegmenterOptions | None = None):
        self.vad = vad or SileroVad()
        self.opt = options or SegmenterOptions()
        self.reset()

    def reset(self) -> None:
        self.vad.reset()
        self._buf = np.zeros(0, dtype=np.float32)  # audio kept from self._buf_start on
        self._buf_start = 0  # sample index of _buf[0]
        self._frames = 0  # VAD frames seen
        self._speech_start: int | None = None  # sample index where current speech began
        self._last_speech = 0  # sample index of the end of the last speech frame
        self.in_speech = False

    def _trim(self, keep_from: int) -> None:
        keep_from = max(self._buf_start, keep_from)
        self._buf = self._buf[keep_from - self._buf_start:]
        self._buf_start = keep_from

    def _cut(self, end_sample: int) -> Segment | None:
        pad = int(self.opt.pad * RATE)
        start = max(self._buf_start, self._speech_start - pad)
        end = min(self._buf_start + len(self._buf), end_sample + pad)
        speech_len = end_sample - self._speech_start
        audio = self._buf[start - self._buf_start: end - self._buf_start].copy()
        self._speech_start = None
        self.in_speech = False
        if speech_len < self.opt.min_speech * RATE:
            return None
        return Segment(start / RATE, end / RATE, audio)

    def feed(self, samples: np.ndarray) -> list[Segment]:
        self._buf = np.concatenate([self._buf, samples.astype(np.float32, copy=False)])
        probs = self.vad(samples)
        done: list[Segment] = []
        pad = int(self.opt.pad * RATE)
        for p in probs:
            f_start = self._frames * 512
            f_end = f_start + 512
            self._frames += 1
            if not self.in_speech:
                if p >= self.opt.threshold:
                    self.in_speech = True
                    self._speech_start = f_start
                    self._last_speech = f_end
                continue
            if p >= self.opt.neg_threshold:
                self._last_speech = f_end
            if f_end - self._last_speech >= self.opt.min_silence * RATE:
                seg = self._cut(self._last_speech)
                if seg:
                    done.append(seg)
            elif f_end - self._speech_start >= self.opt.max_utterance * RATE:
                seg = self._cut(f_end)
                if seg:
                    done.append(seg)
                self.in_speech = True  # the speaker goes on: continue in a new utterance
                self._speech_start = f_end
                self._last_speech = f_end
        # keep the audio that a future utterance may need
        if self.in_speech:
            self._trim(self._speech_start - pad)
        else:
            self._trim(self._buf_start + len(self._buf) - pad)
        return done

    def pending(self, after_silence: float) -> Segment | None:
        """The open utterance exactly as `feed` will cut it if the silence now under way
        (at least `after_silence` seconds of it) lasts; None while speech goes on. For a final
        pass run ahead of the segmenter: `feed` later returns a Segment with the same start/end."""
        if not self.in_speech or self._speech_start is None:
            return None
        if self._frames * 512 - self._last_speech < max(after_silence, self.opt.pad) * RATE:
            return None
        if self._last_speech - self._speech_start < self.opt.min_speech * RATE:
            return None
        pad = int(self.opt.pad * RATE)
        start = max(self._buf_start, self._speech_start - pad)
        end = min(self._buf_start + len(self._buf), self._last_speech + pad)
        return Segment(start / RATE, end / RATE, self._buf[start - self._buf_start: end - self._buf_start].copy())

    def current_audio(self) -> tuple[float, np.ndarray] | None:
        """The open utterance so far (for partial results), or None outside speech."""
        if not self.in_speech:
            return None
        start = max(self._buf_start, self._speech_start - int(self.opt.pad * RATE))
        return start / RATE, self._buf[start - self._buf_start:]

    def flush(self) -> list[Segment]:
        if not self.in_speech:
            return []
        seg = self._cut(self._last_speech)
        return [seg] if seg else []
