"""The call library's format: the tables, how a database gets them, and search queries.

One format for both backends, kept by Alembic migrations (`migrations/versions`, run inside the
opening transaction, so an upgrade happens whole or not at all): SQLite, the embedded default
for one person, and PostgreSQL, a team's shared library. The tables:

  meta(key PRIMARY KEY, value)                 -- "schema_version", "flag_settings"
  calls(id PRIMARY KEY, source, started, status, duration, audio_path, title, agent,
        call_json, utterances, mood_start, mood_end, mood_min, event_counts, owner, updated,
        flags, redacted, content_key UNIQUE)   -- flags: JSON list of flag dicts, NULL until known;
                                               -- content_key NULL for live calls
  events(call_id, seq, type, time, data)       -- data = Event.to_dict() as JSON; PK (call_id, seq)
  originals(call_id, seq, data)                -- unredacted events, only with keep_original
  notes(id PRIMARY KEY, call_id, time, text, author, created)
  voice_profiles(agent PRIMARY KEY, vector, seconds, calls, updated)
                                               -- an agent's voice as 256 float32: tells the
                                               -- agent apart on mono calls only
  reviews(call_id, card, question, answer, auto, reviewer, at, why)
                                               -- a QA reviewer's scorecard answers, with the
                                               -- automatic answer they saw

Where the two differ:
- Order of arrival: SQLite's rowid; PostgreSQL's identity column `calls.n`.
- Full-text search: SQLite has an FTS5 table `utterance_fts` kept in step with `events` by
  triggers, so every writer (a whole saved call, a live recorder, a deleted call) keeps the index
  right without knowing it exists (an FTS row's rowid is `calls.rowid * 2**20 + seq`: deleting a
  call deletes a rowid range). PostgreSQL has a GIN index on the utterances' words
  (to_tsvector('callassist_words', text): lower case, accents taken off, no stemming), searched
  with a tsquery; both find every word typed, the last
  as a prefix, phrases in quotes (`search_terms`).

The UNIQUE index on `content_key` (audio.provenance.content_key of an imported recording) is what
keeps two imports running at once from storing a call twice: the insert relies on it, so the
check and the insert cannot be separated by another writer. SQLite files of format 3 got the
column empty (several NULLs never conflict, so old duplicates cannot fail the upgrade); the
service (`Library.find_recording`) keys old calls lazily.

meta.schema_version stays the number an older CallAssist checks before reading a file (it
refuses a newer format with a clear line instead of misreading it).
"""
from __future__ import annotations

import re
import sqlite3
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import Connection

SCHEMA_VERSION = 5  # meta.schema_version: what an older CallAssist checks before it reads a file
LEGACY_VERSION = 5  # the last format made without migrations
BASE = "0005"  # the first migration: format 5, as SQLite files of format 5 already have it
HEAD = "0008"  # the newest migration (a test checks this against the migrations folder)
MIGRATIONS = Path(__file__).with_name("migrations")
FTS_SPAN = 1 << 20  # events per call addressable in the SQLite full-text rowids
_WORD = re.compile(r"[^\W_]+")

# ---- SQLite files from before the migrations: formats 1 to 4 brought to format 5 -------------
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
    """The database holds something else (tables, but not ours)."""


class TooNew(Exception):
    """The file was written by a newer CallAssist; `version` says which format."""

    def __init__(self, version: int):
        super().__init__(version)
        self.version = version


class NoVersion(Exception):
    """The meta table has no usable schema version."""


def _run(db: Connection, script: str) -> None:
    # statements one by one (a script would commit the caller's transaction); a trigger body
    # has semicolons of its own, so split at the "END;" that closes it
    statement = ""
    for part in script.split(";"):
        statement += part + ";"
        if statement.lstrip().upper().startswith("CREATE TRIGGER") \
                and not statement.rstrip().upper().endswith("END;"):
            continue
        if statement.strip(" \n;"):
            db.exec_driver_sql(statement)
        statement = ""


