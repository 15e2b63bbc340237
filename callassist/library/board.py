"""The supervisor's board, without the window: every live call in the library with the caller's
current mood, its trend, the alerts raised and the escalation advice, and one call's transcript
to follow.

On a team's PostgreSQL library the board waits on the server's notifications (LISTEN
`callassist_calls`, sent by triggers when a call's events arrive or it changes: migration 0007),
so it reads again only when something happened, within a fraction of a second of the desk's
write. On an SQLite library (one desk) it looks every second. What a login reads is what the
database lets it read (row-level security): a coach sees every desk, an agent their own calls.
"""
from __future__ import annotations

import json
import logging
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Callable

from ..errors import CallAssistError

log = logging.getLogger(__name__)

CHANNEL = "callassist_calls"

_LIVE = """
SELECT c.id, c.agent, c.title, c.started, c.call_json,
  (SELECT data FROM events e WHERE e.call_id = c.id AND e.type = 'mood'
   ORDER BY e.seq DESC LIMIT 1),
  (SELECT data FROM events e WHERE e.call_id = c.id AND e.type = 'escalation'
   ORDER BY e.seq DESC LIMIT 1),
  (SELECT data FROM events e WHERE e.call_id = c.id AND e.type = 'utterance'
   ORDER BY e.seq DESC LIMIT 1),
  (SELECT max(e.time) FROM events e WHERE e.call_id = c.id)
FROM calls c WHERE c.status = 'live' ORDER BY c.started, c.id
"""
_ALERTS = ("SELECT call_id, data FROM events WHERE type = 'rule' AND call_id IN ({}) "
           "ORDER BY call_id, seq")
_LINES = ("SELECT seq, data FROM events WHERE call_id = :id AND type = 'utterance' "
          "AND seq > :after ORDER BY seq")


@dataclass
class LiveCall:
    """One live call as the board shows it."""
    id: str
    agent: str
    title: str
    started: str
    seconds: float = 0.0  # how far into the call its last event was
    mood: str = ""  # the caller's mood label ("" before they have spoken)
    score: float | None = None
    trend: str = ""
    intensity: float = 0.0
    escalation: str = ""  # the advice's reason, "" for none
    alerts: list[tuple[str, str]] = field(default_factory=list)  # (severity, text), newest last
    last_line: str = ""  # the last thing said, "Caller: ..." / "Agent: ..."

    @property
    def severity(self) -> int:
        """How much this call wants a supervisor: 3 escalation advised or a high alert, 2 an
        upset caller or a medium alert, 1 worsening, 0 fine."""
        level = 3 if self.escalation or any(s == "high" for s, _ in self.alerts) else 0
        if not level and ((self.score is not None and self.score <= -0.3) or self.intensity >= 2
                          or any(s == "medium" for s, _ in self.alerts)):
            level = 2
        if not level and self.trend == "worsening":
            level = 1
        return level


def _loads(data: str | None) -> dict:
    try:
        return json.loads(data) if data else {}
    except ValueError:
        return {}


def _speaker(name: str) -> str:
    return {"customer": "Caller", "agent": "Agent"}.get(name, name.title() or "?")


def live_calls(store) -> list[LiveCall]:
    """Every live call the login may see, most in need of a supervisor first."""
    calls = []
    for cid, agent, title, started, call_json, mood, esc, line, at in store._query(_LIVE):
        mood, esc, line = _loads(mood), _loads(esc), _loads(line)
        call = _loads(call_json)
        calls.append(LiveCall(
            id=cid, agent=agent or call.get("agent") or "", title=title or "", started=started,
            seconds=float(at or 0.0), mood=str(mood.get("label", "")),
            score=mood.get("score"), trend=str(mood.get("trend", "")),
            intensity=float(mood.get("intensity") or 0.0),
            escalation=str(esc.get("reason", "")),
            last_line=f"{_speaker(line.get('speaker', ''))}: {line['text']}" if line.get("text")
            else ""))
    if calls:
        by_id = {c.id: c for c in calls}
        names = ", ".join(f":c{i}" for i in range(len(calls)))
        rows = store._query(_ALERTS.format(names), {f"c{i}": c.id for i, c in enumerate(calls)})
        for cid, data in rows:
            rule = _loads(data)
            if rule.get("alert"):
                by_id[cid].alerts.append((str(rule.get("severity", "medium")), rule["alert"]))
    calls.sort(key=lambda c: (-c.severity, c.started))
    return calls


