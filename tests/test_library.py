"""The call library for coaches and QA: real recordings imported with the real models into a real
SQLite file and a real PostgreSQL database, flagged, redacted, listed, filtered, replayed
(QtMultimedia) and annotated; the tests on an imported library run on both backends."""
import os
import shutil
import sqlite3
import stat
import time
from pathlib import Path

import pytest
import soundfile as sf
import yaml

from democall import load_dialogue, render
from callassist.config import Config
from callassist.library.service import Library
from tests.conftest import DEMO_CALLS, load_truth, run_cli

pytestmark = pytest.mark.slow

CALLS = ["angry_calmed", "confused_caller", "satisfied_caller", "billing_escalation"]

PII_DIALOGUE = {
    "title": "Caller gives a card number and an e-mail",
    "voices": {"agent": {"voice": "en-us+m7", "speed": 160, "pitch": 45},
               "customer": {"voice": "en-us+f3", "speed": 150, "pitch": 60}},
    "turns": [
        {"agent": "Thank you for calling Brightwave, how can I help?"},
        {"customer": "I want to pay my bill. My card number is four one one one, two two two "
                     "two, three three three three, four four four four."},
        {"agent": "Thank you. And what is the best phone number to reach you?"},
        {"customer": "It is five five five, one two three, four five six seven."},
        {"agent": "Lovely, that payment of forty dollars has gone through. Is there anything else?"},
        {"customer": "No thank you, that is all."},
    ],
}


@pytest.fixture(scope="session")
def demo_library(tmp_path_factory, models):
    """The four demo calls imported once (two at a time) into a library file."""
    from callassist.library.importer import Importer
    folder = tmp_path_factory.mktemp("recordings")
    for name in CALLS:  # the recordings a reviewer would point the import at
        shutil.copy(DEMO_CALLS / f"{name}.flac", folder / f"{name}.flac")
    db = tmp_path_factory.mktemp("library") / "calls.sqlite3"
    seen = []
    with Library(db) as store:
        results = Importer(store, models, Config(), jobs=2).run(
            [folder], on_result=lambda r, done, total: seen.append((done, total)))
    assert [r.error for r in results] == [None] * 4
    assert sorted(seen) == [(i, 4) for i in range(1, 5)]
    return db, folder, results


@pytest.fixture(scope="session")
def demo_pg_library(pg_server, demo_library, models):
    """The same four recordings imported into a PostgreSQL database (the template of each
    test's copy)."""
    from callassist.library.importer import Importer
    _, folder, _ = demo_library
    url = pg_server.create_database("demo_calls")
    with Library(url) as store:
        results = Importer(store, models, Config(), jobs=2).run([folder])
    assert [r.error for r in results] == [None] * 4
    return "demo_calls", results


@pytest.fixture(params=["sqlite", "postgresql"])
def library(request, demo_library, tmp_path):
    """A private copy of the imported library for one test (tests add notes, re-flag…), on
    each backend."""
    if request.param == "sqlite":
        db, folder, _ = demo_library
        copy = tmp_path / "calls.sqlite3"
        with sqlite3.connect(db) as src, sqlite3.connect(copy) as dst:
            src.backup(dst)
        os.chmod(copy, 0o600)
    else:
        template, _ = request.getfixturevalue("demo_pg_library")
        copy = request.getfixturevalue("pg_databases").new(template=template)
    store = Library(copy)
    yield store
    store.close()


def by_title(store, title):
    return next(r for r in store.list_calls() if r.title == title)


# ---- import, flags, privacy ------------------------------------------------------------------------

def test_import_stores_every_call_with_audio_timeline_and_flags(library, demo_library, request):
    _, folder, results = demo_library
    if library.store.kind == "postgresql":
        _, results = request.getfixturevalue("demo_pg_library")
    recs = {r.title: r for r in library.list_calls()}
    assert set(recs) == set(CALLS)
    for name, rec in recs.items():
        assert rec.status == "done" and rec.redacted
        assert Path(rec.audio_path) == (folder / f"{name}.flac").resolve()
        assert rec.duration == pytest.approx(sf.info(rec.audio_path).duration, abs=0.2)
        assert rec.utterances >= 10 and rec.flags is not None
        assert library.load_timeline(rec.id).utterances
    assert not recs["satisfied_caller"].flags  # a pleasant call has nothing worth a look
    assert {f.kind for f in recs["billing_escalation"].flags} >= {"escalation", "negative_mood",
                                                                    "agent_language", "unresolved"}
    assert all(r.seconds < r.duration for r in results)  # faster than real time even two at once


