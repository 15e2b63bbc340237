"""The call store: a real SQLite file, real events, crashes made with SIGKILL."""
import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import sqlalchemy as sa
import soundfile as sf

from callassist.audio.sources import AudioBlock
from callassist.errors import CallAssistError
from callassist.core.events import (CallerPoint, CallMetrics, CallScore, ChecklistItem, CoachingTip,
                               EscalationAdvice, KnowledgeMatch, MoodState, PartialUtterance,
                               PhraseSuggestion, Sentiment, Status, Utterance, Word)
from callassist.audio.recording import AudioRecorder, repair_wav
from callassist.core.text import spoken_numbers
from callassist.library.service import Library
from callassist.library.schema import HEAD
from callassist.library.store import CallStore, default_db
from callassist.core.timeline import Timeline

ROOT = Path(__file__).resolve().parents[1]
TRUTH = ROOT / "demo" / "calls" / "angry_calmed.truth.json"


def demo_timeline() -> Timeline:
    """A timeline with every kind of event, its utterances taken from a demo call's script."""
    turns = json.loads(TRUTH.read_text())["turns"]
    tl = Timeline(call={"id": "demo01", "source": str(TRUTH), "started": "2024-05-01T10:00:00+00:00",
                        "engine": "whisper-tiny.en", "speakers": ["agent", "customer"]})
    tl(Status(0.0, "knowledge base not found", level="warning"))
    score = 0.0
    for i, turn in enumerate(turns, 1):
        words = tuple(Word(w, turn["start"] + k * 0.3, turn["start"] + k * 0.3 + 0.25, 0.9)
                      for k, w in enumerate(turn["text"].split()[:6]))
        tl(PartialUtterance(turn["speaker"], turn["text"][:10], turn["start"], turn["start"] + 1))
        tl(Utterance(i, turn["speaker"], turn["text"], turn["start"], turn["end"], words, "whisper"))
        s = -0.8 + 0.1 * i if turn["speaker"] == "customer" else 0.5
        tl(Sentiment(i, turn["speaker"], turn["end"], "negative" if s < 0 else "positive",
                     round(s, 4), {"negative": 0.7, "neutral": 0.2, "positive": 0.1}))
        if turn["speaker"] == "customer":
            score = round(score * 0.5 + s * 0.5, 4)
            tl(MoodState(turn["end"], "customer", score, "upset" if score < 0 else "calm", 0.8,
                         "worsening" if s < score else "improving", 0.1, i, "angry words",
                         ({"cue": "anger", "words": ["ridiculous"]},)))
            tl(PhraseSuggestion(turn["end"], i, "angry", ("I understand.", "Let me fix this."), "r"))
            tl(KnowledgeMatch(turn["end"], i, "late delivery",
                              ({"article": "shipping", "score": 0.7, "why": ["late"]},)))
            tl(CallerPoint(i, turn["end"], i, "issue", turn["text"][:30], True, i + 1))
        else:
            tl(CoachingTip(turn["end"], i, "blame", "you should have", "next time, let's"))
            tl(ChecklistItem(turn["end"], i, "thanks", "Thanked the caller", True, "thank you"))
    tl(EscalationAdvice(30.0, 3, "requested", "asked for a manager"))
    tl(CallScore(60.0, "customer", -1.5, (-3.0, None, 0.5, 1.0)))
    tl(CallMetrics(60.0, {"agent": 20.0, "customer": 25.5}, 0.8, 4.0, ((10.0, 14.5),),
                   ((3.0, 3.4),), {"agent": 1}, {"agent": 150.0}))
    tl.call["duration"] = 61.25
    return tl


def normal(d):
    return json.loads(json.dumps(d))


def run_child(code: str, *args: str) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-c", code, *args], cwd=ROOT, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    line = proc.stdout.readline()
    assert line.strip() == "ready", proc.stderr.read()
    return proc


def kill_after(proc: subprocess.Popen, seconds: float) -> tuple[float, list[tuple[int, float]]]:
    """SIGKILL the child after `seconds`; returns the kill time and its '(n, time)' lines."""
    time.sleep(seconds)
    t_kill = time.monotonic()
    proc.send_signal(signal.SIGKILL)
    out, err = proc.communicate(timeout=10)
    assert proc.returncode == -signal.SIGKILL, err
    lines = [ln.split() for ln in out.splitlines()]
    return t_kill, [(int(a), float(b)) for a, b in lines if b]


