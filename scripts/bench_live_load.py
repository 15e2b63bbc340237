#!/usr/bin/env python3
"""A long live call in the side panel (offscreen), on an idle or a busy machine:

  * a call of --minutes made from the demo calls one after another (stereo, agent left), played
    into the panel in real time, as a softphone would deliver it
  * --hogs N processes spinning on the CPU beside it (an agent's laptop: softphone, browser, CRM)
  * prints, per 5-minute window: end of a caller's utterance -> its mood on the panel, p50 and
    p95; how far behind the call recognition was (the most, and at the window's end); and what
    was shed to stay current (partial passes, seconds of the agent's audio put aside)

    .venv/bin/python scripts/bench_live_load.py --minutes 20 --hogs 2
    .venv/bin/python scripts/bench_live_load.py --minutes 20 --hogs 0      # idle
    .venv/bin/python scripts/bench_live_load.py --minutes 5 --hogs 0 --one-pair --speakerphone

--speakerphone: the call mixed to one channel and fed, in real time, through the live separator
(audio.separated.LiveSeparatedSource) as a speakerphone's single input would be: the cost of
telling the voices apart as the call goes, on the same figures.
"""
from __future__ import annotations

import argparse
from collections import Counter
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
CALLS = ("angry_calmed", "confused_caller", "billing_escalation", "satisfied_caller")
WINDOW = 300.0


def long_call(minutes: float, out: Path, calls=CALLS) -> list[float]:
    """Write a call of at least `minutes` from the demo calls; returns the caller's turn ends."""
    pieces, ends, t = [], [], 0.0
    i = 0
    while t < minutes * 60:
        name = calls[i % len(calls)]
        audio, rate = sf.read(ROOT / "demo" / "calls" / f"{name}.flac", dtype="float32")
        truth = json.loads((ROOT / "demo" / "calls" / f"{name}.truth.json").read_text())
        ends += [t + turn["end"] for turn in truth["turns"] if turn["speaker"] == "customer"]
        pieces.append(audio)
        t += len(audio) / rate
        i += 1
    sf.write(str(out), np.concatenate(pieces), rate)
    return ends


def pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q * (len(values) - 1))))] if values else float("nan")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--minutes", type=float, default=20.0)
    ap.add_argument("--hogs", type=int, default=2, help="CPU-hog processes beside the panel")
    ap.add_argument("--speakerphone", action="store_true",
                    help="one input hearing both speakers, separated live")
    ap.add_argument("--one-pair", action="store_true",
                    help="one dialogue over and over (the same two voices all call, as on a "
                         "real call; the default joins four demo calls with eight voices)")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench_live_"))
    for var in ("XDG_CONFIG_HOME", "XDG_DATA_HOME"):
        os.environ[var] = str(tmp / var)
    call = tmp / "long_call.flac"
    released = []  # (call time of a caller block's end, wall time the separator let it through)
    ends = long_call(args.minutes, call, ("confused_caller",) if args.one_pair else CALLS)
    if args.speakerphone:  # both voices on one channel, separated as the call goes
        audio, rate = sf.read(str(call), dtype="float32")
        call = tmp / "long_call_mono.flac"
        sf.write(str(call), audio.mean(axis=1), rate)
        import callassist.audio.separated as separated
        from callassist.audio.sources import FileSource

        class Watched(separated.LiveSeparatedSource):  # when each caller block was let through
            def __iter__(self):
                for block in super().__iter__():
                    if block.speaker == "customer" and block.samples.any():
                        released.append((block.end, time.monotonic()))
                    yield block

        def live_feed(path, channels=None, *, mono="separate", realtime=False, speed=1.0,
                      profile=None):
            return Watched(FileSource(path, channels="customer", realtime=True, speed=speed))
        separated.open_recording = live_feed

    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication

    from callassist.config import Config
    from callassist.core.events import ProvisionalMood, Status, Utterance
    from callassist.gui.panel import SidePanel
    from callassist.gui.settings import PanelSettings

    import logging

    class Passes(logging.Handler):  # the recogniser's own account of each final pass
        def __init__(self):
            super().__init__(logging.DEBUG)
            self.passes, self.cuts = [], []

        def emit(self, record):
            if getattr(record, "pass", None):
                self.passes.append(getattr(record, "pass"))
            if getattr(record, "cut", None):
                self.cuts.append(record.cut)
    passes = Passes()
    whisper_log = logging.getLogger("callassist.asr.whisper_engine")
    whisper_log.setLevel(logging.DEBUG)
    whisper_log.propagate = False
    whisper_log.addHandler(passes)

    app = QApplication(sys.argv[:1])
    cfg = Config()
    store = cfg.open_store(tmp / "calls.sqlite3")
    panel = SidePanel(PanelSettings(), store=store, config=cfg)
    panel.show()
    while not panel.models.done():
        app.processEvents()
        time.sleep(0.01)
    # busy until this process is gone, however it ends (a crash skips the `finally` below)
    hog = f"import os\nwhile os.getppid() == {os.getpid()}: pass"
    hogs = [subprocess.Popen([sys.executable, "-c", hog]) for _ in range(args.hogs)]
    shown, lags, start = [], [], {}
    try:
        panel.mood_shown.connect(lambda m: shown.append((time.monotonic(), m)))
        panel.bridge.event.connect(lambda e: lags.append((time.monotonic(), e.message))
                                   if isinstance(e, Status) else None)
        provisional = []  # (wall time, call time) of each provisional mood shown
        panel.bridge.event.connect(lambda e: provisional.append((time.monotonic(), e.time))
                                   if isinstance(e, ProvisionalMood) else None)
        texts = {}  # caller utterance id -> when its final text reached the panel
        panel.bridge.event.connect(lambda e: texts.setdefault(e.id, time.monotonic())
                                   if isinstance(e, Utterance) and e.speaker == "customer" else None)
        panel.play(str(call), speed=1.0)
        panel.worker.started.connect(lambda _: start.setdefault("t", time.monotonic()))
        poll = QTimer()
        poll.timeout.connect(lambda: app.quit() if panel.worker is None else None)
        poll.start(500)
        app.exec()
    finally:
        for h in hogs:
            h.kill()
    t0 = start["t"]
    rows, parts = [], 0
    for wall, m in shown:
        end = min(ends, key=lambda e: abs(e - m.time))
        if abs(end - m.time) > 1.0:  # a turn the recogniser cut in two: not its end
            parts += 1
            continue
        rows.append((end, wall - (t0 + end)))
    behind = []  # (call time, seconds behind) from the panel's notices
    for wall, message in lags:
        if " s behind" in message:
            behind.append((wall - t0, float(message.split(" is ")[1].split(" s ")[0])))
        elif "caught up" in message:
            behind.append((wall - t0, 0.0))
    shed = (panel.last_timeline.call.get("shed") or {}) if panel.last_timeline else {}
    print(f"{args.minutes:.0f}-minute call, {args.hogs} CPU hog(s) beside the panel, "
          f"engine {panel.models.result().speech.name}; {len(rows)} caller moods shown at the end "
          f"of a turn ({parts} more for part of one)"
          + ("; one speakerphone input, voices separated live" if args.speakerphone else ""))
    n_windows = int(max(e for e, _ in rows) // WINDOW) + 1
    for w in range(n_windows):
        lat = [x for e, x in rows if w * WINDOW <= e < (w + 1) * WINDOW]
        notes = [b for t, b in behind if t < (w + 1) * WINDOW]
        worst = max((b for t, b in behind if w * WINDOW <= t < (w + 1) * WINDOW), default=0.0)
        print(f"  {w * 5:2d}-{(w + 1) * 5:2d} min: utterance end -> mood p50 {pct(lat, 0.5):5.2f} s, "
              f"p95 {pct(lat, 0.95):5.2f} s (n={len(lat)}); behind at most {worst:.1f} s, "
              f"at the end {notes[-1] if notes else 0.0:.1f} s")
    print(f"  whole call: p50 {pct([x for _, x in rows], 0.5):.2f} s, "
          f"p95 {pct([x for _, x in rows], 0.95):.2f} s, max {max(x for _, x in rows):.2f} s")
    print(f"  shed to stay current: {shed.get('partial_passes', 0)} partial passes, "
          f"{shed.get('agent_seconds_deferred', 0.0):.0f} s of the agent's audio transcribed "
          f"later, {shed.get('economy_seconds', 0.0):.0f} s decoded the cheap way; most behind "
          f"{shed.get('max_lag', 0.0):.1f} s")
    print(f"  at hang-up: {shed.get('agent_seconds_at_hangup', 0.0):.0f} s of the agent's audio "
          f"still waiting; the call was complete {shed.get('finish_seconds', 0.0):.1f} s after "
          f"its audio ended")
    # the first mood reading on the panel after each caller turn ended: provisional (from the
    # final pass run ahead, or a partial) or final, whichever came first
    first = []
    for end in ends:
        walls = [w for w, m in shown if abs(m.time - end) < 1.5]
        walls += [w for w, t in provisional if end - 0.5 <= t <= end + 1.5 and w >= t0 + end]
        if walls:
            first.append(min(walls) - (t0 + end))
    print(f"  utterance end -> first mood reading (provisional or final): p50 {pct(first, 0.5):.2f} s, "
          f"p95 {pct(first, 0.95):.2f} s (n={len(first)})")
    text_to_mood = [wall - texts[m.utterance_id] for wall, m in shown if m.utterance_id in texts]
    end_to_text = []
    for wall, m in shown:
        end = min(ends, key=lambda e: abs(e - m.time))
        if abs(end - m.time) <= 1.0 and m.utterance_id in texts:
            end_to_text.append(texts[m.utterance_id] - (t0 + end))
    print(f"  utterance end -> its final text on the panel: p50 {pct(end_to_text, 0.5):.2f} s, "
          f"p95 {pct(end_to_text, 0.95):.2f} s")
    if released:  # the separator's part: the turn's last speech let through to the caller
        sep = []
        for end in ends:  # the turn's last block with sound: how long after it was heard
            last = [(e, w) for e, w in released if end - 0.3 <= e <= end + 0.1]
            if last:
                e, w = max(last)
                sep.append(w - (t0 + e))
        print(f"  speakerphone: the separator held each turn's last speech for "
              f"p50 {pct(sep, 0.5):.2f} s, p95 {pct(sep, 0.95):.2f} s, max {max(sep):.2f} s "
              f"(n={len(sep)})")
    print(f"  final text -> its mood on the panel: p50 {pct(text_to_mood, 0.5) * 1000:.0f} ms, "
          f"p95 {pct(text_to_mood, 0.95) * 1000:.0f} ms, max {max(text_to_mood, default=float('nan')) * 1000:.0f} ms")
    print(f"  final passes run ahead after 0.25 s of silence: {shed.get('passes_ahead', 0)}, used "
          f"{shed.get('passes_ahead_used', 0)} (the rest: the caller went on speaking); "
          f"{shed.get('spare_passes', 0)} passes on two threads (a core to spare)")
    # where each caller turn's time went: the recogniser's final pass for it (the one whose
    # segment ends nearest the turn's end), and the segmenter's cut
    parts_of = []
    for end, lat in rows:
        mine = [p for p in passes.passes if p[0] == "customer" and abs(p[2] - end) < 0.8]
        cut = [c for c in passes.cuts if c[0] == "customer" and abs(c[2] - end) < 0.8]
        if not mine or not cut:
            continue
        c = min(cut, key=lambda c: abs(c[2] - end))
        p = [p for p in mine if (p[1], p[2]) == (c[1], c[2])]
        p = p[-1] if p else min(mine, key=lambda p: abs(p[2] - end))
        parts_of.append((lat, p[3] - (t0 + end), p[4] - p[3], p[5], c[3] - (t0 + end), c[4], p[6]))
    if parts_of:
        print(f"  the recogniser's part (n={len(parts_of)}): end -> its final pass began p50 "
              f"{pct([x[1] for x in parts_of], .5):.2f} s, p95 {pct([x[1] for x in parts_of], .95):.2f} s; "
              f"pass took p50 {pct([x[2] for x in parts_of], .5):.2f} s, p95 "
              f"{pct([x[2] for x in parts_of], .95):.2f} s ({sum(x[3] for x in parts_of)} on two threads); "
              f"end -> segmenter's cut p50 {pct([x[4] for x in parts_of], .5):.2f} s")
        whys = Counter(x[6] for x in parts_of)
        print("  why those passes got the threads they got: "
              + ", ".join(f"{k or '?'} {v}" for k, v in whys.most_common()))
        print("  the slowest tenth: mood | pass began, took, threads (why) | cut, pass run ahead")
        for x in sorted(parts_of, reverse=True)[:max(3, len(parts_of) // 10)]:
            print(f"    {x[0]:.2f} s | +{x[1]:.2f} s, {x[2]:.2f} s, {2 if x[3] else 1} ({x[6]}) | "
                  f"+{x[4]:.2f} s, {'ahead' if x[5] else 'in line'}")
    panel.close()
    store.close()


if __name__ == "__main__":
    main()
