"""The pipeline's own behaviour: event order, partial results, falling behind, failures."""
import time

import numpy as np
import pytest

from callassist.asr.base import SpeechEngine, SpeechStream
from callassist.audio.sources import AudioBlock, FileSource
from callassist.errors import AudioError
from callassist.core.events import PartialUtterance, Status, Utterance
from callassist.core.pipeline import Pipeline
from tests.conftest import write_wav


class SlowEngine(SpeechEngine):
    """A fake recogniser that takes `delay` seconds per block and never hears anything."""
    name = "slow"

    def __init__(self, delay):
        self.delay = delay

    def stream(self, speaker, partials=True):
        engine = self

        class S(SpeechStream):
            def accept_audio(self, samples):
                time.sleep(engine.delay)
                return []

            def finish(self):
                return []
        return S(speaker, "slow")


def paced(n, speed=1.0):
    t0 = time.monotonic()
    for i in range(n):
        delay = t0 + (i + 1) * 0.1 / speed - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        yield AudioBlock("customer", i * 0.1, np.zeros(1600, np.float32))


@pytest.mark.slow  # paced in real time on purpose
def test_falling_behind_is_reported_then_caught_up():
    pipe = Pipeline(SlowEngine(0.25), None)  # 2.5x slower than real time: 3 s behind after 20 blocks
    seen = []
    pipe.subscribe(seen.append)
    pipe.run(paced(24, speed=1.0), realtime=True)
    warnings = [e for e in seen if isinstance(e, Status) and e.level == "warning"]
    assert len(warnings) == 1 and "behind" in warnings[0].message
    pipe = Pipeline(SlowEngine(0.001), None)
    seen = []
    pipe.subscribe(seen.append)
    pipe.run(paced(20), realtime=True)
    assert not [e for e in seen if isinstance(e, Status)]


def test_partials_are_published_but_not_kept(whisper_engine, sentiment_model, espeak, tmp_path):
    speech = espeak("I would like to return the headphones I bought last week because they "
                    "do not fit well", "en-us+m7", 150, 45)
    path = write_wav(tmp_path / "c.wav", np.concatenate([np.zeros(8000, np.float32), speech,
                                                         np.zeros(16000, np.float32)]), 16000)
    pipe = Pipeline(whisper_engine, sentiment_model, partials=True)
    seen = []
    pipe.subscribe(seen.append)
    tl = pipe.run(FileSource(path))
    partials = [e for e in seen if isinstance(e, PartialUtterance)]
    finals = [e for e in seen if isinstance(e, Utterance)]
    assert partials and len(finals) == 1
    assert partials[0].end < finals[0].end
    assert not any(isinstance(e, PartialUtterance) for e in tl.events)
    kinds = [e.kind for e in tl.events]
    assert kinds.index("utterance") < kinds.index("sentiment") < kinds.index("mood") < kinds.index("call_score")


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
