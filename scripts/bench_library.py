#!/usr/bin/env python3
"""The call library at scale: build, transcript search, re-flagging, and the QA window meanwhile.

    QT_QPA_PLATFORM=offscreen .venv/bin/python scripts/bench_library.py [--calls 2000] [--postgresql]

Makes `--calls` timelines from the scripts of the shipped demo calls (every kind of event a real
call has: utterances with word timings, sentiment, mood with cues, suggestions, knowledge, the
caller's points, coaching, checklist, escalation, metrics), each with its text, times and id
varied, and saves them into a new library (redaction on, as for a user). Then prints:
  - the library build time;
  - search latency, p50/p95 over 50 queries (words, prefixes, phrases), next to the LIKE scan
    over every event that the search used before the full-text index;
  - the time to re-flag every call (Library.refresh_flags);
  - the GUI thread's longest stall while the QA window re-flags the whole library in its worker
    thread, reload of the list included (a 20 ms QTimer on the GUI thread, as bench_import does).
"""
from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

SWAPS = {"laptop": ["tablet", "router", "phone", "printer", "monitor", "camera", "headset"],
         "twenty": ["ten", "thirty", "forty", "fifteen"], "three": ["two", "four", "five"],
         "order": ["parcel", "delivery", "package", "order"], "refund": ["refund", "credit"],
         "tomorrow": ["tomorrow", "on Monday", "by Friday", "next week"]}
EXTRA = ["Honestly.", "I paid for express shipping.", "Can you check the warranty?",
         "My neighbour had the same problem.", "The invoice says something else.",
         "Is there a discount for this?", "I want a refund if it is not fixed.",
         "The app keeps crashing.", "Can I exchange it for another colour?"]


def scripts() -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted((ROOT / "demo" / "calls").glob("*.truth.json"))]


def make_timeline(script: dict, n: int, rng: random.Random):
    """One call: the demo script's turns with words swapped, lines added, times scaled."""
    from callassist.core.events import (CallerPoint, CallMetrics, CallScore, ChecklistItem,
                                        CoachingTip, EscalationAdvice, KnowledgeMatch, MoodState,
                                        PhraseSuggestion, Sentiment, Utterance, Word)
    from callassist.core.timeline import Timeline
    scale = rng.uniform(0.8, 1.25)
    day = 1 + n % 28
    tl = Timeline(call={"id": f"bench{n:05d}", "source": f"/calls/{n:05d}.flac",
                        "started": f"2024-{1 + n % 12:02d}-{day:02d}T{8 + n % 10:02d}:{n % 60:02d}:00",
                        "engine": "whisper-tiny.en", "speakers": ["agent", "customer"]})
    score, t, uid = 0.0, 0.0, 0
    for turn in script["turns"]:
        words = [rng.choice(SWAPS[w.lower()]) if w.lower() in SWAPS else w
                 for w in turn["text"].split()]
        if turn["speaker"] == "customer" and rng.random() < 0.3:
            words += rng.choice(EXTRA).split()
        text = " ".join(words)
        start = round(turn["start"] * scale + rng.uniform(0, 0.5), 2)
        end = round(max(start + 0.4 * len(words) * scale, turn["end"] * scale), 2)
        t = max(t, end)
        uid += 1
        ws = tuple(Word(w, round(start + k * (end - start) / len(words), 2),
                        round(start + (k + 1) * (end - start) / len(words), 2), 0.9)
                   for k, w in enumerate(words))
        tl(Utterance(uid, turn["speaker"], text, start, end, ws, "whisper"))
        angry = any(w in text.lower() for w in ("ridiculous", "sick of", "terrible", "manager"))
        s = round(rng.uniform(-0.9, -0.4) if angry else rng.uniform(-0.2, 0.8), 4)
        tl(Sentiment(uid, turn["speaker"], end, "negative" if s < 0 else "positive", s,
                     {"negative": 0.6, "neutral": 0.3, "positive": 0.1}))
        if turn["speaker"] == "customer":
            old, score = score, round(score * 0.5 + s * 0.5, 4)
            cues = ({"kind": "anger", "cue": "anger", "strength": 0.8, "reason": "anger",
                     "trigger": "ridiculous"},) if angry else ()
            tl(MoodState(end, "customer", score, "upset" if score < 0 else "calm", 0.8,
                         "worsening" if score < old else "improving", round(score - old, 4), uid,
                         "angry words" if angry else "", cues))
            tl(PhraseSuggestion(end, uid, "angry" if angry else "neutral",
                                ("I understand.", "Let me fix this."), "rule"))
            tl(KnowledgeMatch(end, uid, text[:30], ({"article": "shipping", "score": 0.7,
                                                      "why": ["late"]},)))
            tl(CallerPoint(uid, end, uid, "issue", text[:40], rng.random() < 0.7, uid + 1))
            if "manager" in text:
                tl(EscalationAdvice(end, uid, "requested", "the caller asked for a manager"))
        else:
            if rng.random() < 0.2:
                tl(CoachingTip(end, uid, "blame", "that's our policy", "here is what I can do"))
            tl(ChecklistItem(end, uid, "thanks", "Thanked the caller", "thank" in text.lower(),
                             "thank you"))
    tl(CallScore(t, "customer", score, (-1.0, None, 0.2, score)))
    tl(CallMetrics(t, {"agent": t * 0.4, "customer": t * 0.45}, 0.9, 3.0, (), (), {}, {}))
    tl.call["duration"] = round(t + 1.0, 2)
    return tl


def pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--calls", type=int, default=2000)
    ap.add_argument("--postgresql", action="store_true",
                    help="the library on a private PostgreSQL server (tests/pgserver.py, "
                         "127.0.0.1) instead of an SQLite file")
    args = ap.parse_args()
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    tmp = Path(tempfile.mkdtemp(prefix="bench_library_"))
    os.environ["XDG_DATA_HOME"] = str(tmp / "data")
    os.environ["XDG_CONFIG_HOME"] = str(tmp / "config")
    server = None
    try:
        if args.postgresql:
            sys.path.insert(0, str(ROOT))
            from tests.pgserver import PgServer
            server = PgServer().start()
            os.environ["PGPASSFILE"] = str(server.passfile)
            target = server.create_database("bench")
        else:
            target = tmp / "calls.sqlite3"
        run(args.calls, target)
    finally:
        if server is not None:
            server.stop()
        shutil.rmtree(tmp, ignore_errors=True)


def run(n_calls: int, db) -> None:
    from callassist.library.flags import FlagSettings
    from callassist.library.service import Library
    rng = random.Random(11)
    bases = scripts()
    t0 = time.perf_counter()
    timelines = [make_timeline(bases[i % len(bases)], i, rng) for i in range(n_calls)]
    n_events = sum(len(t.events) for t in timelines)
    print(f"made {n_calls} timelines ({n_events} events) in {time.perf_counter() - t0:.1f} s")

    lib = Library(db)
    t0 = time.perf_counter()
    for tl in timelines:
        lib.save_timeline(tl, title=Path(tl.call["source"]).stem)
    build = time.perf_counter() - t0
    if lib.store.kind == "sqlite":
        size = f"file {db.stat().st_size / 1e6:.0f} MB"
    else:
        size = "database {:.0f} MB".format(lib.store._query(
            "SELECT pg_database_size(current_database())")[0][0] / 1e6)
    print(f"library build on {lib.store.kind}: {n_calls} calls in {build:.1f} s "
          f"({build / n_calls * 1000:.1f} ms a call: redaction, summary, flags, one transaction "
          f"each); {size}")

    queries = ["laptop", "refund", "refun", "manager", "warranty", "ridiculous", "express",
               "invoice", "crashing", "colour", "router", "prin", "headset", "neighbour",
               "discount", "warehouse", "address problem", '"address problem"',
               '"speak to your manager"', "sick of hearing", "cancel the whole order",
               "terrible service", "tomorrow noon", "credit account", "thank you", "hold",
               "twenty minutes", "third time", "zebra", "nothing matches here", "deliv",
               "Brightwave", "electro", "sorry", "frustrat", "help", "phone", "monitor camera",
               "AND", '"', "-laptop", "laptop*", "bill", "payment", "password", "reset",
               "account number", "Friday", "next week", "package"]
    lib.search("warm up")
    lat, hits = [], []
    for q in queries:
        t0 = time.perf_counter()
        hits.append(len(lib.search(q)))
        lat.append(time.perf_counter() - t0)
    how = "FTS5" if lib.store.kind == "sqlite" else "tsquery + GIN index"
    print(f"search ({len(queries)} queries, {how}): p50 {pct(lat, 0.5) * 1000:.1f} ms, "
          f"p95 {pct(lat, 0.95) * 1000:.1f} ms, max {max(lat) * 1000:.1f} ms; "
          f"median {statistics.median(hits):.0f} calls found")
    if lib.store.kind == "sqlite":
        import sqlite3
        raw = sqlite3.connect(db)
        like = []
        for q in queries[:10]:
            t0 = time.perf_counter()
            raw.execute("SELECT DISTINCT call_id FROM events WHERE type = 'utterance' AND "
                        "json_extract(data, '$.text') LIKE ?", (f"%{q}%",)).fetchall()
            like.append(time.perf_counter() - t0)
        raw.close()
        print(f"  for comparison, the former LIKE scan over every event: p50 "
              f"{pct(like, 0.5) * 1000:.0f} ms (10 queries)")
    t0 = time.perf_counter()
    for _ in range(3):
        rows = lib.list_calls()
    print(f"list of calls ({len(rows)} rows): {(time.perf_counter() - t0) / 3 * 1000:.0f} ms")

    t0 = time.perf_counter()
    done = lib.refresh_flags(FlagSettings(silence_seconds=6.0))
    print(f"re-flag all: {done} calls in {time.perf_counter() - t0:.1f} s")
    gui_reflag(lib)
    lib.close()


