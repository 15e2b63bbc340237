"""Audio sources: recorded calls (WAV/FLAC/OGG, mono or stereo, any rate) and live input devices.

Every source yields `AudioBlock`s: float32 mono samples at the recogniser's rate for one speaker,
stamped with their start time in the call. Stereo recordings give one speaker per channel.
"""
from __future__ import annotations

import contextlib
import os
import queue
import shlex
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np
import soxr

from ..errors import AudioError
from ..core.events import AGENT, CUSTOMER

DEFAULT_RATE = 16000
MIN_RATE = 8000
MAX_RATE = 768_000  # above any real recording; an absurd rate in a damaged header is refused
MAX_CHANNELS = 32  # a call recording has one or two; a damaged header may claim thousands
STEREO_DEFAULT = (AGENT, CUSTOMER)  # left channel = agent, right = customer
MONO_DEFAULT = (CUSTOMER,)


@dataclass(frozen=True)
class AudioBlock:
    speaker: str
    start: float  # seconds from the start of the call
    samples: np.ndarray  # float32 mono at the source's output rate
    held: float = 0.0  # seconds the source held it back on purpose (live voice separation):
    # not a backlog of recognition, so it does not make a live call shed work

    @property
    def end(self) -> float:
        return self.start + len(self.samples) / DEFAULT_RATE


@dataclass(frozen=True)
class AudioInfo:
    path: Path
    sample_rate: int
    channels: int
    frames: int
    format: str
    subtype: str

    @property
    def duration(self) -> float:
        return self.frames / self.sample_rate if self.sample_rate else 0.0


def parse_channel_map(spec: str | Sequence[str] | None, channels: int) -> tuple[str, ...]:
    """Speaker name for each channel. `spec` is e.g. "agent,customer" (left, right)."""
    if spec is None or spec == "":
        if channels == 1:
            return MONO_DEFAULT
        if channels == 2:
            return STEREO_DEFAULT
        raise AudioError(
            f"the recording has {channels} channels: say which speaker each one is, "
            f"e.g. --channels agent,customer{',ignore' * (channels - 2)}")
    names = [s.strip().lower() for s in (spec.split(",") if isinstance(spec, str) else spec)]
    if channels == 1 and len(names) >= 1:
        return (names[0],)
    if len(names) != channels or any(not n for n in names):
        raise AudioError(
            f"--channels names {len(names)} speaker(s) but the recording has {channels} channel(s): "
            f"give one name per channel, e.g. --channels {','.join(STEREO_DEFAULT[:channels]) or 'customer'}")
    return tuple(names)


class _Rebuffer:
    """Cuts a stream of arbitrary chunks into blocks of exactly `size` frames."""

    def __init__(self, size: int, channels: int):
        self.size = size
        self._buf = np.zeros((0, channels), dtype=np.float32)

    def push(self, data: np.ndarray, last: bool = False) -> Iterator[np.ndarray]:
        self._buf = np.concatenate([self._buf, data.reshape(len(data), -1)]) if len(data) else self._buf
        while len(self._buf) >= self.size or (last and len(self._buf)):
            block, self._buf = self._buf[: self.size], self._buf[self.size:]
            yield block


def _open(path: Path):
    import soundfile as sf

    try:
        found, folder = path.exists(), path.is_dir()
    except OSError as exc:  # e.g. a name too long for the file system
        name = str(path) if len(str(path)) <= 80 else str(path)[:79] + "…"
        raise AudioError(f"{name} cannot be opened ({exc.strerror}): check the path") from None
    if not found:
        raise AudioError(f"audio file not found: {path} (check the path)")
    if folder:
        raise AudioError(f"{path} is a folder, not an audio file: give a WAV or FLAC recording")
    try:
        with _native_stderr_quiet():  # the MP3 decoder's notes on a damaged file: said below
            return sf.SoundFile(str(path))
    except (sf.LibsndfileError, RuntimeError, TypeError) as exc:
        detail = str(exc).split(":")[-1].strip() or "unknown format"
        if "does not exist" in detail:  # libsndfile's words for an MP3 it cannot decode
            detail = "format not recognised"
        raise AudioError(
            f"cannot read {path.name}: not a supported audio file ({detail}); "
            f"convert it to WAV, e.g. `sox {shell_arg(path)} -r 16000 call.wav`") from None


