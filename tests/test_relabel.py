"""A live call on one microphone whose caller spoke first: the separator takes the first voice
for the agent's, the words show it the other way round, and the call is relabelled everywhere
(the pipeline's streams and what they say next, the timeline, the library, the panel)."""
import numpy as np

from callassist.asr.base import SpeechEngine, SpeechStream
from callassist.audio.sources import AudioBlock
from callassist.core.events import (MoodState, Relabelled, Sentiment, Status, Utterance)
from callassist.core.pipeline import Pipeline
from callassist.core.timeline import Timeline

# (the voice that says it, the line): voice A is the caller, and is heard first
SCRIPT = [
    ("A", "Hello? Hi, is anyone there?"),
    ("B", "Thank you for calling Acme, my name is Sam, how can I help you today?"),
    ("A", "My order never arrived, it's the third time I ring and I'm really angry."),
    ("B", "I'm sorry about that. Let me check your order now."),
    ("A", "Thanks, that's great."),
]


AGENT_FIRST = [("A", SCRIPT[1][1]), ("B", SCRIPT[2][1]), ("A", SCRIPT[3][1]),
               ("B", SCRIPT[4][1])]


class ScriptEngine(SpeechEngine):
    """A fake recogniser: a block whose samples are k/100 is line k of `script`; a silent block
    after some ends the utterance with that line's text."""
    name = "script"

    def __init__(self, script=SCRIPT):
        self.script = script

    def stream(self, speaker, partials=True):
        script = self.script

        class S(SpeechStream):
            line = None
            began = 0.0

            def accept_audio(self, samples):
                start = self.now
                self.samples_in += len(samples)
                if samples.any():
                    if self.line is None:
                        self.began = start
                    self.line = int(round(float(samples[0]) * 100)) - 1
                    return []
                return self.finish()

            def finish(self):
                if self.line is None:
                    return []
                k, self.line = self.line, None
                return [Utterance(0, self.speaker, script[k][1], self.began, self.now - 0.1)]
        return S(speaker, "script")


class FirstVoiceIsAgent:
    """A live separator's output: both streams get every block, the sound to the stream of the
    voice's role as it took them (the first voice heard for the agent's)."""
    speakers = ("agent", "customer")
    separation = {"method": "voices", "live": True, "voices": 2, "agent_by": "first",
                  "confidence": 0.55}

    def __init__(self, script=SCRIPT):
        self.script = script

    def __iter__(self):
        t = 0.0
        for k, (voice, _) in enumerate(self.script):
            for i in range(12):  # 1.2 s of speech, then 0.5 s of silence
                sound = np.full(1600, (k + 1) / 100, np.float32) if i < 7 else \
                    np.zeros(1600, np.float32)
                to = "agent" if voice == "A" else "customer"
                for name in self.speakers:
                    yield AudioBlock(name, round(t, 3), sound if name == to else 0 * sound)
                t += 0.1


class Tone:
    """A fake mood model: "angry" is negative, "great" and "thank" positive."""
    name = "tone"

    def predict(self, texts, contexts=None):
        from types import SimpleNamespace
        out = []
        for text in texts:
            t = text.lower()
            score = -0.8 if "angry" in t else 0.8 if ("great" in t or "thank" in t) else 0.0
            label = "negative" if score < 0 else "positive" if score > 0 else "neutral"
            out.append(SimpleNamespace(label=label, score=score, intensity=abs(score),
                                       probs={"negative": max(0, -score),
                                              "positive": max(0, score)}))
        return out


def test_the_callers_first_words_then_the_agents_greeting_swap_the_roles_of_the_whole_call():
    pipe = Pipeline(ScriptEngine(), Tone())
    seen = []
    pipe.subscribe(seen.append)
    tl = pipe.run(FirstVoiceIsAgent())

    # what was published: the first two lines as the separator named them, then a Relabelled,
    # then the same lines with the roles swapped, then the rest of the call named right
    relabel = next(i for i, e in enumerate(seen) if isinstance(e, Relabelled))
    before = [(e.speaker, e.text[:5]) for e in seen[:relabel] if isinstance(e, Utterance)]
    assert before == [("agent", "Hello"), ("customer", "Thank")]
    assert "other voice" in seen[relabel].message
    after = [e for e in seen[relabel:] if isinstance(e, Utterance)]
    assert [(u.id, u.speaker) for u in after] == [(1, "customer"), (2, "agent"), (3, "customer"),
                                                 (4, "agent"), (5, "customer")]
    # the timeline keeps what stands: each line once, right; the caller's mood alone
    assert [(u.id, u.speaker) for u in tl.utterances] == [(u.id, u.speaker) for u in after]
    assert [u.text for u in tl.utterances] == [line for _, line in SCRIPT]
    assert all(isinstance(e, Status) for e in tl.events[:tl.events.index(seen[relabel])])
    moods = tl.of(MoodState)
    assert [m.utterance_id for m in moods] == [1, 3, 5]  # the greeting never moved the mood
    assert moods[1].score < 0 < moods[-1].score
    assert sorted(s.utterance_id for s in tl.of(Sentiment)) == [1, 2, 3, 4, 5]
    assert tl.call["separation"]["agent_by"] == "words"
    # the streams were renamed: the one hearing voice A is the caller's from then on
    assert pipe.streams["customer"].speaker == "customer" and pipe.streams["agent"].speaker == "agent"
    assert pipe.streams["customer"]._wants_partials and not pipe.streams["agent"]._wants_partials
    # a timeline read back from its events is the same
    assert Timeline.of_events(tl.call, seen).events == tl.events


