"""The engine for one call: audio blocks -> per-speaker recognisers -> sentiment -> mood ->
assistant -> subscribers.

One pipeline serves live calls, replays and batch analysis; only the audio source differs.
A pipeline is ONE call's session (recogniser streams, mood tracker, assistant state) over models
loaded once per process: take a new one for every call from `core.models.Models.session`.
Processing is synchronous in the thread that calls `run` (never the GUI thread); subscribers
receive events in order, in that thread.
"""
from __future__ import annotations

import time
import uuid
from dataclasses import replace
from datetime import datetime, timezone
from typing import Callable, Iterable

from ..asr import SpeechEngine, SpeechStream
from ..audio.sources import AudioBlock
from ..errors import CallAssistError
from .events import (AGENT, CUSTOMER, Event, MoodState, PartialUtterance, Relabelled, Sentiment,
                     Status, Utterance)
from ..mood.tracker import MoodTracker, call_scores
from .pacing import BACKLOG_SLICE, CATCH_UP_BELOW, LagNotice, Shedding, level_for
from .timeline import Timeline

CONTEXT_SECONDS = 30.0  # turns older than this before an utterance are not its context
# how far the caller's side must out-say the agent's in what agents say, less what callers say
# (audio.diarize.role_words: "thank you for calling", "how can I help" against "I'm calling
# about", "my order") for a live call's roles to be swapped
ROLE_LEAD = 2
OPENING_SECONDS = 12.0  # each side's first seconds of speech, as a recording's roles are read


class RoleTally:
    """What each side of a call has said of what agents say (audio.diarize.role_words), kept
    utterance by utterance as the call goes: `wrong()` says whether the words show its two
    voices the other way round: the caller's side out-says the agent's by `lead` over the call
    so far, or, once each side's `opening` seconds have been heard, at all in them (the rule for
    a recording, audio.diarize.assign_roles: what each speaker says first tells most)."""

    def __init__(self, caller: str = CUSTOMER, lead: int = ROLE_LEAD,
                 opening: float | None = OPENING_SECONDS):
        self.caller, self.lead, self.opening = caller, lead, opening
        self.score = {AGENT: 0, caller: 0}
        self.first = {AGENT: 0, caller: 0}
        self.heard = {AGENT: 0.0, caller: 0.0}

    def add(self, u) -> None:
        from ..audio.diarize import role_words

        if u.speaker not in self.score:
            return
        words = role_words(u.text)
        self.score[u.speaker] += words
        if self.opening is not None and self.heard[u.speaker] < self.opening:
            self.first[u.speaker] += words
            self.heard[u.speaker] += u.end - u.start

    def wrong(self) -> bool:
        if self.score[self.caller] - self.score[AGENT] >= self.lead:
            return True
        return (self.opening is not None and min(self.heard.values()) >= self.opening
                and self.first[self.caller] > self.first[AGENT])



