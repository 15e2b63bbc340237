"""The call library as the app uses it: the store plus what a call means.

`Library` is what the panel, the QA window, the importer and the command line talk to. It works
out everything derived from a call (personal data redacted from its events, the summary the
list of calls shows, the flagged moments) from the timeline in memory, before anything is
written, and hands the store finished rows. So the store never re-reads what it just wrote to
interpret it, and no flagging or redaction runs under the store's write lock.

Privacy: personal data (card, account and phone numbers, e-mail addresses, spoken digit
sequences) is redacted from every event before it is written (`callassist.library.redact`),
unless the library is opened with `redact=False`. The original text is kept only when the user
chooses (`keep_original=True`), in a separate table, and read back only on request.

Flags are computed on the events as stored (redacted), so re-flagging later with the same
thresholds gives the same flags. The library remembers the thresholds it last flagged with.
"""
from __future__ import annotations

import json
import logging
import os
import shutil
import threading
from dataclasses import dataclass, fields
from functools import cached_property
from pathlib import Path
from typing import Any, Callable, Iterable

from ..audio import provenance
from ..audio.recording import repair_wav
from ..core.events import Event, Relabelled, Transient, event_from_dict
from ..core.timeline import Timeline
from ..errors import CallAssistError
from .flags import Flag, FlagSettings, compute_flags, flag_counts, worst_moment
from .redact import redact_event
from .store import STATUSES, CallRow, CallStore, EventWriter, Summary, is_server

log = logging.getLogger(__name__)

SHARED = "shared:"  # audio_path of a recording kept in a team's shared folder (Library._share)


@dataclass
class CallRecord(CallRow):
    """A call as the list of calls shows it: the stored row, its flags as `Flag`s."""
    flags: list[Flag] | None = None  # flagged moments; None until the call is finished

    @classmethod
    def from_row(cls, row: CallRow) -> CallRecord:
        values = {f.name: getattr(row, f.name) for f in fields(CallRow)}
        if row.flags is not None:
            values["flags"] = [Flag.from_dict(f) for f in row.flags]
        return cls(**values)

    @cached_property  # asked for by every cell of the list: computed once per record read
    def worst(self) -> Flag | None:
        """The moment to open the call at (see flags.worst_moment)."""
        return worst_moment(self.flags or ())

    @cached_property
    def flag_counts(self) -> dict[str, int]:
        return flag_counts(self.flags or ())


def summarise(call: dict[str, Any], events: Iterable[Event], duration: float, status: str,
              settings: FlagSettings | None = None, rules=None) -> Summary:
    """The summary and flags of a call from its events (as stored: partials left out)."""
    call = {**call, "duration": round(float(duration), 3)}
    events = Timeline.of_events(call, events).events  # partials and superseded events left out
    counts: dict[str, int] = {}
    for e in events:
        counts[e.kind] = counts.get(e.kind, 0) + 1
    moods = [getattr(e, "score", None) for e in events if e.kind == "mood"]
    moods = [m for m in moods if isinstance(m, (int, float))]
    flags = compute_flags(Timeline(call=call, events=events), settings, rules)
    return Summary(status=status, duration=call["duration"], call=call,
                   utterances=counts.get("utterance", 0),
                   mood_start=moods[0] if moods else None, mood_end=moods[-1] if moods else None,
                   mood_min=min(moods) if moods else None, event_counts=counts,
                   flags=[f.to_dict() for f in flags])


def _parse_events(call_id: str, rows: Iterable[str]) -> tuple[list[Event], int]:
    """Events from stored JSON, and how many could not be read (a kind this version does not
    know); those are skipped with a warning."""
    events, bad = [], 0
    for data in rows:
        try:
            events.append(event_from_dict(json.loads(data)))
        except (KeyError, TypeError, ValueError) as exc:
            bad += 1
            log.warning("call %s: skipped an unreadable event (%s)", call_id, exc)
    return events, bad


def _event_time(event: Event) -> float | None:
    t = getattr(event, "end", None)
    return getattr(event, "time", None) if t is None else t


