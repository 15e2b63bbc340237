"""A desk's live calls on a team's shared library: written here first, sent as the call goes.

A live call on a desk whose library is a PostgreSQL server is recorded into a local SQLite
library (the spool: `data_dir()/spool/`, owner-only), exactly as a one-person library records
it (committed every second, crash-safe), and a sender thread copies it to the server as it grows,
every quarter second: the call's row, the events the server does not have yet, and at the end its
summary and flags; then the call leaves the spool. So:

- the server being unreachable (restarted, the network down) never stops or loses a call: the
  spool keeps it and the sender retries (with a growing pause, at most 10 s) until it is back,
  across restarts of the app too (the spool is read when the library next opens);
- nothing is sent twice: the server's own last event number for the call says what it has, and
  each send (new events + summary) is one transaction, so a send cut off half way is sent again
  whole and a resent event replaces itself (primary key call_id, seq);
- the supervisor's board sees the call on the server about a second after it is said.

Calls stored whole (an analysed recording, an import) and everything else (reading, notes, reviews,
search) go straight to the server. `SpoolingStore` has the CallStore interface, so the `Library`
does not know which of the two a call is in.
"""
from __future__ import annotations

import hashlib
import logging
import threading
import time
from pathlib import Path
from typing import Any, Callable

import sqlalchemy as sa

from ..errors import CallAssistError
from ..paths import data_dir, private_dir
from .store import (CallRow, CallStore, EventWriter, ServerUnreachable, Summary, _insert_events,
                    _owner_alive, _owner_token)

log = logging.getLogger(__name__)

_COLUMNS = ("id", "source", "started", "status", "duration", "audio_path", "title", "agent",
            "call_json", "utterances", "mood_start", "mood_end", "mood_min", "event_counts",
            "owner", "updated", "flags", "scorecard", "redacted")
_ROW = ", ".join(_COLUMNS)
# the call as the server first hears of it: live (its summary comes with its end), an agent's
# desk's call is their login's, a reviewer's desk keeps the name given (else the login's)
_SERVER_INSERT = sa.text(
    f"INSERT INTO calls ({_ROW}) VALUES ("
    + ", ".join({"status": "'live'", "agent": "CASE WHEN callassist_sees_all() THEN "
                 "COALESCE(:agent, session_user) ELSE session_user END"}.get(c, f":{c}")
                for c in _COLUMNS)
    + ") ON CONFLICT (id) DO NOTHING")
_SUMMARY = ("status", "duration", "call_json", "utterances", "mood_start", "mood_end", "mood_min",
            "event_counts", "updated", "flags", "scorecard", "title", "audio_path")
_TOMBSTONE = "spool-deleted:"  # meta key of a spooled call deleted before the server heard


def spool_path(server_path: str) -> Path:
    """The spool file of one server library (its address without password)."""
    name = hashlib.sha256(server_path.encode()).hexdigest()[:16]
    return data_dir() / "spool" / f"{name}.sqlite3"