def gui_reflag(lib) -> None:
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication

    from callassist.gui.library_view import LibraryWindow
    from callassist.library.flags import FlagSettings
    app = QApplication.instance() or QApplication(sys.argv[:1])
    t0 = time.perf_counter()
    win = LibraryWindow(lib)
    win.show()
    while win.reflagging:  # the startup check for calls without flags (none here)
        app.processEvents()
    app.processEvents()
    print(f"QA window opened on {len(win.model.records)} calls in {time.perf_counter() - t0:.2f} s")
    ticks: list[float] = []
    timer = QTimer()
    timer.timeout.connect(lambda: ticks.append(time.perf_counter()))
    poll = QTimer()
    poll.timeout.connect(lambda: None if win.reflagging else app.quit())
    timer.start(20)
    t0 = time.perf_counter()
    win.set_flag_settings(FlagSettings())
    poll.start(50)
    app.exec()
    wall = time.perf_counter() - t0
    ticks.append(time.perf_counter())
    timer.stop()
    poll.stop()
    gaps = sorted(b - a for a, b in zip(ticks, ticks[1:]))
    print(f"QA window re-flag of {len(win.model.records)} calls in its worker: {wall:.1f} s, list "
          f"reloaded; GUI thread (20 ms timer): longest gap {gaps[-1] * 1000:.0f} ms, "
          f"p99 {pct(gaps, 0.99) * 1000:.0f} ms, median {statistics.median(gaps) * 1000:.0f} ms")
    print(f"  status bar: {win.statusBar().currentMessage()}")
    win.close()


if __name__ == "__main__":
    main()
