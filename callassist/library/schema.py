"""The call library's SQLite format: the tables, and the upgrades from older files.

Kept apart from the store so the format can be read in one place, and so an upgrade is a list of
statements rather than code spread through the queries.

Version 5:
  meta(key PRIMARY KEY, value)                 -- "schema_version", "flag_settings"
  calls(id PRIMARY KEY, source, started, status, duration, audio_path, title, agent,
        call_json, utterances, mood_start, mood_end, mood_min, event_counts, owner, updated,
        flags, redacted, content_key)          -- flags: JSON list of flag dicts, NULL until known;
                                               -- content_key: UNIQUE (version 4), NULL for live
                                               -- calls and calls imported before version 4
  events(call_id, seq, type, time, data)       -- data = Event.to_dict() as JSON; PK (call_id, seq)
  originals(call_id, seq, data)                -- unredacted events, only with keep_original
  notes(id PRIMARY KEY, call_id, time, text, author, created)
  utterance_fts(text, call_id, seq)            -- FTS5 over utterance text (version 3)
  voice_profiles(agent PRIMARY KEY, vector, seconds, calls, updated)
                                               -- an agent's voice as 256 float32 (version 5):
                                               -- tells the agent apart on mono calls only
  reviews(call_id, card, question, answer, auto, reviewer, at, why)
                                               -- a QA reviewer's scorecard answers (version 5),
                                               -- with the automatic answer they saw

The full-text rows are kept in step with `events` by triggers, so every writer (a whole saved
call, a live recorder, a deleted call) keeps the index right without knowing it exists. An FTS
row's rowid is `calls.rowid * 2**20 + seq`: deleting one event, or a whole call (a rowid range),
finds its rows by rowid instead of scanning the index.

The UNIQUE index on `content_key` (audio.provenance.content_key of an imported recording) is what
keeps two imports running at once from storing a call twice: the insert relies on it, so the
check and the insert cannot be separated by another writer. Version 3 files get the column empty
(several NULLs never conflict, so old duplicates cannot fail the upgrade); the service
(`Library.find_recording`) keys old calls lazily, when a recording of the same length comes in.
"""
from __future__ import annotations

import sqlite3

SCHEMA_VERSION = 5
FTS_SPAN = 1 << 20  # events per call addressable in the full-text rowids

_TABLES = """
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

_UPGRADE_1_TO_2 = """
ALTER TABLE calls ADD COLUMN flags TEXT;
ALTER TABLE calls ADD COLUMN redacted INTEGER NOT NULL DEFAULT 0;
CREATE TABLE originals (
    call_id TEXT NOT NULL REFERENCES calls (id) ON DELETE CASCADE, seq INTEGER NOT NULL,
    data TEXT NOT NULL, PRIMARY KEY (call_id, seq)) WITHOUT ROWID;
"""

_FTS_ROWID = f"(SELECT rowid FROM calls WHERE id = {{0}}.call_id) * {FTS_SPAN} + {{0}}.seq"

_UPGRADE_2_TO_3 = f"""
CREATE VIRTUAL TABLE IF NOT EXISTS utterance_fts USING fts5(
    text, call_id UNINDEXED, seq UNINDEXED, tokenize = 'unicode61 remove_diacritics 2');
CREATE TRIGGER IF NOT EXISTS events_fts_insert AFTER INSERT ON events WHEN new.type = 'utterance' BEGIN
    INSERT OR REPLACE INTO utterance_fts (rowid, text, call_id, seq)
    VALUES ({_FTS_ROWID.format('new')}, json_extract(new.data, '$.text'), new.call_id, new.seq);
END;
CREATE TRIGGER IF NOT EXISTS events_fts_delete AFTER DELETE ON events WHEN old.type = 'utterance' BEGIN
    DELETE FROM utterance_fts WHERE rowid = {_FTS_ROWID.format('old')};
END;
CREATE TRIGGER IF NOT EXISTS calls_fts_delete BEFORE DELETE ON calls BEGIN
    DELETE FROM utterance_fts
    WHERE rowid >= old.rowid * {FTS_SPAN} AND rowid < (old.rowid + 1) * {FTS_SPAN};
END;
DELETE FROM utterance_fts;
INSERT INTO utterance_fts (rowid, text, call_id, seq)
    SELECT c.rowid * {FTS_SPAN} + e.seq, json_extract(e.data, '$.text'), e.call_id, e.seq
    FROM events e JOIN calls c ON c.id = e.call_id WHERE e.type = 'utterance';
