"""Library housekeeping on real SQLite files, real audio and real processes: empty live calls are
not kept, a recording starts at its own time, the same audio is stored once (also by two
imports running at once), and a format-3 library with duplicates upgrades."""
import os
import shutil
import sqlite3
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from callassist.audio.provenance import content_key
from callassist.core.events import Status, Utterance
from callassist.core.timeline import Timeline
from callassist.library.service import Library
from callassist.library.store import AlreadyStored
from tests.conftest import ROOT

LINES = ("Hello, my order has not arrived yet.", "I would like a refund for the broken kettle.",
         "Thank you, that was very helpful.")
PAST = datetime(2023, 6, 1, 9, 30, tzinfo=timezone.utc)


def said(text: str, t: float = 0.5) -> Utterance:
    return Utterance(1, "customer", text, t, t + 1.5)


def test_empty_live_call_is_dropped_with_its_recording_and_a_spoken_one_kept(tmp_path, target):
    with Library(target) as lib:
        kept = {}
        for name, events in (("silent", [Status(0.0, "listening")]),
                             ("spoken", [Status(0.0, "listening"), said("I need help")])):
            wav = tmp_path / f"{name}.wav"
            sf.write(wav, np.zeros(8000, "float32"), 16000)
            call_id = lib.start_call({"id": name}, audio_path=wav, own_audio=True)
            rec = lib.recorder(call_id)
            for ev in events:
                rec(ev)
            rec.close()
            kept[name] = (lib.finish_call(call_id, 2.0), wav.exists())
        assert kept == {"silent": (False, False), "spoken": (True, True)}
        assert [r.id for r in lib.list_calls()] == ["spoken"]
        assert lib.search("help") == {"spoken"}


@pytest.mark.slow  # real models
def test_silent_call_through_the_call_worker_is_not_kept_but_the_file_stays(qtbot, tmp_path,
                                                                            models):
    from callassist.config import Config
    from callassist.gui.bridge import NOT_KEPT, CallSetup, CallWorker, EventBridge
    silent = tmp_path / "silent.wav"
    sf.write(silent, np.zeros(3 * 16000, "float32"), 16000)
    with Library(tmp_path / "calls.sqlite3") as lib:
        worker = CallWorker(CallSetup(play=str(silent), speed=8.0), EventBridge(), Config(),
                            models, lib)
        said_status, ended = [], []
        worker.status.connect(lambda level, text: said_status.append(text))
        worker.finished.connect(ended.append)
        worker.run()  # the panel runs it in a QThread; here in the test's thread
        assert ended and ended[0] is not None and not ended[0].utterances
        assert worker.kept is False and NOT_KEPT in said_status
        assert lib.list_calls() == []
        assert silent.exists()  # a played recording is the user's: never deleted


def timeline(text: str = "my kettle is broken") -> Timeline:
    return Timeline(call={"id": os.urandom(4).hex(), "duration": 2.0}, events=[said(text)])


def test_recording_starts_at_its_flac_date_else_its_mtime(tmp_path):
    tagged, plain = tmp_path / "tagged.flac", tmp_path / "plain.wav"
    with sf.SoundFile(tagged, "w", 16000, 1) as f:
        f.date = "2024-02-29T08:15:00Z"
        f.write(np.zeros(16000, "float32"))
    sf.write(plain, np.full(16000, 0.1, "float32"), 16000)
    os.utime(plain, (PAST.timestamp(), PAST.timestamp()))
    with Library(tmp_path / "calls.sqlite3") as lib:
        a = lib.save_recording(timeline(), tagged)
        b = lib.save_recording(timeline(), plain)
        assert lib.get_call(a).started == "2024-02-29T08:15:00+00:00"
        assert lib.get_call(b).started == "2023-06-01T09:30:00+00:00"
        assert [r.id for r in lib.list_calls()] == [a, b]  # newest recording first


@pytest.fixture(scope="module")
def recordings(tmp_path_factory, espeak):
    """Three short spoken recordings with an old modification time."""
    folder = tmp_path_factory.mktemp("recordings")
    for i, line in enumerate(LINES):
        path = folder / f"call{i}.wav"
        sf.write(path, espeak(line, "en-us"), 16000)
        os.utime(path, (PAST.timestamp() + i, PAST.timestamp() + i))
    return folder


