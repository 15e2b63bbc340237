"""Where CallAssist keeps its files: the repo's shipped models, the user's config and data."""
from __future__ import annotations

import os
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]  # a checkout; shipped files: callassist.resources


def config_dir() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config"
    return Path(base) / "callassist"


def data_dir() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
    return Path(base) / "callassist"


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "callassist"


def vosk_model_roots() -> list[Path]:
    """Folders searched for Vosk models, in order: models/vosk of a checkout, then the user's."""
    return [REPO_ROOT / "models" / "vosk", data_dir() / "models" / "vosk"]


# ---- files and folders readable by their owner only ---------------------------------------------
# Everything CallAssist writes can hold what a caller said (transcripts, reports, recordings), so
# every file is written 0600 and every folder made 0700, whatever the umask or an older file's mode.

def _own_roots() -> tuple[Path, ...]:
    return data_dir(), config_dir(), cache_dir()


def private_dir(path: str | os.PathLike) -> Path:
    """The folder `path`, made if missing: each folder made here (parents too) is 0700, and so are
    the existing ones that are CallAssist's own (the data, config and cache folders and what lies
    under them); a folder of the user's that exists already keeps its mode."""
    path = Path(path).expanduser()
    missing = []
    p = path
    while not p.exists() and p != p.parent:
        missing.append(p)
        p = p.parent
    for p in reversed(missing):
        try:
            p.mkdir(mode=0o700)
        except FileExistsError:  # made meanwhile by another process: not ours to change
            continue
        os.chmod(p, 0o700)  # whatever the umask left
    roots = _own_roots()
    for p in (path, *path.parents):
        if p in roots or any(r in p.parents for r in roots):
            try:
                if os.stat(p).st_mode & 0o077:
                    os.chmod(p, 0o700)
            except OSError:
                pass  # not ours (another user's folder, read-only): the files in it are 0600 still
    return path


@contextmanager
def private_file(path: str | os.PathLike, mode: str = "wb", encoding: str | None = None):
    """Write `path` readable by its owner only: yields a file object on a new temporary file (0600)
    in the same folder, which replaces `path` when the block ends without an error (an older file
    at `path` goes, whatever its mode) and is removed when it does not. Never half a file, and
    never a moment in which what is written can be read by anyone else."""
    path = Path(path).expanduser()
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, mode, encoding=encoding) as fh:
            fd = None
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        if fd is not None:
            os.close(fd)
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def write_private(path: str | os.PathLike, data: bytes | str) -> None:
    """`data` written to `path` atomically, readable by its owner only (see private_file)."""
    if isinstance(data, str):
        data = data.encode("utf-8")
    with private_file(path) as fh:
        fh.write(data)


def copy_private(source: str | os.PathLike, dest: str | os.PathLike) -> None:
    """A copy of the file `source` at `dest`, readable by its owner only (see private_file)."""
    with open(source, "rb") as src, private_file(dest) as fh:
        shutil.copyfileobj(src, fh, 1 << 20)