# ---- calls and timelines ------------------------------------------------------------------------

def test_live_recording_round_trip_and_summary(tmp_path, target):
    tl = demo_timeline()
    store = Library(target, keep_original=True)
    call = {k: v for k, v in tl.call.items() if k != "duration"}
    call_id = store.start_call(call, audio_path=tmp_path / "demo01.wav", title="Late laptop",
                               agent="sam")
    assert call_id == "demo01" and store.get_call(call_id).status == "live"
    rec = store.recorder(call_id)
    for e in tl.events:
        rec(e)
    rec(PartialUtterance("customer", "and another", 61.0, 61.2))  # transient: never stored
    store.finish_call(call_id, tl.call["duration"])
    store.close()

    store = Library(target)
    redacted = " ".join(u.text for u in store.load_timeline(call_id).utterances)
    assert "[" in redacted and not spoken_numbers(redacted, min_digits=5)  # the order number
    assert store.get_call(call_id).redacted
    back = store.load_timeline(call_id, original=True)  # kept: the user chose to
    kept = [e for e in tl.events if not isinstance(e, PartialUtterance)]
    assert normal(back.to_dict()) == normal(Timeline(tl.call, kept).to_dict())
    assert back.utterances == tl.utterances  # words and all, as dataclasses
    assert back.call_scores == tl.call_scores and back.moods[0].cues == tl.moods[0].cues
    assert not [e for e in back.events if isinstance(e, PartialUtterance)]

    [rec] = store.list_calls()
    moods = [m.score for m in tl.moods]
    assert (rec.status, rec.duration, rec.title, rec.agent) == ("done", 61.25, "Late laptop", "sam")
    assert rec.audio_path == str(tmp_path / "demo01.wav") and rec.source == str(TRUTH)
    assert rec.utterances == len(tl.utterances) == 15
    assert (rec.mood_start, rec.mood_end, rec.mood_min) == (moods[0], moods[-1], min(moods))
    assert rec.event_counts["escalation"] == 1 and rec.event_counts["coaching"] == \
        len([u for u in tl.utterances if u.speaker == "agent"]) > 0
    assert "partial" not in rec.event_counts
    assert store.interrupted_calls() == []
    store.close()


def test_saved_timelines_listed_newest_first_and_deleted(target):
    store = Library(target, redact=False)  # stored exactly as given
    tl = demo_timeline()
    for n, started in enumerate(["2024-05-01T10:00:00", "2024-05-03T09:00:00", "2024-05-02T08:00:00"]):
        tl.call.update(id=f"call{n}", started=started)
        store.save_timeline(tl, title=f"call {n}")
    assert [c.id for c in store.list_calls()] == ["call1", "call2", "call0"]
    assert [c.id for c in store.list_calls(limit=1)] == ["call1"]
    assert store.get_call("call2").utterances == 15
    assert normal(store.load_timeline("call0").to_dict())["events"] == \
        normal(Timeline(tl.call, tl.events).to_dict())["events"]
    store.add_note("call0", 3.0, "good opening")
    store.delete_call("call0")
    assert [c.id for c in store.list_calls()] == ["call1", "call2"]
    assert store.store._query("SELECT count(*) FROM events WHERE call_id = 'call0'") == [(0,)]
    assert store.store._query("SELECT count(*) FROM notes") == [(0,)]
    with pytest.raises(CallAssistError, match="no call call0"):
        store.load_timeline("call0")
    store.close()


def test_notes_persist_across_reopen(new_library):
    path = new_library("lib/calls.sqlite3")
    with Library(path) as store:
        store.save_timeline(demo_timeline())
        a = store.add_note("demo01", 12.5, "caller angry here: apologise sooner", author="coach")
        b = store.add_note("demo01", 3.0, "good greeting")
        store.add_note("demo01", 40.0, "to delete")
    with Library(path) as store:
        notes = store.notes("demo01")
        assert [(n["time"], n["text"], n["author"]) for n in notes] == [
            (3.0, "good greeting", ""), (12.5, "caller angry here: apologise sooner", "coach"),
            (40.0, "to delete", "")]
        assert [n["id"] for n in notes[:2]] == [b, a]
        store.delete_note(notes[2]["id"])
        store.update_note(a, "apologise at 12 s")
    with Library(path) as store:
        assert [n["text"] for n in store.notes("demo01")] == ["good greeting", "apologise at 12 s"]
        with pytest.raises(CallAssistError, match="no call nope"):
            store.add_note("nope", 1.0, "x")