def transcript_after(store, call_id: str, after: int = -1) -> list[tuple[int, str, str, float]]:
    """(seq, speaker, text, start) of the call's utterances stored after event `after`."""
    out = []
    for seq, data in store._query(_LINES, {"id": call_id, "after": after}):
        u = _loads(data)
        out.append((int(seq), _speaker(u.get("speaker", "")), str(u.get("text", "")),
                    float(u.get("start") or 0.0)))
    return out


def age(started: str, now: datetime | None = None) -> float:
    """Seconds since a call's start time (ISO), 0 when it cannot be read."""
    try:
        t = datetime.fromisoformat(started)
    except ValueError:
        return 0.0
    if t.tzinfo is None:
        t = t.replace(tzinfo=timezone.utc)
    return max(0.0, ((now or datetime.now(timezone.utc)) - t).total_seconds())


class Watcher:
    """Calls `changed(ids)` when live calls change: the server's notifications on PostgreSQL
    (ids of the calls written), a look every `poll` seconds on SQLite (ids None: look at all).
    Runs in the caller's thread until `stop` is set; a lost server connection is made again."""

    def __init__(self, store, poll: float = 1.0):
        self.store, self.poll = store, poll
        self.kind = getattr(store, "kind", "sqlite")

    def run(self, changed: Callable[[set[str] | None], None], stop: threading.Event,
            tick: Callable[[], None] = lambda: None) -> None:
        """`tick` is called at least every half second (a window's requests are served there)."""
        if self.kind != "postgresql":
            changed(None)
            last = time.monotonic()
            while not stop.wait(0.1):
                tick()
                if time.monotonic() - last >= self.poll:
                    changed(None)
                    last = time.monotonic()
            return
        pause = 0.5
        while not stop.is_set():
            try:
                self._listen(changed, stop, tick)
                pause = 0.5
            except CallAssistError as exc:
                log.warning("board: %s", exc)
                changed(None)  # the reader says it too
                tick()
                stop.wait(pause)
                pause = min(pause * 2, 10.0)

    def _listen(self, changed, stop: threading.Event, tick: Callable[[], None]) -> None:
        import psycopg
        server = getattr(self.store, "server", self.store)
        try:
            raw = server._engine.raw_connection()
        except Exception as exc:  # noqa: BLE001 - the store's one line for it
            raise server._error(exc) from exc
        try:
            conn = raw.driver_connection
            conn.rollback()
            conn.autocommit = True
            conn.execute(f"LISTEN {CHANNEL}")
            changed(None)  # whatever happened before we listened
            while not stop.is_set():
                ids: set[str] = set()
                for note in conn.notifies(timeout=0.25, stop_after=1):
                    ids.update(i for i in note.payload.split(",") if i)
                tick()
                if ids:
                    # a burst of writes (many desks): gather what else comes in 50 ms
                    for note in conn.notifies(timeout=0.05):
                        ids.update(i for i in note.payload.split(",") if i)
                    changed(ids)
        except psycopg.Error as exc:
            raw.invalidate()
            raise server._error(exc) from exc
        finally:
            try:
                raw.driver_connection.execute(f"UNLISTEN {CHANNEL}")
                raw.driver_connection.autocommit = False
            except Exception:  # noqa: BLE001 - the connection is gone: nothing to undo
                pass
            raw.close()
