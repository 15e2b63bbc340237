"""Format 5: calls, events, originals, notes, voice profiles, scorecard reviews, search.

The first migration makes what SQLite files of format 5 (written before the migrations) already
hold, so those files are only marked with it; a new database of either kind gets it whole.

Revision ID: 0005
Revises:
"""
import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = None
branch_labels = None
depends_on = None

FTS_SPAN = 1 << 20  # = schema.FTS_SPAN (the migration keeps its own copy: it must never change)
_FTS_ROWID = f"(SELECT rowid FROM calls WHERE id = {{0}}.call_id) * {FTS_SPAN} + {{0}}.seq"

SQLITE_FTS = [
    "CREATE VIRTUAL TABLE utterance_fts USING fts5("
    "text, call_id UNINDEXED, seq UNINDEXED, tokenize = 'unicode61 remove_diacritics 2')",
    f"""CREATE TRIGGER events_fts_insert AFTER INSERT ON events WHEN new.type = 'utterance' BEGIN
    INSERT OR REPLACE INTO utterance_fts (rowid, text, call_id, seq)
    VALUES ({_FTS_ROWID.format('new')}, json_extract(new.data, '$.text'), new.call_id, new.seq);
END""",
    f"""CREATE TRIGGER events_fts_delete AFTER DELETE ON events WHEN old.type = 'utterance' BEGIN
    DELETE FROM utterance_fts WHERE rowid = {_FTS_ROWID.format('old')};
END""",
    f"""CREATE TRIGGER calls_fts_delete BEFORE DELETE ON calls BEGIN
    DELETE FROM utterance_fts
    WHERE rowid >= old.rowid * {FTS_SPAN} AND rowid < (old.rowid + 1) * {FTS_SPAN};
END""",
]

# PostgreSQL: the words of each utterance, indexed where they are (no second copy of the text),
# lower-cased and without accents ("cafe" finds "café", as SQLite's remove_diacritics does); no
# stemming and no stop words, so both backends find the same calls. `unaccent` ships with the
# server and is a trusted extension: the database's owner may add it.
PG_FTS = [
    "CREATE EXTENSION IF NOT EXISTS unaccent",
    "CREATE TEXT SEARCH CONFIGURATION callassist_words (COPY = simple)",
    "ALTER TEXT SEARCH CONFIGURATION callassist_words "
    "ALTER MAPPING FOR asciiword, word, numword, asciihword, hword, numhword, hword_asciipart, "
    "hword_part, hword_numpart WITH unaccent, simple",
    "CREATE INDEX events_words ON events USING gin "
    "(to_tsvector('callassist_words', (data::jsonb ->> 'text'))) WHERE type = 'utterance'",
]


def _call_fk() -> sa.ForeignKey:
    return sa.ForeignKey("calls.id", ondelete="CASCADE")


def upgrade() -> None:
    pg = op.get_bind().dialect.name == "postgresql"
    op.create_table("meta", sa.Column("key", sa.Text, primary_key=True),
                    sa.Column("value", sa.Text, nullable=False))
    arrival = [sa.Column("n", sa.BigInteger, sa.Identity(always=True), nullable=False,
                         unique=True)] if pg else []  # SQLite: the rowid
    op.create_table(
        "calls",
        sa.Column("id", sa.Text, primary_key=True),
        sa.Column("source", sa.Text, nullable=False, server_default=""),
        sa.Column("started", sa.Text, nullable=False, server_default=""),
        sa.Column("status", sa.Text, nullable=False, server_default="live"),
        sa.Column("duration", sa.Float, nullable=False, server_default="0"),
        sa.Column("audio_path", sa.Text),
        sa.Column("title", sa.Text, nullable=False, server_default=""),
        sa.Column("agent", sa.Text),
        sa.Column("call_json", sa.Text, nullable=False, server_default="{}"),
        sa.Column("utterances", sa.Integer, nullable=False, server_default="0"),
        sa.Column("mood_start", sa.Float), sa.Column("mood_end", sa.Float),
        sa.Column("mood_min", sa.Float),
        sa.Column("event_counts", sa.Text, nullable=False, server_default="{}"),
        sa.Column("owner", sa.Text), sa.Column("updated", sa.Text), sa.Column("flags", sa.Text),
        sa.Column("redacted", sa.Integer, nullable=False, server_default="0"),
        sa.Column("content_key", sa.Text),
        *arrival)
    op.create_index("calls_started", "calls", ["started"])
    op.create_index("calls_content_key", "calls", ["content_key"], unique=True)
    op.create_table(
        "originals",
        sa.Column("call_id", sa.Text, _call_fk(), primary_key=True),
        sa.Column("seq", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("data", sa.Text, nullable=False), sqlite_with_rowid=False)
    op.create_table(
        "events",
        sa.Column("call_id", sa.Text, _call_fk(), primary_key=True),
        sa.Column("seq", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("type", sa.Text, nullable=False), sa.Column("time", sa.Float),
        sa.Column("data", sa.Text, nullable=False), sqlite_with_rowid=False)
    op.create_table(
        "notes",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("call_id", sa.Text, _call_fk(), nullable=False),
        sa.Column("time", sa.Float, nullable=False), sa.Column("text", sa.Text, nullable=False),
        sa.Column("author", sa.Text, nullable=False, server_default=""),
        sa.Column("created", sa.Text, nullable=False), sqlite_autoincrement=True)
    op.create_index("notes_call", "notes", ["call_id", "time"])
    op.create_table(
        "voice_profiles",
        sa.Column("agent", sa.Text, primary_key=True),
        sa.Column("vector", sa.LargeBinary, nullable=False),
        sa.Column("seconds", sa.Float, nullable=False),
        sa.Column("calls", sa.Integer, nullable=False),
        sa.Column("updated", sa.Text, nullable=False))
    op.create_table(
        "reviews",
        sa.Column("call_id", sa.Text, _call_fk(), primary_key=True),
        sa.Column("card", sa.Text, primary_key=True),
        sa.Column("question", sa.Text, primary_key=True),
        sa.Column("answer", sa.Text, nullable=False), sa.Column("auto", sa.Text),
        sa.Column("reviewer", sa.Text, nullable=False), sa.Column("at", sa.Text, nullable=False),
        sa.Column("why", sa.Text, nullable=False, server_default=""))
    for statement in (PG_FTS if pg else SQLITE_FTS):
        op.execute(statement)


def downgrade() -> None:
    raise NotImplementedError("a library is never taken back to an older format")
