"""The pipeline's own behaviour: event order, partial results, falling behind, failures."""
import time

import numpy as np
import pytest

from callassist.asr.base import SpeechEngine, SpeechStream
from callassist.audio.sources import AudioBlock, FileSource
from callassist.errors import AudioError
from callassist.core.events import PartialUtterance, ProvisionalMood, Status, Utterance
from callassist.core.pipeline import Pipeline
from tests.conftest import write_wav


class SlowEngine(SpeechEngine):
    """A fake recogniser that takes `delay` seconds per block (`agent_delay` for the agent's) and
    never hears anything; it notes every block it was given, with the knobs' state then."""
    name = "slow"

    def __init__(self, delay, agent_delay=None, busy_until=float("inf")):
        self.delay = delay
        self.agent_delay = delay if agent_delay is None else agent_delay
        self.busy_until = busy_until  # audio time after which the agent's blocks are cheap
        self.fed: list[tuple[str, float, bool, bool]] = []  # speaker, time, partials, economy

    def stream(self, speaker, partials=True):
        engine = self

        class S(SpeechStream):
            def accept_audio(self, samples):
                engine.fed.append((self.speaker, self.now, self.partials, self.economy))
                self.samples_in += len(samples)
                busy = self.speaker == "agent" and self.now < engine.busy_until
                time.sleep(engine.agent_delay if busy else engine.delay)
                return []

            def finish(self):
                return []
        return S(speaker, "slow")


def paced(n, speed=1.0, speakers=("customer",)):
    t0 = time.monotonic()
    for i in range(n):
        delay = t0 + (i + 1) * 0.1 / speed - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        for speaker in speakers:
            yield AudioBlock(speaker, i * 0.1, np.zeros(1600, np.float32))


@pytest.mark.slow  # paced in real time on purpose
def test_falling_behind_is_reported_as_it_grows_then_caught_up():
    pipe = Pipeline(SlowEngine(0.25), None)  # 2.5x slower than real time: ~3.6 s behind at the end
    seen = []
    pipe.subscribe(seen.append)
    pipe.run(paced(24, speed=1.0), realtime=True)
    warnings = [e for e in seen if isinstance(e, Status) and e.level == "warning"]
    lags = [float(w.message.split(" is ")[1].split(" s ")[0]) for w in warnings]
    assert len(lags) >= 2 and lags == sorted(lags) and lags[-1] > lags[0] + 0.4, lags
    assert pipe.shed.max_lag >= 3.0
    pipe = Pipeline(SlowEngine(0.001), None)
    seen = []
    pipe.subscribe(seen.append)
    pipe.run(paced(20), realtime=True)
    assert not [e for e in seen if isinstance(e, Status)]


@pytest.mark.slow  # paced in real time on purpose
def test_when_behind_the_caller_comes_first_and_nothing_is_dropped():
    # for the first 2.5 s of audio the agent's blocks are expensive: falling behind puts them
    # aside, so the caller's stay on time; once the load is gone they are transcribed, every
    # one of them, in order, and the call catches up
    engine = SlowEngine(0.005, agent_delay=0.2, busy_until=2.5)
    pipe = Pipeline(engine, None)
    seen = []
    pipe.subscribe(seen.append)
    pipe.run(paced(60, speakers=("customer", "agent")), realtime=True)
    agent = [t for sp, t, _, _ in engine.fed if sp == "agent"]
    caller = [(t, partials) for sp, t, partials, _ in engine.fed if sp == "customer"]
    assert len(agent) == 60 and agent == sorted(agent)  # every block, none twice, in order
    assert len(caller) == 60
    assert pipe.shed.agent_seconds_deferred >= 1.0 and pipe.shed.max_lag < 3.5
    assert not all(p for _, p in caller)  # partial passes were turned off while behind
    statuses = [e.message for e in seen if isinstance(e, Status)]
    assert any("behind" in m for m in statuses) and statuses[-1].endswith("caught up")


