#!/usr/bin/env python
"""The live separator (audio.separated.LiveSeparatedSource: one input hearing both speakers, a
speakerphone) on the mono mixes of scripts/make_mono_mixes.py, run as fast as it goes (the
figures are in call seconds, so they do not depend on the machine's speed). Prints figures,
judges nothing.

Per mix and overall, without and with the agent's voice profile:
  right  share of the truth's words whose audio went to the stream of their role (each word at
         the midpoint of its even share of its turn; the stream that got that block's sound)
  cut    what the separator adds to each turn's end on its own stream: the recogniser cuts an
         utterance after 0.6 s of silence, so the audio up to the turn's end + 0.6 s must have
         reached it. Call seconds between that moment in the call and the moment the separator
         let that audio through (it holds a new stretch of speech until it knows whose it is,
         and both streams wait for it): p50 / p95 / max over the turns from the third on (the
         first two are held until the call's two voices are known), and the share over 0.5 s
  lost   changes of speaker (after a gap) where the next speaker's first words went to the
         stream that had the last speaker's turn before it had heard the silence that ends their
         utterance (a gap too short to end the separator's stretch of speech, or the stretch
         given to the wrong voice): one utterance for two speakers
  RTF    seconds spent in the separator / seconds of audio

    .venv/bin/python scripts/bench_live_separation.py [--split report|tune|all] [--only S]
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

import make_mono_mixes  # noqa: E402
from bench_diarize import load16, words_of  # noqa: E402

CUT = 0.6  # the segmenter's min_silence


class Heard:
    """A file source that notes how far into the call it has read."""

    def __init__(self, inner):
        self.inner, self.at = inner, 0.0

    def __iter__(self):
        for block in self.inner:
            self.at = block.end
            yield block

    def __getattr__(self, name):
        if name == "inner":
            raise AttributeError(name)
        return getattr(self.inner, name)


def run(path: Path, profile) -> tuple[list[tuple[str, float, float, float]], float]:
    """[(stream, block start, block end, call time read when it was let through)] for the blocks
    with sound, and the seconds it took."""
    from callassist.audio.separated import LiveSeparatedSource
    from callassist.audio.sources import FileSource

    heard = Heard(FileSource(path, channels="customer"))
    out, t0 = [], time.perf_counter()
    for b in LiveSeparatedSource(heard, profile=profile):
        out.append((b.speaker if b.samples.any() else "", b.start, b.end, heard.at))
    return out, time.perf_counter() - t0


def lost_ends(truth: dict, blocks) -> tuple[int, int]:
    """(changes of speaker whose turn end never reached its stream, changes of speaker): the
    next speaker, after a gap, had their first words sent to the stream that had the last
    speaker's turn before it had heard the 0.1-0.6 s of silence that end that utterance (a gap
    too short to end the separator's stretch, or the next stretch given to the wrong voice).
    By stream, not by role: a call whose roles are the wrong way round loses no turn end.
    Overlapping changes are left out."""
    spoken = [b for b in blocks if b[0]]

    def stream_of(turn: dict) -> str:
        got = [s for s, st, en, _ in spoken if st < turn["end"] and en > turn["start"]]
        return max(set(got), key=got.count) if got else ""

    turns = truth["turns"]
    lost = n = 0
    for a, b in zip(turns, turns[1:]):
        if a["role"] == b["role"] or b["start"] < a["end"]:
            continue
        n += 1
        mine = stream_of(a)
        lost += any(s == mine and st < a["end"] + CUT and en > b["start"] + 0.05
                    for s, st, en, _ in spoken)
    return lost, n


def figures(truth: dict, blocks) -> tuple[float, list[float]]:
    starts = np.array([b[1] for b in blocks])
    spoken = [b for b in blocks if b[0]]
    sstarts = np.array([b[1] for b in spoken])

    def stream_at(t: float) -> str:
        i = int(np.searchsorted(sstarts, t, side="right")) - 1
        return spoken[i][0] if i >= 0 and spoken[i][2] > t else ""

    words = words_of(truth)
    right = sum(stream_at(t) == role for t, role in words) / max(1, len(words))
    cuts = []  # from the third turn on (before it, the call's two voices are not known yet)
    for turn in truth["turns"][2:]:
        t = turn["end"] + CUT
        i = int(np.searchsorted(starts, t, side="right")) - 1
        if 0 <= i < len(blocks) and blocks[i][2] >= t:
            cuts.append(max(0.0, blocks[i][3] - blocks[i][2]))
    return right, cuts


def pct(values, q):
    v = sorted(values)
    return v[min(len(v) - 1, int(round(q * (len(v) - 1))))] if v else float("nan")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--split", default="report", choices=["report", "tune", "blind", "all"])
    ap.add_argument("--mixes", type=Path, default=make_mono_mixes.DEFAULT_OUT)
    ap.add_argument("--only", default="", help="only the mixes whose name holds this")
    ap.add_argument("--early", type=float, help="try LiveSeparatedSource.EARLY (seconds; "
                    "at least --decide turns the early answer off)")
    ap.add_argument("--margin", type=float, help="try LiveSeparatedSource.EARLY_MARGIN")
    ap.add_argument("--quick", help="try LiveSeparatedSource.QUICK:QUICK_MARGIN (seconds:cosine; "
                    "'off': no first try when the last speaker's utterance waits on it)")
    ap.add_argument("--end-silence", type=float, help="try LiveSeparatedSource.END_SILENCE")
    args = ap.parse_args()
    todo = make_mono_mixes.mixes_of(args.mixes.expanduser(), args.split, args.only)
    from callassist.audio.diarize import voice_profile
    from callassist.audio.separated import LiveSeparatedSource as L
    if args.early is not None:
        L.EARLY = args.early
    if args.margin is not None:
        L.EARLY_MARGIN = args.margin
    if args.end_silence is not None:
        L.END_SILENCE = args.end_silence
    if args.quick == "off":
        L.HAND_OVER = float("inf")
    elif args.quick:
        L.QUICK, L.QUICK_MARGIN = (float(x) for x in args.quick.split(":"))
    print(f"{len(todo)} {args.split} mixes; DECIDE {L.DECIDE} s, END_SILENCE {L.END_SILENCE} s"
          + f", EARLY {L.EARLY} s (margin {L.EARLY_MARGIN}), "
          + (f"QUICK {L.QUICK} s (margin {L.QUICK_MARGIN}) after {L.HAND_OVER} s of the last "
             f"speaker's silence" if L.HAND_OVER < float("inf") else "no QUICK try"))
    print(f"{'mix':34} {'right':>6} {'cut p50/p95/max':>16} {'+prof':>6} {'cut p50/p95/max':>16} {'RTF':>5}")
    tot = {False: ([], []), True: ([], [])}
    spent = audio = 0.0
    lost = {False: [0, 0], True: [0, 0]}
    for f, truth in todo:
        name = f.name.removesuffix(".truth.json")
        wav = f.with_name(name + ".wav")
        prof = voice_profile(load16(f.with_name(name + ".agent_profile.wav")))
        cells = []
        for with_prof in (False, True):
            blocks, secs = run(wav, prof if with_prof else None)
            right, cuts = figures(truth, blocks)
            lost[with_prof] = [x + y for x, y in zip(lost[with_prof], lost_ends(truth, blocks))]
            tot[with_prof][0].append(right)
            tot[with_prof][1].extend(cuts)
            cells.append(f"{100 * right:5.1f}% {pct(cuts, .5):5.2f}/{pct(cuts, .95):4.2f}/{max(cuts):4.2f}")
            spent += secs
            audio += truth["duration"]
        print(f"{name:34} {cells[0]:>23} {cells[1]:>23} {secs / truth['duration']:5.3f}")
    for with_prof in (False, True):
        rights, cuts = tot[with_prof]
        print(f"{'with' if with_prof else 'without'} the agent's profile: words to the right stream "
              f"{100 * np.mean(rights):.1f}% (mean of mixes, worst {100 * min(rights):.1f}%); "
              f"added to the cut p50 {pct(cuts, .5):.2f} s, p95 {pct(cuts, .95):.2f} s, "
              f"max {max(cuts):.2f} s, over 0.5 s {100 * np.mean(np.array(cuts) > 0.5):.0f}% "
              f"(n={len(cuts)} turns from the third); turn ends lost to the next speaker's first "
              f"words {lost[with_prof][0]} of {lost[with_prof][1]} changes of speaker after a gap")
    print(f"separator RTF {spent / audio:.3f}")


if __name__ == "__main__":
    main()
