"""Synthetic stereo demo calls from small dialogue scripts, spoken by espeak-ng.

A dialogue (YAML) names a voice for the agent and the customer and lists the turns. Each turn is
spoken, trimmed and placed on its speaker's channel with natural gaps; the result is written as
a telephone-quality stereo recording (agent left, customer right) with a JSON file of the true
turns and times next to it, for measuring recognition.
"""
from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr
import yaml

from callassist.errors import CallAssistError
from callassist.core.events import AGENT, CUSTOMER

WORK_RATE = 16000


@dataclass
class Turn:
    speaker: str
    text: str
    start: float = 0.0
    end: float = 0.0


def load_dialogue(path: str | Path) -> dict:
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        line = getattr(getattr(exc, "problem_mark", None), "line", None)
        where = f" line {line + 1}" if line is not None else ""
        raise CallAssistError(f"{path}{where}: not valid YAML: fix the dialogue file") from None
    turns = []
    for i, item in enumerate(data.get("turns") or []):
        speaker = next((k for k in (AGENT, CUSTOMER) if k in item), None)
        if speaker is None:
            raise CallAssistError(f"{path}: turn {i + 1} names neither agent nor customer")
        turns.append((Turn(speaker, str(item[speaker]).strip()), float(item.get("pause", 0.0))))
    if not turns:
        raise CallAssistError(f"{path}: the dialogue has no turns")
    data["_turns"] = turns
    return data


def speak(text: str, voice: str, speed: int = 165, pitch: int = 50) -> np.ndarray:
    """espeak-ng speech as float32 mono at 16 kHz, leading/trailing silence trimmed."""
    if not shutil.which("espeak-ng"):
        raise CallAssistError("espeak-ng is not installed: run scripts/setup.sh "
                              "(apt-get install espeak-ng)")
    with tempfile.NamedTemporaryFile(suffix=".wav") as tmp:
        subprocess.run(["espeak-ng", "-v", voice, "-s", str(speed), "-p", str(pitch), "-w", tmp.name,
                        text], check=True, capture_output=True)
        audio, rate = sf.read(tmp.name, dtype="float32")
    audio = soxr.resample(audio, rate, WORK_RATE)
    loud = np.flatnonzero(np.abs(audio) > 0.01)
    return audio[loud[0]: loud[-1] + 1] if len(loud) else audio


def render(dialogue: dict, rate: int = 16000, gap: float = 0.7, noise_db: float = -60.0,
           seed: int = 7) -> tuple[np.ndarray, list[Turn]]:
    """Stereo audio (frames x 2: agent, customer) at `rate` and the turns with their times."""
    rng = np.random.default_rng(seed)
    voices = dialogue.get("voices", {})
    pieces, turns, t, prev = [], [], 0.5, None
    for turn, pause in dialogue["_turns"]:
        v = voices.get(turn.speaker, {})
        audio = speak(turn.text, v.get("voice", "en-us"), v.get("speed", 165), v.get("pitch", 50))
        if prev is not None:
            t += pause or (gap + float(rng.uniform(-0.15, 0.25)) if prev != turn.speaker else 0.6)
        turn.start, turn.end = round(t, 3), round(t + len(audio) / WORK_RATE, 3)
        pieces.append((turn.speaker, int(t * WORK_RATE), audio))
        turns.append(turn)
        t = turn.end
        prev = turn.speaker
    total = int((t + 0.8) * WORK_RATE)
    stereo = np.zeros((total, 2), dtype=np.float32)
    for speaker, start, audio in pieces:
        stereo[start: start + len(audio), 0 if speaker == AGENT else 1] += 0.8 * audio
    stereo += rng.normal(0, 10 ** (noise_db / 20), stereo.shape).astype(np.float32)
    if rate != WORK_RATE:
        stereo = soxr.resample(stereo, WORK_RATE, rate)
    return np.clip(stereo, -1, 1), turns


def make_call(dialogue_path: str | Path, out_path: str | Path, rate: int = 16000, **kw) -> Path:
    """Render a dialogue to `out_path` (.flac or .wav) and write `<name>.truth.json` beside it."""
    dialogue = load_dialogue(dialogue_path)
    audio, turns = render(dialogue, rate=rate, **kw)
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(str(out_path), audio, rate, subtype="PCM_16")
    truth = {"title": dialogue.get("title", ""), "rate": rate, "channels": [AGENT, CUSTOMER],
             "turns": [t.__dict__ for t in turns]}
    truth_path(out_path).write_text(json.dumps(truth, indent=1), encoding="utf-8")
    return out_path


def truth_path(call_path: str | Path) -> Path:
    p = Path(call_path)
    return p.with_name(p.stem + ".truth.json")