@contextlib.contextmanager
def _native_stderr_quiet():
    """Hide what C code prints straight to the process's stderr meanwhile: libsndfile's MP3
    decoder (mpg123) writes "Note: Trying to resync..." lines on damaged data, and the user is
    told about the damage in one line by us."""
    try:
        sys.stderr.flush()
        saved = os.dup(2)
        quiet = os.open(os.devnull, os.O_WRONLY)
    except (OSError, ValueError):
        yield
        return
    os.dup2(quiet, 2)
    os.close(quiet)
    try:
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def shell_arg(path: str | Path) -> str:
    """`path` as one argument of a command the user may paste into a shell: quoted (a name such
    as "x'; touch PWNED; echo '.wav" runs nothing), never read as an option."""
    text = str(path)
    return shlex.quote("./" + text if text.startswith("-") else text)


def probe(path: str | Path) -> AudioInfo:
    path = Path(path)
    with _open(path) as f:
        info = AudioInfo(path, f.samplerate, f.channels, f.frames, f.format, f.subtype)
    if info.sample_rate < MIN_RATE:
        raise AudioError(f"{path.name} is sampled at {info.sample_rate} Hz; speech needs at least "
                         f"{MIN_RATE} Hz: re-record or convert it with sox")
    if info.sample_rate > MAX_RATE:
        raise AudioError(f"{path.name} claims {info.sample_rate} Hz, more than any recording "
                         f"({MAX_RATE} Hz at most): the file is damaged, or convert it to 16 kHz "
                         f"with sox")
    if info.channels > MAX_CHANNELS:
        raise AudioError(f"{path.name} has {info.channels} channels (at most {MAX_CHANNELS}): "
                         f"the file is damaged, or keep the agent and customer channels with sox "
                         f"(remix)")
    if info.frames == 0:
        raise AudioError(f"{path.name} contains no audio (0 samples): choose another recording")
    return info


class FileSource:
    """Streams a recorded call as per-speaker blocks, as fast as possible or paced in real time."""

    def __init__(self, path: str | Path, channels: str | Sequence[str] | None = None,
                 rate: int = DEFAULT_RATE, block_seconds: float = 0.1, realtime: bool = False,
                 speed: float = 1.0):
        self.info = probe(path)
        self.path = Path(path)
        self.speakers = parse_channel_map(channels, self.info.channels)
        self.rate = rate
        self.block_seconds = block_seconds
        self.realtime = realtime
        self.speed = speed  # pacing in real time: 1 = as recorded, 2 = twice as fast
        self._stop = threading.Event()

    @property
    def duration(self) -> float:
        return self.info.duration

    def stop(self) -> None:
        self._stop.set()

    def __iter__(self) -> Iterator[AudioBlock]:
        in_rate = self.info.sample_rate
        n_in = max(1, int(round(self.block_seconds * in_rate)))
        resampler = (soxr.ResampleStream(in_rate, self.rate, self.info.channels, dtype="float32")
                     if in_rate != self.rate else None)
        blocks = _Rebuffer(int(round(self.block_seconds * self.rate)), self.info.channels)
        produced = 0  # output frames so far
        t0 = time.monotonic()
        quiet = _native_stderr_quiet if self.info.format == "MPEG" else contextlib.nullcontext
        with _open(self.path) as f:
            while not self._stop.is_set():
                try:
                    with quiet():
                        data = f.read(n_in, dtype="float32", always_2d=True)
                except Exception as exc:  # truncated/corrupt data part-way through
                    raise AudioError(f"{self.path.name} is damaged after {produced / self.rate:.1f} s "
                                     f"({exc}); the audio before that was analysed") from None
                last = len(data) < n_in
                if not np.isfinite(data).all() or np.abs(data).max(initial=0) > 2:
                    # a float file holding NaN/inf or values far past full scale (a damaged
                    # file): what a microphone would have recorded, -1..1
                    data = np.clip(np.nan_to_num(data, nan=0.0, posinf=1.0, neginf=-1.0), -1, 1)
                if resampler is not None:
                    data = resampler.resample_chunk(data, last=last)
                for block in blocks.push(data, last):
                    start = produced / self.rate
                    produced += len(block)
                    if self.realtime:
                        delay = t0 + produced / self.rate / self.speed - time.monotonic()
                        if delay > 0 and self._stop.wait(delay):
                            return
                    for ch, speaker in enumerate(self.speakers):
                        if speaker != "ignore":
                            yield AudioBlock(speaker, start, np.ascontiguousarray(block[:, ch]))
                if last:
                    return