def _own_recording(rec: CallRow) -> bool:
    """Whether the call's audio is a recording the app made of it (a live call's), not the
    recording the call came from (a played or analysed file: its name is the call's source)."""
    return not rec.source or Path(rec.source).name != Path(rec.audio_path or "").name


def _cancelled(cancel) -> bool:
    if cancel is None:
        return False
    return cancel.is_set() if hasattr(cancel, "is_set") else bool(cancel())


class LiveRecorder:
    """Pipeline subscriber for a live call: each event is redacted as it comes and handed to the
    store's writer (committed about every second); the redacted events are kept, so the call is
    summarised and flagged at its end without reading it back."""

    def __init__(self, library: Library, writer: EventWriter):
        self.library, self.writer = library, writer
        self.events: list[Event] = []  # as stored

    def __call__(self, event: Event) -> None:
        if isinstance(event, Transient) or self.writer.closed:
            return
        if isinstance(event, Relabelled):  # what it supersedes is said again after it
            self.events = Relabelled.keep(self.events)
            self.writer.supersede()
        stored, original = self.library._clean(event)
        self.events.append(stored)
        self.writer.add(stored.kind, _event_time(stored), json.dumps(stored.to_dict(),
                        ensure_ascii=False), original)

    @property
    def complete(self) -> bool:
        """Whether `events` is the whole call (the writer did not resume a stored call)."""
        return self.writer.first_seq == 0

    error = property(lambda self: self.writer.error)
    saved = property(lambda self: self.writer.saved)
    closed = property(lambda self: self.writer.closed)

    def flush(self) -> None:
        self.writer.flush()

    def close(self, save: bool = True) -> None:
        self.writer.close(save)


