"""A team's shared library on a real PostgreSQL server: each person's own login, and who sees
what enforced by the database itself (row-level security), tried with plain SQL."""
import re
import time

import psycopg
import pytest

from callassist.core.events import Utterance
from callassist.core.timeline import Timeline
from callassist.errors import CallAssistError
from callassist.library import team
from callassist.library.service import Library
from tests.conftest import run_cli

ADMIN_PASSWORD = "centre-admin-secret-1"
PASSWORDS = {"amy": "amy-secret-123456", "ben": "ben-secret-123456",
             "quinn": "quinn-secret-12345", "carl": "carl-secret-123456"}


def call(cid: str, words: str) -> Timeline:
    tl = Timeline(call={"id": cid, "started": "2026-11-30T09:00:00+00:00"})
    tl(Utterance(1, "customer", words, 0.0, 2.0))
    tl(Utterance(2, "agent", "Thank you for calling, I can help with that.", 2.0, 4.0))
    tl.call["duration"] = 4.0
    return tl


def wait_for(check, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def as_login(server, url: str, login: str) -> str:
    return re.sub(r"//[^@/]+@", f"//{login}@", url, count=1)


def sql_as(server, url: str, login: str) -> psycopg.Connection:
    """A plain psycopg session as that person: what anyone could type in psql."""
    return psycopg.connect(as_login(server, url, login), autocommit=True)


@pytest.fixture
def team_library(pg_server, pg_databases, tmp_path):
    """A team library set up as the README says: the centre's administrator is no superuser,
    only a login that may make logins (CREATEROLE) and owns the library's database."""
    with pg_server.admin() as db:
        if not db.execute("SELECT 1 FROM pg_roles WHERE rolname = 'centre_admin'").fetchone():
            db.execute(f"CREATE ROLE centre_admin LOGIN CREATEROLE PASSWORD '{ADMIN_PASSWORD}'")
    pg_server.add_password("centre_admin", ADMIN_PASSWORD)
    url = pg_databases.new(owner="centre_admin")
    with Library(url) as admin:
        store = admin.store
        for login, role in (("amy", "agent"), ("ben", "agent"), ("quinn", "qa")):
            team.add_member(store, login, role, PASSWORDS[login])
            pg_server.add_password(login, PASSWORDS[login])
        admin.store.add_voice("ben", [1.0] * 256, 30.0)
    return url


def test_an_agent_login_cannot_read_another_agents_calls_with_plain_sql(pg_server, team_library):
    url = team_library
    with Library(as_login(pg_server, url, "amy")) as amy:  # amy's desk: her calls are hers
        mine = amy.save_timeline(call("amy-1", "my parcel went to Zanzibar"), agent="Amy J")
        assert amy.get_call(mine).agent == "amy"  # her login, whatever name was typed
        amy.add_note(mine, 1.0, "apologised well")
        empty = amy.start_call({"id": "amy-empty"})  # started by mistake, nothing said
        assert wait_for(lambda: amy.store.server_has(empty))  # the server heard of it
        assert amy.finish_call(empty, 1.0) is False  # ...and it goes from there too
        assert wait_for(lambda: not amy.store.server_has(empty))
    with Library(as_login(pg_server, url, "ben")) as ben:
        theirs = ben.save_timeline(call("ben-1", "my card number is on the invoice"))
        assert [c.id for c in ben.list_calls()] == [theirs]  # the app shows ben only his
        assert ben.search("zanzibar") == set()
        with pytest.raises(CallAssistError, match="no call amy-1"):
            ben.load_timeline(mine)
    with Library(as_login(pg_server, url, "quinn")) as quinn:  # QA: every call, and imports
        anonymous = quinn.save_timeline(call("qa-1", "I was charged twice"))
        assert quinn.get_call(anonymous).agent is None
        assert {c.id for c in quinn.list_calls()} == {mine, theirs, anonymous}
        assert quinn.search("zanzibar") == {mine}
        assert quinn.notes(mine)[0]["text"] == "apologised well"

    with sql_as(pg_server, url, "amy") as db:  # plain SQL, no CallAssist in the way
        assert db.execute("SELECT id, agent FROM calls").fetchall() == [(mine, "amy")]
        assert db.execute("SELECT count(*) FROM events WHERE call_id <> %s",
                          (mine,)).fetchone() == (0,)
        assert db.execute("SELECT DISTINCT call_id FROM events").fetchall() == [(mine,)]
        assert db.execute("SELECT count(*) FROM notes").fetchone() == (1,)
        assert db.execute("UPDATE calls SET title = 'mine now' WHERE id = %s",
                          (theirs,)).rowcount == 0
        assert db.execute("DELETE FROM events WHERE call_id = %s", (theirs,)).rowcount == 0
        assert db.execute("DELETE FROM calls WHERE id = %s", (mine,)).rowcount == 0  # keeps all
        # her own finished call is evidence: its row, events, notes and reviews stay as they are
        assert db.execute("UPDATE calls SET flags = '[]', status = 'live' WHERE id = %s",
                          (mine,)).rowcount == 0
        assert db.execute("DELETE FROM events WHERE call_id = %s", (mine,)).rowcount == 0
        assert db.execute("UPDATE events SET data = '{}' WHERE call_id = %s",
                          (mine,)).rowcount == 0
        assert db.execute("DELETE FROM notes").rowcount == 0
        assert db.execute("UPDATE reviews SET answer = 'yes'").rowcount == 0
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            db.execute("INSERT INTO events (call_id, seq, type, time, data) "
                       "VALUES (%s, 999, 'utterance', 0, '{}')", (mine,))
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            db.execute("INSERT INTO reviews VALUES (%s, 'c', 'q', 'yes', 'no', 'amy', 'now', '')",
                       (mine,))
        assert db.execute("SELECT agent FROM voice_profiles").fetchall() == []  # ben's voice
        assert db.execute("SELECT login FROM team").fetchall() == [("amy",)]
        with pytest.raises(psycopg.errors.InsufficientPrivilege):  # not in someone else's name
            db.execute("INSERT INTO calls (id, agent) VALUES ('forged', 'ben')")
        assert db.execute("UPDATE calls SET agent = 'ben' WHERE id = %s",
                          (mine,)).rowcount == 0  # finished: not hers to change any more
        db.execute("INSERT INTO calls (id, agent) VALUES ('amy-live', 'amy')")  # a live one
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            db.execute("UPDATE calls SET agent = 'ben' WHERE id = 'amy-live'")
        assert db.execute("DELETE FROM calls WHERE id = 'amy-live'").rowcount == 1  # empty
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            db.execute("SET ROLE ben")
        with pytest.raises(psycopg.errors.InsufficientPrivilege):  # the team is the admin's
            db.execute("INSERT INTO team VALUES ('amy2', 'qa', 'now')")
        assert db.execute("UPDATE meta SET value = '9' WHERE key = 'schema_version'").rowcount == 0
        with pytest.raises(psycopg.errors.InsufficientPrivilege):  # the library's settings
            db.execute("INSERT INTO meta VALUES ('flag_settings', '{}')")
    # a login able to make objects in `public` (PostgreSQL 14 and older let everyone) cannot
    # make the reviewers' test say yes with an operator of its own
    dbname = url.rsplit("/", 1)[1]
    with pg_server.admin(dbname) as db:
        db.execute("GRANT CREATE ON SCHEMA public TO amy")
    with sql_as(pg_server, url, "amy") as db:
        db.execute("CREATE FUNCTION public.always(oid, regclass) RETURNS boolean "
                   "LANGUAGE sql AS 'SELECT true'")
        db.execute("CREATE OPERATOR public.= (LEFTARG = oid, RIGHTARG = regclass, "
                   "FUNCTION = public.always)")
        db.execute("CREATE FUNCTION public.always_t(text, text) RETURNS boolean "
                   "LANGUAGE sql AS 'SELECT true'")
        db.execute("CREATE OPERATOR public.= (LEFTARG = text, RIGHTARG = text, "
                   "FUNCTION = public.always_t)")
        assert db.execute("SELECT callassist_sees_all()").fetchone() == (False,)
        assert db.execute("SELECT count(*) FROM calls").fetchone() == (1,)
    with sql_as(pg_server, url, "quinn") as db:
        assert db.execute("SELECT count(DISTINCT call_id) FROM events").fetchone() == (3,)
        assert db.execute("SELECT agent FROM voice_profiles").fetchall() == [("ben",)]
    with sql_as(pg_server, url, "ben") as db:
        assert db.execute("SELECT id FROM calls ORDER BY id").fetchall() == [(theirs,)]


def test_only_team_members_connect_and_removal_locks_out(pg_server, team_library):
    url = team_library
    with pg_server.admin() as db:  # a login on the same server, never added to this team
        db.execute(f"CREATE ROLE carl LOGIN PASSWORD '{PASSWORDS['carl']}'")
    pg_server.add_password("carl", PASSWORDS["carl"])
    with pytest.raises(CallAssistError, match="may not do this|permission denied"):
        Library(as_login(pg_server, url, "carl"))
    with Library(url) as admin:
        team.remove_member(admin.store, "amy")
        assert [m[0] for m in team.members(admin.store)] == ["ben", "quinn"]
        with pytest.raises(CallAssistError, match="not in the team"):
            team.remove_member(admin.store, "nobody")
        with pytest.raises(CallAssistError, match="cannot be a login"):
            team.add_member(admin.store, "Robert'); DROP TABLE calls;--", "qa", "x" * 16)
    with pytest.raises(psycopg.OperationalError, match="permission denied"):
        sql_as(pg_server, url, "amy")


def test_team_commands_and_no_password_in_the_address(pg_server, team_library, tmp_path):
    url = team_library
    secret = tmp_path / "pw"
    secret.write_text("dana-secret-123456\n")
    r = run_cli("team", "add", "dana", "--role", "coach", "--password-file", str(secret),
                "--library", url)
    assert r.returncode == 0, r.stderr
    assert "dana: coach (new login)" in r.stderr and "~/.pgpass" in r.stderr
    listed = run_cli("team", "list", "--library", url)
    assert listed.returncode == 0 and "dana  coach" in listed.stdout and "amy  agent" in listed.stdout
    with pg_server.admin() as db:  # only a SCRAM hash reached the server
        (stored,) = db.execute("SELECT rolpassword FROM pg_authid WHERE rolname = 'dana'").fetchone()
    assert stored.startswith("SCRAM-SHA-256$") and "dana-secret" not in stored
    pg_server.add_password("dana", "dana-secret-123456")
    with Library(as_login(pg_server, url, "amy")) as amy:
        mine = amy.save_timeline(call("amy-2", "where is my refund"))
    with Library(as_login(pg_server, url, "dana")) as dana:  # a coach sees the agents' calls
        assert [c.id for c in dana.list_calls()] == [mine]

    with_password = url.replace("@", ":hunter2hunter2@", 1)
    r = run_cli("report", "--list", "--library", with_password)
    assert r.returncode == 2 and "holds a password" in r.stderr and "hunter2" not in r.stderr
    cfg = tmp_path / "config.toml"
    cfg.write_text(f'library = "{with_password}"\n')
    r = run_cli("report", "--list", "--config", str(cfg))
    assert r.returncode == 2 and "~/.pgpass" in r.stderr and "Traceback" not in r.stderr
    Library(tmp_path / "mine.sqlite3").close()
    r = run_cli("team", "list", "--library", str(tmp_path / "mine.sqlite3"))
    assert r.returncode == 2 and "one person's library file" in r.stderr


def test_the_board_shows_a_coach_every_desk_and_an_agent_their_own(pg_server, team_library):
    from callassist.library.board import live_calls
    url = team_library
    desks = {login: Library(as_login(pg_server, url, login)) for login in ("amy", "ben")}
    try:
        for login, lib in desks.items():
            cid = lib.start_call({"id": f"{login}-live", "started": "2026-11-30T09:00:00+00:00"})
            lib.recorder(cid, flush_seconds=0.1)(Utterance(1, "customer", "hello?", 0.0, 1.0))
        with Library(as_login(pg_server, url, "quinn")) as quinn:
            assert wait_for(lambda: len(live_calls(quinn.store)) == 2)
            assert {(c.id, c.agent) for c in live_calls(quinn.store)} == {
                ("amy-live", "amy"), ("ben-live", "ben")}
        with Library(as_login(pg_server, url, "amy")) as amy:
            assert [c.id for c in live_calls(amy.store)] == ["amy-live"]
    finally:
        for lib in desks.values():
            lib.close()
