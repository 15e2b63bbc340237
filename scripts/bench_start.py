#!/usr/bin/env python3
"""Benchmark what "models loaded once" buys (offscreen Qt, a real PulseAudio virtual microphone):

  * models loading in the background from the moment the panel opens
  * Start -> capturing while the models are still loading (pressed as soon as the panel is up)
  * Start -> listening (audio capture running) for the first and the later calls
  * memory: the panel with its models, then with the QA window open and importing a recording
    with the same models (a second copy of the models would add ~400 MB)

    .venv/bin/python scripts/bench_start.py [--calls 6]
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


def rss_mb() -> float:
    import psutil
    return psutil.Process().memory_info().rss / 2**20


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--calls", type=int, default=6, help="calls started one after another")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench_start_"))
    for var in ("XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_CACHE_HOME"):  # a fresh install
        os.environ[var] = str(tmp / var)

    from tests.pulse import VirtualMic
    mic = VirtualMic()
    os.environ.update({k: mic.env[k] for k in ("PULSE_SERVER", "XDG_RUNTIME_DIR")})
    try:
        run(args, tmp)
    finally:
        mic.close()


def run(args, tmp: Path) -> None:
    from PySide6.QtWidgets import QApplication

    from callassist.config import Config
    from callassist.gui.panel import SidePanel
    from callassist.gui.settings import PanelSettings

    app = QApplication(sys.argv[:1])
    cfg = Config()
    store = cfg.open_store(tmp / "calls.sqlite3")
    print(f"process before the panel: {rss_mb():.0f} MB")
    t0 = time.perf_counter()
    panel = SidePanel(PanelSettings(), store=store, config=cfg)
    panel.show()
    opened = time.perf_counter() - t0

    def wait(cond, timeout=300.0):
        end = time.perf_counter() + timeout
        while not cond():
            app.processEvents()
            time.sleep(0.002)
            if time.perf_counter() > end:
                raise TimeoutError
    from tests.pulse import SOURCE
    wait(lambda: panel.caller_input.findData(SOURCE) > 0, 30)
    panel.caller_input.setCurrentIndex(panel.caller_input.findData(SOURCE))
    loading = not panel.models.done()
    t = time.perf_counter()
    panel.toggle_call()  # at once, as an agent picking up a call would
    wait(lambda: panel.call_started is not None, 60)
    early = time.perf_counter() - t
    print(f"Start while the models {'still load' if loading else 'were already loaded'}: "
          f"capturing after {early:.3f} s (target <= 0.3 s); models loaded then: "
          f"{panel.models.done()}")
    panel.toggle_call()
    wait(lambda: panel.worker is None, 300)
    wait(lambda: panel.models.done())
    loaded = time.perf_counter() - t0
    models = panel.models.result()
    print(f"panel open in {opened:.2f} s; models loaded in the background {loaded:.1f} s after "
          f"(speech {models.speech.name}); RSS {rss_mb():.0f} MB")

    starts = []
    for i in range(args.calls):
        t = time.perf_counter()
        panel.toggle_call()
        wait(lambda: panel.call_started is not None, 60)
        starts.append(time.perf_counter() - t)
        time.sleep(0.5)
        panel.toggle_call()
        wait(lambda: panel.worker is None, 60)
    later = starts[1:] or starts
    print(f"Start -> listening: first call {starts[0]:.3f} s; later calls median "
          f"{statistics.median(later):.3f} s, max {max(later):.3f} s (target <= 0.3 s)")
    print(f"RSS with the panel after {args.calls} calls: {rss_mb():.0f} MB")

    library = panel.open_library()
    app.processEvents()
    print(f"RSS with the panel and the QA window open: {rss_mb():.0f} MB")
    done = []
    library.worker.finished.connect(done.append)
    library.import_paths([str(ROOT / "demo" / "calls" / "satisfied_caller.flac")])
    wait(lambda: done, 300)
    same = library.worker.models is models
    print(f"RSS after the QA window imported a recording: {rss_mb():.0f} MB "
          f"({'the panel' if same else 'ANOTHER'}'s models; target <= 900 MB)")
    library.close()
    panel.close()
    store.close()


if __name__ == "__main__":
    main()
