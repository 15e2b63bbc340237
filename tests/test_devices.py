"""Audio inputs as a user knows them, on a real private PulseAudio server (tests/pulse.py):
sources by description, the one-step softphone choice, hot-plug, two named sources at once,
and a source unplugged mid-call (the call goes on with the other one and is saved)."""
import json
import subprocess
import sys
import time

import numpy as np
import pytest
import soundfile as sf

from tests.conftest import ROOT, write_wav
from tests.pulse import SINK, SOURCE, VirtualMic, wait_until_listening
from tests.wer import wer

CALLER_TEXT = "Hello, my router shows an orange light and the internet is not working."
AGENT_TEXT = "Thank you for calling, I am sorry to hear that, let me check your line."
LATE_TEXT = "I already restarted the router twice this morning and nothing changed."


@pytest.fixture()
def mic(monkeypatch):
    """A fresh server per test (tests add and unplug sinks), this process pointed at it."""
    m = VirtualMic()
    for k in ("PULSE_SERVER", "XDG_RUNTIME_DIR"):
        monkeypatch.setenv(k, m.env[k])
    yield m
    m.close()


def _tone(mic, freq: float, seconds: float = 1.0):
    t = np.arange(int(16000 * seconds)) / 16000
    return write_wav(mic.dir / f"tone{freq}.wav", (0.5 * np.sin(2 * np.pi * freq * t)).astype(np.float32), 16000)


def _speech(espeak, mic, name, text, voice="en-us+m7"):
    audio = np.concatenate([espeak(text, voice, 155, 45), np.zeros(16000, np.float32)])
    return write_wav(mic.dir / f"{name}.wav", audio, 16000)


def _energy(samples: np.ndarray, freq: float) -> float:
    """The share of the signal's energy within 20 Hz of `freq`."""
    spec = np.abs(np.fft.rfft(samples)) ** 2
    f = np.fft.rfftfreq(len(samples), 1 / 16000)
    return float(spec[np.abs(f - freq) < 20].sum() / max(spec.sum(), 1e-12))


def test_sources_listed_by_description(mic):
    from callassist.audio.devices import MICROPHONE, MONITOR, list_devices, resolve_input
    mic.add_sink("headset", "Headset")
    listed = list_devices()
    assert listed.backend == "pulse"
    by_name = {d.name: d for d in listed.devices}
    assert by_name[f"{SINK}.monitor"].description == "Monitor of Softphone"
    assert by_name[f"{SINK}.monitor"].kind == MONITOR
    assert by_name[f"{SINK}.monitor"].monitor_of == "Softphone"
    assert by_name["headset.monitor"].monitor_of == "Headset"
    assert by_name[SOURCE].kind == MICROPHONE and by_name[SOURCE].default
    # a user names an input by its name or its description
    assert resolve_input("Monitor of Headset", listed).name == "headset.monitor"
    assert resolve_input(None, listed).name == SOURCE
    r = subprocess.run([sys.executable, "-m", "callassist.cli", "devices"], env=mic.env,
                       capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert r.returncode == 0, r.stderr
    line = next(l for l in r.stdout.splitlines() if l.startswith(f"{SINK}.monitor"))
    assert "Monitor of Softphone" in line and "monitor of Softphone" in line


def test_softphone_choice_is_the_output_the_phone_plays_to(mic, tmp_path):
    from callassist.audio.devices import list_devices
    mic.add_sink("speakers", "Speakers")
    long = write_wav(tmp_path / "quiet.wav", np.zeros(16000 * 20, np.float32), 16000)
    phone = subprocess.Popen(["paplay", "-d", SINK, "--property=media.role=phone",
                              "--property=application.name=Softphone app", str(long)], env=mic.env)
    music = None
    try:
        deadline = time.monotonic() + 20
        while not list_devices().caller.startswith(SINK) and time.monotonic() < deadline:
            time.sleep(0.1)
        music = mic.play_to("speakers", long)  # newer, but not a phone call
        while len(subprocess.run(["pactl", "list", "short", "sink-inputs"], env=mic.env,
                                 capture_output=True, text=True).stdout.splitlines()) < 2:
            assert time.monotonic() < deadline, "paplay did not start"
            time.sleep(0.1)
        listed = list_devices()
        assert listed.caller == f"{SINK}.monitor", listed.reason
        assert listed.agent == SOURCE
        assert "Softphone app" in listed.reason
    finally:
        for p in (phone, music):
            if p is not None:
                p.kill()
                p.wait()
    # with only the music playing, the caller is what plays (the newest stream)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if list_devices().caller == f"{SINK}.monitor" and not subprocess.run(
                ["pactl", "list", "short", "sink-inputs"], env=mic.env, capture_output=True,
                text=True).stdout.strip():
            break
        time.sleep(0.1)
    music = mic.play_to("speakers", long)
    deadline = time.monotonic() + 20  # its own wait: the one above may have used up the first
    try:
        while list_devices().caller != "speakers.monitor":
            assert time.monotonic() < deadline, list_devices().reason
            time.sleep(0.1)
    finally:
        music.kill()
        music.wait()


