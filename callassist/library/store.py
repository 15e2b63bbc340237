"""The call store: calls, their events, summaries and notes in one SQLite file, and nothing else.

The store only stores. It writes the rows and summary values it is given and reads them back;
what a call means (redaction, its summary, its flagged moments) is worked out by the service,
`callassist.library.service.Library`, from the timeline in memory before it comes here. So the
store imports no flags, redaction or timeline code, and no domain work ever runs under its lock.

Threads: writes go through one connection under a lock, held for the write only. Reads use a
connection per thread and never take that lock: with SQLite's WAL journal a reader sees the last
committed state while a write is under way, so the GUI never waits behind a long write (a
re-flag of the whole library, an import, a live call being saved).

A live call's events are appended by an `EventWriter` (its own connection), committed at least
every second, so a crash loses at most the last second or so; the next start finds the call
still "live" with no process recording it (`interrupted_calls`). The file and its WAL/SHM
companions are readable by their owner only (0600). The format is in `schema`.
"""
from __future__ import annotations

import json
import logging
import os
import socket
import sqlite3
import threading
import time as _time
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from ..errors import CallAssistError
from ..paths import data_dir, private_dir
from . import schema

log = logging.getLogger(__name__)

SCHEMA_VERSION = schema.SCHEMA_VERSION
STATUSES = ("live", "done", "interrupted", "failed")


def default_db() -> Path:
    """The user's call library (follows XDG_DATA_HOME at the time of the call)."""
    return data_dir() / "calls.sqlite3"


DEFAULT_DB = default_db()

_CALL_COLUMNS = ("id, source, started, status, duration, audio_path, title, agent, utterances, "
                 "mood_start, mood_end, mood_min, redacted, event_counts, flags, call_json")


@dataclass
class CallRow:
    """A row of the calls table, decoded from JSON but not interpreted (flags stay dicts)."""
    id: str
    source: str
    started: str
    status: str  # live (in progress), done, interrupted, failed
    duration: float
    audio_path: str | None
    title: str
    agent: str | None
    utterances: int = 0
    mood_start: float | None = None
    mood_end: float | None = None
    mood_min: float | None = None
    redacted: bool = False
    event_counts: dict[str, int] = field(default_factory=dict)
    flags: list[dict] | None = None  # None until the call is finished
    call: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def _from_row(cls, row) -> CallRow:
        *cols, redacted, counts, flags, call_json = row
        return cls(*cols, redacted=bool(redacted), event_counts=json.loads(counts or "{}"),
                   flags=None if flags is None else json.loads(flags),
                   call=json.loads(call_json or "{}"))


@dataclass
class Summary:
    """What the list of calls shows of a finished call, computed by the service."""
    status: str
    duration: float
    call: dict[str, Any]  # the timeline's call dict, duration included
    utterances: int = 0
    mood_start: float | None = None
    mood_end: float | None = None
    mood_min: float | None = None
    event_counts: dict[str, int] = field(default_factory=dict)
    flags: list[dict] | None = None

    def values(self) -> tuple:
        if self.status not in STATUSES:
            raise ValueError(f"status must be one of {STATUSES}")
        return (self.status, round(float(self.duration), 3), _dumps(self.call), self.utterances,
                self.mood_start, self.mood_end, self.mood_min, json.dumps(self.event_counts),
                _now(), None if self.flags is None else _dumps(self.flags))


def _dumps(value) -> str:
    return json.dumps(value, ensure_ascii=False)


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


# ---- which process owns a live call ---------------------------------------------------------------