# ---- the file ------------------------------------------------------------------------------------

def test_default_file_is_owner_only(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    old = os.umask(0o022)
    try:
        store = Library()
        store.save_timeline(demo_timeline())
    finally:
        os.umask(old)
    path = tmp_path / "data" / "callassist" / "calls.sqlite3"
    assert store.path == path == default_db()
    assert path.stat().st_mode & 0o777 == 0o600
    assert path.parent.stat().st_mode & 0o777 == 0o700
    for extra in (Path(f"{path}-wal"), Path(f"{path}-shm")):
        assert extra.exists() and extra.stat().st_mode & 0o777 == 0o600
    assert store.store._query("PRAGMA journal_mode") == [("wal",)]
    store.close()
    path.chmod(0o644)  # loosened by someone: tightened again on open
    Library(path).close()
    assert path.stat().st_mode & 0o777 == 0o600


def test_corrupt_file_gives_one_clear_line(tmp_path):
    path = tmp_path / "calls.sqlite3"
    path.write_bytes(os.urandom(4096))
    with pytest.raises(CallAssistError) as info:
        Library(path)
    msg = str(info.value)
    assert str(path) in msg and "not a CallAssist database" in msg
    assert "calls.sqlite3.bad" in msg and "\n" not in msg


def test_newer_or_foreign_database_refused(tmp_path):
    path = tmp_path / "calls.sqlite3"
    Library(path).close()
    with sqlite3.connect(path) as db:
        db.execute("UPDATE meta SET value = '99' WHERE key = 'schema_version'")
    with pytest.raises(CallAssistError, match=r"newer CallAssist .*update CallAssist"):
        Library(path)
    with sqlite3.connect(path) as db:  # a newer migration, the format number the same
        db.execute("UPDATE meta SET value = '5' WHERE key = 'schema_version'")
        db.execute("UPDATE alembic_version SET version_num = '0099'")
    with pytest.raises(CallAssistError, match=r"newer CallAssist .*update CallAssist"):
        Library(path)
    other = tmp_path / "other.db"
    with sqlite3.connect(other) as db:
        db.execute("CREATE TABLE photos (id)")
    with pytest.raises(CallAssistError, match="not a CallAssist call library"):
        Library(other)


def test_locked_file_gives_clear_error(tmp_path):
    path = tmp_path / "calls.sqlite3"
    Library(path).close()
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("PRAGMA locking_mode = EXCLUSIVE")
    holder.execute("BEGIN EXCLUSIVE")
    holder.execute("INSERT INTO meta VALUES ('x', 'y')")
    try:
        with pytest.raises(CallAssistError, match=r"locked by another program: close"):
            Library(path, timeout=0.1)
    finally:
        holder.close()
    Library(path, timeout=0.1).close()


# ---- crashes ---------------------------------------------------------------------------------------

RECORD_EVENTS = """
import sys, time
from callassist.core.events import PartialUtterance, Utterance
from callassist.library.service import Library
store = Library(sys.argv[1])
cid = store.start_call({"id": "crash1", "source": "mic", "started": "2024-05-01T10:00:00"})
rec = store.recorder(cid, flush_seconds=0.2)
print("ready", flush=True)
i = 0
while True:
    rec(PartialUtterance("customer", "par", i * 0.1, i * 0.1 + 0.05))
    rec(Utterance(i, "customer", f"sentence {i}", i * 0.1, i * 0.1 + 0.1))
    print(i, time.monotonic(), flush=True)
    i += 1
    time.sleep(0.01)
"""


def test_crash_loses_at_most_the_last_flush(target):
    path = target
    proc = run_child(RECORD_EVENTS, str(path))
    t_kill, sent = kill_after(proc, 1.2)
    assert len(sent) > 20

    store = Library(path)
    assert [c.id for c in store.interrupted_calls()] == ["crash1"]
    tl = store.recover("crash1")
    ids = [u.id for u in tl.utterances]
    assert ids == list(range(len(ids)))  # a clean prefix, in order, no partials
    assert len(tl.events) == len(ids)
    # everything sent before the last flush (0.2 s) is there; 0.4 s slack for a busy machine
    must = [i for i, t in sent if t < t_kill - 0.6]
    assert must and len(ids) >= len(must)
    assert len(ids) >= len(sent) - 60
    rec = store.get_call("crash1")
    assert rec.status == "interrupted" and rec.utterances == len(ids)
    assert rec.duration == pytest.approx(tl.utterances[-1].end)
    assert store.interrupted_calls() == []
    store.close()


def test_live_call_in_this_process_is_not_offered(target):
    path = target
    store = Library(path)
    cid = store.start_call({"id": "now", "started": "2024-05-01T10:00:00"})
    store.recorder(cid)(Utterance(1, "customer", "hello", 0.0, 1.0))
    other = Library(path)  # e.g. the library window of the same app
    assert other.interrupted_calls() == []
    with pytest.raises(CallAssistError, match="still being recorded"):
        other.recover("now")
    with pytest.raises(CallAssistError, match="already in the call library"):
        other.start_call({"id": "now"})
    store.close()  # closed without finishing: left "live", as a crash would leave it
    assert [c.id for c in other.interrupted_calls()] == ["now"]
    assert [e.text for e in other.recover("now").utterances] == ["hello"]
    other.close()


def test_concurrent_worker_writes_while_main_thread_reads(target):
    path = target
    store = Library(path)
    cid = store.start_call({"id": "busy", "started": "2024-05-01T10:00:00"})
    rec = store.recorder(cid, flush_seconds=0.02)
    n_events, errors = 3000, []

    def worker():
        try:
            for i in range(n_events):
                rec(Utterance(i, "customer", f"utterance number {i}", i * 0.01, i * 0.01 + 0.01))
                rec(Sentiment(i, "customer", i * 0.01, "neutral", 0.0))
                if i % 100 == 0:
                    time.sleep(0.001)
            store.finish_call(cid, n_events * 0.01)
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    reader = Library(path)
    thread = threading.Thread(target=worker)
    thread.start()
    seen, reads = [], 0
    while thread.is_alive():
        assert [c.id for c in store.list_calls()] == ["busy"]
        assert reader.interrupted_calls() == []
        seen.append(len(store.load_timeline(cid).events))
        reads += 1
    thread.join()
    assert not errors
    assert seen == sorted(seen) and reads >= 2
    assert len(reader.load_timeline(cid).events) == 2 * n_events
    assert reader.get_call(cid).status == "done" and reader.get_call(cid).utterances == n_events
    reader.close()
    store.close()


def test_recorder_flushes_when_events_stop(target):
    store = Library(target)
    cid = store.start_call({"id": "quiet"})
    rec = store.recorder(cid, flush_seconds=0.1)
    rec(Utterance(1, "customer", "first", 0.0, 1.0))
    rec(Utterance(2, "customer", "then nothing for a while", 1.0, 2.0))
    reader = Library(target)
    deadline = time.monotonic() + 5
    while len(reader.load_timeline(cid).events) < 2 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert len(reader.load_timeline(cid).events) == 2  # committed by the timer, not by flush()
    rec.flush()
    assert rec.saved == 2 and rec.error is None
    reader.close()
    store.close()


# ---- live audio --------------------------------------------------------------------------------------

def tone(freq, amp, start, n, rate=16000):
    return (amp * np.sin(2 * np.pi * freq * (start + np.arange(n) / rate))).astype(np.float32)


RECORD_AUDIO = """
import sys, time
from callassist.audio.sources import AudioBlock
from callassist.audio.recording import AudioRecorder
import numpy as np
def tone(freq, amp, start, n, rate=16000):
    return (amp * np.sin(2 * np.pi * freq * (start + np.arange(n) / rate))).astype(np.float32)
rec = AudioRecorder(sys.argv[1], ("agent", "customer"))
print("ready", flush=True)
i = 0
while True:
    t = i * 0.1
    rec(AudioBlock("customer", t, tone(300, 0.6, t, 1600)))
    rec(AudioBlock("agent", t, tone(500, 0.2, t, 1600)))
    print(i, time.monotonic(), flush=True)
    i += 1
    time.sleep(0.02)
"""


def test_audio_survives_sigkill(tmp_path):
    path = tmp_path / "live.wav"
    proc = run_child(RECORD_AUDIO, str(path))
    t_kill, sent = kill_after(proc, 1.0)
    must = [i for i, t in sent if t < t_kill - 0.3]
    assert len(must) >= 5

    data, rate = sf.read(path, dtype="float32")
    assert rate == 16000 and data.ndim == 2 and data.shape[1] == 2
    assert len(data) >= len(must) * 1600  # everything fed is on disk (writes go straight out)
    assert len(data) <= (len(sent) + 1) * 1600
    n = len(data)
    assert np.abs(data[:, 0] - tone(500, 0.2, 0, n)).max() < 1e-3  # left: agent
    assert np.abs(data[:, 1] - tone(300, 0.6, 0, n)).max() < 1e-3  # right: customer
    frames, rate = repair_wav(path)
    assert frames >= n and rate == 16000
    assert sf.info(path).frames == frames


def test_audio_channels_follow_time_not_arrival(tmp_path):
    path = tmp_path / "call.wav"
    rec = AudioRecorder(path, ("agent", "customer"), max_lag=0.5)
    for i in range(20):  # 2 s of customer only: agent's channel is silent, written with lag
        rec(AudioBlock("customer", i * 0.1, tone(300, 0.5, i * 0.1, 1600)))
    assert rec.written == 1.5 * 16000
    rec(AudioBlock("agent", 0.5, np.full(1600, 0.25, np.float32)))  # late: patched into the file
    rec(AudioBlock("agent", 1.9, np.full(800, -0.25, np.float32)))  # not written yet
    rec(AudioBlock("someone", 0.0, np.ones(10, np.float32)))  # no channel: ignored
    rec.close()
    data, _ = sf.read(path, dtype="float32")
    assert data.shape == (32000, 2)
    assert np.abs(data[:, 1] - tone(300, 0.5, 0, 32000)).max() < 1e-3
    agent = data[:, 0]
    assert not agent[:8000].any() and np.allclose(agent[8000:9600], 0.25, atol=1e-4)
    assert not agent[9600:30400].any() and np.allclose(agent[30400:31200], -0.25, atol=1e-4)
    assert not agent[31200:].any()


def test_recover_repairs_call_audio(tmp_path, target):
    store = Library(target)
    wav = tmp_path / "c.wav"
    cid = store.start_call({"id": "a1"}, audio_path=wav)
    rec = AudioRecorder(wav, ("customer",), max_lag=0)
    rec(AudioBlock("customer", 0.0, tone(300, 0.5, 0, 48000)))
    with open(wav, "ab") as f:  # as if killed between writing data and its header
        f.write(np.zeros(16000, "<i2").tobytes())
    store.close()
    with Library(target) as again:
        again.recover(cid)
        assert again.get_call(cid).duration == pytest.approx(4.0)
    assert sf.info(wav).frames == 64000


# ---- the library format: flags, search, upgrade -----------------------------------------------------

def test_finished_calls_are_flagged_and_transcripts_searchable(target):
    with Library(target) as store:
        tl = demo_timeline()
        call_id = store.save_timeline(tl, title="Late laptop")
        rec = store.get_call(call_id)
        assert rec.flags and {f.kind for f in rec.flags} >= {"agent_language", "escalation"}
        assert rec.worst.kind == "escalation" and rec.flag_counts["escalation"] == 1
        assert store.search("LAPTOP") == {call_id} and store.search("warehouse") == {call_id}
        assert store.search("zebra") == set() and store.search("100%") == set()
        live = store.start_call({"id": "live1"})
        assert store.get_call(live).flags is None  # flagged when it ends


def downgrade_to_2(path):
    """Make a library file what CallAssist wrote before the full-text index (format 2), and
    before the migrations."""
    with sqlite3.connect(path) as db:
        db.executescript("DROP TABLE alembic_version; ALTER TABLE calls DROP COLUMN scorecard; DROP INDEX calls_content_key; ALTER TABLE calls DROP COLUMN content_key; "
                         "DROP TRIGGER events_fts_insert; DROP TRIGGER events_fts_delete; "
                         "DROP TRIGGER calls_fts_delete; DROP TABLE utterance_fts; "
                         "UPDATE meta SET value = '2' WHERE key = 'schema_version';")


def test_version_1_library_is_upgraded_and_flagged(tmp_path):
    path = tmp_path / "calls.sqlite3"
    with Library(path, redact=False) as store:
        call_id = store.save_timeline(demo_timeline())
    downgrade_to_2(path)
    with sqlite3.connect(path) as db:  # what session-1 CallAssist wrote
        db.executescript("DROP TABLE originals; ALTER TABLE calls DROP COLUMN flags; "
                         "ALTER TABLE calls DROP COLUMN redacted; "
                         "UPDATE meta SET value = '1' WHERE key = 'schema_version';")
    with Library(path) as store:
        assert store.get_call(call_id).flags is None
        assert store.refresh_flags(only_missing=True) == 1
        assert store.get_call(call_id).flags
        assert not store.get_call(call_id).redacted
    with sqlite3.connect(path) as db:
        assert db.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone() == ("5",)


def test_version_2_library_gets_a_filled_full_text_index(tmp_path):
    path = tmp_path / "calls.sqlite3"
    with Library(path) as store:
        call_id = store.save_timeline(demo_timeline())
    downgrade_to_2(path)
    with Library(path) as store:  # upgraded on open: the index is filled from the stored events
        assert store.search("warehouse") == {call_id}
        assert store.store._query("SELECT count(*) FROM utterance_fts") == [(15,)]
    with sqlite3.connect(path) as db:
        assert db.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone() == ("5",)


def test_format_5_file_from_before_the_migrations_is_marked_and_kept(tmp_path):
    """A library written by the previous CallAssist (format 5, no alembic_version): opened,
    marked as the first migration, every call and note kept."""
    path = tmp_path / "calls.sqlite3"
    with Library(path) as store:
        call_id = store.save_timeline(demo_timeline())
        store.add_note(call_id, 2.0, "kept")
    with sqlite3.connect(path) as db:
        db.executescript("DROP TABLE alembic_version; ALTER TABLE calls DROP COLUMN scorecard")
    with Library(path) as store:
        assert [n["text"] for n in store.notes(call_id)] == ["kept"]
        assert store.search("warehouse") == {call_id}
        assert store.store._query("SELECT version_num FROM alembic_version") == [(HEAD,)]


def test_head_is_the_newest_migration():
    from alembic.config import Config
    from alembic.script import ScriptDirectory
    from callassist.library import schema
    cfg = Config()
    cfg.set_main_option("script_location", str(schema.MIGRATIONS))
    assert ScriptDirectory.from_config(cfg).get_heads() == [HEAD]


def searchable_library(target) -> tuple[Library, str, str]:
    store = Library(target)
    angry = store.save_timeline(demo_timeline())
    tl = Timeline(call={"id": "other", "started": "2024-05-02T10:00:00"})
    tl(Utterance(1, "customer", "I would like a refund for the café order, not a repair", 0.0, 3.0))
    tl(Utterance(2, "agent", "The laptop AND the charger? 50% off -- \"quoted\" (ok)*", 3.0, 6.0))
    return store, angry, store.save_timeline(tl)


def test_search_words_phrases_and_prefixes(target):
    store, angry, other = searchable_library(target)
    with store:
        assert store.search("laptop") == {angry, other}
        assert store.search("Laptop warehouse") == {angry}  # every word, anywhere in the call's lines
        assert store.search("warehouse laptop") == {angry}
        assert store.search("refun") == {other} and store.search("refund") == {other}  # prefix
        assert store.search("cafe") == {other} and store.search("CAFÉ order") == {other}
        assert store.search('"address problem"') == {angry}  # a phrase
        assert store.search('"problem address"') == set()
        assert store.search('"order number" please') == {angry}
        assert store.search("zebra") == set() and store.search("laptop zebra") == set()
        assert store.search("   ") == set()


@pytest.mark.parametrize("text", ['"', '""', 'laptop"', '"laptop', "*", "refund*", "AND", "OR NOT",
                                  "laptop AND", "-laptop", "laptop -charger", "NEAR(a b)",
                                  "text:laptop", "^laptop", "(laptop", "50%", "it's", "a'b\"c",
                                  "'; DROP TABLE calls; --", "{text}: x", "\\", "\x00"])
def test_search_never_fails_on_what_a_user_types(target, text):
    store, angry, other = searchable_library(target)
    with store:
        found = store.search(text)
        assert found <= {angry, other}
        assert len(store.list_calls()) == 2
    if text in ("laptop AND", "AND", "-laptop"):  # words, not operators: both calls say "and"
        assert found == {angry, other}


def test_full_text_index_follows_live_writes_and_deletes(target):
    store, angry, other = searchable_library(target)
    with store:
        cid = store.start_call({"id": "live1"})
        rec = store.recorder(cid)
        rec(Utterance(1, "customer", "my parcel went to Zanzibar", 0.0, 2.0))
        rec.flush()
        assert store.search("zanzibar") == {cid}
        store.finish_call(cid, 2.0)
        store.delete_call(other)
        assert store.search("laptop") == {angry} and store.search("refund") == set()
        if store.store.kind == "sqlite":  # the FTS5 table's rows went with the call
            assert store.store._query("SELECT count(*) FROM utterance_fts WHERE call_id = :c",
                                      {"c": other}) == [(0,)]
        store.delete_call(cid)
        assert store.search("zanzibar") == set()


def test_store_module_imports_no_domain_code():
    code = ("import sys\nimport callassist.library.store as s\n"
            "bad = [m for m in sys.modules if m.startswith(('callassist.library.flags', "
            "'callassist.library.redact', 'callassist.core.timeline', 'callassist.core.events', "
            "'callassist.audio'))]\n"
            "bad += [n for n in ('AudioRecorder', 'repair_wav', 'compute_flags', 'redact_event') "
            "if hasattr(s, n)]\n"
            "print(bad); sys.exit(1 if bad else 0)\n")
    r = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr


def test_reads_do_not_wait_behind_a_long_write(target):
    store, angry, other = searchable_library(target)
    holding, reads_done = threading.Event(), threading.Event()
    seen: dict = {}

    def long_write():  # the store's own write lock and a write transaction, held until the
        with store.store._tx() as db:  # reads are done (or 30 s have passed)
            db.execute(sa.text("UPDATE calls SET title = 'changing' WHERE id = :id"), {"id": angry})
            holding.set()
            seen["reads first"] = reads_done.wait(30)

    def reads():
        seen["titles"] = sorted(r.title for r in store.list_calls())
        seen["found"] = store.search("warehouse")
        seen["events"] = len(store.load_timeline(angry).events)
        seen["notes"] = store.notes(angry)
        reads_done.set()

    writer = threading.Thread(target=long_write)
    writer.start()
    assert holding.wait(30)
    reader = threading.Thread(target=reads)
    reader.start()
    reader.join(60)
    writer.join(60)
    assert seen["reads first"]  # every read finished while the write was still open
    assert seen["titles"] == ["", ""] and seen["found"] == {angry} and seen["events"] > 15
    assert seen["notes"] == []
    assert store.get_call(angry).title == "changing"  # and the write went through after
    if store.store.kind != "sqlite":
        store.close()
        return
    outsider = sqlite3.connect(store.path, isolation_level=None)  # e.g. another CallAssist
    outsider.execute("BEGIN IMMEDIATE")  # another process in the middle of a write
    outsider.execute("UPDATE calls SET title = 'other' WHERE id = ?", (angry,))
    try:
        assert store.get_call(angry).title == "changing" and store.search("refund") == {other}
    finally:
        outsider.execute("ROLLBACK")
        outsider.close()
    store.close()


def test_refresh_flags_reports_progress_and_stops_when_cancelled(target):
    from callassist.library.flags import FlagSettings
    store = Library(target)
    tl = demo_timeline()
    ids = []
    for n in range(5):
        tl.call["id"] = f"c{n}"
        ids.append(store.save_timeline(tl))
    full = len(store.get_call("c0").flags)
    seen = []
    assert store.refresh_flags(progress=lambda done, total: seen.append((done, total))) == 5
    assert seen == [(1, 5), (2, 5), (3, 5), (4, 5), (5, 5)]

    stop = threading.Event()
    seen.clear()

    def progress(done, total):
        seen.append((done, total))
        if done == 2:
            stop.set()
    only = FlagSettings(kinds=("escalation",))
    assert store.refresh_flags(only, progress=progress, cancel=stop) == 2
    assert seen == [(1, 5), (2, 5)]
    counts = [len(store.get_call(i).flags) for i in ids]
    assert counts == [1, 1, full, full, full] and full > 1  # what was done is kept
    assert store.refresh_flags(cancel=lambda: True) == 0  # a function works too
    assert store.refresh_flags() == 5
    assert [len(store.get_call(i).flags) for i in ids] == [1] * 5
    store.close()


def test_summary_and_flags_are_computed_from_the_timeline(new_library):
    from callassist.library.flags import FlagSettings, compute_flags
    from callassist.library.redact import redact_timeline
    settings = FlagSettings(silence_seconds=3.0)
    tl = demo_timeline()
    moods = [m.score for m in tl.moods]
    with Library(new_library("plain.sqlite3"), redact=False, flag_settings=settings) as store:
        rec = store.get_call(store.save_timeline(tl))
        assert rec.flags == compute_flags(tl, settings) and rec.flags
        assert (rec.utterances, rec.mood_start, rec.mood_end, rec.mood_min) == \
            (15, moods[0], moods[-1], min(moods))
        counts = {}
        for e in tl.events:
            if not isinstance(e, PartialUtterance):
                counts[e.kind] = counts.get(e.kind, 0) + 1
        assert rec.event_counts == counts
    with Library(new_library("private.sqlite3"), flag_settings=settings) as store:
        call = {k: v for k, v in tl.call.items() if k != "duration"}
        cid = store.start_call(call)
        rec = store.recorder(cid)
        for e in tl.events:
            rec(e)
        store.finish_call(cid, tl.call["duration"])  # from the events the recorder saw
        stored = store.get_call(cid)
        assert stored.flags == compute_flags(redact_timeline(tl), settings)  # as stored
        assert stored.flags == compute_flags(store.load_timeline(cid), settings)
        assert stored.utterances == 15 and stored.mood_min == min(moods)
        cid2 = store.start_call({**call, "id": "given"})
        store.finish_call(cid2, 10.0, timeline=tl)  # from the timeline passed in
        assert store.get_call(cid2).flags == compute_flags(
            Timeline({**tl.call, "duration": 10.0}, redact_timeline(tl).events), settings)
        assert store.get_call(cid2).utterances == 15


def test_programs_opening_a_new_library_together_all_get_it(new_library):
    """Two imports (or a panel and an import) started at once on a library that is not there
    yet: SQLite answers the switch to WAL with BUSY at once, without waiting; every opener must
    wait its turn instead of saying "locked" (CI saw 1 in 6 fail before). On a new PostgreSQL
    database, desks starting together must make the tables once."""
    code = ("import sys, time\n"
            "from callassist.library.store import CallStore\n"
            "while time.time() < float(sys.argv[2]): pass\n"
            "CallStore(sys.argv[1]).close(); print('ok')\n")
    for round_ in range(6):
        db = new_library(f"lib{round_}/calls.sqlite3")
        start = time.time() + 1.0  # the children spin until the same moment, then open
        procs = [subprocess.Popen([sys.executable, "-c", code, str(db), str(start)], cwd=ROOT,
                                  text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
                 for _ in range(3)]
        outs = [p.communicate(timeout=60) for p in procs]
        assert [p.returncode for p in procs] == [0, 0, 0], outs
        if isinstance(db, str):  # PostgreSQL: one format, made once
            with CallStore(db) as store:
                assert store._query("SELECT version_num FROM alembic_version") == [(HEAD,)]
            continue
        with sqlite3.connect(db) as con:
            assert con.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_voice_profiles_are_folded_listed_and_forgotten(target):
    """An agent's voice profile on either backend: a running mean weighted by seconds of
    speech, kept as 256 float32, forgotten on request."""
    rng = np.random.default_rng(3)
    a, b = rng.standard_normal(256), rng.standard_normal(256)
    with Library(target) as lib:
        store = lib.store
        store.add_voice("Sam", a, 20.0)
        store.add_voice("Sam", b, 60.0)
        store.add_voice("Ana", b, 10.0)
        vector, seconds, calls = store.voice_profile("Sam")
        want = a / np.linalg.norm(a) * 20 + b * 60
        want /= np.linalg.norm(want)
        assert vector.dtype == np.float32 and np.allclose(vector, want, atol=1e-5)
        assert (seconds, calls) == (80.0, 2)
        assert [p[:3] for p in store.voice_profiles()] == [("Ana", 10.0, 1), ("Sam", 80.0, 2)]
        assert store.delete_voice_profile("Sam") == 1 and store.voice_profile("Sam") is None
        assert store.delete_voice_profile() == 1 and store.voice_profiles() == []
