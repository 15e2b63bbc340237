"""A team's shared library on PostgreSQL: the people who may use it and what each may see.

Run by the library's administrator (the owner of its database, with the right to create
logins): `callassist team add LOGIN --role agent|coach|qa`. Each person gets a PostgreSQL login
of their own; the database then enforces who sees what (row-level security, migration 0006):
agents their own calls, coaches and QA reviewers all. The password is hashed here (SCRAM, by
libpq) before it is sent, so it never reaches the server, its logs or this machine's disk in
plain text; the person keeps it in their own ~/.pgpass (mode 0600).
"""
from __future__ import annotations

import re
from datetime import datetime, timezone

from ..errors import CallAssistError
from .store import CallStore

ROLES = ("agent", "coach", "qa")
_LOGIN = re.compile(r"[a-z_][a-z0-9_.-]{0,62}")


def _check(store: CallStore) -> None:
    if store.kind != "postgresql":
        raise CallAssistError(
            f"{store.path} is one person's library file: logins and roles belong to a team's "
            f"shared library (library = \"postgresql://USER@HOST:PORT/DATABASE\")")


def _connect(store: CallStore):
    """A connection of the store's own (the administrator's), or the one line why not."""
    store._query("SELECT 1")  # the format checked first, as for any other use
    try:
        return store._engine.raw_connection()
    except Exception as exc:  # noqa: BLE001 - the store's one line for it
        raise store._error(exc) from exc


def check_login(login: str) -> str:
    if not _LOGIN.fullmatch(login or ""):
        raise CallAssistError(f"{login!r} cannot be a login: use lower-case letters, digits, "
                              f"'_', '.' or '-', starting with a letter (e.g. sam.jones)")
    return login


def add_member(store: CallStore, login: str, role: str, password: str | None) -> bool:
    """Give `login` the `role` in this library, making the login (with `password`) when the
    server has none of that name. Returns whether a login was made."""
    from psycopg import sql
    _check(store)
    check_login(login)
    if role not in ROLES:
        raise CallAssistError(f"unknown role {role!r}: give one of {', '.join(ROLES)}")
    raw = _connect(store)
    try:
        pg = raw.driver_connection
        try:
            exists = pg.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (login,)).fetchone()
            if password is not None:
                hashed = pg.pgconn.encrypt_password(password.encode(), login.encode(),
                                                    b"scram-sha-256").decode()
                verb = "ALTER" if exists else "CREATE"
                pg.execute(sql.SQL("{} ROLE {} LOGIN PASSWORD {}").format(
                    sql.SQL(verb), sql.Identifier(login), sql.Literal(hashed)))
            elif not exists:
                raise CallAssistError(f"there is no login {login!r} on the server yet: give it "
                                      f"a password (asked for, or --password-file)")
            pg.execute(sql.SQL("GRANT CONNECT ON DATABASE {} TO {}").format(
                sql.Identifier(pg.info.dbname), sql.Identifier(login)))
            pg.execute("INSERT INTO team (login, role, added) VALUES (%s, %s, %s) "
                       "ON CONFLICT (login) DO UPDATE SET role = excluded.role",
                       (login, role, datetime.now(timezone.utc).isoformat(timespec="seconds")))
            pg.commit()
        except CallAssistError:
            pg.rollback()
            raise
        except Exception as exc:
            pg.rollback()
            raise store._error(exc) from exc
    finally:
        raw.close()
    return not exists


def members(store: CallStore) -> list[tuple[str, str, str]]:
    """(login, role, added) of everyone given a role, by login."""
    _check(store)
    return store._query("SELECT login, role, added FROM team ORDER BY login")


def remove_member(store: CallStore, login: str) -> None:
    """Take `login` out of the team: no role, no right to connect to this library. The login
    stays on the server (it may belong to other databases); its calls stay in the library."""
    from psycopg import sql
    _check(store)
    raw = _connect(store)
    try:
        pg = raw.driver_connection
        try:
            found = pg.execute("DELETE FROM team WHERE login = %s", (login,)).rowcount
            if pg.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (login,)).fetchone():
                pg.execute(sql.SQL("REVOKE CONNECT ON DATABASE {} FROM {}").format(
                    sql.Identifier(pg.info.dbname), sql.Identifier(login)))
                found = found or 1
            pg.commit()
        except Exception as exc:
            pg.rollback()
            raise store._error(exc) from exc
    finally:
        raw.close()
    if not found:
        raise CallAssistError(f"{login!r} is not in the team: see `callassist team list`")
