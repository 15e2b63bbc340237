"""The call store: every call (live or imported) kept in one SQLite file, saved as it goes.

A live call is written event by event from the pipeline's worker thread (`CallStore.recorder`),
committed at least every second, so a crash loses at most the last second or so; the next start
finds the call still marked "live" with no running recorder and offers it back
(`interrupted_calls`, `recover`). The same file is the coach/QA library: calls with their audio
path, timeline, summary columns and notes on moments. Live audio goes to a WAV file that stays
readable after a crash (`AudioRecorder`).

Privacy: personal data (card, account and phone numbers, e-mail addresses, spoken digit
sequences) is redacted from every event before it is written (`callassist.redact`), unless the
store is opened with `redact=False`. The original text is kept only when the user chooses
(`keep_original=True`), in a separate table, and read back only on request. The file and its
WAL/SHM companions are readable by their owner only (0600).

Schema (version 2; a version 1 file is upgraded in place when opened):
  meta(key PRIMARY KEY, value)                 -- "schema_version"
  calls(id PRIMARY KEY, source, started, status, duration, audio_path, title, agent,
        call_json, utterances, mood_start, mood_end, mood_min, event_counts, owner, updated,
        flags, redacted)                       -- flags: JSON list of callassist.flags.Flag dicts
  events(call_id, seq, type, time, data)       -- data = Event.to_dict() as JSON; PK (call_id, seq)
  originals(call_id, seq, data)                -- unredacted events, only with keep_original
  notes(id PRIMARY KEY, call_id, time, text, author, created)
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

from ..errors import CallAssistError
from ..core.events import Event, PartialUtterance, event_from_dict
from .flags import Flag, FlagSettings, compute_flags, flag_counts, worst_moment
from ..paths import data_dir
from ..audio.recording import AudioRecorder, repair_wav  # noqa: F401  (re-exported)
from .redact import redact_event
from ..core.timeline import Timeline

log = logging.getLogger(__name__)

SCHEMA_VERSION = 2
STATUSES = ("live", "done", "interrupted", "failed")


def default_db() -> Path:
    """The user's call library (follows XDG_DATA_HOME at the time of the call)."""
    return data_dir() / "calls.sqlite3"


DEFAULT_DB = default_db()

_SCHEMA = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE calls (
    id TEXT PRIMARY KEY, source TEXT NOT NULL DEFAULT '', started TEXT NOT NULL DEFAULT '',
    status TEXT NOT NULL DEFAULT 'live', duration REAL NOT NULL DEFAULT 0, audio_path TEXT,
    title TEXT NOT NULL DEFAULT '', agent TEXT, call_json TEXT NOT NULL DEFAULT '{}',
    utterances INTEGER NOT NULL DEFAULT 0, mood_start REAL, mood_end REAL, mood_min REAL,
    event_counts TEXT NOT NULL DEFAULT '{}', owner TEXT, updated TEXT, flags TEXT,
    redacted INTEGER NOT NULL DEFAULT 0);
CREATE INDEX calls_started ON calls (started);
CREATE TABLE originals (
    call_id TEXT NOT NULL REFERENCES calls (id) ON DELETE CASCADE, seq INTEGER NOT NULL,
    data TEXT NOT NULL, PRIMARY KEY (call_id, seq)) WITHOUT ROWID;
CREATE TABLE events (
    call_id TEXT NOT NULL REFERENCES calls (id) ON DELETE CASCADE, seq INTEGER NOT NULL,
    type TEXT NOT NULL, time REAL, data TEXT NOT NULL, PRIMARY KEY (call_id, seq)) WITHOUT ROWID;
CREATE TABLE notes (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    call_id TEXT NOT NULL REFERENCES calls (id) ON DELETE CASCADE,
    time REAL NOT NULL, text TEXT NOT NULL, author TEXT NOT NULL DEFAULT '', created TEXT NOT NULL);
