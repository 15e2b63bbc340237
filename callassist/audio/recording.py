"""Crash-safe recording of live call audio: a stereo WAV written as the audio arrives."""
from __future__ import annotations

import os
import struct
import threading
from pathlib import Path

import logging

import numpy as np

from ..errors import CallAssistError
from ..paths import private_dir

log = logging.getLogger(__name__)
_WAV_HEADER = 44


def _wav_header(channels: int, rate: int, data_bytes: int) -> bytes:
    return struct.pack("<4sI4s4sIHHIIHH4sI", b"RIFF", 36 + data_bytes, b"WAVE", b"fmt ", 16, 1,
                       channels, rate, rate * channels * 2, channels * 2, 16, b"data", data_bytes)


def repair_wav(path: str | Path) -> tuple[int, int]:
    """Make a WAV left by a crashed `AudioRecorder` cover all the audio on disk.

    Returns (frames, sample rate). Only files with our plain 44-byte PCM-16 header are changed.
    """
    with open(path, "r+b") as f:
        head = f.read(_WAV_HEADER)
        if len(head) < _WAV_HEADER or head[:4] != b"RIFF" or head[36:40] != b"data":
            raise ValueError(f"{path} is not a plain PCM WAV written by CallAssist")
        channels, rate = struct.unpack("<HI", head[22:28])
        size = f.seek(0, os.SEEK_END) - _WAV_HEADER
        size -= size % (channels * 2)
        if struct.unpack("<I", head[40:44])[0] != size:
            f.seek(0)
            f.write(_wav_header(channels, rate, size))
        return size // (channels * 2), rate


def swap_channels(path: str | Path, chunk: int = 1 << 20) -> None:
    """Exchange the two channels of a stereo WAV written by `AudioRecorder`, in place (a live
    call on one microphone whose roles were swapped once its words were heard: the recording
    then keeps agent left, caller right, as every other does)."""
    frames, _ = repair_wav(path)
    with open(path, "rb") as f:
        head = f.read(_WAV_HEADER)
    if struct.unpack("<H", head[22:24])[0] != 2:
        raise ValueError(f"{path} is not a stereo recording")
    data = np.memmap(path, dtype="<i2", mode="r+", offset=_WAV_HEADER, shape=(frames, 2))
    for a in range(0, frames, chunk):
        data[a:a + chunk] = data[a:a + chunk, ::-1].copy()
    data.flush()
    del data


class AudioRecorder:
    """Writes live audio blocks to a stereo (or n-channel) 16-bit WAV as they arrive.

    Each speaker has a fixed channel (`speakers`, e.g. ("agent", "customer") = left, right);
    blocks (`.speaker`, `.start` seconds, `.samples` float32 mono at `rate`) are placed by their
    start time, gaps are silence. Frames are written once every speaker has reached them, or when
    a speaker lags more than `max_lag` seconds behind (its part is silent until it catches up, and
    a late block is then written into place). Data goes straight to the OS and the header is
    rewritten after every write, so after a crash (even SIGKILL) the file is a valid WAV holding
    all but the last `max_lag` seconds at most. Call `close()` at the end of the call.
    """

    def __init__(self, path: str | Path, speakers: tuple[str, ...], rate: int = 16000,
                 max_lag: float = 1.0):
        if not speakers:
            raise ValueError("give at least one speaker")
        self.path, self.speakers, self.rate = Path(path), tuple(speakers), int(rate)
        self.max_lag = max(0, round(max_lag * rate))
        self.channels = len(self.speakers)
        self.written = 0  # frames in the file
        self._pending = {s: np.zeros(0, np.float32) for s in self.speakers}  # from frame `written`
        self._have = {s: 0 for s in self.speakers}  # frames of real audio held, from `written`
        self._unknown: set[str] = set()
        self._lock = threading.Lock()
        try:
            private_dir(self.path.parent)
            self._fd = os.open(self.path, os.O_CREAT | os.O_TRUNC | os.O_RDWR, 0o600)
            os.fchmod(self._fd, 0o600)  # readable by its owner only, also an older file's mode
            os.pwrite(self._fd, _wav_header(self.channels, self.rate, 0), 0)
        except OSError as exc:
            raise CallAssistError(f"cannot write the call recording {self.path} ({exc.strerror}): "
                                  f"check the folder, or choose another one") from exc

    @property
    def duration(self) -> float:
        return self.written / self.rate

    def __call__(self, block) -> None:
        speaker = block.speaker
        if speaker not in self._pending:
            if speaker not in self._unknown:
                self._unknown.add(speaker)
                log.warning("audio recorder: no channel for speaker %r (channels: %s)",
                            speaker, ", ".join(self.speakers))
            return
        samples = np.asarray(block.samples, dtype=np.float32).reshape(-1)
        with self._lock:
            if self._fd < 0:
                return
            pos = round(block.start * self.rate)
            if pos < self.written:  # late: that part of the file is written already
                n = min(len(samples), self.written - pos)
                self._patch(speaker, pos, samples[:n])
                samples, pos = samples[n:], self.written
            off = pos - self.written
            buf = self._pending[speaker]
            if off + len(samples) > len(buf):
                buf = np.concatenate([buf, np.zeros(off + len(samples) - len(buf), np.float32)])
            buf[off:off + len(samples)] = samples
            self._pending[speaker] = buf
            self._have[speaker] = max(self._have[speaker], off + len(samples))
            ready = max(min(self._have.values()), max(self._have.values()) - self.max_lag)
            if ready > 0:
                self._write(ready)

    def _frames(self, parts: list[np.ndarray], n: int) -> bytes:
        out = np.zeros((n, self.channels), np.float32)
        for ch, part in enumerate(parts):
            out[:len(part), ch] = part[:n]
        return (np.clip(out, -1.0, 1.0) * 32767.0).round().astype("<i2").tobytes()

    def _write(self, n: int) -> None:
        data = self._frames([self._pending[s][:n] for s in self.speakers], n)
        os.pwrite(self._fd, data, _WAV_HEADER + self.written * self.channels * 2)
        self.written += n
        for s in self.speakers:
            self._pending[s] = self._pending[s][n:]
            self._have[s] = max(0, self._have[s] - n)
        os.pwrite(self._fd, _wav_header(self.channels, self.rate, self.written * self.channels * 2), 0)

    def _patch(self, speaker: str, pos: int, samples: np.ndarray) -> None:
        """Write a late block's samples into its channel of frames already in the file."""
        start = max(pos, 0)
        samples = samples[start - pos:]
        if not len(samples):
            return
        width = self.channels * 2
        offset = _WAV_HEADER + start * width
        frames = np.frombuffer(os.pread(self._fd, len(samples) * width, offset), "<i2")
        frames = frames.reshape(-1, self.channels).copy()
        ch = self.speakers.index(speaker)
        frames[:, ch] = (np.clip(samples[:len(frames)], -1.0, 1.0) * 32767.0).round()
        os.pwrite(self._fd, frames.tobytes(), offset)

    def flush(self, sync: bool = False) -> None:
        """Data is handed to the OS on every write; `sync` also forces it to the disk."""
        with self._lock:
            if self._fd >= 0 and sync:
                os.fsync(self._fd)

    def close(self) -> None:
        """Write everything held (padding lagging speakers with silence) and close the file."""
        with self._lock:
            if self._fd < 0:
                return
            n = max(self._have.values())
            if n:
                self._write(n)
            os.fsync(self._fd)
            os.close(self._fd)
            self._fd = -1

    def __enter__(self) -> AudioRecorder:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
