"""Who may see what in a team's PostgreSQL library, enforced by the database (row-level
security), not by the window.

Each person logs in with their own PostgreSQL login (`callassist team add`). The `team` table
says who is a coach or QA reviewer; everyone else is an agent:
- agents see, write and annotate only calls whose `agent` is their login, cannot write a call
  in someone else's name, write a call (its row, events) only while it is live, change or
  remove no note or review, and delete nothing but a live call of theirs in which nothing was
  said (a call started by mistake);
- coaches and QA reviewers (and the database's owner) see and write every call;
- the rows that hang off a call (events, unredacted originals, notes, reviews) follow the call;
- voice profiles: an agent sees only their own; the library's settings (meta): readable by all,
  changed by reviewers only.
Policies name `session_user`, the login, so a `SET ROLE` cannot widen what a desk sees. Connecting
to the database at all is granted per login (`team add`), not to every role on the server.
SQLite files (one person's library) are unchanged.

Revision ID: 0006
Revises: 0005
"""
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

CALL_TABLES = ("events", "originals", "notes", "reviews")
_LIVE_CALL = ("EXISTS (SELECT 1 FROM calls c WHERE c.id = {0}.call_id AND (c.status = 'live' "
              "OR callassist_sees_all()))")
_ADDABLE = {"events": _LIVE_CALL.format("events"), "originals": _LIVE_CALL.format("originals"),
            "notes": "EXISTS (SELECT 1 FROM calls c WHERE c.id = notes.call_id)",
            "reviews": "callassist_sees_all()"}
_WRITABLE = {"events": _LIVE_CALL.format("events"), "originals": _LIVE_CALL.format("originals"),
             "notes": "callassist_sees_all()", "reviews": "callassist_sees_all()"}

STATEMENTS = [
    """CREATE TABLE team (
        login TEXT PRIMARY KEY,
        role TEXT NOT NULL CHECK (role IN ('agent', 'coach', 'qa')),
        added TEXT NOT NULL)""",
    # reviewers: a coach or QA row in `team`, or the owner of the tables (the administrator who
    # made the library; superusers are members of every role). SECURITY DEFINER: it reads `team`
    # and the catalogue whatever the caller may read; search_path pinned so it cannot be fooled.
    # Every name in it is schema-qualified, operators too, and the search path holds only the
    # catalogue and pg_temp: an object a login makes in `public` cannot stand in for ours.
    """CREATE FUNCTION callassist_sees_all() RETURNS boolean
        LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
        SELECT EXISTS (SELECT 1 FROM public.team t
                       WHERE t.login OPERATOR(pg_catalog.=) pg_catalog.session_user()::text
                       AND t.role OPERATOR(pg_catalog.=) ANY (ARRAY['coach', 'qa']::text[]))
            OR pg_catalog.pg_has_role(pg_catalog.session_user(),
                 (SELECT c.relowner FROM pg_catalog.pg_class c
                  WHERE c.oid OPERATOR(pg_catalog.=) 'public.calls'::pg_catalog.regclass::oid),
                 'MEMBER')
    $$""",
    "REVOKE CREATE ON SCHEMA public FROM PUBLIC",  # (PostgreSQL 14 and older allowed it)
    "REVOKE ALL ON FUNCTION callassist_sees_all() FROM PUBLIC",
    "GRANT EXECUTE ON FUNCTION callassist_sees_all() TO PUBLIC",
    "ALTER TABLE calls ENABLE ROW LEVEL SECURITY",
    "CREATE POLICY calls_read ON calls FOR SELECT "
    "USING (agent = session_user OR callassist_sees_all())",
    "CREATE POLICY calls_add ON calls FOR INSERT "
    "WITH CHECK (agent = session_user OR callassist_sees_all())",
    # an agent's desk writes its call while it is live (its end included); then it is evidence
    "CREATE POLICY calls_change ON calls FOR UPDATE "
    "USING ((agent = session_user AND status = 'live') OR callassist_sees_all()) "
    "WITH CHECK (agent = session_user OR callassist_sees_all())",
    # an agent deletes nothing of theirs but a call still live in which nothing was said (a
    # call started by mistake, as the desk does at its end)
    "CREATE POLICY calls_delete ON calls FOR DELETE USING (callassist_sees_all() OR ("
    "agent = session_user AND status = 'live' AND NOT EXISTS (SELECT 1 FROM events e "
    "WHERE e.call_id = calls.id AND e.type = 'utterance')))",
    # the rows of a call: read with the call; an agent adds events (and their unredacted
    # originals) only while the call is live, and notes to their calls; changing or removing
    # any of them, and every review, is the reviewers' (deleting a call removes its rows)
    *[s for table in CALL_TABLES for s in (
        f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY",
        f"CREATE POLICY {table}_read ON {table} FOR SELECT "
        f"USING (EXISTS (SELECT 1 FROM calls c WHERE c.id = {table}.call_id))",
        f"CREATE POLICY {table}_change ON {table} FOR UPDATE USING ({_WRITABLE[table]})",
        f"CREATE POLICY {table}_delete ON {table} FOR DELETE USING (callassist_sees_all())",
        f"CREATE POLICY {table}_add ON {table} FOR INSERT WITH CHECK ({_ADDABLE[table]})")],
    "ALTER TABLE voice_profiles ENABLE ROW LEVEL SECURITY",
    "CREATE POLICY voice_own ON voice_profiles "
    "USING (agent = session_user OR callassist_sees_all()) "
    "WITH CHECK (agent = session_user OR callassist_sees_all())",
    "ALTER TABLE meta ENABLE ROW LEVEL SECURITY",
    "CREATE POLICY meta_read ON meta FOR SELECT USING (true)",
    "CREATE POLICY meta_add ON meta FOR INSERT WITH CHECK (callassist_sees_all())",
    "CREATE POLICY meta_change ON meta FOR UPDATE USING (callassist_sees_all())",
    "CREATE POLICY meta_delete ON meta FOR DELETE USING (callassist_sees_all())",
    "ALTER TABLE team ENABLE ROW LEVEL SECURITY",
    "CREATE POLICY team_read ON team FOR SELECT "
    "USING (login = session_user OR callassist_sees_all())",
    # what a login may touch at all; the policies above narrow it to rows
    "GRANT SELECT, INSERT, UPDATE, DELETE ON calls, events, originals, notes, reviews, "
    "voice_profiles, meta TO PUBLIC",
    "GRANT SELECT ON team, alembic_version TO PUBLIC",
    "GRANT USAGE ON SEQUENCE notes_id_seq TO PUBLIC",
    """DO $$ BEGIN
        EXECUTE format('REVOKE CONNECT, TEMPORARY ON DATABASE %I FROM PUBLIC',
                       current_database());
    END $$""",
]


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return  # one person's file: the file's mode (0600) is the access control
    for statement in STATEMENTS:
        op.execute(statement)


def downgrade() -> None:
    raise NotImplementedError("a library is never taken back to an older format")