def test_flags_appear_at_the_right_times_on_the_angry_call(library):
    rec = by_title(library, "angry_calmed")
    turns = load_truth(DEMO_CALLS / "angry_calmed.flac")["turns"]
    caller = [t for t in turns if t["speaker"] == "customer"]
    flags = rec.flags

    def near(kind, turn, tol=1.5):
        return [f for f in flags if f.kind == kind and f.time - tol <= turn["start"] <= f.end + tol]

    manager = next(t for t in caller if "manager" in t["text"])
    assert near("escalation", manager) and rec.worst.kind == "escalation"
    assert rec.worst.severity == 3
    assert near("anger", caller[0])  # "This is ridiculous", "the third time I am calling"
    terrible = next(t for t in caller if "terrible service" in t["text"])
    assert near("anger", terrible)
    negative = [f for f in flags if f.kind == "negative_mood"]
    assert len(negative) == 1
    assert negative[0].time == pytest.approx(caller[0]["start"], abs=1.5)
    calmed = next(t for t in caller if "really kind" in t["text"])
    assert terrible["start"] < negative[0].end < calmed["start"]  # ends when the caller calms down
    assert all(f.time < calmed["start"] for f in flags)  # nothing flagged once the caller is happy
    assert "unresolved" not in {f.kind for f in flags}


def test_library_file_is_owner_only_and_reimport_is_skipped(library, demo_library, models):
    from callassist.library.importer import Importer
    _, folder, _ = demo_library
    if library.store.kind == "sqlite":
        assert stat.S_IMODE(os.stat(library.path).st_mode) == 0o600
    results = Importer(library, models, Config()).run([folder])
    assert all(r.skipped for r in results) and len(library.list_calls()) == 4


def test_spoken_personal_data_is_redacted_in_the_library_unless_kept(qtbot, tmp_path,
                                                                     models):
    from callassist.library.importer import Importer
    path = tmp_path / "dialogue.yaml"
    path.write_text(yaml.safe_dump(PII_DIALOGUE))
    audio, _ = render(load_dialogue(path))
    call = tmp_path / "payment.wav"
    sf.write(call, audio, 16000)

    def leaked(text):  # digit runs however Whisper wrote them ("4-1-1-1", "4111", "four one")
        from callassist.core.text import spoken_numbers
        return spoken_numbers(text, min_digits=5)

    with Library(tmp_path / "private.sqlite3") as store:
        [res] = Importer(store, models, Config()).run([call])
        text = " ".join(u.text for u in store.load_timeline(res.call_id).utterances)
        assert "[card number]" in text or "[number]" in text
        assert not leaked(text), text
        assert "forty" in text.lower() or "40" in text  # the amount is not personal data
        assert not store.has_originals(res.call_id)
        # the audio too: the replay view plays a bleeped copy, and the export is bleeped
        from callassist.gui.replay import ReplayWindow
        win = ReplayWindow(store, res.call_id)
        qtbot.addWidget(win)
        qtbot.waitUntil(lambda: win.play_button.isEnabled(), timeout=10000)
        assert win.playing_file == win.bleeped_audio and win.playing_file != call
        out = Path(win.export_audio(str(tmp_path / "bleeped.wav")))
        win.close()
        assert not win.bleeped_audio.exists()  # the temporary copy goes with the window
    with Library(tmp_path / "heard.sqlite3", redact=False) as heard:  # what is left to hear
        [again] = Importer(heard, models, Config()).run([out])
        text = " ".join(u.text for u in heard.load_timeline(again.call_id).utterances)
        assert not leaked(text), text
        assert "forty" in text.lower() or "40" in text  # the rest of the call is still there
    with Library(tmp_path / "kept.sqlite3", keep_original=True) as store:
        [res] = Importer(store, models, Config()).run([call])
        assert not leaked(" ".join(u.text for u in store.load_timeline(res.call_id).utterances))
        original = " ".join(u.text for u in store.load_timeline(res.call_id, original=True).utterances)
        assert leaked(original)  # the user chose to keep the original
        from callassist.gui.replay import ReplayWindow
        win = ReplayWindow(store, res.call_id)  # the coach can read it there, on request
        qtbot.addWidget(win)
        shown = lambda: " ".join(win.transcript.item(i).text() for i in range(win.transcript.count()))  # noqa: E731
        assert not win.show_original.isHidden() and not leaked(shown())
        qtbot.waitUntil(lambda: win.play_button.isEnabled(), timeout=10000)
        assert win.playing_file == win.bleeped_audio
        win.show_original.setChecked(True)
        assert leaked(shown()) and win.playing_file == call.resolve()  # text and audio
        win.show_original.setChecked(False)
        assert not leaked(shown()) and win.playing_file == win.bleeped_audio
        win.close()
    with Library(tmp_path / "plain.sqlite3", redact=False) as store:
        [res] = Importer(store, models, Config()).run([call])
        assert not store.get_call(res.call_id).redacted


