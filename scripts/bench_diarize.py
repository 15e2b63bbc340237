#!/usr/bin/env python
"""Benchmark speaker separation of MONO calls (callassist.audio.diarize) on the two-speaker mixes
of scripts/make_mono_mixes.py (made first if the folder has none of the split). Prints figures,
judges nothing.

Per mix and overall (and split into mixed-/same-gender pairs and 16 kHz / 8 kHz telephone mixes):
  DER        pyannote.metrics DiarizationErrorRate, skip_overlap=False, over the whole file, with
             collar 0 and collar 0.25 s (pyannote's collar is the TOTAL width: +-0.125 s around
             each reference boundary is not scored); miss / false alarm / confusion at 0.25.
             Overall: pooled over all the audio (pyannote's own total) and the mean of the mixes.
  words      share of the truth's words given the right role: each truth turn's words are spread
             evenly over its [start, end]; a word is right when the found turn that covers its
             midpoint has the speaker that the roles call its role (no turn there: wrong; one voice
             found: every turn is "customer"). "best": with the better of the two speaker->role
             mappings (what the separation alone allows); "roles": assign_roles without a profile
             (peek too with --peek); "+prof": with the agent's voice profile (voice_profile of
             NAME.agent_profile.wav, another recording of the same agent voice).
  by         how assign_roles decided (profile / words / first / one voice) and whether the agent it
             named is the right speaker (ok / X).
  RTF        seconds in Diarizer()(samples) + assign_roles (no profile) / seconds of audio. The
             profile's voice_profile() is enrolment, timed apart. The 8 kHz files are resampled
             to 16 kHz (soxr) first, as the app would.

    .venv/bin/python scripts/bench_diarize.py [--split report|tune|all] [--mixes DIR]
                                              [--only SUBSTRING] [--peek]

--peek transcribes each speaker's first seconds (faster-whisper with the bundled tiny.en, greedy)
so that assign_roles without a profile can go by the words; off by default (slower).
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

import make_mono_mixes  # noqa: E402

RATE = 16000


def load16(path: Path) -> np.ndarray:
    x, sr = sf.read(path, dtype="float32", always_2d=True)
    x = x.mean(axis=1)
    if sr != RATE:
        x = soxr.resample(x, sr, RATE).astype(np.float32)
    return np.ascontiguousarray(x, dtype=np.float32)


def annotations(truth: dict, turns) -> tuple:
    from pyannote.core import Annotation, Segment, Timeline
    ref, hyp = Annotation(), Annotation()
    for i, t in enumerate(truth["turns"]):
        ref[Segment(t["start"], t["end"]), i] = t["role"]
    for i, t in enumerate(turns):
        if t.end > t.start:
            hyp[Segment(t.start, t.end), i] = f"spk{t.speaker}"
    uem = Timeline([Segment(0.0, truth["duration"])])
    return ref, hyp, uem


def words_of(truth: dict) -> list[tuple[float, str]]:
    """(midpoint time, truth role) of every word, the words spread evenly over their turn."""
    out = []
    for t in truth["turns"]:
        words = t["text"].split()
        step = (t["end"] - t["start"]) / len(words)
        out += [(t["start"] + (i + 0.5) * step, t["role"]) for i in range(len(words))]
    return out


def speaker_at(turns, when: float) -> int | None:
    for t in turns:
        if t.start <= when < t.end:
            return t.speaker
    return None


def words_right(words, turns, agent: int | None) -> float:
    right = 0
    for when, role in words:
        spk = speaker_at(turns, when)
        if spk is None:
            continue
        right += role == ("agent" if agent is not None and spk == agent else "customer")
    return right / len(words)


def whisper_peek():
    """fn(audio 16 kHz float32) -> text: faster-whisper with the bundled tiny.en, greedy."""
    from faster_whisper import WhisperModel

    from callassist.asr.whisper_engine import bundled_whisper_path
    model = WhisperModel(str(bundled_whisper_path()), device="cpu", compute_type="int8",
                         cpu_threads=2, num_workers=1)

    def peek(audio: np.ndarray) -> str:
        segs, _ = model.transcribe(audio.astype(np.float32), language="en", beam_size=1,
                                   condition_on_previous_text=False, vad_filter=False,
                                   without_timestamps=True)
        return " ".join(s.text.strip() for s in segs)
    return peek


def okx(ok: bool | None) -> str:
    return "-" if ok is None else "ok" if ok else "X"


def pct(x: float) -> str:
    return f"{100 * x:5.1f}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--split", default="report", choices=["report", "tune", "blind", "all"])
    ap.add_argument("--mixes", type=Path, default=make_mono_mixes.DEFAULT_OUT)
    ap.add_argument("--only", default="", help="only the mixes whose name holds this")
    ap.add_argument("--peek", action="store_true",
                    help="let assign_roles read each speaker's first words (faster-whisper tiny.en)")
    args = ap.parse_args()
    mixes = args.mixes.expanduser()

    todo = make_mono_mixes.mixes_of(mixes, args.split, args.only)
    if not todo:
        sys.exit("no mixes")

    from pyannote.metrics.diarization import DiarizationErrorRate

    t0 = time.perf_counter()
    from callassist.audio.diarize import Diarizer, assign_roles, voice_profile
    d = Diarizer()
    load_s = time.perf_counter() - t0
    peek = None
    if args.peek:
        t0 = time.perf_counter()
        peek = whisper_peek()
        print(f"peek: faster-whisper tiny.en loaded in {time.perf_counter() - t0:.1f} s")
    metrics = {c: DiarizationErrorRate(collar=c, skip_overlap=False) for c in (0.0, 0.25)}
    print(f"{len(todo)} {args.split} mixes from {mixes}; Diarizer() loaded in {load_s:.1f} s")
    print("DER c0 / c.25: collar 0 and 0.25 s TOTAL width (+-0.125 s), skip_overlap=False; "
          "m/fa/cf: miss, false alarm, confusion at c.25 (% of speech)")
    print(f"{'mix':32} {'dur':>5} {'spk':>3} {'DERc0':>5} {'c.25':>5} {'m/fa/cf':>14} "
          f"{'best':>5} {'roles':>5} {'by':>8} {'+prof':>5} {'by':>10} {'RTF':>5}")
    rows = []
    for f, truth in todo:
        name = f.name.removesuffix(".truth.json")
        samples = load16(f.with_name(name + ".wav"))
        dur = len(samples) / RATE
        t0 = time.perf_counter()
        res = d(samples)
        t1 = time.perf_counter()
        roles = assign_roles(res, samples, profile=None, peek=peek)
        t2 = time.perf_counter()
        prof_file = f.with_name(name + ".agent_profile.wav")
        prof = voice_profile(load16(prof_file))
        t3 = time.perf_counter()
        roles_p = assign_roles(res, samples, profile=prof, peek=peek)

        ref, hyp, uem = annotations(truth, res.turns)
        der = {}
        for c, m in metrics.items():
            der[c] = m(ref, hyp, uem=uem, detailed=True)
        words = words_of(truth)
        speakers = sorted({t.speaker for t in res.turns})
        # the better mapping: each found speaker in turn as the agent (or nobody, one voice)
        best_agent, best = None, words_right(words, res.turns, None)
        for k in speakers:
            w = words_right(words, res.turns, k)
            if w > best:
                best_agent, best = k, w
        w0 = words_right(words, res.turns, roles.agent)
        wp = words_right(words, res.turns, roles_p.agent)
        c25 = der[0.25]
        tot = max(c25["total"], 1e-9)
        row = {
            "name": name, "pair": truth["pair"], "rate": truth["rate"], "dur": dur,
            "speakers": res.speakers,
            "der0": der[0.0]["diarization error rate"], "der25": c25["diarization error rate"],
            "c0": der[0.0], "c25": c25,
            "best": best, "w0": w0, "wp": wp,
            # the agent named right (None: one voice found, nothing to name)
            "ok0": roles.agent == best_agent if res.speakers == 2 else None,
            "okp": roles_p.agent == best_agent if res.speakers == 2 else None,
            "by0": roles.by, "byp": roles_p.by,
            "sep_s": (t1 - t0) + (t2 - t1), "diar_s": t1 - t0, "prof_s": t3 - t2,
        }
        rows.append(row)
        mfc = "/".join(f"{100 * c25[k] / tot:.0f}" for k in ("missed detection", "false alarm", "confusion"))
        print(f"{name:32} {dur:5.0f} {res.speakers:3d} {pct(row['der0'])} {pct(row['der25'])} "
              f"{mfc:>14} {pct(best)} {pct(w0)} {roles.by[:5]:>5} {okx(row['ok0']):>2} "
              f"{pct(wp)} {roles_p.by[:7]:>7} {okx(row['okp']):>2} "
              f"{row['sep_s'] / dur:5.3f}", flush=True)

    def pooled(rs, key):
        err = sum(r[key]["missed detection"] + r[key]["false alarm"] + r[key]["confusion"] for r in rs)
        return err / max(sum(r[key]["total"] for r in rs), 1e-9)

    groups = [("all", rows),
              ("mixed-gender", [r for r in rows if r["pair"] == "mixed"]),
              ("same-gender", [r for r in rows if r["pair"] == "same"]),
              ("16 kHz", [r for r in rows if r["rate"] == 16000]),
              ("8 kHz tel.", [r for r in rows if r["rate"] == 8000])]
    print()
    print("means (DER: pooled over the audio = pyannote's total | mean of the mixes; words: mean "
          "of the mixes; ok: agent named right, of the mixes where two voices were found)")
    print(f"{'group':13} {'n':>3} {'audio':>6} {'DERc0':>13} {'DERc.25':>13} {'2spk':>4} "
          f"{'best':>5} {'roles':>5} {'+prof':>5} {'ok':>5} {'ok+p':>5} {'RTF':>5}")
    for label, rs in groups:
        if not rs:
            continue
        mean = lambda k: statistics.fmean(r[k] for r in rs)  # noqa: E731
        audio = sum(r["dur"] for r in rs)
        two = sum(r["speakers"] == 2 for r in rs)
        print(f"{label:13} {len(rs):3d} {audio / 60:5.1f}m "
              f"{pct(pooled(rs, 'c0'))} | {pct(mean('der0'))} {pct(pooled(rs, 'c25'))} | {pct(mean('der25'))} "
              f"{two:4d} {pct(mean('best'))} {pct(mean('w0'))} {pct(mean('wp'))} "
              f"{sum(bool(r['ok0']) for r in rs):2d}/{two:<2d} {sum(bool(r['okp']) for r in rs):2d}/{two:<2d} "
              f"{sum(r['sep_s'] for r in rs) / audio:5.3f}")
    audio = sum(r["dur"] for r in rows)
    print(f"\nRTF: diarize {sum(r['diar_s'] for r in rows) / audio:.3f}, + roles "
          f"{sum(r['sep_s'] for r in rows) / audio:.3f}{' (with peek)' if peek else ''}; "
          f"voice_profile of a {statistics.fmean(r['prof_s'] for r in rows):.2f} s mean per "
          f"~25 s profile; {audio / 60:.1f} min of audio")
    print(f"pyannote totals: DER c0 {pct(abs(metrics[0.0]))}%, c.25 {pct(abs(metrics[0.25]))}%")


if __name__ == "__main__":
    main()
