"""The call store: calls, their events, summaries and notes in one database, and nothing else.

Two backends behind this one class, with one format (`schema`, Alembic migrations): an SQLite
file, the embedded default for one person, and a PostgreSQL database (`library =
"postgresql://user@host/db"`), a team's shared library. Both are reached through SQLAlchemy
Core; the few statements that differ (search, order of arrival) are chosen by `self.kind`.

The store only stores. It writes the rows and summary values it is given and reads them back;
what a call means (redaction, its summary, its flagged moments) is worked out by the service,
`callassist.library.service.Library`, from the timeline in memory before it comes here. So the
store imports no flags, redaction or timeline code, and no domain work ever runs under its lock.

Threads: writes are made under a lock, held for the write only. Reads never take that lock and
use connections of their own (SQLite: a read-only pool; WAL journal): a reader sees the last
committed state while a write is under way, so the GUI never waits behind a long write (a
re-flag of the whole library, an import, a live call being saved).

A live call's events are appended by an `EventWriter` (its own connection), committed at least
every second, so a crash loses at most the last second or so; the next start finds the call
still "live" with no process recording it (`interrupted_calls`). An SQLite file and its WAL/SHM
companions are readable by their owner only (0600). A PostgreSQL address never holds a password
(libpq's ~/.pgpass, mode 0600, or PGPASSFILE gives it).
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
import sqlalchemy as sa
from sqlalchemy import event as sa_event
from sqlalchemy.engine import Connection, make_url

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
                 "mood_start, mood_end, mood_min, redacted, event_counts, flags, scorecard, "
                 "call_json")


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
    scorecard: dict | None = None  # {"card", "auto": {question: answer}}; None: not stored
    call: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def _from_row(cls, row) -> CallRow:
        *cols, redacted, counts, flags, card, call_json = row
        return cls(*cols, redacted=bool(redacted), event_counts=json.loads(counts or "{}"),
                   flags=None if flags is None else json.loads(flags),
                   scorecard=None if card is None else json.loads(card),
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
    scorecard: dict | None = None  # the automatic QA answers (see CallRow)

    def values(self) -> tuple:
        if self.status not in STATUSES:
            raise ValueError(f"status must be one of {STATUSES}")
        return (self.status, round(float(self.duration), 3), _dumps(self.call), self.utterances,
                self.mood_start, self.mood_end, self.mood_min, json.dumps(self.event_counts),
                _now(), None if self.flags is None else _dumps(self.flags),
                None if self.scorecard is None else _dumps(self.scorecard))


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


def _pg_error(where: str, exc: BaseException) -> CallAssistError:
    """One line for what went wrong with a PostgreSQL library."""
    msg = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    low = msg.lower()
    if "password authentication failed" in low or "no password supplied" in low:
        return CallAssistError(
            f"cannot log in to the shared call library {where}: put your password in ~/.pgpass "
            f"(mode 0600; PGPASSFILE names another file), or ask your administrator for a login")
    if "does not exist" in low and "database" in low:
        return CallAssistError(f"there is no database for the shared call library {where}: ask "
                               f"your administrator to create it, or check the address")
    sqlstate = getattr(exc, "sqlstate", None) or ""
    if sqlstate == "42501" or "permission denied" in low:
        return CallAssistError(f"your login may not do this in the shared call library {where} "
                               f"({msg})")
    if sqlstate.startswith(("08", "57P")) or any(w in low for w in (
            "connection refused", "could not connect", "connection failed", "timeout",
            "server closed the connection", "terminating connection", "no route to host",
            "could not translate host", "connection is closed", "consuming input failed",
            "the database system is", "server conn crashed")):
        return ServerUnreachable(
            f"cannot reach the shared call library {where} ({msg}): check that the server is "
            f"running and reachable and the `library` address in config.toml; a call in "
            f"progress is kept and saved when the server is back")
    return CallAssistError(f"the shared call library {where} cannot be used ({msg})")


def _schema_error(path: Path | str, exc: Exception) -> CallAssistError:
    if isinstance(exc, schema.TooNew):
        return CallAssistError(
            f"the call library {path} was written by a newer CallAssist (format {exc.version}; "
            f"this version reads up to {SCHEMA_VERSION}): update CallAssist, or choose another file")
    if isinstance(exc, schema.NoVersion):
        return CallAssistError(f"the call library {path} has no format version: move it aside "
                               f"so a new one is made")
    if isinstance(path, str):
        return CallAssistError(f"the database {path} holds other tables, not a CallAssist call "
                               f"library: give the library a database of its own")
    return CallAssistError(f"{path} is an SQLite database but not a CallAssist call library: "
                           f"choose another file, or move this one aside")


SERVER_SCHEMES = ("postgresql", "postgres")


def is_server(target: str | Path | None) -> bool:
    """Whether a `library` setting names a database server rather than a file."""
    return str(target or "").split(":", 1)[0].split("+", 1)[0].lower() in SERVER_SCHEMES


def server_url(target: str) -> sa.URL:
    """The SQLAlchemy address of a `postgresql://user@host:port/db` library (psycopg 3).
    An address holding a password is refused: config.toml and command lines are not the place
    for it (libpq reads it from ~/.pgpass, mode 0600)."""
    try:
        url = make_url(str(target).replace("postgres://", "postgresql://", 1))
    except Exception as exc:
        raise CallAssistError(f"the library address {target!r} cannot be read ({exc}): write "
                              f"it as postgresql://USER@HOST:PORT/DATABASE") from None
    if url.password is not None:
        raise CallAssistError(
            "the library address holds a password: remove it from the address and put it in "
            "~/.pgpass (a line HOST:PORT:DATABASE:USER:PASSWORD, mode 0600)")
    if not url.database:
        raise CallAssistError(f"the library address {target!r} names no database: write it as "
                              f"postgresql://USER@HOST:PORT/DATABASE")
    return url.set(drivername="postgresql+psycopg")


# what the database (or reaching it) can raise, as opposed to a mistake in a statement
_DB_ERRORS = (sa.exc.DBAPIError, sa.exc.TimeoutError)


def _sqlite_engine(path: Path, timeout: float, *, reader: bool) -> sa.Engine:
    """An engine for an SQLite library file: the writers' (each transaction BEGIN IMMEDIATE,
    so a write never fails half way on a lock upgrade) or the readers' (query_only)."""
    engine = sa.create_engine(
        f"sqlite:///{path}", pool_size=2, max_overflow=-1,
        connect_args={"timeout": timeout, "check_same_thread": False})

    @sa_event.listens_for(engine, "connect")
    def _connect(dbapi, _record):
        dbapi.isolation_level = None  # transactions are begun below, not by the sqlite3 module
        dbapi.execute("PRAGMA foreign_keys = ON")
        dbapi.execute("PRAGMA synchronous = NORMAL")  # WAL + NORMAL: a crashed app loses nothing
        if reader:
            dbapi.execute("PRAGMA query_only = ON")

    @sa_event.listens_for(engine, "begin")
    def _begin(conn):
        conn.exec_driver_sql("BEGIN" if reader else "BEGIN IMMEDIATE")

    return engine


