"""Personal-data redaction of stored transcripts: the test set's recall and false alarms, tags,
text outside the spans, word lists, events, timelines, and what the real Whisper engine writes."""
import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from callassist.core.events import (CallerPoint, CallMetrics, ChecklistItem, CoachingTip, EscalationAdvice,
                               KnowledgeMatch, MoodState, PartialUtterance, PhraseSuggestion, Sentiment,
                               Status, Utterance, Word)
from callassist.library.redact import find_personal_data, redact_event, redact_text, redact_timeline, redact_words
from callassist.core.timeline import Timeline

ROOT = Path(__file__).resolve().parents[1]
TAG = re.compile(r"\[(?:card number|account number|phone number|email|number)\]")


def _eval_script():
    spec = importlib.util.spec_from_file_location("eval_redaction", ROOT / "scripts" / "eval_redaction.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_test_set_recall_and_over_redaction():
    ev = _eval_script()
    personal, harmless = ev.load()
    assert len(personal) >= 50 and len(harmless) >= 50
    r = ev.evaluate()
    misses = "\n".join(f"{c}: {s!r} in {t!r} -> {red!r}" for c, s, t, red in r["misses"])
    assert r["recall"] >= 0.95, misses
    for cat, f in r["per_category"].items():
        assert f["recall"] >= 0.9, (cat, misses)
    assert r["over_redaction"] <= 0.05, r["false_alarms"]


@pytest.mark.parametrize("text, expected", [
    ("sure it's 4111 1111 1111 1111 and the expiry is next year",
     "sure it's [card number] and the expiry is next year"),
    ("the last four are three seven eight one", "the last four are [card number]"),
    ("my account number is seven seven three four nine one two oh", "my account number is [account number]"),
    ("the customer number is a b one two three four five six", "the customer number is [account number]"),
    ("you can reach me at five five five oh one nine nine", "you can reach me at [phone number]"),
    ("It's plus one four one five five five five two six seven one.", "It's [phone number]."),
    ("it's john dot smith at gmail dot com", "it's [email]"),
    ("Email me at Sarah.Connor1984@Hotmail.com, thanks.", "Email me at [email], thanks."),
    ("my zip code is nine oh two one oh", "my zip code is [number]"),
    ("um it's eight two two four seven one nine three I think", "um it's [number] I think"),
    # Whisper ended a "sentence" inside a read-out card number: no digits may survive
    ("My card number is 41. 1111 1111 1111 11.", "My card number is [card number]."),
    # ... or wrote the groups of a read-out phone number as decimals
    ("My phone number is 5.5, 2.34, 9.876.", "My phone number is [phone number]."),
])
def test_tags_name_the_category(text, expected):
    assert redact_text(text) == expected


@pytest.mark.parametrize("text", [
    "I called to ask for four things", "one of my kids broke the screen", "it was forty nine ninety nine",
    "I paid $12,500 for the whole system.", "I bought it back in twenty twenty four",
    "the engineer said he'd come at three thirty", "it's on version two point one of the firmware",
    "the last four months have been terrible", "so that's two to four working days",
    "can someone call me back at three thirty", "I bought it on 03/14 and it broke",
    "the delivery is booked for 12/05", "I'm on the M1 near junction 4", "it's a 4K TV",
    "the parcel comes on 12 August", "I was born in may so I know", "we met at the shop dot com",
    "the customer number is fine and I have two kids",
    "It was 2019. 3 weeks later it broke.", "the total was 41. 20 of that was shipping",
    "it's on version 2.5, and 3.1 works too", "It cost 4.50 in the end.",
])
def test_harmless_numbers_survive(text):
    assert redact_text(text) == text and find_personal_data(text) == []


@pytest.mark.parametrize("text, expected", [
    # written expiry dates and dates of birth
    ("and the expiry is 08/27.", "and the expiry is [card number]."),
    ("Date of birth, 14/03/1978.", "Date of birth, [number]."),
    # UK postcodes written, and spelled out after "postcode"
    ("Postcode is M1 4BT.", "Postcode is [number]."),
    ("the postcode is s w one a one a a", "the postcode is [number]"),
    ("my post code is l s one four a p thanks", "my post code is [number] thanks"),
    # a correction right after a number keeps its category
    ("It's 4916 3385 0192 7740. Sorry, 7741 at the end.", "It's [card number]. Sorry, [card number] at the end."),
    # a hesitation between an id's letters and its digits
    ("the reference is k l uh seven seven three nine two", "the reference is [account number]"),
    # short numbers are phone numbers only as an extension or area code
    ("my extension is four two one", "my extension is [phone number]"),
    # IBANs, spoken dates of birth, e-mail domains of several words, ids that go on after letters
    ("The IBAN is GB29 NWBK 6016 1331 9268 19.", "The IBAN is [account number]."),
    ("date of birth second of june seventy four", "date of birth [number]"),
    ("I was born on 12 August 1979, so", "I was born on [number], so"),
    ("no sorry tom at tom harris uk dot net", "no sorry [email]"),
    # Whisper heard the "at" of an address as a new sentence (seen on an AVX2-only machine)
    ("My email is marry.jone. That example.com.", "My email is [email]."),
    ("my email is fine. That is all.", "my email is fine. That is all."),
    ("licence number is m o r g a six one oh five two two j j nine w x", "licence number is [number]"),
])
def test_dates_postcodes_corrections_and_extensions(text, expected):
    assert redact_text(text) == expected


@pytest.mark.parametrize("name", ["redaction_heldout.yaml", "redaction_heldout2.yaml"])
def test_sets_written_blind(name):
    """Sets written by someone who had not seen this code or the other sets (before the rules
    they prompted: recall 0.912 / over-redaction 0.014, then 0.947 / 0.000)."""
    r = _eval_script().evaluate(ROOT / "tests" / "data" / name)
    assert r["items"] >= 70 and r["harmless"] >= 70
    assert r["recall"] >= 0.95, r["misses"]
    assert r["over_redaction"] <= 0.03, r["false_alarms"]


def test_text_outside_the_spans_is_kept_exactly():
    text = "Well, My number is 555-010-0199. Card: 4111-1111-1111-1111 (visa)!  Thanks"
    assert redact_text(text) == "Well, My number is [phone number]. Card: [card number] (visa)!  Thanks"
    personal, _ = _eval_script().load()
    for case in personal:
        text = case["text"]
        found = find_personal_data(text)
        assert all(r.text == text[r.start:r.end] for r in found)
        assert all(a.end <= b.start for a, b in zip(found, found[1:]))  # ordered, non-overlapping
        kept = [text[a:b] for a, b in zip([0] + [r.end for r in found], [r.start for r in found] + [len(text)])]
        assert TAG.split(redact_text(text)) == kept


def _words(text, t0=1.0):
    return tuple(Word(w, round(t0 + 0.3 * i, 3), round(t0 + 0.3 * i + 0.25, 3), 0.9 - 0.01 * i)
                 for i, w in enumerate(text.split()))


def test_redact_words_keeps_timings_and_count():
    words = _words("My card number is four one one one one one one one one one one one one one one one okay?")
    out = redact_words(words)
    assert len(out) == len(words)
    assert [(w.start, w.end, w.conf) for w in out] == [(w.start, w.end, w.conf) for w in words]
    assert [w.text for w in out] == ["My", "card", "number", "is"] + ["[card number]"] * 16 + ["okay?"]
    whisper = _words("My number is 555-010-0199. And my email, john.smith@gmail.com.")
    assert [w.text for w in redact_words(whisper)] == [
        "My", "number", "is", "[phone number]", "And", "my", "email,", "[email]"]
    plain = _words("no numbers here")
    assert redact_words(plain) == plain


def test_redact_event_for_each_free_text_event():
    text = "My card number is 4111 1111 1111 1111, thanks."
    utt = Utterance(id=3, speaker="customer", text=text, start=1.0, end=4.0, words=_words(text), engine="whisper")
    red = redact_event(utt)
    assert red.text == "My card number is [card number], thanks." and "4111" not in str(red.words)
    assert (red.id, red.speaker, red.start, red.end, red.engine) == (3, "customer", 1.0, 4.0, "whisper")
    assert [(w.start, w.end) for w in red.words] == [(w.start, w.end) for w in utt.words]
    assert utt.text == text  # the original is untouched

    said = "my account number is seven seven three four nine one two oh"
    cards = ({"article": "a", "title": "Refunds", "passage": "Call 555-010-0199 or quote order 12345678.",
              "score": 0.8},)
    km = redact_event(KnowledgeMatch(time=2.0, utterance_id=3, query=said, cards=cards))
    assert km.query == "my account number is [account number]" and km.cards is cards
    cases = [
        (PartialUtterance("customer", said, 1.0, 2.0), "text"),
        (CallerPoint(id=1, time=2.0, utterance_id=3, category="number", text=f"number {said}"), "text"),
        (CoachingTip(time=2.0, utterance_id=3, category="negative", said=said, suggestion="..."), "said"),
        (ChecklistItem(time=2.0, utterance_id=3, item="recap", label="Recap", done=True, evidence=said),
         "evidence"),
        (MoodState(time=2.0, speaker="customer", score=-0.5, label="negative", confidence=0.8, trend="steady",
                   change=0.1, utterance_id=3, reason=f'said "{said}"'), "reason"),
        (EscalationAdvice(time=2.0, utterance_id=3, trigger="requested", reason=said), "reason"),
        (PhraseSuggestion(time=2.0, utterance_id=3, situation="neutral", phrases=("ok",), reason=said), "reason"),
    ]
    for event, field in cases:
        red = redact_event(event)
        assert type(red) is type(event) and red is not event
        assert "[account number]" in getattr(red, field) and "seven" not in getattr(red, field), event
        assert getattr(event, field).count("seven") == 2
    for event in (Sentiment(utterance_id=3, speaker="customer", time=2.0, label="negative", score=-0.4),
                  Status(time=2.0, message="card 4111 1111 1111 1111"),
                  CallMetrics(time=2.0, talk_time={}, talk_listen_ratio=None, non_talk_time=0.0,
                              long_silences=(), overlaps=(), interruptions={}, words_per_minute={})):
        assert redact_event(event) is event


def test_redact_timeline_leaves_the_original_untouched():
    text = "you can reach me at five five five oh one nine nine"
    events = [Status(time=0.0, message="started"),
              Utterance(id=1, speaker="customer", text=text, start=0.5, end=3.0, words=_words(text, 0.5)),
              KnowledgeMatch(time=3.0, utterance_id=1, query=text, cards=())]
    tl = Timeline(call={"id": "c1", "speakers": ["agent", "customer"]}, events=list(events))
    before = tl.to_json()
    red = redact_timeline(tl)
    assert tl.to_json() == before and tl.events == events
    assert red is not tl and red.call == tl.call and red.call is not tl.call
    assert red.events[0] is events[0]
    assert red.utterances[0].text == "you can reach me at [phone number]"
    assert red.events[2].query == "you can reach me at [phone number]"
    assert "five" not in red.to_json()


def test_redact_imports_nothing_heavy():
    code = ("import sys, callassist.library.redact\n"
            "bad = [m for m in sys.modules if m.split('.')[0] in ('torch', 'transformers', 'numpy', 'PySide6',"
            " 'onnxruntime', 'faster_whisper', 'vosk')]\n"
            "print(bad); sys.exit(1 if bad else 0)\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr


DIGIT_WORD = re.compile(r"\b(zero|oh|one|two|three|four|five|six|seven|eight|nine)\b", re.I)


@pytest.mark.slow
def test_whisper_transcripts_lose_every_digit(whisper_engine, espeak):
    """Real speech recognition writes numbers in many forms ("4532, 771 to 3456", "5.5, 2, 3",
    "555.10.01.99", "marrynotjones.com"): none of their digits survives redaction."""
    sentences = ["Sure, the card number is four five three two, seven seven one two, three four five six, "
                 "nine eight seven six.",
                 "My phone number is five five five, two three four, nine eight seven six.",
                 "You can call me back on 555 010 0199.",
                 "My email is mary.jones@example.com.",
                 "And the security code is seven three one."]
    for voice, speed, pitch in (("en-gb+f3", 140, 60), ("en-us+m7", 150, 45)):
        for sentence in sentences:
            text = " ".join(s.text.strip() for s in whisper_engine.transcribe(espeak(sentence, voice, speed, pitch)))
            red = redact_text(text)
            assert TAG.search(red), (voice, text, red)
            assert not re.search(r"\d", red) and not DIGIT_WORD.search(red), (voice, text, red)
            if "email" in sentence:
                assert "[email]" in red and "jones" not in red.lower(), (voice, text, red)


# ---- the audio ---------------------------------------------------------------------------------------

def test_audio_spans_come_from_the_redacted_words(tmp_path):
    import numpy as np
    import soundfile as sf

    from callassist.library.redact.audio import TONE_HZ, redacted_spans, write_redacted_audio
    said = Utterance(id=1, speaker="customer", text="my card is 4111 1111 1111 1111 thanks",
                     start=1.0, end=5.0, words=tuple(
                         Word(t, 1.0 + 0.5 * i, 1.4 + 0.5 * i, 0.9) for i, t in enumerate(
                             "my card is 4111 1111 1111 1111 thanks".split())))
    plain = Utterance(id=2, speaker="agent", text="thank you", start=6.0, end=7.0, words=())
    no_words = Utterance(id=3, speaker="customer", text="it's five five five one two three four",
                         start=8.0, end=10.0, words=())
    tl = redact_timeline(Timeline(call={}, events=[said, plain, no_words]))
    spans = redacted_spans(tl)
    # the four number words (2.5-4.4 s) as one span, padded; the utterance without word times whole
    assert spans == [(pytest.approx(2.35), pytest.approx(4.55)), (pytest.approx(7.85), pytest.approx(10.15))]
    rate = 8000
    t = np.arange(12 * rate) / rate
    voice = (0.5 * np.sin(2 * np.pi * 220 * t)).astype(np.float32)
    src = tmp_path / "call.wav"
    sf.write(src, np.stack([voice, voice], axis=1), rate)
    out = tmp_path / "bleeped.wav"
    assert write_redacted_audio(src, tl, out) == 2
    audio, r = sf.read(out, always_2d=True)
    assert r == rate and audio.shape == (len(voice), 2)
    assert oct(os.stat(out).st_mode & 0o777) == "0o600"

    def loudest_hz(a, b):
        seg = audio[int(a * rate):int(b * rate), 0]
        return np.fft.rfftfreq(len(seg), 1 / rate)[np.argmax(np.abs(np.fft.rfft(seg)))]
    assert loudest_hz(2.6, 4.3) == pytest.approx(TONE_HZ, abs=5)  # the voice is gone there
    assert loudest_hz(8.0, 10.0) == pytest.approx(TONE_HZ, abs=5)
    assert np.allclose(audio[: int(2.3 * rate)], np.stack([voice, voice], 1)[: int(2.3 * rate)],
                       atol=1e-3)  # and untouched elsewhere
    assert np.allclose(audio[int(4.6 * rate): int(7.8 * rate)],
                       np.stack([voice, voice], 1)[int(4.6 * rate): int(7.8 * rate)], atol=1e-3)
    from callassist.errors import CallAssistError
    with pytest.raises(CallAssistError) as err:
        write_redacted_audio(tmp_path / "missing.wav", tl, out)
    assert "cannot read the recording" in str(err.value)