CREATE INDEX notes_call ON notes (call_id, time);
"""

_CALL_COLUMNS = ("id, source, started, status, duration, audio_path, title, agent, utterances, "
                 "mood_start, mood_end, mood_min, redacted, event_counts, flags, call_json")
_UPGRADE_1_TO_2 = """
ALTER TABLE calls ADD COLUMN flags TEXT;
ALTER TABLE calls ADD COLUMN redacted INTEGER NOT NULL DEFAULT 0;
CREATE TABLE originals (
    call_id TEXT NOT NULL REFERENCES calls (id) ON DELETE CASCADE, seq INTEGER NOT NULL,
    data TEXT NOT NULL, PRIMARY KEY (call_id, seq)) WITHOUT ROWID;
"""


@dataclass
class CallRecord:
    id: str
    source: str
    started: str
    status: str  # live (in progress), done, interrupted, failed
    duration: float
    audio_path: str | None
    title: str
    agent: str | None
    # summary columns, filled when the call is finished or recovered (for the library list)
    utterances: int = 0
    mood_start: float | None = None
    mood_end: float | None = None
    mood_min: float | None = None
    redacted: bool = False  # personal data was removed from the stored events
    event_counts: dict[str, int] = field(default_factory=dict)  # events per kind, e.g. escalation
    flags: list[Flag] | None = None  # flagged moments; None until the call is finished
    call: dict[str, Any] = field(default_factory=dict)  # the timeline's call dict

    @classmethod
    def _from_row(cls, row) -> CallRecord:
        *cols, redacted, counts, flags, call_json = row
        return cls(*cols, redacted=bool(redacted), event_counts=json.loads(counts or "{}"),
                   flags=None if flags is None else [Flag.from_dict(f) for f in json.loads(flags)],
                   call=json.loads(call_json or "{}"))

    @property
    def worst(self) -> Flag | None:
        """The moment to open the call at (see flags.worst_moment)."""
        return worst_moment(self.flags or ())

    @property
    def flag_counts(self) -> dict[str, int]:
        return flag_counts(self.flags or ())


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


# ---- the store ------------------------------------------------------------------------------------

def _parse_events(call_id: str, rows) -> tuple[list[Event], int]:
    """Events from rows of stored JSON, and how many could not be read (a kind this version does
    not know); those are skipped with a warning."""
    events, bad = [], 0
    for (data,) in rows:
        try:
            events.append(event_from_dict(json.loads(data)))
        except (KeyError, TypeError, ValueError) as exc:
            bad += 1
            log.warning("call %s: skipped an unreadable event (%s)", call_id, exc)
    return events, bad


class CallStore:
    """Calls, their events and notes in one SQLite file. Safe to use from several threads."""

    def __init__(self, path: str | Path | None = None, *, timeout: float = 5.0,
                 redact: bool = True, keep_original: bool = False,
                 flag_settings: FlagSettings | None = None):
        if str(path) == ":memory:":
            raise ValueError("CallStore keeps calls in a file (recorders use their own connection)")
        self.path = Path(path) if path is not None else default_db()
        self.timeout = timeout
        self.redact = redact  # remove personal data from what is written
        self.keep_original = keep_original and redact  # also keep the unredacted events
        self.flag_settings = flag_settings  # None: the thresholds saved in the library, or defaults
        self._key = str(self.path.resolve())
        self._lock = threading.RLock()
        self._recorders: dict[str, _Recorder] = {}
        self._mine: set[str] = set()  # live calls started or recorded by this store
        self._prepare_file()
        self._db = self._connect()
        try:
            self._init_schema()
            if self.flag_settings is None:
                self.flag_settings = self._saved_flag_settings()
        except BaseException:
            self._db.close()
            raise

    def _saved_flag_settings(self) -> FlagSettings:
        row = self._query("SELECT value FROM meta WHERE key = 'flag_settings'")
        if row:
            try:
                return FlagSettings.from_dict(json.loads(row[0][0]))
            except (ValueError, TypeError, CallAssistError) as exc:
                log.warning("call library %s: saved flag thresholds ignored (%s)", self.path, exc)
        return FlagSettings()

    # -- opening
    def _prepare_file(self) -> None:
        folder = self.path.parent
        if not folder.exists():
            try:
                folder.mkdir(parents=True)
                folder.chmod(0o700)
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
        except PermissionError as exc:
            raise CallAssistError(f"cannot open the call library {self.path} (permission "
                                  f"denied): fix its permissions, or choose another file") from exc
        except OSError as exc:
            raise CallAssistError(f"cannot open the call library {self.path} ({exc.strerror}): "
                                  f"choose another file") from exc

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
            mode = self._db.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            if mode != "wal":
                log.warning("call library %s: WAL journal unavailable (%s)", self.path, mode)
            with self._tx():
                tables = {r[0] for r in self._db.execute(
                    "SELECT name FROM sqlite_master WHERE type = 'table'")}
                if "meta" not in tables:
                    if tables - {"sqlite_sequence"}:
                        raise CallAssistError(
                            f"{self.path} is an SQLite database but not a CallAssist call library: "
                            f"choose another file, or move this one aside")
                    for statement in _SCHEMA.split(";"):
                        if statement.strip():
                            self._db.execute(statement)
                    self._db.execute("INSERT INTO meta VALUES ('schema_version', ?)",
                                     (str(SCHEMA_VERSION),))
                    return
                row = self._db.execute(
                    "SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
                version = int(row[0]) if row else 0
                if version > SCHEMA_VERSION:
                    raise CallAssistError(
                        f"the call library {self.path} was written by a newer CallAssist (format "
                        f"{version}; this version reads up to {SCHEMA_VERSION}): update CallAssist, "
                        f"or choose another file")
                if version < 1:
                    raise CallAssistError(f"the call library {self.path} has no format version: "
                                          f"move it aside so a new one is made")
                if version == 1:  # add flags, the redaction mark and the originals table
                    for statement in _UPGRADE_1_TO_2.split(";"):
                        if statement.strip():
                            self._db.execute(statement)
                    self._db.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'",
                                     (str(SCHEMA_VERSION),))
        except sqlite3.Error as exc:
            raise _db_error(self.path, exc) from exc

    @contextmanager
    def _tx(self, db: sqlite3.Connection | None = None) -> Iterator[sqlite3.Connection]:
        """One write transaction on the store's connection (or `db`), under the store's lock."""
        db = db or self._db
        with self._lock:
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

    def _query(self, sql: str, args: tuple = ()) -> list[tuple]:
        with self._lock:
            try:
                return self._db.execute(sql, args).fetchall()
            except sqlite3.Error as exc:
                raise _db_error(self.path, exc) from exc

    # -- calls
    def start_call(self, call: dict[str, Any], audio_path: str | Path | None = None,
                   title: str = "", agent: str | None = None) -> str:
        """Register a live call (a `Timeline.call` dict); returns its id. Status is "live"."""
        call_id = str(call.get("id") or os.urandom(6).hex())
        call = {**call, "id": call_id}
        with self._tx() as db:
            if db.execute("SELECT 1 FROM calls WHERE id = ?", (call_id,)).fetchone():
                raise CallAssistError(f"a call with id {call_id} is already in the call library "
                                      f"{self.path}: give this call a new id, or delete the old one")
            db.execute(
                "INSERT INTO calls (id, source, started, status, audio_path, title, agent, "
                "call_json, owner, updated, redacted) VALUES (?, ?, ?, 'live', ?, ?, ?, ?, ?, ?, ?)",
                (call_id, str(call.get("source") or ""), str(call.get("started") or _now()),
                 str(audio_path) if audio_path else None, title, agent or call.get("agent"),
                 json.dumps(call, ensure_ascii=False), _owner_token(), _now(), int(self.redact)))
        self._claim(call_id)
        return call_id

    def recorder(self, call_id: str, flush_seconds: float = 1.0) -> _Recorder:
        """A pipeline subscriber that saves the call's events as they come (see `_Recorder`)."""
        self.get_call(call_id)
        with self._lock:
            old = self._recorders.get(call_id)
            if old is not None and not old.closed:
                return old
            rec = _Recorder(self, call_id, flush_seconds)
            self._recorders[call_id] = rec
        self._claim(call_id)
        return rec

    def save_timeline(self, timeline: Timeline, audio_path: str | Path | None = None,
                      title: str = "", agent: str | None = None, status: str = "done") -> str:
        """Store a whole timeline at once (an analysed recording); returns the call id."""
        call_id = self.start_call(timeline.call, audio_path, title, agent)
        try:
            rows, originals = self._rows(call_id, enumerate(
                e for e in timeline.events if not isinstance(e, PartialUtterance)))
            with self._tx() as db:
                db.executemany("INSERT INTO events VALUES (?, ?, ?, ?, ?)", rows)
                db.executemany("INSERT INTO originals VALUES (?, ?, ?)", originals)
            self.finish_call(call_id, float(timeline.call.get("duration") or 0.0), status)
        finally:
            self._release(call_id)
        return call_id

    def finish_call(self, call_id: str, duration: float, status: str = "done") -> None:
        """End a call: save what the recorder holds, fill the summary, set duration and status."""
        if status not in STATUSES:
            raise ValueError(f"status must be one of {STATUSES}")
        with self._lock:
            rec = self._recorders.pop(call_id, None)
        error = None
        try:
            if rec is not None:
                try:
                    rec.close()
                except CallAssistError as exc:
                    error = exc
            self._summarise(call_id, duration, status)
        finally:
            self._release(call_id)
        if error is not None:
            raise error

    def _claim(self, call_id: str) -> None:
        with _ACTIVE_LOCK:
            self._mine.add(call_id)
            _ACTIVE.add((self._key, call_id))

    def _release(self, call_id: str) -> None:
        with _ACTIVE_LOCK:
            self._mine.discard(call_id)
            _ACTIVE.discard((self._key, call_id))

    def _rows(self, call_id: str, numbered) -> tuple[list[tuple], list[tuple]]:
        """Rows for the events table (redacted unless the store says not) and for originals."""
        rows, originals = [], []
        for seq, event in numbered:
            if self.redact:
                clean = redact_event(event)
                if self.keep_original and clean is not event and clean != event:
                    originals.append((call_id, seq, json.dumps(event.to_dict(), ensure_ascii=False)))
                event = clean
            rows.append(_event_row(call_id, seq, event))
        return rows, originals

    def _flags_json(self, call_id: str, db: sqlite3.Connection, call: dict) -> str:
        events, _ = _parse_events(call_id, db.execute(
            "SELECT data FROM events WHERE call_id = ? ORDER BY seq", (call_id,)))
        flags = compute_flags(Timeline(call=call, events=events), self.flag_settings)
        return json.dumps([f.to_dict() for f in flags], ensure_ascii=False)

    def refresh_flags(self, settings: FlagSettings | None = None, *,
                      only_missing: bool = False) -> int:
        """Recompute flagged moments (after the thresholds changed); returns calls updated."""
        if settings is not None:
            self.flag_settings = settings
            with self._tx() as db:  # the library remembers its thresholds
                db.execute("INSERT OR REPLACE INTO meta VALUES ('flag_settings', ?)",
                           (json.dumps(settings.to_dict()),))
        where = "status != 'live'" + (" AND flags IS NULL" if only_missing else "")
        ids = [r[0] for r in self._query(f"SELECT id FROM calls WHERE {where}")]
        for call_id in ids:
            with self._tx() as db:
                row = db.execute("SELECT call_json FROM calls WHERE id = ?", (call_id,)).fetchone()
                if row is None:
                    continue
                db.execute("UPDATE calls SET flags = ? WHERE id = ?",
                           (self._flags_json(call_id, db, json.loads(row[0] or "{}")), call_id))
        return len(ids)

    def search(self, text: str) -> set[str]:
        """Ids of calls whose transcript contains `text` (case-insensitive)."""
        needle = "%" + text.strip().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        rows = self._query("SELECT DISTINCT call_id FROM events WHERE type = 'utterance' AND "
                           "json_extract(data, '$.text') LIKE ? ESCAPE '\\'", (needle,))
        return {r[0] for r in rows}

    def _summarise(self, call_id: str, duration: float, status: str) -> None:
        with self._tx() as db:
            row = db.execute("SELECT call_json FROM calls WHERE id = ?", (call_id,)).fetchone()
            if row is None:
                raise CallAssistError(f"no call {call_id} in the call library {self.path}")
            call = json.loads(row[0] or "{}")
            call["duration"] = round(float(duration), 3)
            counts = dict(db.execute("SELECT type, count(*) FROM events WHERE call_id = ? "
                                     "GROUP BY type", (call_id,)).fetchall())
            moods = [json.loads(d).get("score") for (d,) in db.execute(
                "SELECT data FROM events WHERE call_id = ? AND type = 'mood' ORDER BY seq",
                (call_id,))]
            moods = [m for m in moods if isinstance(m, (int, float))]
            db.execute(
                "UPDATE calls SET status = ?, duration = ?, call_json = ?, utterances = ?, "
                "mood_start = ?, mood_end = ?, mood_min = ?, event_counts = ?, updated = ?, "
                "flags = ? WHERE id = ?",
                (status, call["duration"], json.dumps(call, ensure_ascii=False),
                 counts.get("utterance", 0), moods[0] if moods else None,
                 moods[-1] if moods else None, min(moods) if moods else None,
                 json.dumps(counts), _now(), self._flags_json(call_id, db, call), call_id))

    def interrupted_calls(self) -> list[CallRecord]:
        """Calls left "live" by a process that is no longer recording them (a crash)."""
        rows = self._query(f"SELECT {_CALL_COLUMNS}, owner FROM calls WHERE status = 'live' "
                           f"ORDER BY started DESC, rowid DESC")
        with _ACTIVE_LOCK:
            mine = {cid for key, cid in _ACTIVE if key == self._key}
        return [CallRecord._from_row(r[:-1]) for r in rows
                if r[0] not in mine and not _owner_alive(r[-1])]

    def recover(self, call_id: str) -> Timeline:
        """Mark an interrupted call as such, fill its summary and duration, return its timeline."""
        rec = self.get_call(call_id)
        with _ACTIVE_LOCK:
            if (self._key, call_id) in _ACTIVE:
                raise CallAssistError(f"call {call_id} is still being recorded: finish it first")
        last = self._query("SELECT max(time) FROM events WHERE call_id = ?", (call_id,))[0][0]
        duration = float(last or 0.0)
        if rec.audio_path and Path(rec.audio_path).exists() and rec.audio_path.endswith(".wav"):
            try:
                frames, rate = repair_wav(rec.audio_path)
                duration = max(duration, frames / rate)
            except (OSError, ValueError) as exc:
                log.warning("could not repair %s: %s", rec.audio_path, exc)
        self._summarise(call_id, duration, "interrupted")
        return self.load_timeline(call_id)

    def get_call(self, call_id: str) -> CallRecord:
        rows = self._query(f"SELECT {_CALL_COLUMNS} FROM calls WHERE id = ?", (call_id,))
        if not rows:
            raise CallAssistError(f"no call {call_id} in the call library {self.path}: "
                                  f"pick one from the list of calls")
        return CallRecord._from_row(rows[0])

    def has_originals(self, call_id: str) -> bool:
        return bool(self._query("SELECT 1 FROM originals WHERE call_id = ? LIMIT 1", (call_id,)))

    def update_call(self, call_id: str, *, title: str | None = None, agent: str | None = None,
                    audio_path: str | Path | None = None) -> None:
        self.get_call(call_id)
        sets = {k: v for k, v in (("title", title), ("agent", agent),
                                  ("audio_path", str(audio_path) if audio_path else None))
                if v is not None}
        if sets:
            with self._tx() as db:
                db.execute(f"UPDATE calls SET {', '.join(k + ' = ?' for k in sets)}, updated = ? "
                           f"WHERE id = ?", (*sets.values(), _now(), call_id))

    def load_timeline(self, call_id: str, original: bool = False) -> Timeline:
        """The call's timeline as stored (redacted); `original=True` puts back the unredacted
        events where they were kept (keep_original)."""
        rec = self.get_call(call_id)
        if original:
            rows = self._query(
                "SELECT coalesce(o.data, e.data) FROM events e LEFT JOIN originals o "
                "ON o.call_id = e.call_id AND o.seq = e.seq WHERE e.call_id = ? ORDER BY e.seq",
                (call_id,))
        else:
            rows = self._query("SELECT data FROM events WHERE call_id = ? ORDER BY seq", (call_id,))
        events, bad = _parse_events(call_id, rows)
        call = dict(rec.call)
        if bad:
            call["unreadable_events"] = bad
        return Timeline(call=call, events=events)

    def list_calls(self, limit: int | None = None) -> list[CallRecord]:
        """Calls, newest first."""
        rows = self._query(f"SELECT {_CALL_COLUMNS} FROM calls ORDER BY started DESC, rowid DESC "
                           f"LIMIT ?", (-1 if limit is None else int(limit),))
        return [CallRecord._from_row(r) for r in rows]

    def delete_call(self, call_id: str) -> None:
        """Remove a call, its events and notes (its audio file is left where it is)."""
        with self._lock:
            rec = self._recorders.pop(call_id, None)
        if rec is not None:
            rec.close(save=False)
        with self._tx() as db:
            db.execute("DELETE FROM calls WHERE id = ?", (call_id,))
        self._release(call_id)

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
        """Save what recorders hold and close. Unfinished calls stay "live" (offered next start)."""
        with self._lock:
            recorders, self._recorders = list(self._recorders.values()), {}
        try:
            for rec in recorders:
                rec.close()
        finally:
            for call_id in list(self._mine):
                self._release(call_id)
            with self._lock:
                self._db.close()

    def __enter__(self) -> CallStore:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _event_row(call_id: str, seq: int, event: Event) -> tuple:
    t = getattr(event, "end", None)
    if t is None:
        t = getattr(event, "time", None)
    return (call_id, seq, event.kind, t, json.dumps(event.to_dict(), ensure_ascii=False))