def test_audio_put_aside_on_a_busy_machine_is_heard_in_order_once_it_is_the_callers():
    """On a busy machine the agent's audio waits behind the caller's (core.pacing): when the
    roles swap, what waited is the caller's, and their stream hears it before what follows."""
    pipe = Pipeline(ScriptEngine(), Tone())
    pipe._level = 2  # busy (a live call sets it from its lag): the agent's audio is put aside
    tl = pipe.run(FirstVoiceIsAgent())
    said = {(u.speaker, u.text) for u in tl.utterances}
    assert said == {("customer" if v == "A" else "agent", line) for v, line in SCRIPT}
    callers = [u for u in tl.utterances if u.speaker == "customer"]
    assert [u.text for u in callers] == [line for v, line in SCRIPT if v == "A"]
    assert [u.start for u in callers] == sorted(u.start for u in callers)
    assert [m.utterance_id for m in tl.moods] == [u.id for u in callers]


def test_the_roles_stand_when_the_first_voice_is_the_agents():
    tl = Pipeline(ScriptEngine(AGENT_FIRST), Tone()).run(FirstVoiceIsAgent(AGENT_FIRST))
    assert not tl.of(Relabelled)
    assert [u.speaker for u in tl.utterances] == ["agent", "customer", "agent", "customer"]


def test_a_recording_or_a_call_with_the_agents_profile_is_not_relabelled_by_words():
    class ByProfile(FirstVoiceIsAgent):
        separation = {**FirstVoiceIsAgent.separation, "agent_by": "profile"}
    tl = Pipeline(ScriptEngine(), Tone()).run(ByProfile())
    assert not tl.of(Relabelled)
    assert [u.speaker for u in tl.utterances][:2] == ["agent", "customer"]


def test_the_library_keeps_the_relabelled_call_only(target):
    """A live call's events are saved as they come: those a Relabelled supersedes are deleted
    in the write that follows it, so the transcript, search and counts hold each line once,
    with its right speaker (SQLite and PostgreSQL)."""
    from callassist.library.service import Library
    store = Library(target)
    pipe = Pipeline(ScriptEngine(), Tone())
    call = pipe.new_call("live call", ("agent", "customer"))
    store.start_call(call, title="Live call")
    rec = store.recorder(call["id"], flush_seconds=0.0)  # every event written as it comes
    pipe.subscribe(rec)
    tl = pipe.run(FirstVoiceIsAgent(), call=call)
    rec.close()
    assert store.finish_call(call["id"], tl.call["duration"],
                             separation=tl.call["separation"])  # as the panel's worker does
    back = store.load_timeline(call["id"])
    assert [(u.id, u.speaker, u.text) for u in back.utterances] == \
        [(u.id, u.speaker, u.text) for u in tl.utterances]
    assert len(back.of(Relabelled)) == 1 and len(back.moods) == 3
    assert len(store.store.event_data(call["id"])) == len(tl.events)  # nothing superseded left
    assert store.get_call(call["id"]).utterances == 5
    assert store.search("Acme") == {call["id"]}
    from callassist.audio.separated import describe
    level, line = describe(store.get_call(call["id"]).call["separation"])  # replay and report
    assert level == "info" and "what each side says" in line
    store.close()


def test_the_panel_shows_the_call_again_with_the_roles_swapped(qtbot):
    from callassist.gui.panel import SidePanel
    from callassist.gui.settings import PanelSettings
    panel = SidePanel(PanelSettings())
    qtbot.addWidget(panel)
    seen = []
    pipe = Pipeline(ScriptEngine(), Tone())
    pipe.subscribe(seen.append)
    pipe.run(FirstVoiceIsAgent())
    relabel = next(i for i, e in enumerate(seen) if isinstance(e, Relabelled))
    for e in seen[:relabel]:
        panel.on_event(e)
    panel.clock.setText("00:04")
    assert panel.transcript.toPlainText().startswith("You")
    for e in seen[relabel:]:
        panel.on_event(e)
    lines = panel.transcript.toPlainText().splitlines()
    assert [ln.split()[0] for ln in lines] == ["Caller", "You", "Caller", "You", "Caller"]
    assert len(panel.chart.xs) == 3 and panel.clock.text() == "00:04"
    assert "other voice" in panel.footer.text()