@pytest.mark.slow  # real models
def test_renamed_or_reencoded_copy_is_skipped_by_content(tmp_path, recordings, models):
    from callassist.config import Config
    from callassist.library.importer import Importer
    copies = tmp_path / "copies"
    copies.mkdir()
    shutil.copy(recordings / "call0.wav", copies / "renamed.wav")
    data, rate = sf.read(recordings / "call0.wav", dtype="int16")
    sf.write(copies / "as_flac.flac", data, rate)  # same samples, another format
    assert content_key(copies / "renamed.wav") == content_key(copies / "as_flac.flac")
    with Library(tmp_path / "calls.sqlite3") as lib:
        [first] = Importer(lib, models, Config()).run([recordings / "call0.wav"])
        assert first.ok and lib.get_call(first.call_id).started == "2023-06-01T09:30:00+00:00"
        again = Importer(lib, models, Config()).run([copies])
        assert [(r.skipped, r.skip_reason) for r in again] == [(True, "already in the library "
                                                                      "as call0")] * 2
        [same] = Importer(lib, models, Config()).run([recordings / "call0.wav"])  # by its path
        assert (same.skipped, same.skip_reason) == (True, "already in the library as call0")
        assert len(lib.list_calls()) == 1


@pytest.mark.slow  # two real imports at once
def test_two_imports_at_once_store_each_call_once(target, recordings, _session_cache):
    db = target
    exe = Path(sys.executable).with_name("callassist")
    cmd = [str(exe), "import", str(recordings), "--library", str(db), "--jobs", "1"]
    env = {**os.environ, "XDG_CACHE_HOME": str(_session_cache)}
    procs = [subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                              env=env, cwd=ROOT) for _ in range(2)]
    outs = [p.communicate(timeout=600) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs
    with Library(db) as lib:
        calls = lib.list_calls()
        assert sorted(r.title for r in calls) == ["call0", "call1", "call2"]
        assert all(r.started.startswith("2023-06-01T09:30:0") for r in calls)
    printed = "".join(o for o, _ in outs)
    assert "Traceback" not in printed + "".join(e for _, e in outs)
    assert printed.count("flagged moments") == 3  # each stored by one of them
    assert printed.count("already in the library as call") == 3  # and the other one says so


def downgrade_to_3(path: Path) -> None:
    """Make a library file what CallAssist wrote before content keys (format 3) and the
    migrations."""
    with sqlite3.connect(path) as db:
        db.executescript("DROP TABLE alembic_version; ALTER TABLE calls DROP COLUMN scorecard; DROP INDEX calls_content_key; ALTER TABLE calls DROP COLUMN content_key; "
                         "UPDATE meta SET value = '3' WHERE key = 'schema_version';")


def test_version_3_library_with_duplicates_upgrades_and_keys_lazily(tmp_path):
    wav = tmp_path / "call.wav"
    sf.write(wav, np.full(32000, 0.2, "float32"), 16000)
    path = tmp_path / "calls.sqlite3"
    with Library(path) as lib:  # the same recording stored twice, as format 3 allowed
        ids = [lib.save_timeline(timeline(), audio_path=wav, title=f"copy {i}") for i in (1, 2)]
    downgrade_to_3(path)
    with Library(path) as lib:
        assert lib.store.meta("schema_version") == "5"
        key = content_key(wav)
        found = lib.find_recording(wav, key, 2.0)  # keys the old calls of that length
        assert found is not None and found[0] in ids
        with pytest.raises(AlreadyStored, match="already in the library as copy"):
            lib.save_recording(timeline(), wav, key=key)
        assert sorted(r.id for r in lib.list_calls()) == sorted(ids)  # nothing lost, none added
        keys = lib.store._query("SELECT content_key FROM calls ORDER BY rowid")
        assert sorted(keys, key=str) == sorted([(key,), (None,)], key=str)


def test_the_unique_key_not_the_check_decides_a_race(tmp_path, target):
    """Two writers (two connections, as two processes) both find the recording new; the
    insert inside the transaction lets one win and tells the other it is already there."""
    wav = tmp_path / "call.wav"
    sf.write(wav, np.full(16000, 0.3, "float32"), 16000)
    key = content_key(wav)
    with Library(target) as a, Library(target) as b:
        assert a.find_recording(wav, key, 1.0) is None and b.find_recording(wav, key, 1.0) is None
        won = a.save_recording(timeline(), wav, title="first")
        with pytest.raises(AlreadyStored, match="already in the library as first"):
            b.save_recording(timeline(), wav, title="second")
        assert [r.id for r in b.list_calls()] == [won]
