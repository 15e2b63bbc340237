"""What a recording is and when it was made, read from the file itself.

`content_key` recognises the same call imported twice. It hashes the decoded samples (as 16-bit
PCM, with the sample rate and channel count), not the file's bytes: a copy under another name, a
WAV re-saved as FLAC, or a file whose tags were edited decodes to the same samples and so gets
the same key, for the price of one decoding pass (cheap beside the analysis that follows). A
lossy re-encode (MP3, Ogg) changes the samples and is not caught; that would need an acoustic
fingerprint. A file libsndfile cannot decode is keyed by its bytes.

`recorded_at` is the call's own start time, so the library lists a recording by when the call
happened, not when it was imported: the date a recorder wrote into the file (WAV LIST INFO ICRD
and FLAC/Ogg Vorbis comment DATE, read by libsndfile, or a broadcast-WAV `bext` origination
date), else the file's modification time.
"""
from __future__ import annotations

import hashlib
import re
from datetime import datetime, timezone
from pathlib import Path

import soundfile as sf

_BLOCK = 1 << 16  # frames decoded at a time: memory stays flat on hour-long calls


def content_key(path: str | Path) -> str:
    """"pcm16-sha256:<hex>" of the decoded samples, or "file-sha256:<hex>" of the bytes."""
    h = hashlib.sha256()
    try:
        with sf.SoundFile(str(path)) as f:
            h.update(f"{f.samplerate}:{f.channels}:".encode())
            for block in f.blocks(blocksize=_BLOCK, dtype="int16", always_2d=True):
                h.update(block.astype("<i2", copy=False).tobytes())
        return "pcm16-sha256:" + h.hexdigest()
    except (sf.LibsndfileError, RuntimeError, TypeError, ValueError):
        pass
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return "file-sha256:" + h.hexdigest()


def _parse_date(text: str | None) -> datetime | None:
    """A tag's date ("2024-03-05", "2024-03-05T14:22:01Z", "2024-03-05 14-22-01"); None when it
    is not at least a whole date."""
    m = re.match(r"\s*(\d{4})[-:/](\d\d)[-:/](\d\d)(?:[T ](\d\d)[-:.](\d\d)(?:[-:.](\d\d))?)?"
                 r"(Z|[+-]\d\d:?\d\d)?", text or "")
    if not m:
        return None
    y, mo, d, hh, mi, ss, tz = m.groups()
    try:
        dt = datetime(int(y), int(mo), int(d), int(hh or 0), int(mi or 0), int(ss or 0))
        if tz:
            dt = datetime.fromisoformat(dt.isoformat() + ("+00:00" if tz == "Z" else tz))
    except ValueError:
        return None
    return dt


def _bext_date(path: Path) -> str | None:
    """OriginationDate + OriginationTime of a broadcast WAV's `bext` chunk (EBU Tech 3285)."""
    try:
        with open(path, "rb") as f:
            if f.read(12)[8:] != b"WAVE":
                return None
            while header := f.read(8):
                if len(header) < 8:
                    return None
                size = int.from_bytes(header[4:], "little")
                if header[:4] == b"bext":
                    body = f.read(min(size, 346))
                    text = body[320:338].decode("ascii", "replace")
                    return text[:10] + " " + text[10:]
                f.seek(size + (size & 1), 1)
    except OSError:
        return None
    return None


def recorded_at(path: str | Path) -> str:
    """When the recording started, as UTC ISO 8601 seconds (the library's `started` format).
    A tagged time without a zone is the recorder's local time; a tagged date without a time takes
    the file's time of day when the file is from that day, else midnight."""
    path = Path(path)
    mtime = datetime.fromtimestamp(path.stat().st_mtime).astimezone()
    tags = []
    try:
        with sf.SoundFile(str(path)) as f:
            tags.append(f.copy_metadata().get("date"))
    except (sf.LibsndfileError, RuntimeError, TypeError, ValueError):
        pass
    if path.suffix.lower() == ".wav":
        tags.append(_bext_date(path))
    for text in tags:
        dt = _parse_date(text)
        if dt is None:
            continue
        if dt.tzinfo is None:
            if len(text.strip()) <= 10 and dt.date() == mtime.date():
                dt = mtime
            dt = dt.astimezone()  # naive: the machine's local time
        return dt.astimezone(timezone.utc).isoformat(timespec="seconds")
    return mtime.astimezone(timezone.utc).isoformat(timespec="seconds")
