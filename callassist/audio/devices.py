"""Audio inputs as a user knows them: PulseAudio/PipeWire sources by their descriptions.

An agent's two sounds are the caller (what the softphone plays: the *monitor* of the output it
plays to) and their own headset microphone. PortAudio sees neither by name on Linux (only
"pulse" and "default"), so where a Pulse server runs (PulseAudio or PipeWire's pipewire-pulse)
we ask it through `pulsectl`: every source with its description, whether it is a monitor and of
which output, and which programs play where (for the one-step "softphone" choice). Sources are
remembered and passed around by their Pulse NAME (stable across restarts and re-plugging),
never by an index. Without a Pulse server (Windows, macOS, plain ALSA) the sounddevice list is
used as before; its "loopback" / "stereo mix" inputs count as monitors.
"""
from __future__ import annotations

import logging
import os
import threading
from dataclasses import dataclass
from typing import Callable

from ..errors import AudioError

log = logging.getLogger(__name__)

MONITOR, MICROPHONE = "monitor", "microphone"
_LOOPBACK_WORDS = ("loopback", "stereo mix", "monitor", "what u hear")


@dataclass(frozen=True)
class AudioDevice:
    name: str  # what is remembered and passed to --input: a Pulse source name or a PortAudio name
    description: str  # what the user reads
    kind: str  # MONITOR (a program's output) or MICROPHONE
    backend: str  # "pulse" (captured with parec) or "portaudio" (captured with sounddevice)
    monitor_of: str = ""  # monitors: the description of the output they copy
    index: int | None = None  # PortAudio device index (portaudio backend only)
    default: bool = False

    @property
    def label(self) -> str:
        """The text a combo box shows."""
        what = "program output" if self.kind == MONITOR else "microphone"
        return f"{self.description} ({what})"


@dataclass(frozen=True)
class DeviceList:
    devices: tuple[AudioDevice, ...] = ()
    backend: str = "portaudio"
    caller: str = ""  # the one-step softphone choice: the monitor a program plays to …
    agent: str = ""  # … and the headset / default microphone
    reason: str = ""  # why those two, in words
    error: str = ""  # why nothing could be listed

    def find(self, name: str) -> AudioDevice | None:
        return next((d for d in self.devices if d.name == name), None)


def _pulse(name: str = "callassist-devices"):
    """A connection to the Pulse server, or None when there is none (never spawns one)."""
    try:
        import pulsectl
    except ImportError:
        return None
    pulse = None
    try:
        pulse = pulsectl.Pulse(name, connect=False)
        # no timeout: pulsectl then waits the whole timeout even when the server answers at
        # once (1 s on every Start); a local server that is not there refuses at once
        pulse.connect(autospawn=False)
        return pulse
    except Exception:  # no server, refused, timed out: fall back to PortAudio
        if pulse is not None:
            pulse.close()
        return None


def _pulse_list(pulse) -> DeviceList:
    info = pulse.server_info()
    sinks = {s.index: s for s in pulse.sink_list()}
    devices = []
    for s in pulse.source_list():
        sink = sinks.get(s.monitor_of_sink)
        devices.append(AudioDevice(s.name, s.description, MONITOR if sink else MICROPHONE, "pulse",
                                   monitor_of=sink.description if sink else "",
                                   default=s.name == info.default_source_name))
    return DeviceList(tuple(devices), "pulse",
                      *_softphone(pulse, devices, sinks, info))


def _softphone(pulse, devices, sinks, info) -> tuple[str, str, str]:
    """The caller = the monitor of the output a program plays to (a phone-role stream first,
    else the newest one, else the default output); you = the default source unless that is a
    monitor, else the first microphone."""
    playing = [si for si in pulse.sink_input_list()
               if si.sink in sinks and si.proplist.get("application.process.id") != str(os.getpid())]
    playing.sort(key=lambda si: (si.proplist.get("media.role") == "phone", not si.corked, si.index))
    if playing:
        si = playing[-1]
        sink = sinks[si.sink]
        who = si.proplist.get("application.name") or si.name or "a program"
        why = f"caller: what {who} plays on {sink.description}"
    else:
        sink = next((s for s in sinks.values() if s.name == info.default_sink_name), None)
        why = f"caller: the default output {sink.description} (no program is playing)" if sink else ""
    caller = sink.monitor_source_name if sink else ""
    mics = [d for d in devices if d.kind == MICROPHONE]
    agent = next((d for d in mics if d.default), mics[0] if mics else None)
    if agent is not None:
        why += f"; you: {agent.description}"
    return caller, agent.name if agent else "", why