def test_panel_lists_hot_plugged_sources_and_remembers_the_softphone_choice(qtbot, mic):
    from callassist.gui.panel import SidePanel
    from callassist.gui.settings import PanelSettings
    p = SidePanel(PanelSettings())
    qtbot.addWidget(p)

    def labels():
        return [p.caller_input.itemText(i) for i in range(p.caller_input.count())]

    qtbot.waitUntil(lambda: any("Monitor of Softphone" in t for t in labels()), timeout=20000)
    module = mic.add_sink("headset", "Jabra EVOLVE 20")
    qtbot.waitUntil(lambda: any("Monitor of Jabra EVOLVE 20" in t for t in labels()), timeout=20000)
    idx = p.agent_input.findData("headset.monitor")
    assert idx > 0 and "program output" in p.agent_input.itemText(idx)
    mic.remove(module)
    qtbot.waitUntil(lambda: not any("Jabra" in t for t in labels()), timeout=20000)
    p.softphone_button.click()
    assert p.caller_input.currentData() == f"{SINK}.monitor"
    assert p.agent_input.currentData() == SOURCE
    saved = PanelSettings.load()
    assert (saved.caller_input, saved.agent_input) == (f"{SINK}.monitor", SOURCE)
    # a new panel shows the remembered choice
    q = SidePanel(PanelSettings.load())
    qtbot.addWidget(q)
    qtbot.waitUntil(lambda: q.device_list is not None, timeout=20000)
    assert q.caller_input.currentData() == f"{SINK}.monitor"
    assert q.caller_input.currentText().startswith("Monitor of Softphone")
    qtbot.waitUntil(lambda: p.models.done(), timeout=300000)  # no model load left at exit


def test_two_named_sources_at_once_and_one_unplugged(mic):
    """Caller and agent from two monitors at once, no crosstalk; the agent's source unplugged
    while the caller talks: a message, the caller goes on, and the agent's stream (which the
    server moves to another source) does not go on hearing the caller."""
    from callassist.audio.sources import MicSource
    module = mic.add_sink("headset", "Headset")
    src = MicSource({"customer": "Monitor of Softphone", "agent": "headset.monitor"})
    lost = []
    src.on_lost = lambda speaker, message: lost.append((speaker, message))
    blocks = {"customer": [], "agent": []}
    step, mark = 0, 0
    for b in src:
        blocks[b.speaker].append((step, b))
        n = len(blocks["customer"])
        if step == 0 and min(len(v) for v in blocks.values()) >= 5:  # both streams flow
            step, players = 1, [mic.play_to(SINK, _tone(mic, 500)),
                                mic.play_to("headset", _tone(mic, 300))]
        elif step == 1 and all(pl.poll() is not None for pl in players) and n > 40:
            step, mark, player = 2, n, mic.play_to(SINK, _tone(mic, 500, 3.0))
        elif step == 2 and mark and n > mark + 8 and _energy(b.samples, 500) > 0.5:
            mark = 0
            mic.remove(module)  # unplugged while the caller talks
        elif step == 2 and lost:
            step = 3
        elif step == 3 and player.poll() is not None:
            break
        assert n < 800, f"no end in sight (lost: {lost})"
    src.close()
    one = {sp: np.concatenate([b.samples for s, b in v if s == 1]) for sp, v in blocks.items()}
    assert _energy(one["customer"], 500) > 0.5 and _energy(one["customer"], 300) < 0.05
    assert _energy(one["agent"], 300) > 0.5 and _energy(one["agent"], 500) < 0.05
    (speaker, message), = lost
    assert speaker == "agent" and "Monitor of Headset" in message and "goes on" in message
    late = np.concatenate([b.samples for s, b in blocks["customer"] if s == 3])
    assert _energy(late, 500) > 0.5  # the caller is still heard
    leaked = [b.samples for s, b in blocks["agent"] if s >= 2]
    leaked = np.concatenate(leaked) if leaked else np.zeros(0, np.float32)
    assert (np.abs(leaked) > 0.2).sum() < 0.3 * 16000  # at most a moment of the caller


def _wait_listening(qtbot, p):
    qtbot.waitUntil(lambda: p.call_started is not None, timeout=120000)
    qtbot.waitUntil(lambda: p.worker._source.started.is_set(), timeout=30000)


