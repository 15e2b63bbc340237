"""Desks writing live calls into a team's PostgreSQL library as the calls go: two at once, the
server stopped mid-call and started again, a desk closed while the server is away. Real server,
real desk processes, every event counted on the server."""
import json
from pathlib import Path
import subprocess
import sys
import time

import pytest

from callassist.core.events import Utterance
from callassist.library.service import Library
from tests.conftest import ROOT

pytestmark = pytest.mark.slow

DESK = r"""
import sys, time
from callassist.core.events import Sentiment, Utterance
from callassist.library.service import Library
url, call_id, n, gap = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
lib = Library(url)
cid = lib.start_call({"id": call_id, "started": "2026-11-30T09:00:00+00:00"})
rec = lib.recorder(cid, flush_seconds=0.2)
print("ready", flush=True)
for i in range(n):
    rec(Utterance(i, "customer", f"line {i} of {call_id}", i * 0.1, i * 0.1 + 0.1))
    rec(Sentiment(i, "customer", i * 0.1 + 0.1, "neutral", 0.0))
    time.sleep(gap)
lib.finish_call(cid, n * 0.1)
lib.close()
print("closed", lib.store.pending(), flush=True)
"""


def desk(url: str, call_id: str, n: int, gap: float) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-c", DESK, url, call_id, str(n), str(gap)],
                            cwd=ROOT, text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    line = proc.stdout.readline()
    assert line.strip() == "ready", proc.stderr.read()
    return proc


def on_server(server, dbname: str, sql: str, args=()):
    with server.admin(dbname) as db:
        return db.execute(sql, args).fetchall()


def wait_for(check, timeout: float = 30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.1)
    return check()


def assert_whole(server, dbname: str, call_id: str, n: int) -> None:
    """The call on the server: done, every event once, in order."""
    rows = on_server(server, dbname, "SELECT seq, type, data FROM events WHERE call_id = %s "
                     "ORDER BY seq", (call_id,))
    assert [r[0] for r in rows] == list(range(2 * n))
    said = [json.loads(d)["id"] for _, kind, d in rows if kind == "utterance"]
    assert said == list(range(n))
    (status, utterances), = on_server(server, dbname, "SELECT status, utterances FROM calls "
                                      "WHERE id = %s", (call_id,))
    assert (status, utterances) == ("done", n)


def test_two_desks_write_live_calls_at_once(pg_server, pg_databases):
    url = pg_databases.new()
    dbname = url.rsplit("/", 1)[1]
    Library(url).close()  # the library made by the administrator
    a, b = desk(url, "desk-a", 60, 0.05), desk(url, "desk-b", 60, 0.05)
    # while both calls go on, the server already has part of each (for the supervisor's board)
    partial = wait_for(lambda: all(on_server(pg_server, dbname, "SELECT count(*) FROM events "
                                             "WHERE call_id = %s", (c,))[0][0] > 0
                                   for c in ("desk-a", "desk-b")), timeout=10)
    assert partial and a.poll() is None and b.poll() is None
    for proc in (a, b):
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
        assert out.split()[-2:] == ["closed", "0"]  # nothing left on the desk
    for c in ("desk-a", "desk-b"):
        assert_whole(pg_server, dbname, c, 60)


def test_server_stopped_mid_call_then_restarted_the_call_arrives_complete(pg_server,
                                                                          pg_databases):
    url = pg_databases.new()
    dbname = url.rsplit("/", 1)[1]
    Library(url).close()
    proc = desk(url, "through-outage", 100, 0.05)  # about 5 s of call
    assert wait_for(lambda: on_server(pg_server, dbname, "SELECT count(*) FROM events")[0][0] > 4,
                    timeout=10)
    pg_server.restart_later(2.5)  # down now, for 2.5 s, in the middle of the call
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    assert "Traceback" not in err
    assert "cannot reach the shared call library" in err  # the desk did meet the outage
    wait_for(lambda: pg_server.started and on_server(
        pg_server, dbname, "SELECT status FROM calls WHERE id = 'through-outage'") == [("done",)],
        timeout=30)
    assert_whole(pg_server, dbname, "through-outage", 100)


def test_a_desk_closed_while_the_server_is_away_sends_the_call_at_its_next_start(
        pg_server, pg_databases):
    url = pg_databases.new()
    dbname = url.rsplit("/", 1)[1]
    Library(url).close()
    pg_server.stop(remove=False)
    try:
        lib = Library(url)  # the desk starts while the server is down: still takes calls
        cid = lib.start_call({"id": "offline", "started": "2026-11-30T10:00:00+00:00"})
        rec = lib.recorder(cid)
        for i in range(5):
            rec(Utterance(i, "customer", f"offline line {i}", i, i + 0.5))
        lib.finish_call(cid, 5.0)
        assert [c.id for c in lib.list_calls()] == ["offline"]  # the desk's own copy
        assert wait_for(lambda: lib.store.error is not None and lib.store.kept == 1)
        assert "cannot reach the shared call library" in str(lib.store.error)
        assert lib.store.state() == ("shared library unreachable: 1 call kept on this desk, "
                                     "sent when it is back")  # the panel's footer
        lib.store.close(wait=0.5)
    finally:
        pg_server._pg_ctl_start()
    with Library(url) as again:  # the next start: the spool is sent
        assert wait_for(lambda: again.store.pending() == 0, timeout=20)
        assert again.get_call("offline").status == "done"
    rows = on_server(pg_server, dbname, "SELECT count(*), count(DISTINCT seq) FROM events "
                     "WHERE call_id = 'offline'")
    assert rows == [(5, 5)]