def test_partials_are_published_but_not_kept(whisper_engine, sentiment_model, espeak, tmp_path):
    speech = espeak("I would like to return the headphones I bought last week because they "
                    "do not fit well", "en-us+m7", 150, 45)
    path = write_wav(tmp_path / "c.wav", np.concatenate([np.zeros(8000, np.float32), speech,
                                                         np.zeros(16000, np.float32)]), 16000)
    pipe = Pipeline(whisper_engine, sentiment_model, partials=True)
    seen = []
    pipe.subscribe(seen.append)
    # in real time, as a call comes: partial passes run beside the stream and need the time
    tl = pipe.run(FileSource(path, realtime=True))
    partials = [e for e in seen if isinstance(e, PartialUtterance)]
    finals = [e for e in seen if isinstance(e, Utterance)]
    assert partials and len(finals) == 1
    assert partials[0].end < finals[0].end
    assert not any(isinstance(e, PartialUtterance) for e in tl.events)
    kinds = [e.kind for e in tl.events]
    assert kinds.index("utterance") < kinds.index("sentiment") < kinds.index("mood") < kinds.index("call_score")
    # the caller's mood while they speak: provisional, before the final one, never kept
    provisional = [e for e in seen if isinstance(e, ProvisionalMood)]
    assert provisional and seen.index(provisional[0]) < seen.index(finals[0])
    assert provisional[0].time < finals[0].end and provisional[0].speaker == "customer"
    assert not any(isinstance(e, ProvisionalMood) for e in tl.events)
    # the final pass ran after 0.25 s of silence, and its result was the utterance
    assert pipe.shed.passes_ahead_used == 1 <= pipe.shed.passes_ahead


@pytest.mark.slow  # real Whisper
def test_a_pause_inside_a_sentence_keeps_one_utterance(whisper_engine, espeak, tmp_path):
    """A pass run ahead in a short pause is dropped when the caller goes on: one utterance, the
    same words as without passes ahead."""
    a = espeak("I would like to return the headphones", "en-us+m7", 150, 45)
    b = espeak("because they do not fit well", "en-us+m7", 150, 45)
    gap = np.zeros(int(16000 * 0.4), np.float32)  # shorter than the 0.6 s that ends an utterance
    path = write_wav(tmp_path / "p.wav", np.concatenate([np.zeros(8000, np.float32), a, gap, b,
                                                         np.zeros(16000, np.float32)]), 16000)
    texts = {}
    for ahead in (0.25, 10.0):
        pipe = Pipeline(whisper_engine, None, partials=True)
        pipe._stream("customer").speculate_after = ahead
        tl = pipe.run(FileSource(path))
        texts[ahead] = [u.text for u in tl.utterances]
        if ahead < 1:  # the pass in the pause was dropped (the one at the end, if it began
            # before the segmenter's cut, was used: fed faster than real time, the pass in the
            # pause may still run then, and the cut's own pass does the work)
            assert pipe.shed.passes_ahead >= 1
            assert pipe.shed.passes_ahead_used == pipe.shed.passes_ahead - 1
        else:
            assert pipe.shed.passes_ahead == 0
    assert len(texts[0.25]) == 1 and texts[0.25] == texts[10.0]
    assert "headphones" in texts[0.25][0].lower() and "fit" in texts[0.25][0].lower()


def test_a_failing_source_keeps_what_was_analysed(whisper_engine, espeak, tmp_path):
    speech = espeak("My order never arrived.", "en-us+m7", 150, 45)

    def source():
        yield AudioBlock("customer", 0.0, np.concatenate([speech, np.zeros(16000, np.float32)]))
        raise AudioError("the microphone was unplugged")

    pipe = Pipeline(whisper_engine, None)
    with pytest.raises(AudioError) as info:
        pipe.run(source())
    tl = info.value.timeline
    assert [u.text for u in tl.utterances] and "arrived" in tl.utterances[0].text.lower()
    assert tl.statuses[-1].level == "error" and "unplugged" in tl.statuses[-1].message


class FakeClock:
    """Wall time that moves only when the fake recogniser 'works' or the source waits."""

    def __init__(self):
        self.now = 1000.0

    def monotonic(self):
        return self.now


