#!/usr/bin/env python3
"""Benchmark the side panel during a call played in real time (offscreen Qt window):

  * latency from the end of each caller utterance in the audio to the panel showing its mood
    (the gauge repainted on the GUI thread), median / p95 / max
  * the GUI thread's longest stall (a 5 ms timer's worst lateness) while models load and run
  * peak memory of the process

    QT_QPA_PLATFORM=offscreen .venv/bin/python scripts/bench_panel.py [--call …] [--speed 1]
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--call", type=Path, default=ROOT / "demo" / "calls" / "angry_calmed.flac")
    ap.add_argument("--speed", type=float, default=1.0)
    args = ap.parse_args()
    tmp = tempfile.mkdtemp()
    os.environ.setdefault("XDG_CONFIG_HOME", tmp)
    from PySide6.QtCore import QElapsedTimer, QTimer
    from PySide6.QtWidgets import QApplication

    from democall import truth_path
    from callassist.gui.panel import SidePanel
    from callassist.gui.settings import PanelSettings

    app = QApplication(sys.argv[:1])
    panel = SidePanel(PanelSettings(), store=None)
    panel.show()
    ends = [t["end"] for t in json.loads(truth_path(args.call).read_text())["turns"]
            if t["speaker"] == "customer"]
    t0 = {}
    shown = []
    stall = {"max": 0.0, "last": None, "during_call": 0.0}
    clock = QElapsedTimer()
    clock.start()

    def tick():
        now = clock.elapsed() / 1000
        if stall["last"] is not None:
            late = now - stall["last"] - 0.005
            stall["max"] = max(stall["max"], late)
            if "start" in t0:
                stall["during_call"] = max(stall["during_call"], late)
        stall["last"] = now

    timer = QTimer()
    timer.timeout.connect(tick)
    timer.start(5)
    panel.worker_started_at = None

    def on_started(_):
        t0["models"] = time.monotonic()

    def on_capturing():  # the call's clock: its audio is played (and recorded) from here on,
        t0["start"] = time.monotonic()  # while the models may still be loading

    def on_mood(m):
        app.processEvents()  # the repaint the agent sees
        shown.append((time.monotonic(), m))

    panel.mood_shown.connect(on_mood)
    t_load = time.monotonic()
    panel.play(str(args.call), speed=args.speed)
    panel.worker.started.connect(on_started)
    panel.worker.capturing.connect(on_capturing)

    def done():
        if panel.worker is None:
            app.quit()
    poll = QTimer()
    poll.timeout.connect(done)
    poll.start(200)
    app.exec()
    lat = []
    for wall, m in shown:
        end = min(ends, key=lambda e: abs(e - m.time))
        lat.append(wall - (t0["start"] + end / args.speed))
    lat.sort()
    print(f"call {args.call.name} at speed {args.speed}; audio playing {t0['start'] - t_load:.2f} s "
          f"after Play; models loaded {t0['models'] - t_load:.1f} s after it (in the background: "
          f"the first moods come late by that much)")
    print(f"utterance end -> mood on the panel (n={len(lat)}): median {statistics.median(lat):.2f} s, "
          f"p95 {lat[int(round(0.95 * (len(lat) - 1)))]:.2f} s, max {lat[-1]:.2f} s")
    print(f"GUI thread longest stall: {1000 * stall['max']:.0f} ms overall, "
          f"{1000 * stall['during_call']:.0f} ms while the call ran")
    print(f"peak memory (max RSS) {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")


if __name__ == "__main__":
    main()
