#!/usr/bin/env python3
"""Import throughput of the call library, and whether the QA window stays responsive meanwhile.

    QT_QPA_PLATFORM=offscreen .venv/bin/python scripts/bench_import.py [--calls 20] [--jobs 1,2]

Makes `--calls` distinct recordings from the demo calls (sox: tempo, pitch and level varied),
loads the models once, then imports them all into a new library for each `--jobs` value:
headless (callassist.library.importer.Importer) and, for the last value, through the QA window (its
worker thread) while a 20 ms timer on the GUI thread measures how long the window ever went
without handling events. Prints audio minutes, wall time, throughput and the GUI stalls.
"""
from __future__ import annotations

import argparse
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

VARIANTS = [("1.0", "0", "0"), ("0.92", "150", "-3"), ("1.08", "-150", "2"), ("0.96", "-80", "-6"),
            ("1.04", "90", "-1")]  # tempo, pitch (cents), gain (dB)


def make_recordings(n: int, folder: Path) -> list[Path]:
    calls = sorted((ROOT / "demo" / "calls").glob("*.flac"))
    out = []
    for i in range(n):
        src = calls[i % len(calls)]
        tempo, pitch, gain = VARIANTS[(i // len(calls)) % len(VARIANTS)]
        dst = folder / f"{i + 1:02d}_{src.stem}.flac"
        subprocess.run(["sox", str(src), str(dst), "tempo", tempo, "pitch", pitch, "gain", gain],
                       check=True, capture_output=True)
        out.append(dst)
    return out


from callassist.config import Config  # noqa: E402


def headless(pipe, files, jobs: int, db: Path) -> tuple[float, float, int]:
    from callassist.library.importer import Importer
    from callassist.library.service import Library
    t0 = time.perf_counter()
    with Library(db) as store:
        results = Importer(store, pipe, Config(), jobs=jobs).run(files)
    wall = time.perf_counter() - t0
    ok = [r for r in results if r.ok]
    return wall, sum(r.duration for r in ok), len(ok)


def in_window(pipe, files, jobs: int, db: Path) -> tuple[float, float, int, list[float]]:
    from PySide6.QtCore import QObject, QTimer, Slot
    from PySide6.QtWidgets import QApplication

    from callassist.gui.library_view import LibraryWindow
    from callassist.library.service import Library
    app = QApplication.instance() or QApplication(sys.argv[:1])
    store = Library(db)
    win = LibraryWindow(store, config=Config(import_jobs=jobs), models=pipe)
    win.show()
    ticks: list[float] = []
    timer = QTimer()
    timer.timeout.connect(lambda: ticks.append(time.perf_counter()))
    done: list = []

    class Waiter(QObject):  # lives on the GUI thread, so the worker's signals are queued to it
        @Slot(list)
        def finished(self, results):
            done.append(results)
            app.quit()

        @Slot(str)
        def failed(self, message):
            print(f"import failed: {message}")
            app.quit()

    waiter = Waiter()
    win.worker.finished.connect(waiter.finished)
    win.worker.failed.connect(waiter.failed)
    t0 = time.perf_counter()
    timer.start(20)
    win.import_paths([str(f) for f in files])
    app.exec()
    wall = time.perf_counter() - t0
    timer.stop()
    gaps = sorted(b - a for a, b in zip(ticks, ticks[1:]))
    results = done[0]
    ok = [r for r in results if r.ok]
    shown = len(win.model.records)
    win.close()
    store.close()
    assert shown == len(ok), (shown, len(ok))
    return wall, sum(r.duration for r in ok), len(ok), gaps


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--calls", type=int, default=20)
    ap.add_argument("--jobs", default="1,2", help="comma-separated job counts to compare")
    args = ap.parse_args()
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    tmp = Path(tempfile.mkdtemp(prefix="bench_import_"))
    os.environ["XDG_DATA_HOME"] = str(tmp / "data")
    os.environ["XDG_CONFIG_HOME"] = str(tmp / "config")
    try:
        folder = tmp / "recordings"
        folder.mkdir()
        t0 = time.perf_counter()
        files = make_recordings(args.calls, folder)
        print(f"made {len(files)} recordings in {time.perf_counter() - t0:.1f} s")
        from callassist.core.models import Models
        t0 = time.perf_counter()
        pipe = Models.load(Config())
        print(f"models loaded in {time.perf_counter() - t0:.1f} s (once per import session)")
        jobs = [int(j) for j in args.jobs.split(",")]
        for j in jobs[:-1]:
            wall, audio, n = headless(pipe, files, j, tmp / f"h{j}.sqlite3")
            print(f"headless, jobs={j}: {n} calls, {audio / 60:.1f} min of audio in {wall:.1f} s "
                  f"-> {audio / wall:.1f}x real time, {n / wall * 60:.1f} calls/min")
        j = jobs[-1]
        wall, audio, n, gaps = in_window(pipe, files, j, tmp / f"w{j}.sqlite3")
        p99 = gaps[int(0.99 * (len(gaps) - 1))] if gaps else 0.0
        print(f"QA window, jobs={j}: {n} calls, {audio / 60:.1f} min of audio in {wall:.1f} s "
              f"-> {audio / wall:.1f}x real time, {n / wall * 60:.1f} calls/min")
        print(f"GUI thread while importing (20 ms timer): longest gap {gaps[-1] * 1000:.0f} ms, "
              f"p99 {p99 * 1000:.0f} ms, median {gaps[len(gaps) // 2] * 1000:.0f} ms")
        print(f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