def _proc_start(pid: int) -> str | None:
    """Start time of a process (Linux), to tell a live owner from a later process reusing its pid."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat[stat.rindex(")") + 2:].split()
    return None if fields[0] in ("Z", "X") else fields[19]


def _owner_token() -> str:
    pid = os.getpid()
    return f"{socket.gethostname()}:{pid}:{_proc_start(pid) or ''}"


def _owner_alive(owner: str | None) -> bool:
    """Whether the process that wrote `owner` is still running (another host: assume it is)."""
    if not owner:
        return False
    host, _, rest = owner.partition(":")
    pid_s, _, start = rest.partition(":")
    if host != socket.gethostname():
        return True
    try:
        pid = int(pid_s)
    except ValueError:
        return False
    if pid == os.getpid():
        return False  # this process: only the in-process registry counts
    if Path("/proc/self/stat").exists():
        now = _proc_start(pid)
        return now is not None and (not start or now == start)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True
    return True


_ACTIVE: set[tuple[str, str]] = set()  # (database file, call id) being recorded in this process
_ACTIVE_LOCK = threading.Lock()


# ---- errors ---------------------------------------------------------------------------------------

def _db_error(path: Path, exc: sqlite3.Error) -> CallAssistError:
    code = getattr(exc, "sqlite_errorname", "") or ""
    msg = str(exc)
    if code.startswith(("SQLITE_BUSY", "SQLITE_LOCKED")) or "locked" in msg:
        return CallAssistError(
            f"the call library {path} is locked by another program: close the other CallAssist "
            f"window (or whatever holds the file) and try again")
    if code.startswith(("SQLITE_NOTADB", "SQLITE_CORRUPT")) or "not a database" in msg \
            or "malformed" in msg:
        return CallAssistError(
            f"the call library {path} is damaged or is not a CallAssist database: move it aside "
            f"(e.g. rename it to {path.name}.bad) so a new one is made, or choose another file")
    if code.startswith(("SQLITE_READONLY", "SQLITE_CANTOPEN", "SQLITE_PERM")) or "readonly" in msg:
        return CallAssistError(
            f"cannot write the call library {path} ({msg}): check that the folder exists and "
            f"is writable by you, or choose another file")
    if code.startswith("SQLITE_FULL") or "full" in msg:
        return CallAssistError(f"the disk holding the call library {path} is full: free some "
                               f"space; the call is kept in memory and saved when it can be")
    return CallAssistError(f"the call library {path} cannot be used ({msg}): move it aside "
                           f"or choose another file")


def _open_error(path: Path, exc: OSError) -> CallAssistError:
    if isinstance(exc, PermissionError):
        return CallAssistError(f"cannot open the call library {path} (permission denied): fix "
                               f"its permissions, or choose another file")
    return CallAssistError(f"cannot open the call library {path} ({exc.strerror}): choose "
                           f"another file")


def _schema_error(path: Path, exc: Exception) -> CallAssistError:
    if isinstance(exc, schema.TooNew):
        return CallAssistError(
            f"the call library {path} was written by a newer CallAssist (format {exc.version}; "
            f"this version reads up to {SCHEMA_VERSION}): update CallAssist, or choose another file")
    if isinstance(exc, schema.NoVersion):
        return CallAssistError(f"the call library {path} has no format version: move it aside "
                               f"so a new one is made")
    return CallAssistError(f"{path} is an SQLite database but not a CallAssist call library: "
                           f"choose another file, or move this one aside")


def _missing_library(path: Path) -> str:
    """The one line for a library that is not there, with the commands that make one."""
    import shlex
    lib = "" if path == default_db() else f" --library {shlex.quote(str(path))}"
    return (f"there is no call library at {path}: make one by importing recordings "
            f"(`callassist import FOLDER{lib}`) or saving an analysed call "
            f"(`callassist analyze CALL --save{lib}`)")


class AlreadyStored(CallAssistError):
    """The recording is in the library already (same content key); `call_id`, `title`: that call."""

    def __init__(self, call_id: str, title: str):
        super().__init__(f"already in the library as {title or call_id}")
        self.call_id, self.title = call_id, title


# ---- the store ------------------------------------------------------------------------------------

class CallStore:
    """Calls, their events and notes in one SQLite file. Safe to use from several threads."""

    def __init__(self, path: str | Path | None = None, *, timeout: float = 5.0,
                 create: bool = True, make_folder: bool = True):
        """`create=False`: a file that does not exist is refused (one line saying how to make
        a library) instead of made; `make_folder=False`: a new library is made only in a folder
        that exists. An existing file that is not a call library (another program's database, a
        damaged file) is refused before anything in it, or its mode, is changed."""
        if str(path) == ":memory:":
            raise ValueError("CallStore keeps calls in a file (readers and writers each have "
                             "their own connection)")
        self.path = Path(path) if path is not None else default_db()
        self.timeout = timeout
        self._key = str(self.path.resolve())
        self._lock = threading.RLock()  # the write connection; held for writes only
        self._local = threading.local()  # each thread's read connection
        self._readers: list[sqlite3.Connection] = []
        self._readers_lock = threading.Lock()
        self._writers: dict[str, EventWriter] = {}
        self._mine: set[str] = set()  # live calls started or recorded by this store
        self._check_file(create, make_folder)
        self._prepare_file()
        self._db = self._connect()
        try:
            self._init_schema()
        except BaseException:
            self._db.close()
            raise

    # -- opening
    def _check_file(self, create: bool, make_folder: bool) -> None:
        """Refuse what is not to be opened, changing nothing: a folder, a missing file that may
        not be made, a file that is not a call library (read through a read-only connection)."""
        path = self.path
        if path.is_dir():
            raise CallAssistError(f"the call library {path} is a folder: give a file name, "
                                  f"e.g. {path / 'calls.sqlite3'}")
        if not path.exists():
            if not create:
                raise CallAssistError(_missing_library(path))
            folder = path.parent
            if not make_folder and not folder.is_dir():
                what = "is a file, not a folder" if folder.exists() else "does not exist"
                raise CallAssistError(f"cannot make the call library {path}: {folder} {what}; "
                                      f"give a file in a folder that exists")
            return
        try:
            with open(path, "rb") as f:
                head = f.read(16)
        except OSError as exc:
            raise _open_error(path, exc) from exc
        if not head:
            return  # an empty file: a new library is made in it
        if head != b"SQLite format 3\x00":
            raise _db_error(path, sqlite3.DatabaseError("file is not a database"))
        try:
            db = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True,
                                 timeout=self.timeout)
            try:
                schema.check(db)
            finally:
                db.close()
        except (schema.NotALibrary, schema.TooNew, schema.NoVersion) as exc:
            raise _schema_error(path, exc) from None
        except sqlite3.Error as exc:
            raise _db_error(path, exc) from exc

    def _prepare_file(self) -> None:
        folder = self.path.parent
        if not folder.exists():
            try:
                private_dir(folder)  # 0700, and each parent made with it
            except OSError as exc:
                raise CallAssistError(f"cannot create the folder {folder} for the call library "
                                      f"({exc.strerror}): create it, or choose another file") from exc
        if self.path.is_dir():
            raise CallAssistError(f"the call library {self.path} is a folder: give a file name, "
                                  f"e.g. {self.path / 'calls.sqlite3'}")
        try:
            fd = os.open(self.path, os.O_CREAT | os.O_RDWR, 0o600)
            os.close(fd)
            for p in (self.path, Path(f"{self.path}-wal"), Path(f"{self.path}-shm")):
                if p.exists() and p.stat().st_mode & 0o077:
                    p.chmod(0o600)  # the library is readable by its owner only
        except OSError as exc:
            raise _open_error(self.path, exc) from exc

    def _connect(self) -> sqlite3.Connection:
        try:
            db = sqlite3.connect(self.path, timeout=self.timeout, isolation_level=None,
                                 check_same_thread=False)
            db.execute("PRAGMA foreign_keys = ON")
            db.execute("PRAGMA synchronous = NORMAL")  # WAL + NORMAL: a crashed app loses nothing
            return db
        except sqlite3.Error as exc:
            raise _db_error(self.path, exc) from exc

    def _init_schema(self) -> None:
        try:
            mode = self._wal()
            if mode != "wal":
                log.warning("call library %s: WAL journal unavailable (%s)", self.path, mode)
            with self._tx() as db:
                schema.ensure(db)
        except (schema.NotALibrary, schema.TooNew, schema.NoVersion) as exc:
            raise _schema_error(self.path, exc) from None
        except sqlite3.Error as exc:
            raise _db_error(self.path, exc) from exc

    def _wal(self) -> str:
        """Switch the file to WAL. The switch needs the file to itself and SQLite answers BUSY at
        once (no busy wait) while another program opens it, e.g. two imports started together
        on a new library: retry until `timeout`, as the other statements wait."""
        deadline = _time.monotonic() + self.timeout
        while True:
            try:
                return self._db.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            except sqlite3.OperationalError as exc:
                busy = getattr(exc, "sqlite_errorname", "").startswith("SQLITE_BUSY")
                if not busy or _time.monotonic() >= deadline:
                    raise
                _time.sleep(0.02)

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        """One write transaction on the write connection, under the write lock."""
        with self._lock:
            db = self._db
            try:
                db.execute("BEGIN IMMEDIATE")
            except sqlite3.Error as exc:
                raise _db_error(self.path, exc) from exc
            try:
                yield db
                db.execute("COMMIT")
            except BaseException as exc:
                db.execute("ROLLBACK")
                if isinstance(exc, sqlite3.Error):
                    raise _db_error(self.path, exc) from exc
                raise

    def _reader(self) -> sqlite3.Connection:
        """This thread's read connection (made on first use); reads never take the write lock."""
        db = getattr(self._local, "db", None)
        if db is None:
            db = self._connect()
            db.execute("PRAGMA query_only = ON")
            self._local.db = db
            with self._readers_lock:
                self._readers.append(db)
        return db

    def _query(self, sql: str, args: tuple = ()) -> list[tuple]:
        try:
            return self._reader().execute(sql, args).fetchall()
        except sqlite3.Error as exc:
            raise _db_error(self.path, exc) from exc

    # -- live calls in this process
    def claim(self, call_id: str) -> None:
        """Mark a live call as recorded by this process (not offered as interrupted)."""
        with _ACTIVE_LOCK:
            self._mine.add(call_id)
            _ACTIVE.add((self._key, call_id))

    def release(self, call_id: str) -> None:
        with _ACTIVE_LOCK:
            self._mine.discard(call_id)
            _ACTIVE.discard((self._key, call_id))

    def is_recording(self, call_id: str) -> bool:
        with _ACTIVE_LOCK:
            return (self._key, call_id) in _ACTIVE

    # -- writing calls
    def add_call(self, call_id: str, call: dict[str, Any], *, audio_path: str | None = None,
                 title: str = "", agent: str | None = None, redacted: bool = False,
                 summary: Summary | None = None, events: list[tuple] = (),
                 originals: list[tuple] = (), content_key: str | None = None) -> None:
        """Insert a call, in one transaction with its event rows `(seq, type, time, data)` and
        original rows `(seq, data)`. Without `summary` it is a live call owned by this process.
        A `content_key` already stored raises AlreadyStored: the UNIQUE index decides, inside
        the transaction, so two processes importing the same file store it once."""
        with self._tx() as db:
            if db.execute("SELECT 1 FROM calls WHERE id = ?", (call_id,)).fetchone():
                raise CallAssistError(f"a call with id {call_id} is already in the call library "
                                      f"{self.path}: give this call a new id, or delete the old one")
            cur = db.execute(
                "INSERT INTO calls (id, source, started, status, audio_path, title, agent, "
                "call_json, owner, updated, redacted, content_key) "
                "VALUES (?, ?, ?, 'live', ?, ?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (content_key) DO NOTHING",
                (call_id, str(call.get("source") or ""), str(call.get("started") or _now()),
                 audio_path, title, agent, _dumps(call), _owner_token(), _now(), int(redacted),
                 content_key))
            if cur.rowcount == 0:
                other = db.execute("SELECT id, title FROM calls WHERE content_key = ?",
                                   (content_key,)).fetchone()
                raise AlreadyStored(*other)
            db.executemany("INSERT INTO events VALUES (?, ?, ?, ?, ?)",
                           [(call_id, *r) for r in events])
            db.executemany("INSERT INTO originals VALUES (?, ?, ?)",
                           [(call_id, *r) for r in originals])
            if summary is not None:
                self._set_summary(db, call_id, summary)
        if summary is None:
            self.claim(call_id)

    def finish_call(self, call_id: str, summary: Summary) -> None:
        """Write a call's summary (status, duration, counts, moods, flags)."""
        with self._tx() as db:
            self._set_summary(db, call_id, summary)

    def _set_summary(self, db: sqlite3.Connection, call_id: str, summary: Summary) -> None:
        cur = db.execute(
            "UPDATE calls SET status = ?, duration = ?, call_json = ?, utterances = ?, "
            "mood_start = ?, mood_end = ?, mood_min = ?, event_counts = ?, updated = ?, "
            "flags = ? WHERE id = ?", (*summary.values(), call_id))
        if cur.rowcount == 0:
            raise CallAssistError(f"no call {call_id} in the call library {self.path}")

    def set_flags(self, flags: dict[str, list[dict]]) -> int:
        """Replace the flags of calls (id -> flag dicts) in one transaction; returns rows changed."""
        with self._tx() as db:
            return sum(db.execute("UPDATE calls SET flags = ? WHERE id = ?",
                                  (_dumps(f), call_id)).rowcount for call_id, f in flags.items())

    def update_call(self, call_id: str, **values) -> None:
        """Set title, agent or audio_path (None leaves a value as it is)."""
        self.get_call(call_id)
        sets = {k: v for k, v in values.items() if v is not None}
        if set(sets) - {"title", "agent", "audio_path"}:
            raise ValueError(f"cannot update {sorted(sets)}")
        if sets:
            with self._tx() as db:
                db.execute(f"UPDATE calls SET {', '.join(k + ' = ?' for k in sets)}, updated = ? "
                           f"WHERE id = ?", (*sets.values(), _now(), call_id))

    def delete_call(self, call_id: str) -> None:
        """Remove a call, its events, originals and notes (its audio file stays where it is)."""
        with self._lock:
            writer = self._writers.pop(call_id, None)
        if writer is not None:
            writer.close(save=False)
        with self._tx() as db:
            db.execute("DELETE FROM calls WHERE id = ?", (call_id,))
        self.release(call_id)

    def set_meta(self, key: str, value: str) -> None:
        with self._tx() as db:
            db.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, value))

    def writer(self, call_id: str, flush_seconds: float = 1.0) -> EventWriter:
        """The appender of a live call's events (one per call; see `EventWriter`)."""
        self.get_call(call_id)
        with self._lock:
            old = self._writers.get(call_id)
            if old is not None and not old.closed:
                return old
            writer = EventWriter(self, call_id, flush_seconds)
            self._writers[call_id] = writer
        self.claim(call_id)
        return writer

    def close_writer(self, call_id: str) -> None:
        """Save what a call's writer holds and close it (raises its last write error)."""
        with self._lock:
            writer = self._writers.pop(call_id, None)
        if writer is not None:
            writer.close()

    # -- reading
    def meta(self, key: str) -> str | None:
        rows = self._query("SELECT value FROM meta WHERE key = ?", (key,))
        return rows[0][0] if rows else None

    def get_call(self, call_id: str) -> CallRow:
        rows = self._query(f"SELECT {_CALL_COLUMNS} FROM calls WHERE id = ?", (call_id,))
        if not rows:
            raise CallAssistError(f"no call {call_id} in the call library {self.path}: "
                                  f"pick one from the list of calls")
        return CallRow._from_row(rows[0])

    def list_calls(self, limit: int | None = None) -> list[CallRow]:
        """Calls, newest first."""
        rows = self._query(f"SELECT {_CALL_COLUMNS} FROM calls ORDER BY started DESC, rowid DESC "
                           f"LIMIT ?", (-1 if limit is None else int(limit),))
        return [CallRow._from_row(r) for r in rows]

    def _my_calls(self) -> set[str]:
        with _ACTIVE_LOCK:
            return {cid for key, cid in _ACTIVE if key == self._key}

    def interrupted_calls(self) -> list[CallRow]:
        """Calls left "live" by a process that is no longer recording them (a crash)."""
        # a live call has no summary yet: what it holds is counted from its stored events.
        # This process's calls are taken both before and after the query: one that finishes
        # while the query runs is still read as "live" and must not count as a crash.
        mine = self._my_calls()
        rows = self._query(f"SELECT {_CALL_COLUMNS}, owner, (SELECT count(*) FROM events e "
                           f"WHERE e.call_id = calls.id AND e.type = 'utterance') FROM calls "
                           f"WHERE status = 'live' ORDER BY started DESC, rowid DESC")
        mine |= self._my_calls()
        calls = []
        for *row, owner, said in rows:
            if row[0] not in mine and not _owner_alive(owner):
                call = CallRow._from_row(row)
                call.utterances = said
                calls.append(call)
        return calls

    def call_ids(self, *, finished: bool = True, without_flags: bool = False) -> list[str]:
        where = ["status != 'live'"] if finished else []
        if without_flags:
            where.append("flags IS NULL")
        sql = "SELECT id FROM calls" + (" WHERE " + " AND ".join(where) if where else "")
        return [r[0] for r in self._query(sql + " ORDER BY rowid")]

    def event_data(self, call_id: str, original: bool = False) -> list[str]:
        """The call's events as stored JSON, in order; `original=True` puts back the unredacted
        ones where they were kept."""
        if original:
            rows = self._query(
                "SELECT coalesce(o.data, e.data) FROM events e LEFT JOIN originals o "
                "ON o.call_id = e.call_id AND o.seq = e.seq WHERE e.call_id = ? ORDER BY e.seq",
                (call_id,))
        else:
            rows = self._query("SELECT data FROM events WHERE call_id = ? ORDER BY seq", (call_id,))
        return [r[0] for r in rows]

    def last_event_time(self, call_id: str) -> float | None:
        return self._query("SELECT max(time) FROM events WHERE call_id = ?", (call_id,))[0][0]

    def has_originals(self, call_id: str) -> bool:
        return bool(self._query("SELECT 1 FROM originals WHERE call_id = ? LIMIT 1", (call_id,)))

    def audio_paths(self) -> set[str]:
        """The recordings already in the library (one column, nothing else parsed); one whose
        analysis never finished (interrupted, or still live) does not count."""
        return {r[0] for r in self._query("SELECT audio_path FROM calls WHERE audio_path IS NOT "
                                          "NULL AND status NOT IN ('live', 'interrupted')")}

    def by_content(self, key: str) -> tuple[str, str] | None:
        """(id, title) of the call stored with this content key, if any."""
        rows = self._query("SELECT id, title FROM calls WHERE content_key = ?", (key,))
        return rows[0] if rows else None

    def keyless_recordings(self, duration: float, within: float) -> list[tuple[str, str]]:
        """(id, audio_path) of finished calls with audio but no content key (imported before
        format 4) lasting `duration` ± `within` seconds: the candidates to key lazily."""
        return self._query("SELECT id, audio_path FROM calls WHERE content_key IS NULL AND "
                           "audio_path IS NOT NULL AND status != 'live' AND duration BETWEEN ? "
                           "AND ?", (duration - within, duration + within))

    def set_content_key(self, call_id: str, key: str) -> bool:
        """Give an old call its key; False when another call holds it (an old duplicate)."""
        with self._tx() as db:
            return db.execute("UPDATE OR IGNORE calls SET content_key = ? WHERE id = ? AND "
                              "content_key IS NULL", (key, call_id)).rowcount == 1

    def clear_content_key(self, call_id: str) -> None:
        """Let a call give up its content key (an analysis of the recording that never finished,
        so that the recording can be analysed and stored whole)."""
        with self._tx() as db:
            db.execute("UPDATE calls SET content_key = NULL WHERE id = ?", (call_id,))

    def search(self, text: str) -> set[str]:
        """Ids of calls whose transcript has the words of `text` (see schema.fts_query)."""
        query = schema.fts_query(text)
        if query is None:
            return set()
        rows = self._query("SELECT DISTINCT call_id FROM utterance_fts WHERE utterance_fts "
                           "MATCH ?", (query,))
        return {r[0] for r in rows}

    # -- agents' voice profiles (biometric: used only to tell the agent apart on mono calls)
    def voice_profile(self, agent: str) -> tuple[np.ndarray, float, int] | None:
        """(unit vector, seconds of speech, calls) of an agent's voice, or None."""
        rows = self._query("SELECT vector, seconds, calls FROM voice_profiles WHERE agent = ?",
                           (agent,))
        if not rows:
            return None
        vector, seconds, calls = rows[0]
        return np.frombuffer(vector, dtype=np.float32).copy(), float(seconds), int(calls)

    def voice_profiles(self) -> list[tuple[str, float, int, str]]:
        """(agent, seconds, calls, updated) of every stored profile, by agent."""
        return [tuple(r) for r in self._query(
            "SELECT agent, seconds, calls, updated FROM voice_profiles ORDER BY agent")]

    def add_voice(self, agent: str, vector: np.ndarray, seconds: float,
                  keep_seconds: float = 600.0) -> None:
        """Fold one call's voice of `agent` into their profile: a mean weighted by seconds of
        speech, the old part counting at most `keep_seconds` (a voice heard on new headsets and
        lines is followed, not frozen by the first hour)."""
        v = np.asarray(vector, dtype=np.float32).reshape(-1)
        with self._tx() as db:
            row = db.execute("SELECT vector, seconds, calls FROM voice_profiles WHERE agent = ?",
                             (agent,)).fetchone()
            if row is not None:
                old = np.frombuffer(row[0], dtype=np.float32)
                w_old = min(float(row[1]), keep_seconds)
                v = (old * w_old + v * seconds) / max(w_old + seconds, 1e-9)
                total, calls = float(row[1]) + seconds, int(row[2]) + 1
            else:
                total, calls = seconds, 1
            v = (v / max(float(np.linalg.norm(v)), 1e-9)).astype(np.float32)
            db.execute("INSERT OR REPLACE INTO voice_profiles VALUES (?, ?, ?, ?, ?)",
                       (agent, v.tobytes(), round(total, 1), calls, _now()))

    def delete_voice_profile(self, agent: str | None = None) -> int:
        """Forget one agent's voice profile (or, with None, every one); returns how many."""
        with self._tx() as db:
            if agent is None:
                return db.execute("DELETE FROM voice_profiles").rowcount
            return db.execute("DELETE FROM voice_profiles WHERE agent = ?", (agent,)).rowcount

    # -- QA reviewers' scorecard answers
    def set_review(self, call_id: str, card: str, question: str, answer: str, auto: str | None,
                   reviewer: str, why: str = "") -> None:
        self.get_call(call_id)
        with self._tx() as db:
            db.execute("INSERT OR REPLACE INTO reviews VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                       (call_id, card, question, str(answer), None if auto is None else str(auto),
                        reviewer, _now(), why))

    def reviews(self, call_id: str, card: str) -> dict[str, dict[str, Any]]:
        rows = self._query("SELECT question, answer, auto, reviewer, at, why FROM reviews "
                           "WHERE call_id = ? AND card = ?", (call_id, card))
        return {q: {"answer": int(a) if a.isdigit() else a, "auto": au, "reviewer": r,
                    "at": at, "why": w} for q, a, au, r, at, w in rows}

    def review_agreement(self, card: str) -> dict[str, tuple[int, int]]:
        """question -> (reviews that kept the automatic answer, reviews of an automatic answer)."""
        rows = self._query("SELECT question, SUM(answer = auto), COUNT(*) FROM reviews "
                           "WHERE card = ? AND auto IS NOT NULL GROUP BY question", (card,))
        return {q: (int(agreed or 0), int(n)) for q, agreed, n in rows}

    # -- notes on moments
    def add_note(self, call_id: str, time: float, text: str, author: str = "") -> int:
        self.get_call(call_id)
        with self._tx() as db:
            cur = db.execute("INSERT INTO notes (call_id, time, text, author, created) "
                             "VALUES (?, ?, ?, ?, ?)", (call_id, float(time), text, author, _now()))
            return int(cur.lastrowid)

    def notes(self, call_id: str) -> list[dict[str, Any]]:
        rows = self._query("SELECT id, call_id, time, text, author, created FROM notes "
                           "WHERE call_id = ? ORDER BY time, id", (call_id,))
        return [dict(zip(("id", "call_id", "time", "text", "author", "created"), r)) for r in rows]

    def update_note(self, note_id: int, text: str) -> None:
        with self._tx() as db:
            db.execute("UPDATE notes SET text = ? WHERE id = ?", (text, note_id))

    def delete_note(self, note_id: int) -> None:
        with self._tx() as db:
            db.execute("DELETE FROM notes WHERE id = ?", (note_id,))

    def close(self) -> None:
        """Save what writers hold and close. Unfinished calls stay "live" (offered next start)."""
        with self._lock:
            writers, self._writers = list(self._writers.values()), {}
        try:
            for writer in writers:
                writer.close()
        finally:
            for call_id in list(self._mine):
                self.release(call_id)
            with self._readers_lock:
                readers, self._readers = self._readers, []
            for db in readers:
                db.close()
            with self._lock:
                self._db.close()

    def __enter__(self) -> CallStore:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class EventWriter:
    """Appends a live call's event rows to the store, numbering them.

    Rows are kept in memory and written in one transaction at most every `flush_seconds`:
    by the calling thread when one is due, or by a small timer thread when rows stop coming,
    so a crash loses at most about `flush_seconds`. A failed write (disk full, file locked) never
    stops the caller: the rows stay pending, `error` says why, and the next flush retries;
    `flush()` and `close()` raise it.
    """

    def __init__(self, store: CallStore, call_id: str, flush_seconds: float):
        self.store, self.call_id, self.flush_seconds = store, call_id, float(flush_seconds)
        self.error: CallAssistError | None = None
        self.closed = False
        self.saved = 0  # rows committed so far
        self._pending: list[tuple] = []
        self._pending_originals: list[tuple] = []
        self._lock = threading.Lock()
        self._db = store._connect()
        try:
            last = self._db.execute("SELECT max(seq) FROM events WHERE call_id = ?",
                                    (call_id,)).fetchone()[0]
        except sqlite3.Error as exc:
            self._db.close()
            raise _db_error(store.path, exc) from exc
        self.first_seq = self._seq = 0 if last is None else last + 1
        self._last_flush = _time.monotonic()
        self._wake = threading.Event()
        self._timer = threading.Thread(target=self._run_timer, daemon=True,
                                       name=f"callstore-flush-{call_id}")
        self._timer.start()

    def add(self, kind: str, time: float | None, data: str, original: str | None = None) -> None:
        """Queue one event row (and the unredacted original, when kept)."""
        with self._lock:
            if self.closed:
                return
            self._pending.append((self.call_id, self._seq, kind, time, data))
            if original is not None:
                self._pending_originals.append((self.call_id, self._seq, original))
            self._seq += 1
            if _time.monotonic() - self._last_flush >= self.flush_seconds:
                self._write()

    def _run_timer(self) -> None:
        while not self._wake.wait(self.flush_seconds / 2):
            with self._lock:
                if self._pending and _time.monotonic() - self._last_flush >= self.flush_seconds:
                    self._write()

    def _write(self) -> None:
        """Commit pending rows (caller holds the lock). Errors are kept, not raised."""
        self._last_flush = _time.monotonic()
        if not self._pending:
            return
        try:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                self._db.executemany("INSERT OR REPLACE INTO events VALUES (?, ?, ?, ?, ?)",
                                     self._pending)
                self._db.executemany("INSERT OR REPLACE INTO originals VALUES (?, ?, ?)",
                                     self._pending_originals)
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
        except sqlite3.Error as exc:
            self.error = _db_error(self.store.path, exc)
            log.error("%s", self.error)
            return
        self.saved += len(self._pending)
        self._pending.clear()
        self._pending_originals.clear()
        self.error = None

    def flush(self) -> None:
        with self._lock:
            self._write()
            if self.error is not None:
                raise self.error

    def close(self, save: bool = True) -> None:
        with self._lock:
            if self.closed:
                return
            if save:
                self._write()
            self.closed = True
            self._wake.set()
            error = self.error if save else None
            self._db.close()
        if error is not None:
            raise error
