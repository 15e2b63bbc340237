"""End to end: `callassist analyze` on demo calls with the bundled English engine and the real
mood model, as a user runs it."""
import json

import pytest

from tests.conftest import DEMO_CALLS, load_truth, run_cli, write_wav
from tests.wer import wer

ANGRY = DEMO_CALLS / "angry_calmed.flac"
WER_BOUND = 0.25  # measured ~0.10-0.15 on espeak-ng voices; Whisper tiny.en, telephone-like audio


@pytest.fixture(scope="module")
def angry(demo_analyses):
    timeline = demo_analyses["angry_calmed"]
    return timeline, timeline["stdout"]


def events(timeline, kind):
    return [e for e in timeline["events"] if e["type"] == kind]


@pytest.mark.slow  # a whole call, real time or real models
def test_transcript_matches_the_dialogue(angry):
    timeline, stdout = angry
    truth = load_truth(ANGRY)
    utts = events(timeline, "utterance")
    for speaker in ("agent", "customer"):
        ref = [t["text"] for t in truth["turns"] if t["speaker"] == speaker]
        hyp = [u["text"] for u in utts if u["speaker"] == speaker]
        assert hyp, f"no {speaker} utterances"
        err = wer(ref, hyp)
        print(f"{speaker} WER {err:.3f}")
        assert err <= WER_BOUND, (speaker, err, hyp)
    assert "customer:" in stdout and "mood:" in stdout  # the transcript is printed too


@pytest.mark.slow  # a whole call, real time or real models
def test_utterances_have_speakers_times_and_order(angry):
    timeline, _ = angry
    truth = load_truth(ANGRY)["turns"]
    utts = events(timeline, "utterance")
    assert [u["id"] for u in utts] == list(range(1, len(utts) + 1))
    duration = timeline["call"]["duration"]
    assert duration == pytest.approx(truth[-1]["end"] + 0.8, abs=0.2)
    for u in utts:
        assert 0 <= u["start"] < u["end"] <= duration
        mid = (u["start"] + u["end"]) / 2
        # each utterance lies over a turn of the same speaker in the script
        assert any(t["speaker"] == u["speaker"] and t["start"] - 0.5 <= mid <= t["end"] + 0.5
                   for t in truth), u
        assert u["words"] and all(w["start"] <= w["end"] for w in u["words"])
    for speaker in ("agent", "customer"):
        starts = [u["start"] for u in utts if u["speaker"] == speaker]
        assert starts == sorted(starts)
    # the conversation alternates roughly as scripted: first agent, then customer
    assert utts[0]["speaker"] == "agent" and utts[1]["speaker"] == "customer"


@pytest.mark.slow  # a whole call, real time or real models
def test_caller_mood_goes_from_negative_to_positive(angry):
    timeline, _ = angry
    moods = events(timeline, "mood")
    sents = events(timeline, "sentiment")
    assert len(moods) == len([u for u in events(timeline, "utterance") if u["speaker"] == "customer"])
    assert {s["speaker"] for s in sents} == {"agent", "customer"}
    assert all(m["speaker"] == "customer" for m in moods)
    assert moods[0]["score"] < -0.2, moods[0]
    assert moods[-1]["score"] > 0.2, moods[-1]
    assert moods[0]["label"] in ("furious", "angry", "upset", "frustrated")
    assert moods[-1]["label"] in ("calm", "pleased")
    assert any(m["trend"] == "improving" for m in moods)
    assert all(m["reason"] for m in moods)
    score = next(c for c in events(timeline, "call_score") if c["speaker"] == "customer")
    q = [x for x in score["quarters"] if x is not None]
    assert q[0] < 0 < q[-1]


@pytest.mark.slow  # a whole call, real time or real models
def test_same_timeline_paced_as_live_and_as_fast_as_possible(tmp_path, espeak):
    """The live app (real-time pacing, partial results) and analyze give the same timeline."""
    import numpy as np
    a = espeak("Thank you for calling, how can I help?", "en-us+m7", 160, 45)
    c = espeak("My order never arrived and I am really annoyed.", "en-gb+f3", 160, 60)
    gap = np.zeros(8000, np.float32)
    left = np.concatenate([gap, a, gap, np.zeros(len(c), np.float32), gap])
    right = np.concatenate([gap, np.zeros(len(a), np.float32), gap, c, gap])
    path = write_wav(tmp_path / "short.wav", np.stack([left, right], 1), 16000)
    fast, live = tmp_path / "fast.json", tmp_path / "live.json"
    assert run_cli("analyze", str(path), "--json", str(fast), "--quiet").returncode == 0
    assert run_cli("analyze", str(path), "--json", str(live), "--quiet", "--realtime").returncode == 0

    def core(p):
        return [{k: v for k, v in e.items()} for e in json.loads(p.read_text())["events"]
                if e["type"] in ("utterance", "sentiment", "mood", "call_score")]
    assert core(fast) == core(live)
    assert len([e for e in core(fast) if e["type"] == "utterance"]) == 2


