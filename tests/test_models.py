"""Models loaded once per process; every call a fresh session over them."""
import threading

import numpy as np
import pytest

from callassist.audio.sources import AudioBlock, FileSource
from callassist.config import Config
from callassist.core import models as M
from tests.conftest import DEMO_CALLS

pytestmark = pytest.mark.slow


def first_seconds(path, seconds):
    for block in FileSource(path):
        if block.start >= seconds:
            return
        yield block


def summary(timeline):
    return [(e.kind, getattr(e, "text", None), getattr(e, "score", None))
            for e in timeline.events if e.kind in ("utterance", "mood", "escalation", "point")]


def test_sessions_share_models_but_not_state(models):
    cfg = Config(escalate_after=10.0)
    call = DEMO_CALLS / "angry_calmed.flac"
    one = models.session(cfg, partials=False).run(first_seconds(call, 35))
    two = models.session(cfg, partials=False).run(first_seconds(call, 35))
    assert summary(one) and summary(one) == summary(two)  # nothing carried over
    pipe = models.session(cfg, partials=False)
    assert pipe.engine is models.speech and pipe.sentiment_model is models.mood
    assert pipe.assistant.knowledge is models.knowledge
    # the config's thresholds reach the built-in escalation rules; the centre's rules run too
    assert pipe.assistant.rules.state.settings.negative_seconds == 10.0
    assert pipe.assistant.rules.book is models.rules and "greeting" in {
        r.id for r in pipe.assistant.rules.active}


def test_a_session_runs_one_call(models):
    pipe = models.session(Config(), partials=False)
    pipe.run([AudioBlock("customer", 0.0, np.zeros(1600, np.float32))])
    with pytest.raises(RuntimeError, match="one call"):
        pipe.run([AudioBlock("customer", 0.0, np.zeros(1600, np.float32))])


def test_preload_loads_once_per_model_settings(monkeypatch, models):
    loads = []
    gate = threading.Event()

    def fake_load(config, progress=None):
        gate.wait(5)
        loads.append(config.model_key())
        return models

    M.forget_models()
    monkeypatch.setattr(M.Models, "load", classmethod(lambda cls, c, p=None: fake_load(c, p)))
    a = M.preload(Config())
    b = M.preload(Config(escalate_after=30.0))  # thresholds differ, models are the same
    c = M.preload(Config(knowledge="/elsewhere"))
    gate.set()
    assert a is b and a is not c
    assert a.result(5) is models and M.shared_models(Config()) is models
    c.result(5)
    assert len(loads) == 2
    M.forget_models()


def test_a_failed_load_is_an_error_and_is_tried_again(tmp_path):
    bad = Config(vosk_model=str(tmp_path / "missing"))
    fut = M.preload(bad)
    with pytest.raises(Exception, match="Vosk model folder not found"):
        fut.result(60)
    assert M.preload(bad) is not fut