def test_a_machine_that_stays_busy_still_works_off_the_agents_audio(monkeypatch):
    # After a burst (the agent's audio expensive for 3 s: the call falls > 2 s behind and the
    # agent's audio is put aside), the machine stays busy: about 0.7 s behind for the rest of
    # the call, never "caught up" (< 0.5 s). The agent's audio is worked off during the call,
    # in order, not all left for the hang-up.
    import types

    import callassist.core.pacing as pacing
    import callassist.core.pipeline as pipeline
    clock = FakeClock()
    fake_time = types.SimpleNamespace(monotonic=clock.monotonic, perf_counter=clock.monotonic)
    monkeypatch.setattr(pipeline, "time", fake_time)
    monkeypatch.setattr(pacing, "time", fake_time)
    start = clock.now
    fed = []

    class Busy(SpeechEngine):
        name = "busy"

        def stream(self, speaker, partials=True):
            class S(SpeechStream):
                def accept_audio(self, samples):
                    fed.append((self.speaker, self.now))
                    self.samples_in += len(samples)
                    if self.speaker == "agent":
                        clock.now += 0.5 if self.now < 3.0 else 0.01
                    elif self.now >= 3.0:  # the rest of the call: held ~0.7 s behind
                        clock.now = max(clock.now, start + self.now + 0.7)
                    else:
                        clock.now += 0.01
                    return []

                def finish(self):
                    return []
            return S(speaker, "busy")

    def source(n=600):
        for i in range(n):
            clock.now = max(clock.now, start + (i + 1) * 0.1)  # the next block arrives
            for speaker in ("customer", "agent"):
                yield AudioBlock(speaker, i * 0.1, np.zeros(1600, np.float32))

    pipe = Pipeline(Busy(), None)
    pipe.run(source(), realtime=True)
    agent = [t for sp, t in fed if sp == "agent"]
    assert len(agent) == 600 and agent == sorted(agent)  # every block, once, in order
    assert pipe.shed.agent_seconds_deferred >= 5.0  # the burst put the agent's audio aside
    assert pipe.shed.max_lag > 2.0
    assert pipe.shed.agent_seconds_at_hangup < 1.0, pipe.shed  # ... and it was worked off


def test_the_agents_words_still_waiting_at_hang_up_are_said_and_transcribed(monkeypatch):
    # the agent's audio costs 5x real time all call long: much of it is still put aside when the
    # call ends; the user is told, and every block is transcribed, in order, before the end
    import types

    import callassist.core.pacing as pacing
    import callassist.core.pipeline as pipeline
    clock = FakeClock()
    fake_time = types.SimpleNamespace(monotonic=clock.monotonic, perf_counter=clock.monotonic)
    monkeypatch.setattr(pipeline, "time", fake_time)
    monkeypatch.setattr(pacing, "time", fake_time)
    start = clock.now
    fed = []

    class Heavy(SpeechEngine):
        name = "heavy"

        def stream(self, speaker, partials=True):
            class S(SpeechStream):
                def accept_audio(self, samples):
                    fed.append((self.speaker, self.now))
                    self.samples_in += len(samples)
                    clock.now += 0.5 if self.speaker == "agent" else 0.01
                    return []

                def finish(self):
                    return []
            return S(speaker, "heavy")

    def source(n=300):
        for i in range(n):
            clock.now = max(clock.now, start + (i + 1) * 0.1)
            for speaker in ("customer", "agent"):
                yield AudioBlock(speaker, i * 0.1, np.zeros(1600, np.float32))

    pipe = Pipeline(Heavy(), None)
    seen = []
    pipe.subscribe(seen.append)
    pipe.run(source(), realtime=True)
    assert pipe.shed.agent_seconds_at_hangup >= 5.0, pipe.shed
    ended = [e for e in seen if isinstance(e, Status) and "call has ended" in e.message]
    assert len(ended) == 1 and f"{pipe.shed.agent_seconds_at_hangup:.0f} s" in ended[0].message
    agent = [t for sp, t in fed if sp == "agent"]
    assert len(agent) == 300 and agent == sorted(agent)


import threading  # noqa: E402


