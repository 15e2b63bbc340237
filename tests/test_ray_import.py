"""`callassist import --ray`: the analysis spread over a real local Ray cluster (127.0.0.1
only), results in a team's real PostgreSQL library; a worker killed mid-run loses nothing and
stores nothing twice."""
import os
import signal
import subprocess
import threading

import pytest
import soundfile as sf

from callassist.config import Config
from callassist.library import rayimport
from tests.conftest import DEMO_CALLS, run_cli

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def recordings(tmp_path_factory):
    """Eight recordings: each demo call cut in two (stereo, agent and caller)."""
    folder = tmp_path_factory.mktemp("ray-recordings")
    for src in sorted(DEMO_CALLS.glob("*.flac")):
        audio, rate = sf.read(src)
        half = len(audio) // 2
        sf.write(folder / f"{src.stem}-1.flac", audio[:half], rate)
        sf.write(folder / f"{src.stem}-2.flac", audio[half:], rate)
    return folder


def ray_listening_addresses() -> list[tuple[str, str]]:
    """(local address, process) of every listening TCP socket of a Ray process."""
    out = subprocess.run(["ss", "-ltnpH"], capture_output=True, text=True).stdout
    found = []
    for line in out.splitlines():
        fields = line.split()
        if any(name in line for name in ('"ray::', '"raylet"', '"gcs_server"')):
            found.append((fields[3], fields[-1]))
    return found


def loopback(address: str) -> bool:
    host = address.rsplit(":", 1)[0].strip("[]")
    return host in ("127.0.0.1", "::ffff:127.0.0.1", "::1")


def test_a_worker_killed_mid_run_loses_nothing_and_stores_nothing_twice(recordings, pg_server,
                                                                        pg_databases):
    url = pg_databases.new()
    cfg = Config()
    killed: dict = {}
    lock = threading.Lock()
    pids: dict = {}

    def workers_up(actors):
        import ray
        pids.update({a: ray.get(a.pid.remote()) for a in actors})
        killed["ports"] = ray_listening_addresses()

    def said(result, done, total):
        with lock:
            if done == 1 and not killed.get("pid"):  # the other worker is busy: kill it
                victim = next(p for p in pids.values() if p != result.worker)
                os.kill(victim, signal.SIGKILL)
                killed["pid"] = victim
                killed["at"] = done

    results = rayimport.run([recordings], url, cfg, workers=2, on_result=said,
                            on_workers=workers_up)
    assert killed.get("pid"), "no worker was killed"
    # every port of the cluster (its store, scheduler, workers) on the loopback interface
    assert len(killed["ports"]) >= 4, killed["ports"]
    assert all(loopback(address) for address, _ in killed["ports"]), killed["ports"]
    assert len(results) == 8 and not [r.error for r in results if r.error]
    with pg_server.admin(url.rsplit("/", 1)[1]) as db:
        rows = db.execute("SELECT title, content_key, status, utterances FROM calls").fetchall()
    assert sorted(r[0] for r in rows) == sorted(p.stem for p in recordings.glob("*.flac"))
    assert len({r[1] for r in rows}) == 8  # each recording once
    assert all(status == "done" and utterances > 0 for _, _, status, utterances in rows)


def test_import_ray_command_line_into_sqlite_on_a_local_cluster(recordings, tmp_path):
    lib = tmp_path / "calls.sqlite3"
    one = tmp_path / "one"
    one.mkdir()
    for name in ("angry_calmed-1.flac", "satisfied_caller-2.flac"):
        (one / name).write_bytes((recordings / name).read_bytes())
    r = run_cli("import", str(one), "--ray", "--jobs", "2", "--library", str(lib), timeout=900)
    assert r.returncode == 0, r.stderr[-3000:]
    assert "local Ray cluster" in r.stderr and "[2/2]" in r.stdout
    assert "imported 2 of 2 recordings" in r.stderr
    again = run_cli("import", str(one), "--ray", "--library", str(lib), timeout=300)
    assert again.returncode == 0 and again.stdout.count("already in the library") == 2
    remote = run_cli("import", str(one), "--ray", "10.0.0.9:6379", "--library", str(lib))
    assert remote.returncode == 2 and "team's shared library" in remote.stderr