def _missing_library(path: Path) -> str:
    """The one line for a library that is not there, with the commands that make one."""
    import shlex
    lib = "" if path == default_db() else f" --library {shlex.quote(str(path))}"
    return (f"there is no call library at {path}: make one by importing recordings "
            f"(`callassist import FOLDER{lib}`) or saving an analysed call "
            f"(`callassist analyze CALL --save{lib}`)")


class ServerUnreachable(CallAssistError):
    """A team's library server cannot be reached now (down, restarting, the network)."""


class AlreadyStored(CallAssistError):
    """The recording is in the library already (same content key); `call_id`, `title`: that call."""

    def __init__(self, call_id: str, title: str):
        super().__init__(f"already in the library as {title or call_id}")
        self.call_id, self.title = call_id, title


# ---- the store ------------------------------------------------------------------------------------

class CallStore:
    """Calls, their events and notes in an SQLite file or a PostgreSQL database. Safe to use
    from several threads."""

    def __init__(self, path: str | Path | None = None, *, timeout: float = 5.0,
                 create: bool = True, make_folder: bool = True, offline_ok: bool = False):
        """`path`: an SQLite file, or a `postgresql://user@host:port/db` address;
        `offline_ok`: a server that cannot be reached now is not an error yet (a desk starting
        while it is down): its format is checked at the first use that reaches it.
        `create=False`: a file that does not exist is refused (one line saying how to make
        a library) instead of made; `make_folder=False`: a new library is made only in a folder
        that exists. An existing file that is not a call library (another program's database, a
        damaged file) is refused before anything in it, or its mode, is changed."""
        if str(path) == ":memory:":
            raise ValueError("CallStore keeps calls in a file (readers and writers each have "
                             "their own connection)")
        self.timeout = timeout
        self._lock = threading.RLock()  # this process's writes; held for one write only
        self._writers: dict[str, EventWriter] = {}
        self._mine: set[str] = set()  # live calls started or recorded by this store
        if is_server(path):
            self.kind = "postgresql"
            url = server_url(str(path))
            self.path = url.set(drivername="postgresql").render_as_string(hide_password=True)
            self._key = self.path
            self._engine = sa.create_engine(
                url, pool_size=4, max_overflow=-1, pool_pre_ping=True,
                connect_args={"connect_timeout": max(2, int(timeout)),
                              "application_name": "callassist"})
            self._reads = self._engine
            self._arrival = "n"
        else:
            self.kind = "sqlite"
            self.path = Path(path) if path is not None else default_db()
            self._key = str(self.path.resolve())
            self._check_file(create, make_folder)
            self._prepare_file()
            self._engine = _sqlite_engine(self.path, timeout, reader=False)
            self._reads = _sqlite_engine(self.path, timeout, reader=True)
            self._arrival = "rowid"
        self._ready = False
        self._ready_lock = threading.Lock()
        self._readying = threading.local()  # this thread is checking the format
        try:
            self._init_schema()
        except ServerUnreachable:
            if not offline_ok:
                self._dispose()
                raise
        except BaseException:
            self._dispose()
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
                schema.check_sqlite(db)
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

    def _error(self, exc: BaseException) -> CallAssistError:
        """The one line for a database error (SQLAlchemy's, or the driver's inside it)."""
        orig = getattr(exc, "orig", None) or exc
        if self.kind == "postgresql":
            return _pg_error(self.path, orig)
        if not isinstance(orig, sqlite3.Error):
            orig = sqlite3.OperationalError(str(orig))
        return _db_error(self.path, orig)

    def _init_schema(self) -> None:
        if getattr(self._readying, "on", False):
            return  # the statements of the check itself
        with self._ready_lock:
            if not self._ready:
                self._readying.on = True
                try:
                    self._make_ready()
                finally:
                    self._readying.on = False

    def _make_ready(self) -> None:
        """Check the format (and bring it up to date) before anything else is read or written:
        other threads wait for it; the ready flag is set only once it is done."""
        try:
            if self.kind == "sqlite":
                mode = self._wal()
                if mode != "wal":
                    log.warning("call library %s: WAL journal unavailable (%s)", self.path, mode)
            with self._tx() as db:
                if self.kind == "postgresql":  # desks starting together make the tables once
                    db.execute(sa.text("SELECT pg_advisory_xact_lock(7262275)"))
                schema.ensure(db)
        except (schema.NotALibrary, schema.TooNew, schema.NoVersion) as exc:
            raise _schema_error(self.path, exc) from None
        self._ready = True

    def _wal(self) -> str:
        """Switch the file to WAL. The switch needs the file to itself and SQLite answers BUSY at
        once (no busy wait) while another program opens it, e.g. two imports started together
        on a new library: retry until `timeout`, as the other statements wait."""
        deadline = _time.monotonic() + self.timeout
        try:
            raw = self._engine.raw_connection()
        except _DB_ERRORS as exc:
            raise self._error(exc) from exc
        try:
            while True:
                try:
                    return raw.cursor().execute("PRAGMA journal_mode = WAL").fetchone()[0]
                except sqlite3.OperationalError as exc:
                    busy = getattr(exc, "sqlite_errorname", "").startswith("SQLITE_BUSY")
                    if not busy or _time.monotonic() >= deadline:
                        raise _db_error(self.path, exc) from exc
                    _time.sleep(0.02)
        finally:
            raw.close()

    @contextmanager
    def _tx(self) -> Iterator[Connection]:
        """One write transaction, under this process's write lock."""
        if not self._ready:
            self._init_schema()
        with self._lock:
            try:
                with self._engine.connect() as db, db.begin():
                    yield db
            except _DB_ERRORS as exc:
                raise self._error(exc) from exc

    def _query(self, sql: str, params: dict | None = None) -> list[tuple]:
        if not self._ready:
            self._init_schema()
        try:
            with self._reads.connect() as db:
                return [tuple(r) for r in db.execute(sa.text(sql), params or {})]
        except _DB_ERRORS as exc:
            raise self._error(exc) from exc

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
            if db.execute(sa.text("SELECT 1 FROM calls WHERE id = :id"), {"id": call_id}).first():
                raise CallAssistError(f"a call with id {call_id} is already in the call library "
                                      f"{self.path}: give this call a new id, or delete the old one")
            # on a team's server an agent's calls are their login's, whatever name was typed;
            # a reviewer's import keeps the agent it names, or none (see migration 0006)
            agent_sql = (":agent" if self.kind == "sqlite" else
                         "CASE WHEN callassist_sees_all() THEN :agent ELSE session_user END")
            cur = db.execute(sa.text(
                "INSERT INTO calls (id, source, started, status, audio_path, title, agent, "
                "call_json, owner, updated, redacted, content_key) VALUES (:id, :source, "
                f":started, 'live', :audio, :title, {agent_sql}, :call, :owner, :now, "
                ":redacted, :key) ON CONFLICT (content_key) DO NOTHING"),
                {"id": call_id, "source": str(call.get("source") or ""),
                 "started": str(call.get("started") or _now()), "audio": audio_path,
                 "title": title, "agent": agent, "call": _dumps(call), "owner": _owner_token(),
                 "now": _now(), "redacted": int(redacted), "key": content_key})
            if cur.rowcount == 0:
                other = db.execute(sa.text("SELECT id, title FROM calls WHERE content_key = :k"),
                                   {"k": content_key}).first()
                raise AlreadyStored(*(other or ("", "a call another login stored")))
            _insert_events(db, call_id, events, originals)
            if summary is not None:
                self._set_summary(db, call_id, summary)
        if summary is None:
            self.claim(call_id)

    def finish_call(self, call_id: str, summary: Summary) -> None:
        """Write a call's summary (status, duration, counts, moods, flags)."""
        with self._tx() as db:
            self._set_summary(db, call_id, summary)

    def _set_summary(self, db: Connection, call_id: str, summary: Summary) -> None:
        names = ("status", "duration", "call_json", "utterances", "mood_start", "mood_end",
                 "mood_min", "event_counts", "updated", "flags", "scorecard")
        cur = db.execute(sa.text(f"UPDATE calls SET {', '.join(f'{n} = :{n}' for n in names)} "
                                 f"WHERE id = :id"),
                         {**dict(zip(names, summary.values())), "id": call_id})
        if cur.rowcount == 0:
            raise CallAssistError(f"no call {call_id} in the call library {self.path}")

    def set_flags(self, flags: dict[str, list[dict]]) -> int:
        """Replace the flags of calls (id -> flag dicts) in one transaction; returns rows changed."""
        with self._tx() as db:
            return sum(db.execute(sa.text("UPDATE calls SET flags = :f WHERE id = :id"),
                                  {"f": _dumps(f), "id": call_id}).rowcount
                       for call_id, f in flags.items())

    def update_call(self, call_id: str, **values) -> None:
        """Set title, agent or audio_path (None leaves a value as it is)."""
        self.get_call(call_id)
        sets = {k: v for k, v in values.items() if v is not None}
        if set(sets) - {"title", "agent", "audio_path"}:
            raise ValueError(f"cannot update {sorted(sets)}")
        if sets:
            with self._tx() as db:
                db.execute(sa.text(f"UPDATE calls SET {', '.join(f'{k} = :{k}' for k in sets)}, "
                                   f"updated = :updated WHERE id = :id"),
                           {**sets, "updated": _now(), "id": call_id})

    def delete_call(self, call_id: str) -> None:
        """Remove a call, its events, originals and notes (its audio file stays where it is)."""
        with self._lock:
            writer = self._writers.pop(call_id, None)
        if writer is not None:
            writer.close(save=False)
        with self._tx() as db:
            db.execute(sa.text("DELETE FROM calls WHERE id = :id"), {"id": call_id})
        self.release(call_id)

    def set_meta(self, key: str, value: str) -> None:
        with self._tx() as db:
            db.execute(sa.text("INSERT INTO meta (key, value) VALUES (:k, :v) "
                               "ON CONFLICT (key) DO UPDATE SET value = excluded.value"),
                       {"k": key, "v": value})

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
        rows = self._query("SELECT value FROM meta WHERE key = :k", {"k": key})
        return rows[0][0] if rows else None

    def get_call(self, call_id: str) -> CallRow:
        rows = self._query(f"SELECT {_CALL_COLUMNS} FROM calls WHERE id = :id", {"id": call_id})
        if not rows:
            raise CallAssistError(f"no call {call_id} in the call library {self.path}: "
                                  f"pick one from the list of calls")
        return CallRow._from_row(rows[0])

    def list_calls(self, limit: int | None = None) -> list[CallRow]:
        """Calls, newest first."""
        sql = (f"SELECT {_CALL_COLUMNS} FROM calls ORDER BY started DESC, {self._arrival} DESC"
               + ("" if limit is None else " LIMIT :limit"))
        rows = self._query(sql, None if limit is None else {"limit": int(limit)})
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
                           f"WHERE status = 'live' ORDER BY started DESC, {self._arrival} DESC")
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
        return [r[0] for r in self._query(sql + f" ORDER BY {self._arrival}")]

    def event_data(self, call_id: str, original: bool = False) -> list[str]:
        """The call's events as stored JSON, in order; `original=True` puts back the unredacted
        ones where they were kept."""
        if original:
            rows = self._query(
                "SELECT coalesce(o.data, e.data) FROM events e LEFT JOIN originals o "
                "ON o.call_id = e.call_id AND o.seq = e.seq WHERE e.call_id = :id ORDER BY e.seq",
                {"id": call_id})
        else:
            rows = self._query("SELECT data FROM events WHERE call_id = :id ORDER BY seq",
                               {"id": call_id})
        return [r[0] for r in rows]

    def last_event_time(self, call_id: str) -> float | None:
        return self._query("SELECT max(time) FROM events WHERE call_id = :id",
                           {"id": call_id})[0][0]

    def has_originals(self, call_id: str) -> bool:
        return bool(self._query("SELECT 1 FROM originals WHERE call_id = :id LIMIT 1",
                                {"id": call_id}))

    def audio_paths(self) -> dict[str, str]:
        """The recordings already in the library, each with the title (or id) of its call, so a
        recording skipped by its path can say where it is (two columns, nothing else parsed);
        one whose analysis never finished (interrupted, or still live) does not count."""
        return {r[0]: r[1] or r[2] for r in self._query(
            "SELECT audio_path, title, id FROM calls WHERE audio_path IS NOT NULL AND status "
            "NOT IN ('live', 'interrupted')")}

    def by_content(self, key: str) -> tuple[str, str] | None:
        """(id, title) of the call stored with this content key, if any."""
        rows = self._query("SELECT id, title FROM calls WHERE content_key = :k", {"k": key})
        return rows[0] if rows else None

    def keyless_recordings(self, duration: float, within: float) -> list[tuple[str, str]]:
        """(id, audio_path) of finished calls with audio but no content key (imported before
        format 4) lasting `duration` ± `within` seconds: the candidates to key lazily."""
        return self._query("SELECT id, audio_path FROM calls WHERE content_key IS NULL AND "
                           "audio_path IS NOT NULL AND status != 'live' AND duration BETWEEN "
                           ":low AND :high", {"low": duration - within, "high": duration + within})

    def set_content_key(self, call_id: str, key: str) -> bool:
        """Give an old call its key; False when another call holds it (an old duplicate)."""
        try:
            with self._tx() as db:
                return db.execute(sa.text(
                    "UPDATE calls SET content_key = :k WHERE id = :id AND content_key IS NULL "
                    "AND NOT EXISTS (SELECT 1 FROM calls other WHERE other.content_key = :k)"),
                    {"k": key, "id": call_id}).rowcount == 1
        except CallAssistError as exc:  # another writer took the key meanwhile (server)
            if isinstance(exc.__cause__, sa.exc.IntegrityError):
                return False
            raise

    def clear_content_key(self, call_id: str) -> None:
        """Let a call give up its content key (an analysis of the recording that never finished,
        so that the recording can be analysed and stored whole)."""
        with self._tx() as db:
            db.execute(sa.text("UPDATE calls SET content_key = NULL WHERE id = :id"),
                       {"id": call_id})

    def search(self, text: str) -> set[str]:
        """Ids of calls whose transcript has the words of `text` (see schema.search_terms)."""
        if self.kind == "postgresql":
            query = schema.tsquery(text)
            sql = ("SELECT DISTINCT call_id FROM events WHERE type = 'utterance' AND "
                   "to_tsvector('callassist_words', (data::jsonb ->> 'text')) @@ "
                   "to_tsquery('callassist_words', :q)")
        else:
            query = schema.fts_query(text)
            sql = "SELECT DISTINCT call_id FROM utterance_fts WHERE utterance_fts MATCH :q"
        if query is None:
            return set()
        return {r[0] for r in self._query(sql, {"q": query})}

    # -- agents' voice profiles (biometric: used only to tell the agent apart on mono calls)
    def voice_profile(self, agent: str) -> tuple[np.ndarray, float, int] | None:
        """(unit vector, seconds of speech, calls) of an agent's voice, or None."""
        rows = self._query("SELECT vector, seconds, calls FROM voice_profiles WHERE agent = :a",
                           {"a": agent})
        if not rows:
            return None
        vector, seconds, calls = rows[0]
        return np.frombuffer(bytes(vector), dtype=np.float32).copy(), float(seconds), int(calls)

    def voice_profiles(self) -> list[tuple[str, float, int, str]]:
        """(agent, seconds, calls, updated) of every stored profile, by agent."""
        return self._query("SELECT agent, seconds, calls, updated FROM voice_profiles "
                           "ORDER BY agent")

    def add_voice(self, agent: str, vector: np.ndarray, seconds: float,
                  keep_seconds: float = 600.0) -> None:
        """Fold one call's voice of `agent` into their profile: a mean weighted by seconds of
        speech, the old part counting at most `keep_seconds` (a voice heard on new headsets and
        lines is followed, not frozen by the first hour)."""
        v = np.asarray(vector, dtype=np.float32).reshape(-1)
        with self._tx() as db:
            row = db.execute(sa.text("SELECT vector, seconds, calls FROM voice_profiles "
                                     "WHERE agent = :a"), {"a": agent}).first()
            if row is not None:
                old = np.frombuffer(bytes(row[0]), dtype=np.float32)
                w_old = min(float(row[1]), keep_seconds)
                v = (old * w_old + v * seconds) / max(w_old + seconds, 1e-9)
                total, calls = float(row[1]) + seconds, int(row[2]) + 1
            else:
                total, calls = seconds, 1
            v = (v / max(float(np.linalg.norm(v)), 1e-9)).astype(np.float32)
            db.execute(sa.text(
                "INSERT INTO voice_profiles (agent, vector, seconds, calls, updated) "
                "VALUES (:a, :v, :s, :n, :at) ON CONFLICT (agent) DO UPDATE SET "
                "vector = excluded.vector, seconds = excluded.seconds, calls = excluded.calls, "
                "updated = excluded.updated"),
                {"a": agent, "v": v.tobytes(), "s": round(total, 1), "n": calls, "at": _now()})

    def delete_voice_profile(self, agent: str | None = None) -> int:
        """Forget one agent's voice profile (or, with None, every one); returns how many."""
        with self._tx() as db:
            if agent is None:
                return db.execute(sa.text("DELETE FROM voice_profiles")).rowcount
            return db.execute(sa.text("DELETE FROM voice_profiles WHERE agent = :a"),
                              {"a": agent}).rowcount

    # -- QA reviewers' scorecard answers
    def set_review(self, call_id: str, card: str, question: str, answer: str, auto: str | None,
                   reviewer: str, why: str = "") -> None:
        self.get_call(call_id)
        with self._tx() as db:
            db.execute(sa.text(
                "INSERT INTO reviews (call_id, card, question, answer, auto, reviewer, at, why) "
                "VALUES (:c, :card, :q, :a, :auto, :r, :at, :why) "
                "ON CONFLICT (call_id, card, question) DO UPDATE SET answer = excluded.answer, "
                "auto = excluded.auto, reviewer = excluded.reviewer, at = excluded.at, "
                "why = excluded.why"),
                {"c": call_id, "card": card, "q": question, "a": str(answer),
                 "auto": None if auto is None else str(auto), "r": reviewer, "at": _now(),
                 "why": why})

    def reviews(self, call_id: str, card: str) -> dict[str, dict[str, Any]]:
        rows = self._query("SELECT question, answer, auto, reviewer, at, why FROM reviews "
                           "WHERE call_id = :c AND card = :card", {"c": call_id, "card": card})
        return {q: {"answer": int(a) if a.isdigit() else a, "auto": au, "reviewer": r,
                    "at": at, "why": w} for q, a, au, r, at, w in rows}

    def all_reviews(self, card: str) -> dict[str, dict[str, str | int]]:
        """call id -> {question: the reviewer's answer} for every reviewed call of a form."""
        out: dict[str, dict[str, str | int]] = {}
        for call_id, q, a in self._query("SELECT call_id, question, answer FROM reviews "
                                         "WHERE card = :card", {"card": card}):
            out.setdefault(call_id, {})[q] = int(a) if a.isdigit() else a
        return out

    def review_agreement(self, card: str) -> dict[str, tuple[int, int]]:
        """question -> (reviews that kept the automatic answer, reviews of an automatic answer)."""
        rows = self._query("SELECT question, SUM(CASE WHEN answer = auto THEN 1 ELSE 0 END), "
                           "COUNT(*) FROM reviews WHERE card = :card AND auto IS NOT NULL "
                           "GROUP BY question", {"card": card})
        return {q: (int(agreed or 0), int(n)) for q, agreed, n in rows}

    # -- notes on moments
    def add_note(self, call_id: str, time: float, text: str, author: str = "") -> int:
        self.get_call(call_id)
        with self._tx() as db:
            return int(db.execute(sa.text(
                "INSERT INTO notes (call_id, time, text, author, created) "
                "VALUES (:c, :t, :text, :a, :at) RETURNING id"),
                {"c": call_id, "t": float(time), "text": text, "a": author,
                 "at": _now()}).scalar())

    def notes(self, call_id: str) -> list[dict[str, Any]]:
        rows = self._query("SELECT id, call_id, time, text, author, created FROM notes "
                           "WHERE call_id = :c ORDER BY time, id", {"c": call_id})
        return [dict(zip(("id", "call_id", "time", "text", "author", "created"), r)) for r in rows]

    def update_note(self, note_id: int, text: str) -> None:
        with self._tx() as db:
            db.execute(sa.text("UPDATE notes SET text = :t WHERE id = :id"),
                       {"t": text, "id": note_id})

    def delete_note(self, note_id: int) -> None:
        with self._tx() as db:
            db.execute(sa.text("DELETE FROM notes WHERE id = :id"), {"id": note_id})

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
            self._dispose()

    def _dispose(self) -> None:
        for engine in {id(self._engine): self._engine, id(self._reads): self._reads}.values():
            engine.dispose()

    def __enter__(self) -> CallStore:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