class Pipeline:
    def __init__(self, engine: SpeechEngine, sentiment_model=None, *, caller: str = CUSTOMER,
                 partials: bool = True, cue_detector=None, mood_window: int = 3, assistant=None):
        self.engine = engine
        self.sentiment_model = sentiment_model
        self.caller = caller
        self.partials = partials
        self._tracker_args = {"speaker": caller, "window": mood_window, "cue_detector": cue_detector}
        self.tracker = MoodTracker(**self._tracker_args)
        self.streams: dict[str, SpeechStream] = {}
        self.subscribers: list[Callable[[Event], None]] = []
        self._next_id = 1
        self._audio_end = 0.0
        self._sentiments: list[Sentiment] = []
        self._utterances: list[Utterance] = []
        self.assistant = assistant
        self._ran = False
        # live calls on a busy machine (core.pacing): what is shed, and the agent's audio put aside
        self.shed = Shedding()
        self._spare_before = getattr(engine, "spare_passes", 0)  # the engine serves many calls
        self._level = 0
        self._lag = 0.0
        self._backlog: list[AudioBlock] = []
        self._notice = LagNotice()
        self._stopping = False  # stop() or Ctrl+C: end the call now with what was analysed
        self._abandoned = False  # Ctrl+C inside run: not even the streams' last words are decoded
        # a live call on one microphone whose agent was taken to be the first voice heard: what
        # each side says that agents say (audio.diarize.role_words) may show it the other way round
        self._read_roles = False
        self._roles: RoleTally | None = None  # what each side said of what agents say, so far
        self._swapped = False  # ... and it did: the source's names are swapped from then on
        self._timeline: Timeline | None = None

    def subscribe(self, fn: Callable[[Event], None]) -> None:
        self.subscribers.append(fn)

    def publish(self, event: Event) -> None:
        for fn in self.subscribers:
            fn(event)

    def _stream(self, speaker: str) -> SpeechStream:
        if speaker not in self.streams:
            # text while they speak is for the caller: the agent knows what they are saying, and
            # each partial pass costs as much as a final one (Whisper reads 30 s windows)
            self.streams[speaker] = self.engine.stream(
                speaker, partials=self.partials and speaker == self.caller)
        return self.streams[speaker]

    def _handle(self, results, stream: SpeechStream | None = None) -> None:
        said = False
        for ev in results:
            if stream is not None and isinstance(ev, (Utterance, PartialUtterance)) \
                    and ev.speaker != stream.speaker:
                ev = replace(ev, speaker=stream.speaker)  # made before the stream was renamed
            if isinstance(ev, Utterance):
                ev = replace(ev, id=self._next_id)
                self._next_id += 1
                self._take(ev)
                said = True
            else:
                self.publish(ev)
                if isinstance(ev, PartialUtterance) and ev.speaker == self.caller and ev.text:
                    self._provisional(ev)
        if said and self._read_roles and self._roles_read_wrong():
            self._relabel()

    def _take(self, ev: Utterance) -> None:
        """A final utterance: published, read for the mood, and given to the assistant."""
        self._utterances.append(ev)
        if self._read_roles:  # a live call whose roles are the first voice's: read as it goes
            if self._roles is None:
                self._roles = RoleTally(self.caller, self.ROLE_LEAD, self.OPENING_SECONDS)
            self._roles.add(ev)
        self.publish(ev)
        mood = self._analyse(ev)
        if self.assistant is not None:
            help_events = (self.assistant.on_caller(ev, mood) if ev.speaker == self.caller
                           else self.assistant.on_agent(ev))
            for h in help_events:
                self.publish(h)

    ROLE_LEAD = ROLE_LEAD  # the module's (a benchmark may try another on one pipeline)

    OPENING_SECONDS = OPENING_SECONDS

    def _roles_read_wrong(self) -> bool:
        return self._roles is not None and self._roles.wrong()

    def _relabel(self) -> None:
        """The live call's two voices were the other way round: the streams are renamed (the
        source's names are swapped from now on, in feed), and everything said so far is said
        again after a Relabelled event, with mood and help worked out anew (once a call)."""
        other = {AGENT: self.caller, self.caller: AGENT}
        self._swapped, self._read_roles = True, False  # once a call
        self.streams = {other.get(k, k): s for k, s in self.streams.items()}
        for name, stream in self.streams.items():
            stream.rename(name, partials=self.partials and name == self.caller)
        self._backlog = [replace(b, speaker=other.get(b.speaker, b.speaker)) for b in self._backlog]
        said = [replace(u, speaker=other.get(u.speaker, u.speaker)) for u in self._utterances]
        at = said[-1].end if said else self._audio_end
        if self._timeline is not None and "separation" in self._timeline.call:
            call = self._timeline.call
            call["separation"] = Relabelled.separation(call["separation"])
        self.publish(Relabelled(round(at, 3), "one microphone for both speakers: the agent is "
                                "the other voice, by what each side says (the call so far is "
                                "shown again, relabelled)"))
        self._utterances, self._sentiments = [], []
        self.tracker = MoodTracker(**self._tracker_args)
        if self.assistant is not None:
            self.assistant = self.assistant.fresh()
        for u in said:
            self._take(u)
        # the audio put aside on a busy machine was the new caller's: heard now, in order,
        # before their stream takes the blocks that follow it
        self._catch_up(budget=None)

    def _context(self, utt) -> list[tuple[str, str]]:
        """The turns said just before `utt` (within CONTEXT_SECONDS), oldest first: what the mood
        model reads it with ("yes" after "is that all?", "thanks" after bad news)."""
        turns = [(u.speaker, u.text) for u in self._utterances[-4:]
                 if u is not utt and u.end <= utt.end + 0.05 and u.end >= utt.start - CONTEXT_SECONDS]
        return turns[-2:]

    def _sentiment(self, utt) -> Sentiment:
        res = self.sentiment_model.predict([utt.text], [self._context(utt)])[0]
        return Sentiment(utterance_id=getattr(utt, "id", 0), speaker=utt.speaker,
                         time=round(utt.end, 3), label=res.label, score=round(res.score, 4),
                         probs={k: round(v, 4) for k, v in res.probs.items()},
                         intensity=round(res.intensity, 3))

    def _provisional(self, partial: PartialUtterance) -> None:
        """The caller's mood from the words so far, shown as provisional until the utterance ends."""
        if self.sentiment_model is None:
            return
        self.publish(self.tracker.preview(partial, self._sentiment(partial)))

    def _analyse(self, utt: Utterance) -> MoodState | None:
        if self.sentiment_model is None:
            return None
        sent = self._sentiment(utt)
        self._sentiments.append(sent)
        self.publish(sent)
        if utt.speaker == self.caller:
            mood = self.tracker.update(utt, sent)
            self.publish(mood)
            return mood
        return None  # the agent's own tone: kept for coaching and the call score, never the mood

    def feed(self, block: AudioBlock) -> None:
        if self._swapped and block.speaker in (AGENT, self.caller):
            block = replace(block, speaker=AGENT if block.speaker == self.caller else self.caller)
        self._audio_end = max(self._audio_end, block.end)
        # the caller's speech first; once some is put aside, the agent's audio queues behind it
        # so that their stream hears it in order
        if block.speaker != self.caller and (self._level >= 2 or self._backlog):
            self._backlog.append(block)
            self.shed.agent_seconds_deferred += block.end - block.start
            return
        if self._level >= 3:
            self.shed.economy_seconds += block.end - block.start
        stream = self._stream(block.speaker)
        self._handle(stream.accept_audio(block.samples), stream)

    def _pace(self, lag: float, at: float) -> None:
        """Shed work, or take it back, for how far behind the call recognition is (core.pacing)."""
        self._lag = lag
        self.shed.max_lag = max(self.shed.max_lag, lag)
        self._level = level_for(lag, self._level)
        for stream in self.streams.values():
            stream.partials = self._level < 1
            stream.economy = self._level >= 3
        notice = self._notice.message(lag)
        if notice is not None:
            self.publish(Status(round(at, 3), notice[1], level=notice[0]))

    def _catch_up(self, budget: float | None = BACKLOG_SLICE) -> None:
        """Transcribe deferred agent audio, a little at a time, once the call is current."""
        end = None if budget is None else time.monotonic() + budget
        while self._backlog and (end is None or time.monotonic() < end):
            block = self._backlog.pop(0)
            stream = self._stream(block.speaker)
            self._handle(stream.accept_audio(block.samples), stream)

    def stop(self) -> None:
        """End the call early (from a signal handler or another thread): `run` stops after the
        block in hand and finishes with what was heard so far; the agent's audio put aside on a
        busy machine (core.pacing) is left untranscribed, so stopping never takes minutes."""
        self._stopping = True

    def finish(self) -> None:
        began = time.monotonic()
        waiting = sum(b.end - b.start for b in self._backlog)
        self.shed.agent_seconds_at_hangup = waiting
        if not self._stopping:
            if waiting >= 5:  # put aside on a busy machine (core.pacing): said, not silent
                self.publish(Status(round(self._audio_end, 3), f"the call has ended; "
                                    f"transcribing the last {waiting:.0f} s of your own words",
                                    level="info"))
            self._catch_up(budget=None)
        for stream in self.streams.values():
            self.shed.partial_passes += stream.partials_shed
            if not self._abandoned:
                self._handle(stream.finish(), stream)
            self.shed.passes_ahead += getattr(stream, "passes_ahead", 0)
            self.shed.passes_ahead_used += getattr(stream, "passes_ahead_used", 0)
        self.shed.spare_passes = getattr(self.engine, "spare_passes", 0) - self._spare_before
        for score in call_scores(self._sentiments, self._audio_end):
            self.publish(score)
        if self.assistant is not None:
            for ev in self.assistant.finish(self._utterances, self._audio_end):
                self.publish(ev)
        self.shed.finish_seconds = time.monotonic() - began

    def catch_up(self):
        """The call so far, summarised for a transfer to a senior rep (an assist.wrapup WrapUp
        with final=False); None without an assistant. Safe to call from another thread."""
        if self.assistant is None:
            return None
        return self.assistant.catch_up(list(self._utterances))

    def peek_text(self, audio) -> str:
        """What is said in a piece of audio (16 kHz mono), read by this call's recogniser
        outside the call: used to tell which voice of a mono recording is the agent's."""
        stream = self.engine.stream("peek", partials=False)
        events = [*stream.accept_audio(audio), *stream.finish()]
        return " ".join(e.text for e in events if isinstance(e, Utterance) and e.text)

    def _separated(self, source, timeline: Timeline) -> None:
        """A mono recording whose voices were told apart: the call says how, and how sure."""
        separation = getattr(source, "separation", None)
        if not separation:
            return
        from ..audio.separated import describe
        timeline.call["separation"] = separation
        level, message = describe(separation)
        self.publish(Status(0.0, message, level=level))

    def new_call(self, source_name: str = "", speakers: Iterable[str] = ()) -> dict:
        """The metadata of a call this pipeline is about to run (the timeline's `call`)."""
        return {
            "id": uuid.uuid4().hex[:12],
            "source": source_name,
            "started": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "engine": self.engine.name,
            "engine_description": self.engine.description,
            "mood_model": getattr(self.sentiment_model, "name", None),
            "speakers": list(speakers),
        }

    def run(self, source: Iterable[AudioBlock], *, realtime: bool = False,
            on_progress: Callable[[float], None] | None = None, source_name: str = "",
            call: dict | None = None, speed: float = 1.0,
            clock: Callable[[], float | None] | None = None) -> Timeline:
        """Feed every block of `source`, then finish. Returns the call's timeline.

        `call` is the metadata from `new_call` when the caller needs it before the call starts
        (to store the call as it goes); otherwise it is made here. `clock()` gives the wall time
        (time.monotonic) at which the call's audio began, when it was captured before the
        pipeline started (while the models loaded): how far behind the call is counts from there.
        If the source fails part-way (a damaged file, a device unplugged), everything analysed
        so far is kept: the timeline is finished and returned with an error status, then the
        error is raised again with the timeline attached (`exc.timeline`). So is a Ctrl+C
        (KeyboardInterrupt) that lands here, after a finish that decodes nothing more; `stop()`
        ends the call gently instead (the streams' last words are still transcribed).
        """
        if self._ran:  # its streams, mood and assistant state belong to the call it ran
            raise RuntimeError("a pipeline runs one call: take a new session from Models.session")
        self._ran = True
        timeline = Timeline(call=dict(call) if call is not None else
                            self.new_call(source_name, getattr(source, "speakers", ())))
        self.subscribe(timeline)
        self._timeline = timeline
        separation = getattr(source, "separation", None) or {}
        if separation.get("live") and separation.get("agent_by") == "first":
            self._read_roles = True
        for problem in [*getattr(self.engine, "problems", ()),
                        *(self.assistant.problems if self.assistant is not None else [])]:
            self.publish(Status(0.0, problem, level="warning"))
        if hasattr(source, "peek") and source.peek is None:  # a mono call's voices: who says
            source.peek = self.peek_text                       # the agent's words
        t0 = None
        error: CallAssistError | None = None
        try:
            for block in source:
                if t0 is None:
                    self._separated(source, timeline)
                if t0 is None:  # the clock starts with the first audio (a device can take ~2 s)
                    t0 = (clock() if clock else None) or time.monotonic() - block.end / speed
                if realtime:  # wall-clock seconds behind the call
                    self._pace((time.monotonic() - t0) - block.end / speed - block.held,
                               block.end)
                self.feed(block)
                if realtime and self._backlog and self._lag < CATCH_UP_BELOW:
                    self._catch_up()
                if on_progress:
                    on_progress(block.end)
                if self._stopping:
                    break
        except CallAssistError as exc:
            error = exc
            self.publish(Status(round(self._audio_end, 3), str(exc), level="error"))
        except KeyboardInterrupt as exc:  # Ctrl+C: finish at once, keep what was analysed
            self._stopping = self._abandoned = True
            exc.timeline = timeline
            raise
        finally:
            self.finish()
            timeline.call["duration"] = round(self._audio_end, 3)
            if realtime:
                timeline.call["shed"] = self.shed.to_dict()
            self.subscribers.remove(timeline)
        if error is not None:
            error.timeline = timeline
            raise error
        return timeline