def test_cli_import_reports_bad_files_and_keeps_going(tmp_path, demo_library):
    _, folder, _ = demo_library
    rec = tmp_path / "recs"
    rec.mkdir()
    shutil.copy(folder / "satisfied_caller.flac", rec / "satisfied_caller.flac")
    (rec / "broken.wav").write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunk")
    db = tmp_path / "cli.sqlite3"
    r = run_cli("import", str(rec), "--library", str(db), "--jobs", "2")
    assert r.returncode == 1, r.stderr
    assert "Traceback" not in r.stderr + r.stdout
    lines = r.stdout.splitlines()
    assert any("broken.wav: error:" in line for line in lines)
    assert any("satisfied_caller.flac" in line and "flagged moments" in line for line in lines)
    listed = run_cli("report", "--list", "--library", str(db))
    assert listed.returncode == 0 and "satisfied_caller" in listed.stdout
    out = tmp_path / "calls.csv"
    assert run_cli("report", "--csv", str(out), "--library", str(db)).returncode == 0
    assert "satisfied_caller" in out.read_text()
    call_id = listed.stdout.split()[0]
    wav = tmp_path / "call.wav"
    r = run_cli("report", call_id, "--audio", str(wav), "--library", str(db))
    assert r.returncode == 0 and "bleeped" in r.stderr, r.stderr
    assert sf.info(wav).duration == pytest.approx(sf.info(rec / "satisfied_caller.flac").duration)
    missing = run_cli("import", str(tmp_path / "nowhere"), "--library", str(db))
    assert missing.returncode == 2 and missing.stderr.count("\n") == 1


def test_analyze_saves_into_the_same_library(tmp_path, demo_library):
    import json
    _, folder, _ = demo_library
    db, out = tmp_path / "lib.sqlite3", tmp_path / "angry.json"
    r = run_cli("analyze", str(folder / "angry_calmed.flac"), "--quiet", "--json", str(out),
                "--save", "--library", str(db), "--agent", "Sam")
    assert r.returncode == 0, r.stderr
    assert "saved to the call library" in r.stderr and "flagged moments" in r.stderr
    printed = json.loads(out.read_text())
    with Library(db) as store:
        (rec,) = store.list_calls()
        assert rec.agent == "Sam" and rec.title == "angry_calmed" and rec.status == "done"
        assert rec.worst.kind == "escalation"
        stored = store.load_timeline(rec.id)
    said = [e for e in printed["events"] if e["type"] == "utterance"]
    assert [(u.start, u.end, u.speaker) for u in stored.utterances] == \
        [(u["start"], u["end"], u["speaker"]) for u in said]  # the timeline analyze printed
    bad = run_cli("analyze", str(folder / "angry_calmed.flac"), "--save",
                  "--library", str(out / "calls.sqlite3"))  # under a file
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1 and "Traceback" not in bad.stderr


# ---- QA view ----------------------------------------------------------------------------------------

@pytest.fixture
def qa(qtbot, library):
    from callassist.gui.library_view import LibraryWindow
    win = LibraryWindow(library)
    qtbot.addWidget(win)
    win.show()
    yield win
    win.close()


def titles(win):
    return [r.title for r in win.visible_records()]