class _GatedWhisper:
    """The real WhisperEngine's stream logic over a fake model: finals answer at once, partial
    passes wait for `gate` (a partial pass that takes as long as the test wants)."""
    from callassist.asr.whisper_engine import WhisperEngine as _W
    name = "whisper"
    partial_pass = _W.partial_pass
    ahead_pass = _W.ahead_pass
    _one_at_a_time = _W._one_at_a_time
    stream = _W.stream

    def __init__(self):
        import threading
        from types import SimpleNamespace
        from callassist.audio.vad import SegmenterOptions
        self.segmenter_options = SegmenterOptions()
        self.gate = threading.Event()
        self.partials_begun = threading.Event()
        self.final_gate = threading.Event()  # finals answer at once unless a test clears it
        self.final_gate.set()
        self.finals_begun = threading.Event()
        self.final_threads: list[str] = []
        self.spare_oks: list[bool] = []  # whether each final pass could take two threads
        self._pools = {}
        self._partials_lock = threading.Lock()
        self._in_flight = set()
        self._spare_running = False
        self._seg = SimpleNamespace

    def transcribe(self, audio, words=True, economy=False, spare_ok=False):
        if not words:  # a partial pass
            self.partials_begun.set()
            assert self.gate.wait(30)
            return [self._seg(text=" partial words", words=None)]
        self.finals_begun.set()
        self.spare_oks.append(spare_ok)
        self.final_threads.append(threading.current_thread().name)
        assert self.final_gate.wait(30)
        w = self._seg(word=" final", start=0.1, end=0.5, probability=0.9)
        return [self._seg(text=" final words", words=[w])]


def _blocks(audio, size=1600):
    return [audio[i:i + size] for i in range(0, len(audio), size)]


def test_a_final_pass_never_waits_for_a_partial_pass_and_late_partials_are_dropped(espeak):
    """The caller stops while a partial pass is still running: the utterance's final text comes
    at once (not after the partial), and the partial's text, back after the final, is dropped."""
    engine = _GatedWhisper()
    stream = engine.stream("customer", partials=True)
    stream.speculate_after = 10.0  # no pass run ahead: the segmenter's own cut
    speech = espeak("I would like to return the headphones I bought last week", "en-us+m7", 150, 45)
    out = []
    for block in _blocks(np.concatenate([np.zeros(8000, np.float32), speech])):
        out += stream.accept_audio(block)
    assert engine.partials_begun.wait(5)  # a partial pass began while they spoke ...
    for block in _blocks(np.zeros(16000, np.float32)):  # ... and they stopped: 1 s of silence
        out += stream.accept_audio(block)
    finals = [e for e in out if isinstance(e, Utterance)]
    assert [u.text for u in finals] == ["final words"]  # while the partial pass still ran
    assert not engine.gate.is_set()
    engine.gate.set()
    for _ in range(50):  # its text comes back now: too late, the utterance has ended
        time.sleep(0.02)
        out += stream.accept_audio(np.zeros(1600, np.float32))
    assert stream._partial is None
    assert not [e for e in out if isinstance(e, PartialUtterance)]


def test_the_final_pass_runs_ahead_on_its_own_thread_and_the_stream_goes_on(espeak):
    """After 0.25 s of silence the final pass starts on the pass-ahead thread: the stream keeps
    taking audio while it runs (a slow pass holds nothing up), its text is shown as the
    utterance so far once it is back, and the segmenter's cut takes its result (no second
    pass)."""
    engine = _GatedWhisper()
    engine.final_gate.clear()
    engine.gate.set()
    stream = engine.stream("customer", partials=True)
    speech = espeak("I would like to return the headphones", "en-us+m7", 150, 45)
    out = []
    for block in _blocks(np.concatenate([np.zeros(8000, np.float32), speech])):
        out += stream.accept_audio(block)
    slowest = 0.0
    for block in _blocks(np.zeros(int(16000 * 0.45), np.float32)):  # 0.45 s of silence
        began = time.perf_counter()
        out += stream.accept_audio(block)
        slowest = max(slowest, time.perf_counter() - began)
    assert engine.finals_begun.wait(5) and stream.passes_ahead == 1
    assert engine.final_threads == ["callassist-ahead_0"]  # not the stream's own thread
    assert slowest < 2.0 and not [e for e in out if isinstance(e, Utterance)]  # not held 30 s
    engine.final_gate.set()
    for _ in range(50):
        time.sleep(0.02)
        out += stream.accept_audio(np.zeros(160, np.float32))
        if any(isinstance(e, PartialUtterance) and e.text == "final words" for e in out):
            break
    assert any(isinstance(e, PartialUtterance) and e.text == "final words" for e in out)
    for block in _blocks(np.zeros(16000, np.float32)):  # the silence holds: the cut comes
        out += stream.accept_audio(block)
    assert [u.text for u in out if isinstance(u, Utterance)] == ["final words"]
    assert stream.passes_ahead_used == 1 and len(engine.final_threads) == 1
    assert engine.spare_oks[-1] is True  # the caller's live final may take two threads


