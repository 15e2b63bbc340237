"""Importing recordings into the call library: each one analysed, redacted, flagged and stored.

Several recordings are analysed at once (`jobs`), each by its own pipeline sharing one set of
loaded models, so an import of many calls pays for the models once. A recording that cannot be
read is reported and skipped; one already in the library is not analysed twice: known by its
path, or by its content (audio.provenance.content_key: a renamed copy, a WAV re-saved as FLAC),
and when two imports race past that check, the library's UNIQUE content key stores it once and
the loser reports it as already there. A call's start time is the recording's own. Used by
`callassist import`, `callassist analyze --save` and the QA window (in a worker thread).
"""
from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable

from ..audio.separated import open_recording
from ..errors import CallAssistError
from ..audio.provenance import content_key
from .service import Library
from .store import AlreadyStored

AUDIO_EXTENSIONS = {".wav", ".flac", ".ogg", ".oga", ".opus", ".mp3", ".aiff", ".aif"}


@dataclass
class ImportResult:
    path: Path
    call_id: str | None = None
    error: str | None = None  # one line, for the user
    skipped: bool = False  # already in the library
    duration: float = 0.0  # seconds of audio
    seconds: float = 0.0  # wall-clock seconds spent analysing
    duplicate_of: str | None = None  # title of the call already holding this audio
    worker: int | None = None  # the process that analysed it (a Ray import's worker)

    @property
    def skip_reason(self) -> str:
        return "already in the library" + (f" as {self.duplicate_of}" if self.duplicate_of else "")

    @property
    def ok(self) -> bool:
        return self.call_id is not None and self.error is None


class Cancelled(Exception):
    pass


def find_recordings(paths: Iterable[str | Path]) -> list[Path]:
    """Audio files among `paths`; folders are searched (recursively). Sorted, no duplicates."""
    found: dict[Path, None] = {}
    for p in paths:
        p = Path(p).expanduser()
        if p.is_dir():
            for f in sorted(p.rglob("*")):
                if f.is_file() and f.suffix.lower() in AUDIO_EXTENSIONS:
                    found[f.resolve()] = None
        elif p.exists():
            found[p.resolve()] = None
        else:
            raise CallAssistError(f"{p} does not exist: give a recording or a folder of recordings")
    return list(found)


class _Cancellable:
    """The source's blocks until `cancel` is set; its other attributes (speakers, how a mono
    call's voices were separated) read through."""

    def __init__(self, source, cancel: threading.Event | None):
        self._source, self._cancel = source, cancel

    def __getattr__(self, name):
        return getattr(self._source, name)

    def __iter__(self):
        for block in self._source:
            if self._cancel is not None and self._cancel.is_set():
                raise Cancelled()
            yield block


class Importer:
    """Analyse recordings into `store` with `models` (core.models, loaded once) and the
    settings of `config` (channels, escalation and mood thresholds): the same settings as a
    live call or `analyze`, so a recording is flagged the same whichever way it came in."""

    def __init__(self, store: Library, models, config, *, jobs: int | None = None,
                 agent: str | None = None):
        self.store = store
        self.models = models
        self.config = config
        self.jobs = max(1, int(jobs or config.import_jobs))
        self.channels = config.channels
        self.agent = agent or None  # the agent on these calls, when one person took them all

    def imported_paths(self) -> dict[str, str]:
        return self.store.audio_paths()

    def import_one(self, path: Path, cancel: threading.Event | None = None,
                   on_progress: Callable[[Path, float], None] | None = None) -> ImportResult:
        t0 = time.perf_counter()
        result = ImportResult(path)
        try:
            learn = self.agent if self.config.voice_profiles else None
            source = open_recording(path, self.channels, mono=self.config.mono,
                                    profile=self.store.voice_profile(learn))
            result.duration = source.duration
            key = content_key(path)
            found = self.store.find_recording(path, key, source.duration)
            if found is not None:
                result.skipped, result.duplicate_of = True, found[1] or found[0]
                return result
            pipe = self.models.session(self.config, partials=False, reload_knowledge=False)
            progress = (lambda t: on_progress(path, min(1.0, t / source.duration))) \
                if on_progress else None
            try:
                if getattr(source, "peek", False) is None:  # a mono call: who is the agent
                    source.peek = pipe.peek_text
                timeline = pipe.run(_Cancellable(source, cancel), source_name=str(path),
                                    on_progress=progress)
            except CallAssistError as exc:  # damaged part-way: keep what was analysed
                result.error = str(exc)
                timeline = getattr(exc, "timeline", None)
                if timeline is None or not timeline.utterances:
                    return result
                status = "failed"
            else:
                status = "done"
            result.call_id = self.store.save_recording(timeline, path, title=path.stem,
                                                       agent=self.agent, status=status, key=key)
            if learn and status == "done" and source.info.channels > 1:
                self.store.learn_voice(learn, path, self.channels)  # for their mono calls
        except AlreadyStored as exc:  # another import stored it meanwhile
            result.error, result.skipped, result.duplicate_of = None, True, exc.title or exc.call_id
        except Cancelled:
            result.error = "cancelled"
        except CallAssistError as exc:
            result.error = str(exc)
        except OSError as exc:  # gone or unreadable while it was being hashed
            result.error = (f"cannot read {path.name} ({exc.strerror}): check the file and "
                            f"import it again")
        finally:
            result.seconds = time.perf_counter() - t0
        return result

    def run(self, paths: Iterable[str | Path], *, cancel: threading.Event | None = None,
            on_result: Callable[[ImportResult, int, int], None] | None = None,
            on_progress: Callable[[Path, float], None] | None = None,
            drain: threading.Event | None = None) -> list[ImportResult]:
        """Import every recording; `on_result(result, done, total)` after each one (from a
        worker thread). Recordings already in the library are skipped. `cancel` stops at once
        (recordings in progress are dropped); `drain` starts no new recording but lets those in
        progress finish and be stored: the results then cover only the recordings looked at,
        and importing the same paths again picks up the rest."""
        files = find_recordings(paths)
        known = self.imported_paths()
        results: list[ImportResult] = []
        lock = threading.Lock()

        def report(res: ImportResult) -> None:
            with lock:
                results.append(res)
                n = len(results)
            if on_result:
                on_result(res, n, len(files))

        todo = []
        for f in files:
            if str(f) in known:
                report(ImportResult(f, skipped=True, duplicate_of=known[str(f)]))
            else:
                todo.append(f)

        def work(f: Path) -> None:
            if drain is not None and drain.is_set():
                return  # not started: left for the next import
            if cancel is not None and cancel.is_set():
                report(ImportResult(f, error="cancelled"))
                return
            report(self.import_one(f, cancel, on_progress))

        with ThreadPoolExecutor(max_workers=self.jobs, thread_name_prefix="import") as pool:
            for fut in [pool.submit(work, f) for f in todo]:
                fut.result()
        from ..core.models import trim_memory
        trim_memory()
        order = {f: i for i, f in enumerate(files)}
        return sorted(results, key=lambda r: order.get(r.path, 0))