def test_recordings_go_to_the_shared_folder_every_reviewer_reads(pg_server, pg_databases,
                                                                 tmp_path):
    """Two machines mount the team's recordings folder at different places; an imported
    recording and a desk's own recording of a live call are kept there once, by content, and
    each machine plays them from its own mount."""
    import numpy as np
    import soundfile as sf
    from callassist.core.timeline import Timeline
    from callassist.library.store import AlreadyStored
    url = pg_databases.new()
    dbname = url.rsplit("/", 1)[1]
    share = tmp_path / "share"
    share.mkdir()
    other_mount = tmp_path / "elsewhere"
    other_mount.symlink_to(share)  # the same folder, reached at another path
    wav = tmp_path / "desk" / "call.flac"
    wav.parent.mkdir()
    sf.write(wav, np.sin(np.arange(32000) / 9.0).astype("float32") * 0.2, 16000)

    def timeline():
        tl = Timeline(call={})
        tl(Utterance(1, "customer", "my router is blinking orange", 0.0, 2.0))
        tl.call["duration"] = 2.0
        return tl

    with Library(url) as desk:
        desk.recordings = share
        cid = desk.save_recording(timeline(), wav, title="router")
        with pytest.raises(AlreadyStored):  # the same audio again: no second call, no new file
            desk.save_recording(timeline(), wav, title="again")
        live = desk.start_call({"id": "live-rec", "started": "2026-11-30T11:00:00+00:00"},
                               audio_path=tmp_path / "desk" / "live.wav", own_audio=True)
        sf.write(tmp_path / "desk" / "live.wav", np.zeros((16000, 2), "float32") + 0.1, 16000)
        desk.recorder(live)(Utterance(1, "customer", "hello there", 0.0, 1.0))
        desk.finish_call(live, 1.0)
    assert not (tmp_path / "desk" / "live.wav").exists()  # moved, not left on the desk
    files = sorted(p.relative_to(share).as_posix() for p in share.rglob("*") if p.is_file())
    assert sorted(Path(f).suffix for f in files) == [".flac", ".wav"]  # one file each
    stored = dict(on_server(pg_server, dbname, "SELECT id, audio_path FROM calls"))
    assert stored[cid].startswith("shared:") and stored[cid][7:] in files
    assert wait_for(lambda: dict(on_server(pg_server, dbname, "SELECT id, audio_path FROM calls"))
                    .get("live-rec", "").startswith("shared:"))

    with Library(url) as reviewer:  # another machine, its own mount of the folder
        reviewer.recordings = other_mount
        rec = reviewer.get_call(cid)
        assert rec.audio_path == str(other_mount / stored[cid][7:])
        assert sf.read(rec.audio_path)[0].shape == sf.read(wav)[0].shape
        assert Path(reviewer.get_call("live-rec").audio_path).exists()
    with Library(url) as unset:  # no folder set on this machine: the reference, said plainly
        assert unset.get_call(cid).audio_path.startswith("shared:")


def test_a_desk_panel_call_goes_to_the_server_as_it_is_said(qtbot, pg_server, pg_databases,
                                                            models):
    """The panel's own call worker (as a desk runs it) on a team library: the call is on the
    server while it goes, and whole, with the caller's mood, when it ends."""
    from callassist.config import Config
    from callassist.gui.bridge import CallSetup, CallWorker, EventBridge
    from tests.conftest import DEMO_CALLS
    url = pg_databases.new()
    dbname = url.rsplit("/", 1)[1]
    seen_live = []
    with Library(url) as lib:
        worker = CallWorker(CallSetup(play=str(DEMO_CALLS / "satisfied_caller.flac"), speed=4.0,
                                      agent="desk7"), EventBridge(), Config(), models, lib)

        def watch():  # what the server holds while the call goes
            while not ended:
                rows = on_server(pg_server, dbname, "SELECT c.status, count(e.seq) FROM calls c "
                                 "LEFT JOIN events e ON e.call_id = c.id GROUP BY c.status")
                if rows and rows[0][0] == "live" and rows[0][1] > 0:
                    seen_live.append(rows[0][1])
                time.sleep(0.3)

        ended = []
        worker.finished.connect(ended.append)
        import threading
        spy = threading.Thread(target=watch, daemon=True)
        spy.start()
        worker.run()
        ended.append(True)
        spy.join(5)
        assert worker.kept
        assert wait_for(lambda: lib.store.pending() == 0, timeout=20)
    assert seen_live and max(seen_live) > 5  # events arrived while the call was live
    (status, agent, utterances, mood_end), = on_server(
        pg_server, dbname, "SELECT status, agent, utterances, mood_end FROM calls")
    assert (status, agent) == ("done", "desk7") and utterances >= 8 and mood_end is not None
    kinds = dict(on_server(pg_server, dbname, "SELECT type, count(*) FROM events GROUP BY type"))
    assert kinds["utterance"] == utterances and kinds["mood"] > 0
