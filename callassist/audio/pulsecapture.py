"""Recording named Pulse sources, two at once: one `parec` process per source.

Why parec and not PortAudio: PortAudio reaches Pulse only through ALSA's "pulse" device, which
takes its source from the PULSE_SOURCE environment variable when a stream opens; two streams
of one process (caller and agent) cannot reliably get two different sources that way. pulsectl
only controls the server (it has no public recording API). `parec --device=NAME` (pulseaudio-
utils, installed wherever Pulse or pipewire-pulse is) opens exactly the named source, lets the
server resample to 16 kHz mono float32, and runs in its own process: a stuck stream never stalls
ours, and a device that goes away ends only its own process.

One catch: when a source is removed, the Pulse server *moves* its recording streams to another
source instead of ending them (parec cannot ask for PA_STREAM_DONT_MOVE), so the agent's stream
would silently start hearing the caller. A guard thread watches the server's events and kills a
stream the moment it reads from any source but its own; that is reported as the device being
gone (`on_lost`), and the other source records on.
"""
from __future__ import annotations

import logging
import os
import shutil
import subprocess
import threading
import uuid
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from ..errors import AudioError
from .devices import _pulse

log = logging.getLogger(__name__)


@dataclass
class _Stream:
    key: str
    source: str
    proc: subprocess.Popen
    token: str = field(default_factory=lambda: uuid.uuid4().hex)
    moved: bool = False


class PulseCapture:
    """Named Pulse sources recorded at once; `on_data(key, float32 samples at rate)` and
    `on_lost(key, reason)` are called from the reader threads."""

    def __init__(self, rate: int, block_seconds: float, on_data: Callable[[str, np.ndarray], None],
                 on_lost: Callable[[str, str], None]):
        if not shutil.which("parec"):
            raise AudioError("parec is missing, needed to record a PulseAudio/PipeWire source by "
                             "name: install pulseaudio-utils (scripts/setup.sh does)")
        self.rate, self.block_seconds = rate, block_seconds
        self.on_data, self.on_lost = on_data, on_lost
        self.streams: list[_Stream] = []
        self._closing = False
        self._lock = threading.Lock()
        self._guard_pulse = None
        self._guard: threading.Thread | None = None

    def add(self, key: str, source: str) -> None:
        token = uuid.uuid4().hex
        cmd = ["parec", f"--device={source}", "--format=float32le", f"--rate={self.rate}",
               "--channels=1", "--raw", f"--latency-msec={int(self.block_seconds * 1000)}",
               "--client-name=CallAssist", f"--stream-name={key} audio",
               f"--property=callassist.capture={token}"]
        try:
            proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                    stdin=subprocess.DEVNULL)
        except OSError as exc:
            raise AudioError(f"cannot start parec to record {source} ({exc.strerror}): "
                             f"install pulseaudio-utils") from None
        stream = _Stream(key, source, proc, token)
        self.streams.append(stream)
        threading.Thread(target=self._read, args=(stream,), daemon=True,
                         name=f"parec-{key}").start()
        if self._guard is None:
            self._guard = threading.Thread(target=self._watch, daemon=True, name="parec-guard")
            self._guard.start()

    def close(self) -> None:
        self._closing = True
        with self._lock:
            if self._guard_pulse is not None:
                self._guard_pulse.event_listen_stop()
        for s in self.streams:
            if s.proc.poll() is None:
                s.proc.terminate()
        for s in self.streams:
            try:
                s.proc.wait(timeout=2)
            except subprocess.TimeoutExpired:
                s.proc.kill()

    stop = close  # as a PortAudio stream: stop(), then close() (both are safe twice)

    def _read(self, s: _Stream) -> None:
        fd = s.proc.stdout.fileno()
        want = int(self.rate * self.block_seconds) * 4
        rest = b""
        while True:
            try:
                data = os.read(fd, want)
            except OSError:
                data = b""
            if not data:
                break
            data = rest + data
            cut = len(data) - len(data) % 4
            rest = data[cut:]
            if cut:
                self.on_data(s.key, np.frombuffer(data[:cut], dtype="<f4").copy())
        code = s.proc.wait()
        if self._closing:
            return
        err = s.proc.stderr.read().decode(errors="replace").strip().splitlines()
        reason = "was disconnected" if s.moved or not err else f"stopped ({err[-1]})"
        log.warning("recording %s for the %s %s (parec exit %s)", s.source, s.key, reason, code)
        self.on_lost(s.key, reason)

    def _check(self, pulse) -> None:
        names = {src.index: src.name for src in pulse.source_list()}
        outputs = {so.proplist.get("callassist.capture"): so for so in pulse.source_output_list()}
        for s in self.streams:
            so = outputs.get(s.token)
            if so is not None and names.get(so.source) != s.source and s.proc.poll() is None:
                s.moved = True  # the server moved it off its own source: that source is gone
                s.proc.kill()

    def _watch(self) -> None:
        pulse = _pulse("callassist-capture-guard")
        if pulse is None:
            return
        with self._lock:
            self._guard_pulse = pulse
        try:
            import pulsectl

            def stop_listening(ev):
                raise pulsectl.PulseLoopStop

            pulse.event_mask_set("source", "source_output")
            pulse.event_callback_set(stop_listening)
            while not self._closing:
                self._check(pulse)
                pulse.event_listen(timeout=1.0)
        except Exception as exc:
            if not self._closing:
                log.warning("stopped watching the recording streams: %s", exc)
        finally:
            with self._lock:
                self._guard_pulse = None
                pulse.close()