_EVENT_INSERT = sa.text(
    "INSERT INTO events (call_id, seq, type, time, data) VALUES (:c, :s, :k, :t, :d) "
    "ON CONFLICT (call_id, seq) DO UPDATE SET type = excluded.type, time = excluded.time, "
    "data = excluded.data")
_ORIGINAL_INSERT = sa.text(
    "INSERT INTO originals (call_id, seq, data) VALUES (:c, :s, :d) "
    "ON CONFLICT (call_id, seq) DO UPDATE SET data = excluded.data")


_KEPT_KINDS = ("status", "relabelled")  # what a Relabelled event does not supersede
_SUPERSEDED_ORIGINALS = sa.text(
    "DELETE FROM originals WHERE call_id = :c AND seq < :s AND seq NOT IN (SELECT seq FROM events "
    "WHERE call_id = :c AND type IN ('status', 'relabelled'))")
_SUPERSEDED_EVENTS = sa.text(
    "DELETE FROM events WHERE call_id = :c AND seq < :s AND type NOT IN ('status', 'relabelled')")


def _insert_events(db: Connection, call_id: str, events, originals) -> None:
    """Event rows `(seq, type, time, data)` and original rows `(seq, data)` of one call."""
    rows = [{"c": call_id, "s": s, "k": k, "t": t, "d": d} for s, k, t, d in events]
    if rows:
        db.execute(_EVENT_INSERT, rows)
    rows = [{"c": call_id, "s": s, "d": d} for s, d in originals]
    if rows:
        db.execute(_ORIGINAL_INSERT, rows)


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
        self._superseded: int | None = None  # rows before this seq to delete (statuses apart)
        self._lock = threading.Lock()
        self._db: Connection | None = None
        try:
            self._db = store._engine.connect()
            last = self._db.execute(sa.text("SELECT max(seq) FROM events WHERE call_id = :c"),
                                    {"c": call_id}).scalar()
            self._db.commit()
        except _DB_ERRORS as exc:
            self._drop_connection()
            raise store._error(exc) from exc
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
            self._pending.append((self._seq, kind, time, data))
            if original is not None:
                self._pending_originals.append((self._seq, original))
            self._seq += 1
            if _time.monotonic() - self._last_flush >= self.flush_seconds:
                self._write()

    def supersede(self) -> None:
        """Every row added so far but statuses is superseded (core.events.Relabelled: what it
        supersedes is added again after it): rows not yet written are dropped, written ones
        deleted by the next write, in the transaction that writes what follows them."""
        with self._lock:
            self._pending = [r for r in self._pending if r[1] in _KEPT_KINDS]
            kept = {r[0] for r in self._pending}
            self._pending_originals = [r for r in self._pending_originals if r[0] in kept]
            self._superseded = self._seq

    def _run_timer(self) -> None:
        while not self._wake.wait(max(0.05, self.flush_seconds / 2)):  # (0: no busy loop)
            with self._lock:
                if self._pending and _time.monotonic() - self._last_flush >= self.flush_seconds:
                    self._write()

    def _drop_connection(self) -> None:
        db, self._db = self._db, None
        if db is not None:
            try:
                db.close()
            except sa.exc.SQLAlchemyError:
                pass

    def _write(self) -> None:
        """Commit pending rows (caller holds the lock). Errors are kept, not raised; a lost
        connection (a database server restarted) is made again at the next write."""
        self._last_flush = _time.monotonic()
        if not self._pending and self._superseded is None:
            return
        try:
            if self._db is None:
                self._db = self.store._engine.connect()
            with self._db.begin():
                if self._superseded is not None:
                    params = {"c": self.call_id, "s": self._superseded}
                    self._db.execute(_SUPERSEDED_ORIGINALS, params)
                    self._db.execute(_SUPERSEDED_EVENTS, params)
                _insert_events(self._db, self.call_id, self._pending, self._pending_originals)
        except _DB_ERRORS as exc:
            self.error = self.store._error(exc)
            log.error("%s", self.error)
            self._drop_connection()
            return
        self.saved += len(self._pending)
        self._superseded = None
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
            self._drop_connection()
        if error is not None:
            raise error