@pytest.mark.slow
def test_panel_records_the_softphone_monitor_chosen_by_description(qtbot, mic, espeak, tmp_path):
    from callassist.gui.panel import SidePanel
    from callassist.gui.settings import PanelSettings
    from callassist.library.service import Library
    store = Library(tmp_path / "calls.sqlite3")
    p = SidePanel(PanelSettings(), store=store)
    qtbot.addWidget(p)
    qtbot.waitUntil(lambda: p.device_list is not None, timeout=20000)
    idx = next(i for i in range(p.caller_input.count())
               if p.caller_input.itemText(i).startswith("Monitor of Softphone"))
    p.caller_input.setCurrentIndex(idx)
    p.toggle_call()
    assert PanelSettings.load().caller_input == f"{SINK}.monitor"
    _wait_listening(qtbot, p)
    mic.play_to(SINK, _speech(espeak, mic, "caller", CALLER_TEXT)).wait(timeout=60)
    qtbot.waitUntil(lambda: "router" in p.transcript.toPlainText().lower(), timeout=120000)
    p.toggle_call()
    qtbot.waitUntil(lambda: p.worker is None, timeout=60000)
    (rec,) = store.list_calls()
    store.close()
    assert rec.status == "done"
    audio, rate = sf.read(rec.audio_path, dtype="float32")
    assert audio.ndim == 1 and rate == 16000  # one input: the caller
    assert (np.abs(audio) > 0.05).sum() > 16000  # the speech played into the sink is in it


@pytest.mark.slow
def test_listen_two_named_sources_give_two_speakers(mic, espeak, tmp_path):
    mic.add_sink("headset", "Headset")
    out = tmp_path / "live.json"
    proc = subprocess.Popen([sys.executable, "-m", "callassist.cli", "listen",
                             "--input", "Monitor of Softphone", "--agent-input", "headset.monitor",
                             "--seconds", "40", "--json", str(out)], env=mic.env, cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_until_listening(proc, timeout=120)
        time.sleep(3)  # both parec streams are running (a null sink's first stream takes ~2 s)
        mic.play_to("headset", _speech(espeak, mic, "agent", AGENT_TEXT, "en-us+f3")).wait(timeout=60)
        mic.play_to(SINK, _speech(espeak, mic, "caller", CALLER_TEXT)).wait(timeout=60)
        stdout, stderr = proc.communicate(timeout=180)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, stderr
    utts = [e for e in json.loads(out.read_text())["events"] if e["type"] == "utterance"]
    said = {sp: " ".join(u["text"] for u in utts if u["speaker"] == sp) for sp in ("agent", "customer")}
    assert wer(AGENT_TEXT, said["agent"]) <= 0.3, utts
    assert wer(CALLER_TEXT, said["customer"]) <= 0.3, utts


@pytest.mark.slow
def test_source_unplugged_mid_call_the_call_goes_on_and_is_saved(qtbot, mic, espeak, tmp_path):
    from callassist.gui.panel import SidePanel
    from callassist.gui.settings import PanelSettings
    from callassist.library.service import Library
    module = mic.add_sink("headset", "Headset")
    store = Library(tmp_path / "calls.sqlite3")
    p = SidePanel(PanelSettings(caller_input=f"{SINK}.monitor", agent_input="headset.monitor"),
                  store=store)
    qtbot.addWidget(p)
    qtbot.waitUntil(lambda: p.agent_input.findData("headset.monitor") > 0, timeout=20000)
    assert p.agent_input.currentData() == "headset.monitor"
    p.toggle_call()
    _wait_listening(qtbot, p)
    mic.play_to("headset", _speech(espeak, mic, "agent", AGENT_TEXT, "en-us+f3")).wait(timeout=60)
    qtbot.waitUntil(lambda: "You" in p.transcript.toPlainText(), timeout=120000)
    mic.remove(module)  # the headset is unplugged
    qtbot.waitUntil(lambda: not p.device_note.isHidden(), timeout=20000)
    assert "Monitor of Headset" in p.device_note.text() and "goes on" in p.device_note.text()
    assert p.worker is not None  # the call is kept
    before = p.transcript.toPlainText()
    mic.play_to(SINK, _speech(espeak, mic, "late", LATE_TEXT)).wait(timeout=60)

    def heard_late() -> bool:  # a busy machine may decode the cheap way: any two of its words
        new = p.transcript.toPlainText()[len(before):].lower()
        return sum(w in new for w in ("restarted", "router", "twice", "morning", "changed")) >= 2
    qtbot.waitUntil(heard_late, timeout=120000)
    p.toggle_call()
    qtbot.waitUntil(lambda: p.worker is None, timeout=60000)
    (rec,) = store.list_calls()
    store.close()
    assert rec.status == "done"
    audio, _ = sf.read(rec.audio_path, dtype="float32")
    assert audio.shape[1] == 2  # agent left, caller right
    loud = np.flatnonzero(np.abs(audio[:, 1]) > 0.05)
    agent_loud = np.flatnonzero(np.abs(audio[:, 0]) > 0.05)
    assert len(loud) > 16000 and len(agent_loud) > 16000
    assert loud[-1] > agent_loud[-1]  # the caller was recorded after the headset went