def _sounddevice():
    try:
        import sounddevice as sd
    except OSError:
        raise AudioError("the PortAudio library is missing: run scripts/setup.sh "
                         "(or `apt-get install libportaudio2`)") from None
    return sd


def rescan_devices() -> None:
    """Re-read the system's audio devices (PortAudio lists them once, when it starts)."""
    sd = _sounddevice()
    try:
        sd._terminate()
        sd._initialize()
    except Exception:
        pass


def list_input_devices() -> list[dict]:
    sd = _sounddevice()
    return [dict(index=i, name=d["name"], channels=d["max_input_channels"],
                 rate=int(d["default_samplerate"]))
            for i, d in enumerate(sd.query_devices()) if d["max_input_channels"] > 0]


def resolve_device(spec: str | int | None) -> int:
    """Index of an input device from an index, a (part of a) name, or None for the default."""
    sd = _sounddevice()
    devices = list_input_devices()
    if not devices:
        raise AudioError("no microphone or input device found: connect one, or play a recorded "
                         "call with `callassist analyze CALL.wav`")
    if spec is None or spec == "":
        try:
            default = sd.default.device[0]
        except Exception:
            default = -1
        if default is not None and default >= 0 and any(d["index"] == default for d in devices):
            return int(default)
        return devices[0]["index"]
    if isinstance(spec, int) or str(spec).isdigit():
        idx = int(spec)
        if any(d["index"] == idx for d in devices):
            return idx
    else:
        matches = [d for d in devices if str(spec).lower() in d["name"].lower()]
        if matches:
            exact = [d for d in matches if d["name"].lower() == str(spec).lower()]
            return (exact or matches)[0]["index"]
    names = ", ".join(f"{d['index']}: {d['name']}" for d in devices)
    raise AudioError(f"no input device matches '{spec}': choose one of {names}")