@pytest.mark.slow  # a whole call, real time or real models
def test_json_to_stdout(tmp_path):
    r = run_cli("analyze", str(DEMO_CALLS / "satisfied_caller.flac"), "--json", "-")
    assert r.returncode == 0, r.stderr
    tl = json.loads(r.stdout)
    assert tl["call"]["engine"] == "whisper" and tl["call"]["speakers"] == ["agent", "customer"]
    moods = events(tl, "mood")
    assert moods and moods[-1]["score"] > 0.2  # a satisfied caller ends positive


# ---- bad input: one line naming the problem and the fix, exit 2, no traceback ------------------

def _one_line_error(r, *needles):
    assert r.returncode == 2, (r.returncode, r.stderr)
    assert "Traceback" not in r.stderr
    lines = [l for l in r.stderr.splitlines() if l.strip()]
    assert len(lines) == 1 and lines[0].startswith("callassist: error: "), r.stderr
    for n in needles:
        assert n in lines[0], lines[0]


def test_bad_inputs(tmp_path):
    import numpy as np
    _one_line_error(run_cli("analyze", str(tmp_path / "nope.wav")), "not found")
    junk = tmp_path / "call.wav"
    junk.write_bytes(b"\x00garbage" * 500)
    _one_line_error(run_cli("analyze", str(junk)), "not a supported audio file", "sox")
    empty = write_wav(tmp_path / "empty.wav", np.zeros(0, np.float32), 16000)
    _one_line_error(run_cli("analyze", str(empty)), "no audio")
    _one_line_error(run_cli("analyze", str(ANGRY), "--vosk-model", str(tmp_path)),
                    "not a Vosk model folder", "--vosk-model")
    _one_line_error(run_cli("analyze", str(ANGRY), "--vosk-model", str(tmp_path / "none")),
                    "Vosk model folder not found")
    _one_line_error(run_cli("analyze", str(ANGRY), "--engine", "vosk"), "no Vosk model found")
    _one_line_error(run_cli("analyze", str(ANGRY), "--whisper-model", str(tmp_path)), "no Whisper model")
    _one_line_error(run_cli("analyze", str(ANGRY), "--mood-model", str(tmp_path / "none")))
    _one_line_error(run_cli("analyze", str(ANGRY), "--channels", "agent"), "one name per channel")
    cfg = tmp_path / "bad.toml"
    cfg.write_text("engine = [unclosed\n")
    _one_line_error(run_cli("analyze", str(ANGRY), "--config", str(cfg)), "not valid TOML")


def test_no_input_device(tmp_path):
    """No sound server and no sound card: `listen` says so in one line."""
    env = {"PULSE_SERVER": "unix:/nonexistent"}
    if run_cli("devices", env=env).returncode == 0:
        pytest.skip("this machine has a sound card with an input")
    r = run_cli("listen", "--seconds", "1", env=env)
    _one_line_error(r, "no microphone or input device found")
    assert "listening" not in r.stderr


@pytest.mark.slow  # a whole call, real time or real models
def test_damaged_recording_keeps_what_was_analysed(tmp_path):
    """A recording cut off mid-stream: one line error, and the timeline up to the damage saved."""
    cut = tmp_path / "cut.flac"
    data = ANGRY.read_bytes()
    cut.write_bytes(data[: len(data) // 2])
    out = tmp_path / "cut.json"
    r = run_cli("analyze", str(cut), "--json", str(out), "--quiet")
    _one_line_error(r, "damaged")
    tl = json.loads(out.read_text())
    utts = events(tl, "utterance")
    assert len(utts) >= 3 and utts[-1]["end"] <= tl["call"]["duration"] + 0.01
    assert any(e["type"] == "status" and e["level"] == "error" for e in tl["events"])


def test_the_program_ends_without_teardown_but_loses_nothing(tmp_path):
    """The program skips the interpreter's teardown (cli._exit, 1-1.5 s of freeing torch): what
    a normal exit does that matters still happens, in its order: a thread still working is
    waited for (an idle thread pool is not), atexit handlers run, buffered output reaches a pipe,
    the exit status is kept."""
    import subprocess
    import sys
    script = tmp_path / "prog.py"
    script.write_text(f"""
import atexit, sys, threading, time
from pathlib import Path
out = Path({str(tmp_path)!r})
def slow():
    time.sleep(0.5)
    (out / "thread").write_text("done")
threading.Thread(target=slow).start()
from concurrent.futures import ThreadPoolExecutor
ThreadPoolExecutor(1).submit(lambda: None).result()  # an idle pool thread does not hold the exit
atexit.register(lambda: (out / "atexit").write_text((out / "thread").read_text()))
for i in range(20000):
    print("line", i)  # buffered: 20 000 lines still in Python's buffer at the exit
sys.argv = ["callassist", "analyze", {str(tmp_path / "nope.wav")!r}]
from callassist.cli import main
main()
raise SystemExit("main returned: the program did not end there")
""")
    r = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120)
    assert r.returncode == 2, r.stderr
    assert r.stderr.strip().startswith("callassist: error:") and "not found" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert r.stdout.splitlines()[-1] == "line 19999" and len(r.stdout.splitlines()) == 20000
    assert (tmp_path / "atexit").read_text() == "done"  # the thread ended before atexit ran