def test_a_file_or_the_agent_never_asks_for_two_threads(espeak):
    engine = _GatedWhisper()
    stream = engine.stream("agent", partials=False)  # analyze, import, a live agent stream
    speech = espeak("Thanks for calling, how can I help", "en-us+m7", 150, 45)
    out = []
    for block in _blocks(np.concatenate([np.zeros(8000, np.float32), speech,
                                         np.zeros(16000, np.float32)])):
        out += stream.accept_audio(block)
    assert [u.text for u in out if isinstance(u, Utterance)] == ["final words"]
    assert engine.spare_oks == [False]


def test_partial_text_comes_with_a_later_block_while_they_speak(espeak):
    engine = _GatedWhisper()
    engine.gate.set()
    stream = engine.stream("customer", partials=True)
    speech = espeak("I would like to return the headphones I bought last week because they do "
                    "not fit well and the sound is poor", "en-us+m7", 150, 45)
    out = []
    for block in _blocks(np.concatenate([np.zeros(8000, np.float32), speech])):
        out += stream.accept_audio(block)
        time.sleep(0.01)  # the partial pass runs on its own thread meanwhile
    partials = [e for e in out if isinstance(e, PartialUtterance)]
    assert partials and all(p.text == "partial words" for p in partials)
    assert not [e for e in out if isinstance(e, Utterance)]  # still speaking
    assert partials[0].start < partials[0].end <= stream.now


@pytest.mark.slow  # real Whisper
def test_a_final_pass_runs_beside_a_long_partial_pass(whisper_engine, espeak):
    """The real model: a final pass on a short utterance is not queued behind a partial pass on
    a long one (the model has a second worker for it)."""
    assert whisper_engine.model.model.num_workers == 2
    said = espeak("I have been waiting for my refund for three weeks now and every time I call "
                  "somebody tells me it is on its way, but nothing ever arrives in my account, "
                  "and I am getting really tired of calling you people about the same thing",
                  "en-us+m7", 150, 45)
    long = np.concatenate([said] * 4)  # some 80 s: three windows, so clearly the longer pass
    short = espeak("Yes please.", "en-us+m7", 150, 45)
    job = whisper_engine.partial_pass(long)
    assert job is not None and whisper_engine.partial_pass(short) is None  # one at a time
    partial_done = []
    job.add_done_callback(lambda _: partial_done.append(time.perf_counter()))
    text = " ".join(s.text for s in whisper_engine.transcribe(short))
    final_done = time.perf_counter()
    partial_text, partial_cost = job.result(60)
    assert "yes" in text.lower() and "refund" in partial_text.lower()
    # Queued behind the partial pass, the final could only start once that pass had ended.
    assert final_done < partial_done[0], (final_done - partial_done[0], partial_cost)


def test_spare_cores_counts_other_programs_not_this_one():
    from callassist.asr.whisper_engine import SpareCores
    spare = SpareCores(every=0.0)
    now = time.monotonic()
    spare._last = (now - 1.0, 100.0, 50.0)
    # over the last second the machine used 1.2 core-seconds, 1.0 of them this process's
    spare._sample = lambda: (time.monotonic(), 101.2, 51.0)
    assert spare.spare() is True
    spare._last = (time.monotonic() - 1.0, 100.0, 50.0)
    spare._sample = lambda: (time.monotonic(), 101.6, 50.2)  # others: 1.4 cores
    assert spare.spare() is False