"""

_UPGRADE_3_TO_4 = """
ALTER TABLE calls ADD COLUMN content_key TEXT;
CREATE UNIQUE INDEX calls_content_key ON calls (content_key);
"""

_UPGRADE_4_TO_5 = """
CREATE TABLE IF NOT EXISTS voice_profiles (
    agent TEXT PRIMARY KEY, vector BLOB NOT NULL, seconds REAL NOT NULL,
    calls INTEGER NOT NULL, updated TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS reviews (
    call_id TEXT NOT NULL REFERENCES calls (id) ON DELETE CASCADE, card TEXT NOT NULL,
    question TEXT NOT NULL, answer TEXT NOT NULL, auto TEXT, reviewer TEXT NOT NULL,
    at TEXT NOT NULL, why TEXT NOT NULL DEFAULT '', PRIMARY KEY (call_id, card, question));
"""

UPGRADES = {1: _UPGRADE_1_TO_2, 2: _UPGRADE_2_TO_3, 3: _UPGRADE_3_TO_4,
            4: _UPGRADE_4_TO_5}  # from version N to N + 1


class NotALibrary(Exception):
    """The file is an SQLite database of something else."""


class TooNew(Exception):
    """The file was written by a newer CallAssist; `version` says which format."""

    def __init__(self, version: int):
        super().__init__(version)
        self.version = version


class NoVersion(Exception):
    """The meta table has no usable schema version."""


def _run(db: sqlite3.Connection, script: str) -> None:
    # statements one by one (executescript would commit the caller's transaction); a trigger body
    # has semicolons of its own, so split at the "END;" that closes it
    statement = ""
    for part in script.split(";"):
        statement += part + ";"
        if statement.lstrip().upper().startswith("CREATE TRIGGER") \
                and not statement.rstrip().upper().endswith("END;"):
            continue
        if statement.strip(" \n;"):
            db.execute(statement)
        statement = ""


def check(db: sqlite3.Connection) -> int:
    """The format version of the database on `db`, only read: 0 for an empty one (a new library
    is made in it). Raises NotALibrary (another program's database: tables, but not ours),
    TooNew or NoVersion. The store asks this on a read-only connection before it changes
    anything, so a file that is refused is left exactly as it was found."""
    tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    if "meta" not in tables or "calls" not in tables:
        if tables - {"sqlite_sequence"}:
            raise NotALibrary()
        return 0
    row = db.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
    try:
        version = int(row[0]) if row else 0
    except ValueError:
        version = 0
    if version > SCHEMA_VERSION:
        raise TooNew(version)
    if version < 1:
        raise NoVersion()
    return version


def ensure(db: sqlite3.Connection) -> None:
    """Create the tables in an empty file or bring an older one up to SCHEMA_VERSION; the caller
    holds a write transaction, so an upgrade happens whole or not at all."""
    version = check(db)
    if version == 0:
        _run(db, _TABLES)
        for v in range(2, SCHEMA_VERSION):  # _TABLES is the version 2 format
            _run(db, UPGRADES[v])
        db.execute("INSERT INTO meta VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),))
        return
    for v in range(version, SCHEMA_VERSION):
        _run(db, UPGRADES[v])
    if version < SCHEMA_VERSION:
        db.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'", (str(SCHEMA_VERSION),))


def fts_query(text: str) -> str | None:
    """An FTS5 query for what a user typed: every word must appear, in any order, the last one as
    a prefix ("refun" finds "refund"); text in double quotes is a phrase. Each word is quoted, so
    FTS syntax in the input (AND, NOT, -, *, ^, :, parentheses, stray quotes) is only text.
    None when there is no word to look for."""
    parts = text.split('"')
    terms: list[str] = []
    for i, part in enumerate(parts):
        if i % 2 and i < len(parts) - 1:  # between a pair of quotes: a phrase
            words = part.split()
            if words:
                terms.append('"' + " ".join(words) + '"')
        else:
            terms += ['"' + w + '"' for w in part.split()]
    terms = [t for t in terms if any(c.isalnum() for c in t)]
    if not terms:
        return None
    if not text.rstrip().endswith('"'):
        terms[-1] += "*"
    return " ".join(terms)