def test_qa_view_lists_sorts_and_filters(qa, qtbot):
    from callassist.gui.library_view import COLUMNS
    from PySide6.QtCore import Qt
    assert sorted(titles(qa)) == sorted(CALLS)
    qa.table.sortByColumn(COLUMNS.index("Flags"), Qt.DescendingOrder)
    counts = [len(r.flags) for r in qa.visible_records()]
    assert counts == sorted(counts, reverse=True) and titles(qa)[-1] == "satisfied_caller"
    qa.table.sortByColumn(COLUMNS.index("Mood end"), Qt.AscendingOrder)
    ends = [r.mood_end for r in qa.visible_records()]
    assert ends == sorted(ends)
    row = qa.model.records.index(next(r for r in qa.model.records if r.title == "angry_calmed"))
    worst = qa.model.data(qa.model.index(row, COLUMNS.index("Worst moment")))
    assert "Escalation" in worst

    qa.kind.setCurrentIndex(qa.kind.findData("escalation"))
    assert sorted(titles(qa)) == ["angry_calmed", "billing_escalation"]
    qa.kind.setCurrentIndex(qa.kind.findData("none"))
    assert titles(qa) == ["satisfied_caller"]
    qa.kind.setCurrentIndex(0)
    qa.mood.setCurrentIndex(qa.mood.findData("ended_positive"))
    assert sorted(titles(qa)) == ["angry_calmed", "satisfied_caller"]
    qa.mood.setCurrentIndex(qa.mood.findData("ended_negative"))
    assert "billing_escalation" in titles(qa) and "satisfied_caller" not in titles(qa)
    qa.mood.setCurrentIndex(0)
    qtbot.keyClicks(qa.search, "laptop")
    qtbot.waitUntil(lambda: titles(qa) == ["angry_calmed"], timeout=3000)
    assert "1 of 4 calls shown" in qa.summary.text()
    qa.clear_filters()
    from PySide6.QtCore import QDate
    qa.date_from.setDate(QDate.currentDate().addDays(1))  # all imported today
    assert titles(qa) == []
    qa.date_from.setDate(QDate.currentDate().addDays(-1))
    assert len(titles(qa)) == 4


def test_changing_thresholds_reflags_every_call(qa, library, qtbot):
    from callassist.library.flags import FlagSettings
    before = len(by_title(library, "angry_calmed").flags)
    qa.set_flag_settings(FlagSettings(kinds=("escalation",)))  # in the window's worker thread
    assert qa.reflagging and not qa.flag_progress.isHidden()
    qtbot.waitUntil(lambda: not qa.reflagging, timeout=60000)
    assert qa.flag_progress.isHidden() and "Re-flagged 4 calls" in qa.statusBar().currentMessage()
    flags = {r.title: r.flags for r in library.list_calls()}
    # angry, billing: the manager request (angry also its furious stretch); confused, satisfied: none
    assert {t: len(f) > 0 for t, f in flags.items()} == {"angry_calmed": True, "billing_escalation": True,
                                                         "confused_caller": False, "satisfied_caller": False}
    assert all(f.kind == "escalation" for fs in flags.values() for f in fs)
    assert all(any("manager" in f.reason or "senior" in f.reason for f in flags[t])
               for t in ("angry_calmed", "billing_escalation"))
    again = Library(library.path)  # the library remembers the thresholds
    assert again.flag_settings.kinds == ("escalation",)
    again.refresh_flags(FlagSettings())
    assert len(by_title(again, "angry_calmed").flags) == before
    again.close()


def test_csv_export_of_the_filtered_list(qa, tmp_path):
    import csv
    qa.kind.setCurrentIndex(qa.kind.findData("escalation"))
    out = qa.export_csv(str(tmp_path / "qa.csv"))
    rows = list(csv.DictReader(open(out, encoding="utf-8")))
    assert sorted(r["title"] for r in rows) == ["angry_calmed", "billing_escalation"]
    assert all(r["qa_score"] for r in rows)  # each imported call scored as it was stored
    card = qa.store.qa_card()
    assert all(f"qa_{q.id}" in rows[0] for q in card.questions)