def test_the_calls_own_recording_gets_its_channels_swapped_in_place(tmp_path):
    """The app records a speakerphone call as the separator named its voices (agent left); once
    the roles were swapped, the recording's channels are too, so it plays and re-analyses right
    and the agent's voice profile learns the agent's voice."""
    import soundfile as sf
    from callassist.audio.recording import AudioRecorder, swap_channels
    rec = AudioRecorder(tmp_path / "call.wav", ("agent", "customer"))
    t = np.arange(16000 * 3) / 16000
    rec(AudioBlock("agent", 0.0, (0.5 * np.sin(2 * np.pi * 300 * t)).astype(np.float32)))
    rec(AudioBlock("customer", 0.0, np.full(len(t), 0.25, np.float32)))
    rec.close()
    before, _ = sf.read(tmp_path / "call.wav")
    swap_channels(tmp_path / "call.wav", chunk=7000)  # chunks that do not divide the frames
    after, rate = sf.read(tmp_path / "call.wav")
    assert rate == 16000 and after.shape == before.shape == (48000, 2)
    assert np.array_equal(after, before[:, ::-1]) and abs(after[:, 0].mean() - 0.25) < 1e-3
    assert (tmp_path / "call.wav").stat().st_mode & 0o777 == 0o600


def roles_read_wrong(utterances, **rule) -> bool:
    """The pipeline's answer (RoleTally) after reading `utterances`, a call so far."""
    from callassist.core.pipeline import RoleTally
    tally = RoleTally(**rule)
    for u in utterances:
        tally.add(u)
    return tally.wrong()


def test_the_words_swap_by_a_clear_lead_or_by_each_sides_opening_as_a_recordings_do():

    def utt(speaker, text, start, seconds):
        return Utterance(0, speaker, text, start, start + seconds)
    # the first voice (taken for the agent) asks; the other answers as agents do, by one phrase
    call = [utt("agent", "Hello, is that the pharmacy?", 0, 2),
            utt("customer", "Yes, Harbour Pharmacy, how can I help?", 3, 3)]
    assert not roles_read_wrong(call)  # a lead of 1, openings not heard whole yet
    call += [utt("agent", "I ordered a repeat prescription last week and nothing came.", 7, 5),
             utt("customer", "Okay, what name is it under?", 13, 4),
             utt("agent", "Jane Doe, and the date of birth is the second of May.", 18, 6),
             utt("customer", "Right, I have it here, it was sent to the wrong branch.", 25, 6)]
    assert roles_read_wrong(call)  # 13 s and 13 s heard: the openings decide, as offline
    assert not roles_read_wrong(call, opening=None)  # a lead of 1 over the call is not enough
    # phrases agents say, heard from the caller's side only after the openings: not enough
    late = [utt("agent", "Thank you for calling, how can I help you today?", 0, 13),
            utt("customer", "Hi, yes, my order has not come.", 14, 13),
            utt("customer", "Let me check my email.", 30, 2)]
    assert not roles_read_wrong(late)
    assert not roles_read_wrong(late + [utt("customer", "Is there anything else I need? Let me "
                                               "see, and have a nice day.", 40, 4)])
    # a clear lead decides at once, openings or not
    assert roles_read_wrong([utt("agent", "Hello?", 0, 1),
                             utt("customer", "Thank you for calling Acme, my name is Sam, how "
                                             "can I help?", 2, 4)])


def test_a_live_call_reads_its_roles_as_it_goes_not_from_the_start_each_time(monkeypatch):
    """The pipeline keeps what each side said (RoleTally), one utterance at a time: a call the
    right way round never reads wrong, however long; one the wrong way round reads wrong at
    the utterance that gives the lead (the agent's greeting, +2: the pipeline swaps then); each
    utterance's words are read once (not again after every later one, as a long call's were)."""
    from callassist.audio import diarize
    from callassist.core.pipeline import RoleTally

    lines = ["Hello?", "Thank you for calling, how can I help?", "My parcel is late.",
             "I am sorry to hear that, let me check.", "It was due on Monday.",
             "Is there anything else I can help with?", "No, thanks."]

    def call(first):
        second = "agent" if first == "customer" else "customer"
        return [Utterance(0, second if i % 2 else first, text, 2.0 * i, 2.0 * i + 1.5)
                for i, text in enumerate(lines * 3)]

    def wrong_from(utts):
        tally, seen = RoleTally(), []
        for u in utts:
            tally.add(u)
            seen.append(tally.wrong())
        return seen
    assert not any(wrong_from(call("customer")))  # the caller said "Hello?", the agent greeted
    assert wrong_from(call("agent")).index(True) == 1  # the greeting: +2 on the wrong side
    read = []
    real = diarize.role_words

    def counted(text):
        read.append(text)
        return real(text)
    monkeypatch.setattr(diarize, "role_words", counted)
    pipe = Pipeline(ScriptEngine(), Tone())
    pipe._read_roles = True
    for u in call("customer")[:6]:
        pipe._take(u)
        pipe._roles_read_wrong()
    assert len(read) == 6