def check_version(tables: set[str], version_value: str | None) -> int:
    """The format version of a database with these `tables` and meta.schema_version: 0 for an
    empty one (a new library is made in it). Raises NotALibrary (another program's database:
    tables, but not ours), TooNew or NoVersion."""
    if "meta" not in tables or "calls" not in tables:
        if tables - {"sqlite_sequence", "alembic_version"}:
            raise NotALibrary()
        return 0
    try:
        version = int(version_value) if version_value is not None else 0
    except ValueError:
        version = 0
    if version > SCHEMA_VERSION:
        raise TooNew(version)
    if version < 1:
        raise NoVersion()
    return version


def check_sqlite(db: sqlite3.Connection) -> int:
    """check_version of an SQLite file through a plain (read-only) sqlite3 connection: the
    store asks this before it changes anything, so a file that is refused is left exactly as
    it was found."""
    tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    row = None
    if "meta" in tables:
        row = db.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
    return check_version(tables, row[0] if row else None)


def _version_of(db: Connection) -> tuple[set[str], int]:
    tables = set(sa.inspect(db).get_table_names())
    value = None
    if "meta" in tables:
        value = db.execute(sa.text("SELECT value FROM meta WHERE key = 'schema_version'")).scalar()
    return tables, check_version(tables, value)


def _alembic(db: Connection, *, stamp: str | None = None) -> None:
    """Run the migrations (callassist/library/migrations) on `db`, in its transaction."""
    from alembic import command
    from alembic.config import Config
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["connection"] = db
    if stamp:
        command.stamp(cfg, stamp)
    command.upgrade(cfg, HEAD)


def ensure(db: Connection) -> None:
    """Create the tables in an empty database or bring an older one up to the newest format;
    the caller holds a write transaction, so an upgrade happens whole or not at all.

    The format is kept by Alembic migrations, the same ones for SQLite and PostgreSQL. SQLite
    files written before the migrations (formats 1-5, no `alembic_version` table) are first
    brought to format 5 by the statements above, then marked as the first migration."""
    tables, version = _version_of(db)
    if not version:
        _alembic(db)
    else:
        current = None
        if "alembic_version" in tables:
            current = db.execute(sa.text("SELECT version_num FROM alembic_version")).scalar()
        if current == HEAD and version == SCHEMA_VERSION:
            return  # the usual case: nothing to import or run
        if current and current.isdigit() and int(current) > int(HEAD):
            raise TooNew(int(current))  # a newer CallAssist's migration: read nothing
        if version < LEGACY_VERSION:  # a file from before the migrations (SQLite only)
            for v in range(version, LEGACY_VERSION):
                _run(db, UPGRADES[v])
        _alembic(db, stamp=None if current else BASE)
    db.execute(sa.text("DELETE FROM meta WHERE key = 'schema_version'"))
    db.execute(sa.text("INSERT INTO meta (key, value) VALUES ('schema_version', :v)"),
               {"v": str(SCHEMA_VERSION)})


def search_terms(text: str) -> tuple[list[list[str]], bool]:
    """What a user typed into the search box as terms, each a list of words that must stand
    together (a phrase in double quotes, or one typed word such as "don't"), and whether the
    last word is a prefix ("refun" finds "refund"; not when the text ends with a closing quote).
    Words are runs of letters and digits, so query syntax of either database (AND, NOT, -, *,
    ^, :, &, |, parentheses, stray quotes) is only text."""
    parts = text.split('"')
    terms: list[list[str]] = []
    for i, part in enumerate(parts):
        if i % 2 and i < len(parts) - 1:  # between a pair of quotes: a phrase
            terms.append(_WORD.findall(part))
        else:
            terms += [_WORD.findall(w) for w in part.split()]
    return [t for t in terms if t], not text.rstrip().endswith('"')


def fts_query(text: str) -> str | None:
    """An SQLite FTS5 query for what a user typed (see search_terms): every term must appear,
    in any order. None when there is no word to look for."""
    terms, prefix = search_terms(text)
    if not terms:
        return None
    query = " ".join('"' + " ".join(t) + '"' for t in terms)
    return query + "*" if prefix else query


def tsquery(text: str) -> str | None:
    """The same search as a PostgreSQL tsquery (for to_tsquery('callassist_words', ...)); None when
    there is no word to look for."""
    terms, prefix = search_terms(text)
    if not terms:
        return None
    parts = [" <-> ".join(f"'{w}'" for w in t) for t in terms]
    if prefix:
        parts[-1] += ":*"
    return " & ".join(f"({p})" for p in parts)