def test_qa_averages_per_agent_and_per_question_over_the_calls_shown(qa, library, qtbot):
    angry = by_title(library, "angry_calmed")
    library.update_call(angry.id, agent="Sam")
    qa.reload()
    dlg = qa.show_qa_averages()
    qtbot.addWidget(dlg)
    agents = {dlg.agents.item(r, 0).text(): dlg.agents.item(r, 1).text()
              for r in range(dlg.agents.rowCount())}
    assert agents == {"Sam": "1", "(no agent)": "3"}
    card = library.qa_card()
    assert dlg.questions.rowCount() == len(card.questions)
    sam_score = library.scorecard(angry.id).score
    row = next(r for r in range(dlg.agents.rowCount()) if dlg.agents.item(r, 0).text() == "Sam")
    assert dlg.agents.item(row, 2).text() == f"{sam_score:.1f} %"
    qa.kind.setCurrentIndex(qa.kind.findData("escalation"))  # the calls shown only
    dlg = qa.show_qa_averages()
    qtbot.addWidget(dlg)
    assert sum(int(dlg.agents.item(r, 1).text()) for r in range(dlg.agents.rowCount())) == 2


# ---- replay view ------------------------------------------------------------------------------------

def test_open_call_at_its_worst_moment_and_click_a_flag_to_seek(qa, qtbot):
    rec = next(r for r in qa.visible_records() if r.title == "angry_calmed")
    qa.select(rec.id)
    qa.open_selected()
    win = qa.replays[rec.id]
    qtbot.waitUntil(lambda: win.player.duration() > 0, timeout=10000)
    qtbot.waitUntil(lambda: abs(win.player.position() / 1000 - rec.worst.time) < 0.3, timeout=5000)
    line = win.utterances[win.current_line]
    assert line.start <= rec.worst.time < line.end + 0.1 and "manager" in line.text

    # a flag in the list
    target = next(i for i, f in enumerate(win.flags) if f.kind == "anger")
    item = win.flag_list.item(target)
    qtbot.mouseClick(win.flag_list.viewport(), qtbot_left(),
                     pos=win.flag_list.visualItemRect(item).center())
    qtbot.waitUntil(lambda: abs(win.player.position() / 1000 - win.flags[target].time) < 0.3,
                    timeout=3000)
    # a flag marker on the mood curve
    other = next(i for i, f in enumerate(win.flags) if f.time > 40)
    click_on_chart(qtbot, win.chart, win.chart.flag_pos(other))
    qtbot.waitUntil(lambda: abs(win.position - win.flags[other].time) < 0.3, timeout=3000)
    assert abs(win.player.position() / 1000 - win.flags[other].time) < 0.3
    # anywhere on the curve: about that time
    click_on_chart(qtbot, win.chart, win.chart.plot.getViewBox().mapViewToScene(
        qt_point(70.0, 0.0)))
    qtbot.waitUntil(lambda: abs(win.position - 70.0) < 1.5, timeout=3000)
    # a transcript line
    row = next(i for i, u in enumerate(win.utterances) if "kind of you" in u.text)
    item = win.transcript.item(row)
    win.transcript.scrollToItem(item)
    qtbot.mouseClick(win.transcript.viewport(), qtbot_left(),
                     pos=win.transcript.visualItemRect(item).center())
    qtbot.waitUntil(lambda: abs(win.player.position() / 1000 - win.utterances[row].start) < 0.3,
                    timeout=3000)
    assert win.current_line == row


def test_playback_moves_the_transcript_and_speed_changes_rate(qa, qtbot):
    rec = by_title(qa.store, "satisfied_caller")
    win = qa.open_call(rec.id, at=0.0)
    qtbot.waitUntil(lambda: win.player.duration() > 0, timeout=10000)
    win.speed.setCurrentIndex(win.speed.findData(2.0))
    assert win.player.playbackRate() == 2.0
    win.seek(win.utterances[2].start - 0.5)
    win.toggle_play()
    first = win.current_line
    qtbot.waitUntil(lambda: win.current_line > first, timeout=8000)
    win.toggle_play()
    assert win.position > win.utterances[2].start
    assert win.transcript.item(win.current_line).background().color().alpha() > 0