class MicSource:
    """Live capture from one or two input devices (agent headset, customer audio).

    A Pulse source named by the user is recorded with parec (`pulsecapture`: two named sources
    at once), anything else with PortAudio. Either way capture only copies samples into a queue;
    resampling and recognition happen on the consumer's thread, so capture never waits for a
    model. A device that goes away mid-call ends only its own stream: `on_lost(speaker, message)`
    says so and the call goes on with the other input; only when every input is gone does
    iteration end with an AudioError (the pipeline keeps what it analysed).
    """

    def __init__(self, inputs: dict[str, str | int | None] | None = None, rate: int = DEFAULT_RATE,
                 block_seconds: float = 0.1):
        self.inputs = inputs or {CUSTOMER: None}
        self.rate = rate
        self.block_seconds = block_seconds
        self.speakers = tuple(self.inputs)
        self._queue: queue.Queue = queue.Queue()
        self._streams: list = []  # (speaker or "pulse", stream)
        self._rates: dict[str, int] = {}  # speaker -> rate of the samples it delivers
        self._stop = threading.Event()
        self.overflows = 0
        self.started = threading.Event()  # set when the first audio arrives
        self.on_lost = None  # callable(speaker, message) when one input goes away mid-call
        self.lost: dict[str, str] = {}  # speaker -> message
        self.devices: dict[str, object] = {}  # speaker -> devices.AudioDevice it records
        self._pulse = None  # pulsecapture.PulseCapture, when a Pulse source is recorded

    def open(self) -> None:
        """Open the devices now (errors surface here), before iterating."""
        if not self._streams:
            self._open_streams()

    def _open_streams(self) -> None:
        from .devices import list_devices, resolve_input
        listed = list_devices()
        for speaker, spec in self.inputs.items():
            dev = self.devices[speaker] = resolve_input(spec, listed)
            if dev.backend == "pulse":
                self._open_pulse(speaker, dev.name)
                continue
            sd = _sounddevice()
            idx = dev.index
            dev_rate = int(sd.query_devices(idx)["default_samplerate"]) or self.rate

            def callback(indata, frames, time_info, status, speaker=speaker):
                if status.input_overflow:
                    self.overflows += 1
                self._queue.put((speaker, indata[:, 0].copy()))
                self.started.set()

            def finished(speaker=speaker):  # PortAudio ended the stream: the device is gone
                if not self._stop.is_set():
                    self._queue.put((speaker, "was disconnected"))

            try:
                stream = sd.InputStream(device=idx, channels=1, samplerate=dev_rate, dtype="float32",
                                        blocksize=int(dev_rate * self.block_seconds),
                                        callback=callback, finished_callback=finished)
                stream.start()
            except Exception as exc:
                self.close()
                raise AudioError(f"cannot open input device {idx} for the {speaker} ({exc}): "
                                 f"choose another with --input") from None
            stream.dev_rate = dev_rate
            self._streams.append((speaker, stream))

    def _open_pulse(self, speaker: str, name: str) -> None:
        from .pulsecapture import PulseCapture

        def data(speaker, samples):
            self._queue.put((speaker, samples))
            self.started.set()

        if self._pulse is None:
            self._pulse = PulseCapture(self.rate, self.block_seconds, data,
                                       lambda sp, reason: self._queue.put((sp, reason)))
            self._streams.append(("pulse", self._pulse))
        self._pulse.add(speaker, name)
        self._rates[speaker] = self.rate

    def _lose(self, speaker: str, reason: str) -> None:
        """One input went away: say so; end the call only when none is left."""
        dev = self.devices.get(speaker)
        who = {CUSTOMER: "caller's audio", AGENT: "your microphone"}.get(speaker, speaker)
        rest = [sp for sp in self.speakers if sp != speaker and sp not in self.lost]
        name = f"“{dev.description}”" if dev is not None else "the input"
        message = (f"{name} ({who}) {reason}: "
                   + ("the call goes on with the " + " and ".join(
                       {CUSTOMER: "caller", AGENT: "your microphone"}.get(sp, sp) for sp in rest)
                      + "; reconnect it and choose it again for the next call" if rest else
                      "no audio input is left; reconnect a device and start a new call"))
        self.lost[speaker] = message
        if not rest:
            raise AudioError(message)
        if self.on_lost is not None:
            self.on_lost(speaker, message)

    def stop(self) -> None:
        self._stop.set()

    def close(self) -> None:
        self._stop.set()
        for _, s in self._streams:
            try:
                s.stop()
                s.close()
            except Exception:
                pass
        self._streams.clear()

    def __iter__(self) -> Iterator[AudioBlock]:
        self.open()
        rates = {**self._rates, **{sp: s.dev_rate for sp, s in self._streams if sp != "pulse"}}
        resamplers = {sp: soxr.ResampleStream(r, self.rate, 1, dtype="float32")
                      for sp, r in rates.items() if r != self.rate}
        rebuffers = {sp: _Rebuffer(int(round(self.block_seconds * self.rate)), 1) for sp in rates}
        produced = {sp: 0 for sp in rates}
        try:
            while not self._stop.is_set():
                try:
                    speaker, data = self._queue.get(timeout=0.1)
                except queue.Empty:
                    continue
                if isinstance(data, str):
                    self._lose(speaker, data)
                    continue
                if speaker in self.lost:
                    continue
                if speaker in resamplers:
                    data = resamplers[speaker].resample_chunk(data)
                for block in rebuffers[speaker].push(data):
                    start = produced[speaker] / self.rate
                    produced[speaker] += len(block)
                    yield AudioBlock(speaker, start, np.ascontiguousarray(block[:, 0]))
        finally:
            self.close()
