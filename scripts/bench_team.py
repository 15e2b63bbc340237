#!/usr/bin/env python3
"""A team's library on this machine: import throughput on PostgreSQL with the plain local import
and with 1 and 2 Ray workers, and how soon the supervisor's board shows what a desk said.

    .venv/bin/python scripts/bench_team.py [--calls 20] [--lines 40]

Starts a private PostgreSQL server (tests/pgserver.py, 127.0.0.1, stopped at the end) and makes
`--calls` distinct recordings from the demo calls (bench_import's sox variants). Then, each into
a new database on that server:
  - the plain local import (Importer, jobs = 2, the models loaded once, counted in the time);
  - `import --ray` on a local Ray cluster with 1 worker, then with 2 (cluster start and each
    worker's model loading counted in the time);
printing minutes of audio, wall time and hours of audio analysed per hour. Then a desk records a
live call into the server (its spool, its sender) saying one line every 0.5 s, `--lines` lines,
while the board's watcher (LISTEN/NOTIFY, as the window uses it) reads the live calls; printed:
the delay from a line being said to the board having read it (the desk commits every second,
as the panel does), p50 / p95 / max.
On one shared 2-core machine compare the ratios within a run, not figures across runs.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import threading
import time
from datetime import datetime, timezone
from pathlib import Path

import soundfile as sf

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))


def throughput(label: str, audio: float, wall: float, n: int) -> float:
    rate = audio / wall
    print(f"{label}: {n} calls, {audio / 60:.1f} min of audio in {wall:.0f} s -> "
          f"{rate:.1f} h of audio per hour", flush=True)
    return rate


def local_import(files, url: str) -> float:
    from callassist.config import Config
    from callassist.core.models import Models
    from callassist.library.importer import Importer
    from callassist.library.service import Library
    t0 = time.perf_counter()
    models = Models.load(Config())
    with Library(url) as lib:
        results = Importer(lib, models, Config(), jobs=2).run(files)
    wall = time.perf_counter() - t0
    ok = [r for r in results if r.ok]
    return throughput("plain local import (jobs 2)", sum(r.duration for r in ok), wall, len(ok))


def ray_import(files, url: str, workers: int) -> float:
    from callassist.config import Config
    from callassist.library import rayimport
    t0 = time.perf_counter()
    results = rayimport.run(files, url, Config(), workers=workers)
    wall = time.perf_counter() - t0
    ok = [r for r in results if r.ok]
    return throughput(f"Ray, {workers} worker{'s' * (workers > 1)}", sum(r.duration for r in ok),
                      wall, len(ok))


def board_delay(url: str, lines: int) -> list[float]:
    from callassist.core.events import Utterance
    from callassist.library.board import Watcher, live_calls, transcript_after
    from callassist.library.service import Library
    desk, board = Library(url), Library(url)
    said: dict[str, float] = {}
    seen: dict[str, float] = {}
    stop = threading.Event()

    after = [-1]

    def changed(_ids):  # as the window does: the live calls, and the followed call's new lines
        live_calls(board.store)
        lines_read = transcript_after(board.store, "bench-live", after[0])
        for seq, _, text, _ in lines_read:
            if text in said and text not in seen:
                seen[text] = time.monotonic()
        if lines_read:
            after[0] = lines_read[-1][0]

    watcher = threading.Thread(target=Watcher(board.store).run, args=(changed, stop), daemon=True)
    watcher.start()
    time.sleep(1.0)
    cid = desk.start_call({"id": "bench-live",
                           "started": datetime.now(timezone.utc).isoformat()}, agent="desk1")
    rec = desk.recorder(cid)  # the desk's defaults: committed every second, as in the panel
    for i in range(lines):
        text = f"line number {i} of the caller"
        said[text] = time.monotonic()
        rec(Utterance(i, "customer", text, i * 0.5, i * 0.5 + 0.4))
        time.sleep(0.5)
    deadline = time.monotonic() + 10
    while len(seen) < lines and time.monotonic() < deadline:
        time.sleep(0.05)
    stop.set()
    desk.finish_call(cid, lines * 0.5)
    desk.close()
    board.close()
    return sorted(seen[t] - said[t] for t in seen)


def board_read_time(url: str, calls: int, events: int) -> tuple[float, float]:
    """Seconds for the board to read `calls` live calls of `events` events each (p50, max)."""
    from callassist.core.events import MoodState, Utterance
    from callassist.library.board import live_calls
    from callassist.library.service import Library
    from callassist.library.store import _insert_events
    with Library(url) as lib:
        for n in range(calls):
            cid = f"c{n}"
            lib.store.server.add_call(cid, {"started": f"2026-11-30T09:{n % 60:02d}:00"},
                                      agent=f"desk{n}")
            rows = []
            for i in range(events // 2):
                rows.append((2 * i, "utterance", float(i), json.dumps(Utterance(
                    i, "customer", f"caller line {i} of call {n}", i, i + 0.5).to_dict())))
                rows.append((2 * i + 1, "mood", float(i), json.dumps(MoodState(
                    i + 0.5, "customer", -0.1, "neutral", 0.8, "steady", 0.0, i, "").to_dict())))
            with lib.store.server._tx() as db:
                _insert_events(db, cid, rows, [])
        times = []
        for _ in range(20):
            t0 = time.perf_counter()
            assert len(live_calls(lib.store)) == calls
            times.append(time.perf_counter() - t0)
    return statistics.median(times), max(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--calls", type=int, default=20)
    ap.add_argument("--lines", type=int, default=40)
    ap.add_argument("--skip-import", action="store_true", help="only the board's figures")
    ap.add_argument("--board-calls", type=int, default=100,
                    help="live calls on the server when timing the board's read")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench_team_"))
    os.environ["XDG_DATA_HOME"] = str(tmp / "data")
    os.environ["XDG_CONFIG_HOME"] = str(tmp / "config")
    from bench_import import make_recordings
    from tests.pgserver import PgServer
    server = PgServer().start()
    os.environ["PGPASSFILE"] = str(server.passfile)
    try:
        if not args.skip_import:
            folder = tmp / "recordings"
            folder.mkdir()
            files = make_recordings(args.calls, folder)
            print(f"{len(files)} recordings made", flush=True)
            plain = local_import(files, server.create_database("plain"))
            one = ray_import(files, server.create_database("ray1"), 1)
            two = ray_import(files, server.create_database("ray2"), 2)
            print(f"ratios: Ray 2 workers / 1 worker {two / one:.2f}; Ray 2 workers / plain "
                  f"import {two / plain:.2f}")
            from callassist.library.service import Library
            empty_url = server.create_database("empty")
            Library(empty_url).close()
            sizes = {}
            for name in ("ray2", "empty"):
                with server.admin(name) as db:
                    sizes[name] = db.execute(
                        "SELECT pg_database_size(current_database())").fetchone()[0]
            audio_min = sum(sf.info(f).duration for f in files) / 60
            per_call = (sizes["ray2"] - sizes["empty"]) / len(files)
            print(f"database after {len(files)} calls: {sizes['ray2'] / 1e6:.1f} MB, "
                  f"{per_call / 1e3:.0f} kB a call above an empty library "
                  f"({per_call * len(files) / audio_min / 1e3:.0f} kB per minute of call)",
                  flush=True)
        delays = board_delay(server.create_database("board"), args.lines)
        if delays:
            p95 = delays[min(len(delays) - 1, int(0.95 * len(delays)))]
            print(f"board: {len(delays)} of {args.lines} lines seen; said -> read by the board: "
                  f"p50 {statistics.median(delays):.2f} s, p95 {p95:.2f} s, "
                  f"max {delays[-1]:.2f} s")
        else:
            print("board: no line seen")
        p50, worst = board_read_time(server.create_database("board100"), args.board_calls, 400)
        print(f"board: reading {args.board_calls} live calls of 400 events each: "
              f"p50 {p50 * 1000:.0f} ms, max {worst * 1000:.0f} ms", flush=True)
    finally:
        server.stop()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