def test_notes_persist_across_restarts(qa, qtbot, library):
    rec = by_title(library, "billing_escalation")
    win = qa.open_call(rec.id, at=38.0)
    qtbot.keyClicks(win.note_text, "Agent should acknowledge before policy")
    qtbot.mouseClick(win.add_note_button, qtbot_left())
    assert [n["text"] for n in win.notes] == ["Agent should acknowledge before policy"]
    assert win.notes[0]["time"] == pytest.approx(38.0, abs=0.3)
    win.close()
    qa.close()
    library.close()

    from callassist.gui.library_view import LibraryWindow
    store = Library(library.path)  # a new start of the app
    qa2 = LibraryWindow(store)
    qtbot.addWidget(qa2)
    win2 = qa2.open_call(rec.id)
    assert [n["text"] for n in win2.notes] == ["Agent should acknowledge before policy"]
    assert win2.note_list.count() == 1
    qtbot.mouseClick(win2.note_list.viewport(), qtbot_left(),
                     pos=win2.note_list.visualItemRect(win2.note_list.item(0)).center())
    assert win2.position == pytest.approx(38.0, abs=0.3)
    win2.close()
    qa2.close()
    store.close()


def test_exported_reports_contain_transcript_and_flags(qa, tmp_path):
    if not shutil.which("pdftotext"):
        pytest.skip("pdftotext (poppler-utils) is not installed: run scripts/setup.sh")
    import subprocess
    rec = by_title(qa.store, "angry_calmed")
    win = qa.open_call(rec.id)
    html = Path(win.export_html(str(tmp_path / "angry.html"))).read_text(encoding="utf-8")
    pdf = win.export_pdf(str(tmp_path / "angry.pdf"))
    text = subprocess.run(["pdftotext", "-layout", pdf, "-"], capture_output=True, text=True,
                          check=True).stdout
    squash = lambda s: " ".join(s.split())  # noqa: E731
    utts = win.utterances
    for doc in (squash(html), squash(text)):
        assert "speak to your manager" in doc
        assert squash(utts[-1].text)[:30] in doc or squash(utts[-1].text)[:30].replace("'", "’") in doc
        assert "Escalation" in doc
        assert "the caller asked for a senior person" in doc


# ---- import from the window ------------------------------------------------------------------------

def test_import_from_the_window_keeps_it_responsive(qtbot, tmp_path, demo_library, models):
    from PySide6.QtCore import QTimer

    from callassist.gui.library_view import LibraryWindow
    _, folder, _ = demo_library
    rec = tmp_path / "incoming"
    rec.mkdir()
    for name in ("confused_caller", "satisfied_caller"):
        shutil.copy(folder / f"{name}.flac", rec / f"{name}.flac")
    (rec / "notes.txt").write_text("not audio")  # ignored
    (rec / "empty.wav").write_bytes(b"")  # reported, does not stop the import
    store = Library(tmp_path / "gui.sqlite3")
    win = LibraryWindow(store, config=Config(), models=models)
    qtbot.addWidget(win)
    win.show()
    import threading
    reloads = []  # each finished call refreshes the list, on the GUI thread
    plain = win._schedule_reload
    win._schedule_reload = lambda: (reloads.append(threading.current_thread()), plain())
    ticks = []
    timer = QTimer()
    timer.timeout.connect(lambda: ticks.append(time.monotonic()))
    timer.start(50)
    with qtbot.waitSignal(win.worker.finished, timeout=180000):
        win.import_paths([str(rec)])
        assert win.importing and win.progress.isVisible()
    timer.stop()
    gaps = [b - a for a, b in zip(ticks, ticks[1:])]
    assert len(ticks) > 20 and max(gaps) < 1.0  # the window kept handling events
    assert len(reloads) == 3 and set(reloads) == {threading.main_thread()}
    qtbot.waitUntil(lambda: len(win.model.records) == 2, timeout=3000)
    assert not win.importing and not win.progress.isVisible()
    assert "Imported 2 of 3" in win.statusBar().currentMessage()
    assert "empty.wav" in win.statusBar().currentMessage()
    win.close()
    store.close()


# ---- helpers ----------------------------------------------------------------------------------------

def qtbot_left():
    from PySide6.QtCore import Qt
    return Qt.LeftButton


def qt_point(x, y):
    from PySide6.QtCore import QPointF
    return QPointF(x, y)


def click_on_chart(qtbot, chart, scene_pos):
    view = chart.plot
    pos = view.mapFromScene(scene_pos)
    qtbot.mouseClick(view.viewport(), qtbot_left(), pos=pos)