class Library:
    """The call library: calls, their timelines, summaries, flags and notes. Thread-safe."""

    def __init__(self, path: str | Path | None = None, *, timeout: float = 5.0,
                 redact: bool = True, keep_original: bool = False,
                 flag_settings: FlagSettings | None = None, create: bool = True,
                 make_folder: bool = True):
        """`path`: a library file, or a team's server (`postgresql://USER@HOST:PORT/DB`).
        `create`, `make_folder`: whether a missing file, and its folder, may be made (see
        CallStore); a file that is not a call library is refused as it was found."""
        if is_server(path):  # a team's library: live calls spooled on this desk (see spool)
            from .spool import SpoolingStore
            self.store = SpoolingStore(CallStore(path, timeout=timeout, offline_ok=True))
        else:
            self.store = CallStore(path, timeout=timeout, create=create, make_folder=make_folder)
        self.path = self.store.path
        self.redact = redact  # remove personal data from what is written
        self.keep_original = keep_original and redact  # also keep the unredacted events
        self._recorders: dict[str, LiveRecorder] = {}
        self._own_audio: dict[str, Path] = {}  # live calls' recordings made by the app
        self.recordings: Path | None = None  # a team's shared folder of recordings (see share)
        self.rules_file: str | None = None  # the centre's rules and QA form (None: shipped)
        self.scorecard_file: str | None = None
        self._lock = threading.Lock()
        try:
            self.flag_settings = flag_settings or self._saved_flag_settings()
        except BaseException:
            self.store.close()
            raise

    def _saved_flag_settings(self) -> FlagSettings:
        saved = self.store.meta("flag_settings")
        if saved:
            try:
                return FlagSettings.from_dict(json.loads(saved))
            except (ValueError, TypeError, CallAssistError) as exc:
                log.warning("call library %s: saved flag thresholds ignored (%s)", self.path, exc)
        return FlagSettings()

    # -- what is written
    def _clean(self, event: Event) -> tuple[Event, str | None]:
        """The event to store (redacted unless the library says not), and the original as JSON
        when it differs and is to be kept."""
        if not self.redact:
            return event, None
        clean = redact_event(event)
        if self.keep_original and clean is not event and clean != event:
            return clean, json.dumps(event.to_dict(), ensure_ascii=False)
        return clean, None

    def _summary(self, call: dict, events, duration: float, status: str) -> Summary:
        if status not in STATUSES:
            raise ValueError(f"status must be one of {STATUSES}")
        summary = summarise(call, events, duration, status, self.flag_settings,
                            self.flag_rules())
        summary.scorecard = self._auto_card(events, summary.duration)
        return summary

    def flag_rules(self):
        """The rules whose moments are flagged: the built-in ones and this library's rules file
        (which can switch a built-in flag off); the built-in ones alone when the file is
        broken (said in the log)."""
        from ..assist.rulebook import rules_or_builtin
        return rules_or_builtin(self.rules_file)

    # -- the centre's QA form, answered automatically when a call is stored
    def _qa_form(self):
        """(rules, scorecard) of this library's files, loaded once; None when they cannot be
        (a broken file: said once in the log, the calls are stored without their card)."""
        key = (self.rules_file, self.scorecard_file)
        if getattr(self, "_form_key", None) != key:
            from ..assist.rulebook import load_rules
            from ..assist.scorecard import Scorecard
            try:
                rules = load_rules(self.rules_file)
                self._form = (rules, Scorecard.load(self.scorecard_file, rules=rules))
            except CallAssistError as exc:
                log.warning("calls stored without their QA scorecard: %s", exc)
                self._form = None
            self._form_key = key
        return self._form

    def _auto_card(self, events, duration: float) -> dict | None:
        """The automatic answers of the QA form on these events (the rule matches stored with
        them, else the rules by words run on them now), as stored with the call."""
        from ..assist.rulebook import evaluate
        from ..assist.scorecard import answer_card
        from ..core.events import RuleMatch
        form = self._qa_form()
        if form is None:
            return None
        rules, card = form
        events = [e for e in events if not isinstance(e, Transient)]
        matches = [e for e in events if isinstance(e, RuleMatch)] or evaluate(rules, events,
                                                                               duration)
        result = answer_card(card, matches)
        return {"card": card.name, "auto": {a.question.id: a.auto for a in result.answers}}

    def qa_card(self):
        """This library's QA form (assist.scorecard.Scorecard), None when it cannot be read."""
        form = self._qa_form()
        return None if form is None else form[1]

    def write_csv(self, records: list[CallRecord], path) -> None:
        """The list of calls as CSV, with each call's QA score and answers."""
        from .report import write_csv
        card = self.qa_card()
        write_csv(records, path, card, self.store.all_reviews(card.name) if card else None)

    def qa_averages(self, records: list[CallRecord] | None = None):
        """(scorecard, per agent, per question) over `records` (default: every call) scored
        with this library's form, reviewers' answers counted where there are any."""
        from ..assist.scorecard import averages
        form = self._qa_form()
        if form is None:
            raise CallAssistError("the QA scorecard or rules file cannot be read: see the log, "
                                  "fix the file, and try again")
        card = form[1]
        records = records if records is not None else self.list_calls()
        reviewed = self.store.all_reviews(card.name)
        rows = [(r.agent or "(no agent)", r.scorecard["auto"], reviewed.get(r.id, {}))
                for r in records if r.scorecard and r.scorecard.get("card") == card.name]
        agents, questions = averages(card, rows)
        return card, agents, questions

    # -- calls
    def start_call(self, call: dict[str, Any], audio_path: str | Path | None = None,
                   title: str = "", agent: str | None = None, own_audio: bool = False,
                   content_key: str | None = None) -> str:
        """Register a live call (a `Timeline.call` dict); returns its id. Status is "live".
        `own_audio`: `audio_path` is a recording the app makes of this call, deleted with the
        call if nothing is said in it (see finish_call); a played recording is never deleted.
        `content_key`: a recording analysed as it is stored (`analyze --save`), keyed from the
        start, so the same audio is not stored twice; raises AlreadyStored, storing nothing."""
        call_id = str(call.get("id") or os.urandom(6).hex())
        self.store.add_call(call_id, {**call, "id": call_id},
                            audio_path=str(audio_path) if audio_path else None, title=title,
                            agent=agent or call.get("agent"), redacted=self.redact,
                            content_key=content_key)
        if own_audio and audio_path:
            with self._lock:
                self._own_audio[call_id] = Path(audio_path)
        return call_id

    def recorder(self, call_id: str, flush_seconds: float = 1.0) -> LiveRecorder:
        """A pipeline subscriber that saves the call's events as they come (see LiveRecorder)."""
        with self._lock:
            old = self._recorders.get(call_id)
            if old is not None and not old.closed:
                return old
            rec = LiveRecorder(self, self.store.writer(call_id, flush_seconds))
            self._recorders[call_id] = rec
        return rec

    def find_recording(self, path: str | Path, key: str, duration: float) -> tuple[str, str] | None:
        """(id, title) of the call already holding this recording's audio (`key`, from
        audio.provenance.content_key), or None. Calls imported before keys existed (format 3)
        are keyed here, lazily: only those of about the same `duration`, so an import decodes
        a few old files, not the whole library. An old duplicate keeps no key (no error).
        A call of this audio whose analysis never finished (Ctrl+C, a crash) does not count: it
        stays in the library, marked interrupted, and gives up the key to the whole analysis."""
        found = self.store.by_content(key)
        if found is not None and self._unfinished(found[0]):
            self.store.clear_content_key(found[0])
            found = None
        if found is not None:
            return found
        for call_id, old_path in self.store.keyless_recordings(float(duration), 0.5):
            try:
                old_key = provenance.content_key(old_path)
            except OSError:
                continue  # moved or deleted since: cannot be keyed
            self.store.set_content_key(call_id, old_key)
            if old_key == key:
                return self.store.by_content(key) or (call_id, self.get_call(call_id).title)
        return None

    def _unfinished(self, call_id: str) -> bool:
        """Whether a call was left unfinished: interrupted, or live with nobody recording it
        (then it is marked interrupted now, as the panel does after a crash)."""
        status = self.store.get_call(call_id).status
        if status == "live" and any(c.id == call_id for c in self.store.interrupted_calls()):
            self.recover(call_id)
            return True
        return status == "interrupted"

    def save_recording(self, timeline: Timeline, path: str | Path, title: str = "",
                       agent: str | None = None, status: str = "done",
                       key: str | None = None) -> str:
        """Store an analysed recording: started at the recording's own time (its metadata, else
        its modification time) and under its content key, so the same audio is stored once even
        by two imports at once. Raises AlreadyStored ("already in the library as …")."""
        path = Path(path)
        timeline.call["started"] = provenance.recorded_at(path)
        key = key or provenance.content_key(path)
        # (a copy in the shared folder is never taken back: named by its content, it is the
        # very file another call of the same audio, stored meanwhile, points to)
        stored, _ = self._share(path, key)
        return self.save_timeline(timeline, audio_path=stored, title=title or path.stem,
                                  agent=agent, status=status, content_key=key)

    # -- a team's recordings, where every reviewer can play them
    def _share(self, path: Path, key: str, move: bool = False) -> tuple[str, str | None]:
        """Where a call's recording is kept: on a team's server library with a shared folder
        (`recordings` in config.toml), a copy in that folder, named by its content (the same
        audio is one file, a retried import writes it again in place), stored as a reference
        "shared:ab/<hash>.flac" that each machine reads from wherever it mounts the folder.
        Otherwise the path as it is. Returns (what to store, the file made or None). A folder
        that cannot be written is logged and the path kept: the call is stored all the same."""
        if self.recordings is None or getattr(self.store, "kind", "sqlite") != "postgresql":
            return str(path), None
        digest = key.rsplit(":", 1)[-1][:40]
        rel = f"{digest[:2]}/{digest}{path.suffix.lower()}"
        target = self.recordings / rel
        try:
            made = None
            if not target.exists():
                target.parent.mkdir(parents=True, exist_ok=True)
                tmp = target.with_name(f".{target.name}.{os.getpid()}.part")
                shutil.copyfile(path, tmp)
                os.chmod(tmp, 0o640)  # the team's group reads it (the folder says who that is)
                os.replace(tmp, target)
                made = str(target)
            if move:
                path.unlink(missing_ok=True)
            return SHARED + rel, made
        except OSError as exc:
            log.warning("recording %s kept where it is: cannot copy it into the shared folder "
                        "%s (%s)", path, self.recordings, exc.strerror or exc)
            return str(path), None

    def _record(self, row: CallRow) -> CallRecord:
        """A stored row as the app uses it: a shared recording's reference read as a file on
        this machine (its own mount of the shared folder)."""
        rec = CallRecord.from_row(row)
        if rec.audio_path and rec.audio_path.startswith(SHARED):
            rel = rec.audio_path[len(SHARED):]
            if self.recordings is not None:  # else left as it is: the replay view says why
                rec.audio_path = str(self.recordings / rel)
        return rec

    def save_timeline(self, timeline: Timeline, audio_path: str | Path | None = None,
                      title: str = "", agent: str | None = None, status: str = "done",
                      content_key: str | None = None) -> str:
        """Store a whole timeline at once (an analysed recording), summary and flags included,
        in one transaction; returns the call id. A `content_key` already stored raises
        AlreadyStored and stores nothing."""
        call_id = str(timeline.call.get("id") or os.urandom(6).hex())
        call = {**timeline.call, "id": call_id}
        stored, rows, originals = [], [], []
        for seq, event in enumerate(e for e in timeline.events
                                    if not isinstance(e, Transient)):
            clean, original = self._clean(event)
            stored.append(clean)
            rows.append((seq, clean.kind, _event_time(clean),
                         json.dumps(clean.to_dict(), ensure_ascii=False)))
            if original is not None:
                originals.append((seq, original))
        summary = self._summary(call, stored, float(timeline.call.get("duration") or 0.0), status)
        self.store.add_call(call_id, call, audio_path=str(audio_path) if audio_path else None,
                            title=title, agent=agent or call.get("agent"), redacted=self.redact,
                            summary=summary, events=rows, originals=originals,
                            content_key=content_key)
        return call_id

    def finish_call(self, call_id: str, duration: float, status: str = "done",
                    timeline: Timeline | None = None, separation: dict | None = None) -> bool:
        """End a call: save what its recorder holds, then write the summary and flags, computed
        from `timeline` when given, else from the events the recorder saw (or, for a call this
        library did not record, from what is stored). `separation`: how a mono call's voices
        were told apart, worked out as it went (else the timeline's), kept with the call.
        Returns whether the call was kept: one in which nothing was said (no utterance) is
        deleted, with the recording the app made of it (a silent line, a call started by
        mistake: nothing for QA, and audio nobody needs)."""
        if status not in STATUSES:
            raise ValueError(f"status must be one of {STATUSES}")
        with self._lock:
            rec = self._recorders.pop(call_id, None)
            own_audio = self._own_audio.pop(call_id, None)
        error = None
        try:
            try:
                self.store.close_writer(call_id)
            except CallAssistError as exc:
                error = exc
            if timeline is not None:
                events = [self._clean(e)[0] for e in timeline.events
                          if not isinstance(e, Transient)]
            elif rec is not None and rec.complete:
                events = rec.events
            else:
                events = self.load_timeline(call_id).events
            if error is None and not any(e.kind == "utterance" for e in events):
                self.store.delete_call(call_id)
                if own_audio is not None:
                    own_audio.unlink(missing_ok=True)
                return False
            call = self.store.get_call(call_id).call
            if separation is None and timeline is not None:
                separation = timeline.call.get("separation")
            if separation:
                call["separation"] = separation
            if "separation" in call and any(isinstance(e, Relabelled) for e in events):
                call["separation"] = Relabelled.separation(call["separation"])  # swapped live
            self.store.finish_call(call_id, self._summary(call, events, duration, status))
            if own_audio is not None and own_audio.exists() and self.recordings is not None:
                stored, _ = self._share(own_audio, provenance.content_key(own_audio), move=True)
                if stored != str(own_audio):  # now in the team's shared folder
                    self.store.update_call(call_id, audio_path=stored)
        finally:
            self.store.release(call_id)
        if error is not None:
            raise error
        return True

    def interrupted_calls(self) -> list[CallRecord]:
        """Calls left "live" by a process that is no longer recording them (a crash)."""
        return [self._record(r) for r in self.store.interrupted_calls()]

    def recover(self, call_id: str) -> Timeline:
        """Mark an interrupted call as such, fill its summary and duration, return its timeline."""
        rec = self.get_call(call_id)
        if self.store.is_recording(call_id):
            raise CallAssistError(f"call {call_id} is still being recorded: finish it first")
        duration = float(self.store.last_event_time(call_id) or 0.0)
        # only a recording the app made of a live call is repaired (and counts whole); a user's
        # recording played or analysed (`--play`, `analyze --save`) is never written to
        if rec.audio_path and _own_recording(rec) and Path(rec.audio_path).exists() \
                and rec.audio_path.endswith(".wav"):
            try:
                frames, rate = repair_wav(rec.audio_path)
                duration = max(duration, frames / rate)
            except (OSError, ValueError) as exc:
                log.warning("could not repair %s: %s", rec.audio_path, exc)
        timeline = self.load_timeline(call_id)
        summary = self._summary(rec.call, timeline.events, duration, "interrupted")
        self.store.finish_call(call_id, summary)
        return Timeline(call={**timeline.call, "duration": summary.duration},
                        events=timeline.events)

    def get_call(self, call_id: str) -> CallRecord:
        return self._record(self.store.get_call(call_id))

    def list_calls(self, limit: int | None = None) -> list[CallRecord]:
        """Calls, newest first."""
        return [self._record(r) for r in self.store.list_calls(limit)]

    def load_timeline(self, call_id: str, original: bool = False) -> Timeline:
        """The call's timeline as stored (redacted); `original=True` puts back the unredacted
        events where they were kept (keep_original)."""
        row = self.store.get_call(call_id)
        events, bad = _parse_events(call_id, self.store.event_data(call_id, original))
        call = dict(row.call)
        if bad:
            call["unreadable_events"] = bad
        return Timeline.of_events(call, events)

    def has_originals(self, call_id: str) -> bool:
        return self.store.has_originals(call_id)

    def update_call(self, call_id: str, *, title: str | None = None, agent: str | None = None,
                    audio_path: str | Path | None = None) -> None:
        self.store.update_call(call_id, title=title, agent=agent,
                               audio_path=str(audio_path) if audio_path else None)

    def delete_call(self, call_id: str) -> None:
        """Remove a call, its events and notes (its audio file is left where it is)."""
        with self._lock:
            self._recorders.pop(call_id, None)
        self.store.delete_call(call_id)  # closes its writer without saving

    def audio_paths(self) -> dict[str, str]:
        """The recordings already in the library: path -> the title (or id) of its call."""
        return self.store.audio_paths()

    def search(self, text: str) -> set[str]:
        """Ids of calls whose transcript has the words of `text`, in any order, the last one as a
        prefix ("refun" finds "refund"); words in double quotes are a phrase. Any text is safe."""
        return self.store.search(text)

    # -- flags
    def refresh_flags(self, settings: FlagSettings | None = None, *, only_missing: bool = False,
                      progress: Callable[[int, int], None] | None = None, cancel=None) -> int:
        """Recompute flagged moments call by call (after the thresholds changed; `only_missing`:
        calls stored before flags existed). `progress(done, total)` is called after each call;
        `cancel` (a threading.Event, or a function returning True) stops between calls, keeping
        what was done. Returns the number of calls re-flagged. Reads never block other readers,
        and each batch of results is written in one short transaction."""
        if settings is not None:
            self.flag_settings = settings
            self.store.set_meta("flag_settings", json.dumps(settings.to_dict()))
        settings, rules = self.flag_settings, self.flag_rules()
        ids = self.store.call_ids(without_flags=only_missing)
        done, batch = 0, {}
        try:
            for call_id in ids:
                if _cancelled(cancel):
                    break
                try:
                    timeline = self.load_timeline(call_id)
                except CallAssistError:
                    if call_id in self.store.call_ids(finished=False):
                        raise
                    continue  # deleted meanwhile
                batch[call_id] = [f.to_dict() for f in compute_flags(timeline, settings, rules)]
                done += 1
                if len(batch) >= 50:
                    self.store.set_flags(batch)
                    batch = {}
                if progress is not None:
                    progress(done, len(ids))
        finally:
            if batch:
                self.store.set_flags(batch)
        return done

    # -- agents' voice profiles: only to tell the agent's voice apart on mono calls
    def voice_profile(self, agent: str | None):
        """The agent's voice as a unit vector, or None (no agent named, no profile yet)."""
        found = self.store.voice_profile(agent) if agent else None
        return found[0] if found is not None else None

    def learn_voice(self, agent: str | None, path: str | Path,
                    channels: str | None = None) -> bool:
        """Add the agent's voice on their own channel of a stereo recording to their profile;
        False when there is nothing to learn (no agent named, mono, too little speech)."""
        if not agent:
            return False
        from ..audio.separated import channel_voice
        found = channel_voice(path, channels)
        if found is None:
            return False
        self.store.add_voice(agent, *found)
        return True

    def voice_profiles(self) -> list[tuple[str, float, int, str]]:
        return self.store.voice_profiles()

    def delete_voice_profile(self, agent: str | None = None) -> int:
        return self.store.delete_voice_profile(agent)

    # -- QA scorecards (assist.scorecard), answered from the call's rule matches
    def scorecard(self, call_id: str, card=None, rules=None, timeline=None):
        """The call's scorecard (a CardResult): automatic answers from the rule matches stored
        with the call (or, for a call stored before rules, the rules run on it now), and the
        reviewers' answers over them. `timeline`: the call's, when the caller has it loaded."""
        from ..assist.rulebook import evaluate, load_rules
        from ..assist.scorecard import Scorecard, answer_card
        from ..core.events import RuleMatch
        rules = rules if rules is not None else load_rules(self.rules_file)
        card = card if card is not None else Scorecard.load(self.scorecard_file, rules=rules)
        timeline = timeline if timeline is not None else self.load_timeline(call_id)
        matches = timeline.of(RuleMatch)
        if not matches:
            matches = evaluate(rules, timeline.events,
                               float(timeline.call.get("duration") or 0.0))
        return answer_card(card, matches, timeline.utterances,
                           reviews=self.store.reviews(call_id, card.name))

    def review(self, call_id: str, question: str, answer, reviewer: str, why: str = "",
               card=None, rules=None) -> None:
        """A reviewer's answer to one question of the call's scorecard, kept with who and when
        (and why), beside the automatic answer it replaces (for the agreement figures)."""
        from ..assist.scorecard import check_answer
        if not reviewer.strip():
            raise CallAssistError("say who reviews: a reviewer's answer is kept with their name")
        result = self.scorecard(call_id, card, rules)
        try:
            found = result.get(question)
        except StopIteration:
            raise CallAssistError(f"the scorecard {result.card.name!r} has no question "
                                  f"{question!r}") from None
        value = check_answer(found.question, answer)
        self.store.set_review(call_id, result.card.name, question, str(value),
                              None if found.auto is None else str(found.auto), reviewer.strip(),
                              why.strip())

    def review_agreement(self, card_name: str) -> dict[str, tuple[int, int]]:
        return self.store.review_agreement(card_name)

    # -- notes on moments
    def add_note(self, call_id: str, time: float, text: str, author: str = "") -> int:
        return self.store.add_note(call_id, time, text, author)

    def notes(self, call_id: str) -> list[dict[str, Any]]:
        return self.store.notes(call_id)

    def update_note(self, note_id: int, text: str) -> None:
        self.store.update_note(note_id, text)

    def delete_note(self, note_id: int) -> None:
        self.store.delete_note(note_id)

    def close(self) -> None:
        """Save what recorders hold and close. Unfinished calls stay "live" (offered next start)."""
        with self._lock:
            self._recorders.clear()
        self.store.close()

    def __enter__(self) -> Library:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