def test_spare_cores_sees_two_busy_programs():
    import subprocess
    import sys
    from callassist.asr.whisper_engine import SpareCores
    hogs = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(2)]
    try:
        spare = SpareCores(every=0.3)
        time.sleep(0.8)
        assert spare.spare() is False
    finally:
        for h in hogs:
            h.kill()
            h.wait()


@pytest.mark.slow  # real Whisper
def test_two_threads_only_with_a_core_to_spare_and_no_other_pass(whisper_engine, espeak,
                                                                 monkeypatch):
    assert whisper_engine.spare_model is not None
    short = espeak("Yes please.", "en-us+m7", 150, 45)
    monkeypatch.setattr(whisper_engine._spare, "spare", lambda: True)
    before = whisper_engine.spare_passes
    whisper_engine.transcribe(short)  # a file's pass (analyze, import): one thread always
    assert whisper_engine.spare_passes == before and whisper_engine._local.why == "not asked"
    text = whisper_engine.transcribe(short, spare_ok=True)  # a live pass run ahead
    assert "yes" in " ".join(s.text for s in text).lower()
    assert whisper_engine.spare_passes == before + 1  # alone, a core to spare: two threads
    assert whisper_engine._local.why == "two"
    long = np.tile(short, 25)  # ~25 s: a pass long enough to be caught running
    job = whisper_engine.partial_pass(long)
    assert job is not None
    for _ in range(100):  # the partial pass has begun on its thread
        if whisper_engine._passes:
            break
        time.sleep(0.01)
    whisper_engine.transcribe(short, spare_ok=True)  # beside a pass of ours: one thread
    assert whisper_engine._local.why == "not alone"
    job.result(60)
    monkeypatch.setattr(whisper_engine._spare, "spare", lambda: False)
    whisper_engine.transcribe(short, spare_ok=True)  # the machine busy: one thread
    assert whisper_engine.spare_passes == before + 1 and whisper_engine._local.why == "busy"


@pytest.mark.slow  # real Whisper
def test_the_encoder_reads_the_utterance_and_some_padding_not_thirty_seconds(whisper_engine,
                                                                             espeak, monkeypatch):
    """Most of a pass is Whisper's encoder, which faster-whisper always gives 30 s: it reads the
    utterance and 3 s here, at least 20 s, and the words still come out right and in place."""
    from callassist.asr.whisper_engine import window_frames

    seen = []

    class Spy:  # the CTranslate2 model, the feature frames its encoder is given noted
        def __init__(self, real):
            self.real = real

        def encode(self, features, *a, **kw):
            seen.append(features.shape[-1])
            return self.real.encode(features, *a, **kw)

        def __getattr__(self, name):
            return getattr(self.real, name)
    monkeypatch.setattr(whisper_engine.model, "model", Spy(whisper_engine.model.model))
    said = espeak("My parcel never arrived and I want a refund today.", "en-us+m7", 150, 45)
    segments = whisper_engine.transcribe(said)
    assert seen == [2000]  # 20 s of 10 ms frames, not 3000
    text = " ".join(s.text for s in segments).lower()
    assert "parcel" in text and "refund" in text
    words = [w for s in segments for w in s.words]
    assert 0.0 <= words[0].start < 0.8 and len(said) / 16000 - 1.0 < words[-1].end <= len(said) / 16000 + 0.1
    seen.clear()
    longer = np.concatenate([said] * 6)  # ~20 s: the utterance and 3 s
    whisper_engine.transcribe(longer)  # (a window read in two goes is encoded twice)
    assert set(seen) == {window_frames(len(longer))} and 2000 < seen[0] < 3000 and seen[0] % 2 == 0
    assert window_frames(28 * 16000) is None  # past 30 s with its padding: whole windows
    assert window_frames(16000, least=10.0) == 1000