class SpoolingStore:
    """A server CallStore with live calls spooled locally (see the module)."""

    POLL = 0.25  # seconds between looks at the spool
    MAX_PAUSE = 10.0  # the longest wait between tries while the server cannot be reached

    def __init__(self, server: CallStore, spool: str | Path | None = None):
        self.server = server
        folder_path = Path(spool) if spool is not None else spool_path(server.path)
        if not folder_path.parent.exists():
            private_dir(folder_path.parent)
        self.local = CallStore(folder_path, timeout=server.timeout)
        self.path, self.kind, self.timeout = server.path, server.kind, server.timeout
        self.error: CallAssistError | None = None  # the last failed send, None once one works
        self.kept = 0  # calls the server lacks, as the sender last counted (read by windows)
        self._sent: dict[str, tuple] = {}  # call id -> what the server was last sent
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._send_lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, daemon=True, name="callassist-spool")
        self._thread.start()

    # -- which store holds a call
    def _spooled(self, call_id: str) -> bool:
        return bool(self.local._query("SELECT 1 FROM calls WHERE id = :id", {"id": call_id}))

    def _holder(self, call_id: str) -> CallStore:
        return self.local if self._spooled(call_id) else self.server

    def __getattr__(self, name: str) -> Any:  # everything not about a live call: the server
        if name in ("server", "local"):
            raise AttributeError(name)
        return getattr(self.server, name)

    # -- live calls: into the spool
    def add_call(self, call_id: str, call: dict[str, Any], *, summary: Summary | None = None,
                 content_key: str | None = None, **kw) -> None:
        if summary is not None or content_key is not None:
            # a whole call, or a recording keyed against the server's copies: straight there
            self.server.add_call(call_id, call, summary=summary, content_key=content_key, **kw)
            return
        if self.server_has(call_id):
            raise CallAssistError(f"a call with id {call_id} is already in the call library "
                                  f"{self.path}: give this call a new id, or delete the old one")
        self.local.add_call(call_id, call, **kw)
        self._wake.set()

    def server_has(self, call_id: str) -> bool:
        try:
            return bool(self.server._query("SELECT 1 FROM calls WHERE id = :id", {"id": call_id}))
        except CallAssistError:
            return False  # unreachable: the id is new here (ids are random)

    def writer(self, call_id: str, flush_seconds: float = 1.0) -> EventWriter:
        return self._holder(call_id).writer(call_id, flush_seconds)

    def close_writer(self, call_id: str) -> None:
        self._holder(call_id).close_writer(call_id)
        self._wake.set()

    def finish_call(self, call_id: str, summary: Summary) -> None:
        self._holder(call_id).finish_call(call_id, summary)
        self._wake.set()

    def update_call(self, call_id: str, **values) -> None:
        self._holder(call_id).update_call(call_id, **values)
        self._wake.set()

    def delete_call(self, call_id: str) -> None:
        if not self._spooled(call_id):
            self.server.delete_call(call_id)
            return
        with self._send_lock:  # not while the sender is half way through sending it
            self.local.set_meta(_TOMBSTONE + call_id, "1")  # the server may have its start
            self.local.delete_call(call_id)
            try:
                self.server.delete_call(call_id)
            except CallAssistError:
                return  # the sender deletes it there later (the server away, or busy)
            self._forget_tombstone(_TOMBSTONE + call_id)

    def _forget_tombstone(self, key: str) -> None:
        with self.local._tx() as db:
            db.execute(sa.text("DELETE FROM meta WHERE key = :k"), {"k": key})

    def claim(self, call_id: str) -> None:
        self._holder(call_id).claim(call_id)

    def release(self, call_id: str) -> None:
        self.local.release(call_id)
        self.server.release(call_id)

    def is_recording(self, call_id: str) -> bool:
        return self.local.is_recording(call_id) or self.server.is_recording(call_id)

    # -- reading: the spool's copy of a call it holds
    def _read(self, call_id: str, read: Callable[[CallStore], Any]) -> Any:
        """`read` on the store that holds the call. The spool may hand the call to the server
        between the look and the read: what the spool no longer holds afterwards is read again
        from the server."""
        if self._spooled(call_id):
            try:
                out = read(self.local)
            except CallAssistError:
                if self._spooled(call_id):
                    raise
            else:
                if self._spooled(call_id):
                    return out
        return read(self.server)

    def get_call(self, call_id: str) -> CallRow:
        return self._read(call_id, lambda store: store.get_call(call_id))

    def event_data(self, call_id: str, original: bool = False) -> list[str]:
        return self._read(call_id, lambda store: store.event_data(call_id, original))

    def last_event_time(self, call_id: str) -> float | None:
        return self._read(call_id, lambda store: store.last_event_time(call_id))

    def has_originals(self, call_id: str) -> bool:
        return self._read(call_id, lambda store: store.has_originals(call_id))

    def list_calls(self, limit: int | None = None) -> list[CallRow]:
        """The server's calls and this desk's spooled ones (its copy where both have one)."""
        local = {c.id: c for c in self.local.list_calls()}
        try:
            rows = [local.pop(c.id, c) for c in self.server.list_calls(limit)]
        except CallAssistError:
            if not local:
                raise
            rows = []  # the server is away: at least what this desk holds
        rows += local.values()
        rows.sort(key=lambda c: c.started, reverse=True)
        return rows[:limit] if limit is not None else rows

    def meta(self, key: str) -> str | None:
        """The library's setting (e.g. its flag thresholds); the last one read is kept on the
        desk, so a desk starting while the server is away flags its calls the same way."""
        try:
            value = self.server.meta(key)
        except ServerUnreachable:
            return self.local.meta("server:" + key)
        if value is not None and value != self.local.meta("server:" + key):
            self.local.set_meta("server:" + key, value)
        return value

    def search(self, text: str) -> set[str]:
        """The server's calls with these words, and this desk's spooled ones."""
        try:
            found = self.server.search(text)
        except ServerUnreachable:
            found = set()  # the server away: this desk's own calls still
        return found | self.local.search(text)

    def interrupted_calls(self) -> list[CallRow]:
        local = self.local.interrupted_calls()
        ids = {c.id for c in local}
        try:
            remote = [c for c in self.server.interrupted_calls()  # the spool's copy rules
                      if c.id not in ids and not self._spooled(c.id)
                      and not self.local.is_recording(c.id)]
        except CallAssistError:
            remote = []
        return local + remote

    def state(self) -> str:
        """One line for a desk's window while the server is away ("" when all is sent); from
        memory only, so a window can ask on its own thread."""
        if self.error is None or not self.kept:
            return ""
        calls = f"{self.kept} call{'s' * (self.kept != 1)}"
        return (f"shared library unreachable: {calls} kept on this desk, sent when it is back")

    def pending(self) -> int:
        """Calls on this desk the server does not have whole yet."""
        return len(self.local.call_ids(finished=False))

    # -- sending
    def _run(self) -> None:
        pause = self.POLL
        while not self._stop.is_set():
            self._wake.wait(pause)
            self._wake.clear()
            if self._stop.is_set():
                return
            try:
                self.send()
                pause = self.POLL
                self.kept = self.pending()
            except CallAssistError as exc:
                try:
                    self.kept = self.pending()
                except CallAssistError:
                    pass
                if self.error is None or str(exc) != str(self.error):
                    log.warning("shared library: %s (kept on this desk: %d calls)", exc,
                                self.kept)
                self.error = exc
                pause = min(self.MAX_PAUSE, max(pause * 2, 1.0))
            except Exception as exc:  # noqa: BLE001 - the sender must outlive a bug in one send
                log.exception("shared library: sending a spooled call failed")
                self.error = CallAssistError(f"sending calls to the shared library failed "
                                             f"({type(exc).__name__}): see the log")
                pause = self.MAX_PAUSE

    def send(self) -> int:
        """Send what the server lacks of every spooled call (raises CallAssistError while it
        cannot be reached); returns how many calls were sent whole and left the spool."""
        with self._send_lock:
            done = 0
            first_error = None
            for key, _ in self.local._query("SELECT key, value FROM meta WHERE key LIKE :k",
                                            {"k": _TOMBSTONE + "%"}):
                try:
                    self.server.delete_call(key[len(_TOMBSTONE):])  # nothing if never there
                except ServerUnreachable:
                    raise
                except CallAssistError as exc:  # kept for the next try; the calls go on
                    first_error = first_error or exc
                    continue
                self._forget_tombstone(key)
            for (call_id,) in self.local._query("SELECT id FROM calls ORDER BY rowid"):
                try:
                    done += self._send_call(call_id)
                except ServerUnreachable:
                    raise  # the others would not get through either
                except CallAssistError as exc:  # this call refused (kept): the others go on
                    first_error = first_error or exc
            if first_error is not None:
                raise first_error
            self.error = None
            return done

    def _send_call(self, call_id: str) -> bool:
        recording = self.local.is_recording(call_id)  # asked first: the row read next is then
        rows = self.local._query(f"SELECT {_ROW} FROM calls WHERE id = :id", {"id": call_id})
        if not rows:
            return False
        row = dict(zip(_COLUMNS, rows[0]))
        if row["owner"] != _owner_token() and _owner_alive(row["owner"]):
            return False  # another program on this desk records it: that one sends it
        if row["status"] != "live" and recording:
            return False  # its end is sent whole once its recorder has let go (one change
            #               from live to finished: an agent's login may not edit it after)
        last = self.local._query("SELECT coalesce(max(seq), -1) FROM events WHERE call_id = :id",
                                 {"id": call_id})[0][0]
        mark = (last, row["status"], row["updated"], row["title"])
        if self._sent.get(call_id) == mark:  # nothing new since the last send
            if row["status"] == "live" or recording:
                return False
            return self._let_go(call_id, row["updated"])  # sent whole, its recorder let go
        with self.server._tx() as db:
            db.execute(_SERVER_INSERT, {c: row[c] for c in _COLUMNS if c != "status"})
            have = db.execute(sa.text("SELECT coalesce(max(seq), -1) FROM events WHERE "
                                      "call_id = :id"), {"id": call_id}).scalar()
            events = self.local._query("SELECT seq, type, time, data FROM events WHERE "
                                       "call_id = :id AND seq > :have AND seq <= :last "
                                       "ORDER BY seq", {"id": call_id, "have": have,
                                                        "last": last})
            originals = self.local._query("SELECT seq, data FROM originals WHERE call_id = :id "
                                          "AND seq > :have AND seq <= :last",
                                          {"id": call_id, "have": have, "last": last})
            _insert_events(db, call_id, events, originals)
            finished = row["status"] != "live"
            names = _SUMMARY if finished else ("title", "audio_path", "updated")
            db.execute(sa.text(f"UPDATE calls SET {', '.join(f'{n} = :{n}' for n in names)} "
                               f"WHERE id = :id"), {**{n: row[n] for n in names}, "id": call_id})
        self._sent[call_id] = mark
        if not finished:
            return False
        if recording:
            return False  # finished but its recorder not yet let go: next time
        return self._let_go(call_id, row["updated"])

    def _let_go(self, call_id: str, updated: str | None) -> bool:
        """Take a call the server has whole out of the spool, unless it changed since it was
        read (a title or recording set meanwhile: sent next time)."""
        with self.local._tx() as db:
            gone = db.execute(sa.text("DELETE FROM calls WHERE id = :id AND updated IS :u"),
                              {"id": call_id, "u": updated}).rowcount
        if gone:
            self._sent.pop(call_id, None)
        return bool(gone)

    def close(self, wait: float = 2.0) -> None:
        """Stop sending (one last try, at most `wait` seconds) and close both. What the server
        has not got stays in the spool for the next start."""
        self.local_writers_close()
        self._wake.set()
        deadline = time.monotonic() + wait
        while self.pending() and time.monotonic() < deadline and self.error is None:
            self._wake.set()
            time.sleep(0.05)
        self._stop.set()
        self._wake.set()
        self._thread.join(timeout=wait + 5)
        self.local.close()
        self.server.close()

    def local_writers_close(self) -> None:
        with self.local._lock:
            ids = list(self.local._writers)
        for call_id in ids:
            try:
                self.local.close_writer(call_id)
            except CallAssistError as exc:
                log.error("%s", exc)

    def __enter__(self) -> SpoolingStore:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