def _portaudio_list(rescan: bool = False) -> DeviceList:
    from .sources import list_input_devices, rescan_devices
    try:
        if rescan:
            rescan_devices()
        found = list_input_devices()
    except AudioError as exc:
        return DeviceList(error=str(exc))
    devices = tuple(AudioDevice(d["name"], d["name"],
                                MONITOR if any(w in d["name"].lower() for w in _LOOPBACK_WORDS)
                                else MICROPHONE, "portaudio", index=d["index"]) for d in found)
    monitor = next((d.name for d in devices if d.kind == MONITOR), "")
    return DeviceList(devices, "portaudio", monitor, "",
                      f"caller: {monitor}" if monitor else "no loopback input to hear the softphone")


def list_devices(rescan: bool = False) -> DeviceList:
    """Every input: the Pulse server's sources when one runs, else PortAudio's inputs.
    Blocks for up to about a second (talks to the sound server): never call on the GUI thread."""
    pulse = _pulse()
    if pulse is None:
        return _portaudio_list(rescan)
    try:
        return _pulse_list(pulse)
    except Exception as exc:  # the server went away between connect and list
        log.warning("cannot list the Pulse sources: %s", exc)
        return _portaudio_list(rescan)
    finally:
        pulse.close()


def resolve_input(spec: str | int | None, devices: DeviceList | None = None) -> AudioDevice:
    """The input a user named: a Pulse source by name or description (exact, then part of it),
    or, when no Pulse source matches, a PortAudio device (index or name) as before."""
    devices = devices if devices is not None else list_devices()
    if devices.backend == "pulse":
        pulse_devs = devices.devices
        if spec is None or spec == "":
            found = next((d for d in pulse_devs if d.default), None)
            if found is not None:
                return found
        else:
            s = str(spec).lower()
            for test in (lambda d: d.name.lower() == s, lambda d: d.description.lower() == s,
                         lambda d: s in d.name.lower() or s in d.description.lower()):
                found = next((d for d in pulse_devs if test(d)), None)
                if found is not None:
                    return found
    from .sources import _sounddevice, resolve_device
    try:
        idx = resolve_device(spec)
    except AudioError:
        if devices.backend == "pulse" and spec:
            names = ", ".join(d.name for d in devices.devices)
            raise AudioError(f"no audio input is called '{spec}': choose one of {names} "
                             f"(`callassist devices` lists them)") from None
        raise
    name = _sounddevice().query_devices(idx)["name"]
    return AudioDevice(name, name, MICROPHONE, "portaudio", index=idx)


class DeviceWatcher:
    """Keeps the device list current off the GUI thread: lists once at start, then again
    whenever the Pulse server reports a source, output or playing program appearing, going or
    changing (pulsectl's event subscription; no polling). Without a Pulse server it lists when
    asked (`refresh`), as PortAudio cannot notice new devices by itself. `on_list(DeviceList)` is
    called on the watcher's thread: a GUI hands it on with a queued signal."""

    def __init__(self, on_list: Callable[[DeviceList], None]):
        self.on_list = on_list
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._rescan = False
        self._pulse = None
        self._lock = threading.Lock()  # never wake a connection while it is being closed
        self._thread = threading.Thread(target=self._run, name="callassist-devices", daemon=True)

    def start(self) -> DeviceWatcher:
        self._wake.set()
        self._thread.start()
        return self

    def refresh(self, rescan: bool = False) -> None:
        """List again soon (rescan: also restart PortAudio, only when no call is running)."""
        self._rescan = self._rescan or rescan
        self._wake.set()
        self._interrupt()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        self._interrupt()

    def _interrupt(self) -> None:
        with self._lock:
            if self._pulse is not None:
                self._pulse.event_listen_stop()

    def _emit(self) -> None:
        self._wake.clear()
        rescan, self._rescan = self._rescan, False
        try:
            self.on_list(list_devices(rescan))
        except Exception:  # the receiver is gone (window closed): stop quietly
            log.debug("device list not delivered", exc_info=True)
            self._stop.set()

    def _run(self) -> None:
        while not self._stop.is_set():
            pulse = _pulse("callassist-watch")
            with self._lock:
                self._pulse = pulse
            if pulse is None:  # no server: list when asked; look for a server again now and then
                if self._wake.is_set():
                    self._emit()
                self._wake.wait(5.0)
                continue
            try:
                pulse.event_mask_set("source", "sink", "sink_input", "server")
                pulse.event_callback_set(self._on_event)
                self._emit()
                while not self._stop.is_set():
                    pulse.event_listen(timeout=2.0)
                    if self._wake.is_set():
                        self._emit()
            except Exception as exc:  # the server went away: list what is left, reconnect
                log.info("Pulse server connection lost (%s)", exc)
                self._wake.set()
            finally:
                with self._lock:
                    self._pulse = None
                    pulse.close()
            self._stop.wait(0.5)

    def _on_event(self, ev) -> None:
        import pulsectl
        self._wake.set()
        raise pulsectl.PulseLoopStop