class _Recorder:
    """Pipeline subscriber that appends a call's events (partials skipped) to the store.

    Events are kept in memory and written in one transaction at most every `flush_seconds`:
    by the calling thread when one is due, or by a small timer thread when events stop coming,
    so a crash loses at most about `flush_seconds`. A failed write (disk full, file locked) never
    stops the pipeline: the events stay pending, `error` says why, and the next flush retries;
    `flush()` and `close()` raise it.
    """

    def __init__(self, store: CallStore, call_id: str, flush_seconds: float):
        self.store, self.call_id, self.flush_seconds = store, call_id, float(flush_seconds)
        self.error: CallAssistError | None = None
        self.closed = False
        self.saved = 0  # events committed so far
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
        self._seq = 0 if last is None else last + 1
        self._last_flush = _time.monotonic()
        self._wake = threading.Event()
        self._timer = threading.Thread(target=self._run_timer, daemon=True,
                                       name=f"callstore-flush-{call_id}")
        self._timer.start()

    def __call__(self, event: Event) -> None:
        if isinstance(event, PartialUtterance):
            return
        with self._lock:
            if self.closed:
                return
            rows, originals = self.store._rows(self.call_id, [(self._seq, event)])
            self._pending += rows
            self._pending_originals += originals
            self._seq += 1
            if _time.monotonic() - self._last_flush >= self.flush_seconds:
                self._write()

    def _run_timer(self) -> None:
        while not self._wake.wait(self.flush_seconds / 2):
            with self._lock:
                if self._pending and _time.monotonic() - self._last_flush >= self.flush_seconds:
                    self._write()

    def _write(self) -> None:
        """Commit pending events (caller holds the lock). Errors are kept, not raised."""
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
