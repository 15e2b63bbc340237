"""A private PostgreSQL server for the tests and benchmarks: the Debian package's `initdb` and
`pg_ctl`, run as the `postgres` user when we are root (initdb refuses root), in a temporary
folder, listening on 127.0.0.1 only, on a free port. Stopped (and the folder removed) by `stop()`.

The superuser `callassist_admin` logs in with a password (scram-sha-256, as a real server would
ask); the password is in a 0600 file (`passfile`) that libpq reads, never in a URL or a config.
"""
from __future__ import annotations

import os
import secrets
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

BIN_DIRS = sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True)


def pg_bin(name: str) -> str | None:
    for d in BIN_DIRS:
        if (d / name).exists():
            return str(d / name)
    return shutil.which(name)


def available() -> bool:
    return pg_bin("initdb") is not None and pg_bin("pg_ctl") is not None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PgServer:
    ADMIN = "callassist_admin"

    def __init__(self):
        self.root = Path(tempfile.mkdtemp(prefix="callassist-pg-"))
        self.data = self.root / "data"
        self.port = free_port()
        self.password = secrets.token_urlsafe(16)
        self.passfile = self.root / "pgpass"
        self._as_postgres = os.geteuid() == 0
        self.started = False

    # -- running the server's programs as the right user
    def _run(self, *cmd: str, check: bool = True, timeout: float = 120) -> subprocess.CompletedProcess:
        if self._as_postgres:
            cmd = ("runuser", "-u", "postgres", "--", *cmd)
        return subprocess.run(cmd, check=check, capture_output=True, text=True, timeout=timeout)

    def start(self) -> PgServer:
        if not available():
            raise RuntimeError("PostgreSQL is not installed (Debian package postgresql-15): "
                               "run scripts/setup.sh")
        pw = self.root / "initpw"
        pw.write_text(self.password + "\n")
        if self._as_postgres:
            shutil.chown(self.root, "postgres")
            shutil.chown(pw, "postgres")
        self.root.chmod(0o700)
        pw.chmod(0o600)
        self._run(pg_bin("initdb"), "-D", str(self.data), "-U", self.ADMIN, "--pwfile", str(pw),
                  "-A", "scram-sha-256", "--auth-local=scram-sha-256", "-E", "UTF8",
                  "--locale=C.UTF-8", "--no-instructions")
        pw.unlink()
        with open(self.data / "postgresql.conf", "a") as conf:  # kept for a restart too
            conf.write(f"\nlisten_addresses = '127.0.0.1'\nport = {self.port}\n"
                       f"unix_socket_directories = '{self.root}'\nfsync = off\n"
                       f"max_connections = 200\nshared_buffers = 64MB\n")
        self._pg_ctl_start()
        # the password file libpq reads for every connection that names no password
        self.passfile.write_text(f"127.0.0.1:{self.port}:*:*:{self.password}\n")
        self.passfile.chmod(0o600)
        if self._as_postgres:
            # our own processes (root) read it; postgres may not
            shutil.chown(self.passfile, "root")
        return self

    def _pg_ctl_start(self) -> None:
        self._run(pg_bin("pg_ctl"), "-D", str(self.data), "-l", str(self.root / "log"),
                  "-w", "-t", "60", "start")
        self.started = True

    def add_password(self, user: str, password: str) -> None:
        """Put a login's password in the password file, before the administrator's catch-all
        line (libpq uses the first line that matches)."""
        lines = self.passfile.read_text().splitlines()
        lines.insert(0, f"127.0.0.1:{self.port}:*:{user}:{password}")
        self.passfile.write_text("\n".join(lines) + "\n")

    def env(self) -> dict[str, str]:
        return {"PGPASSFILE": str(self.passfile)}

    def url(self, dbname: str = "postgres", user: str | None = None) -> str:
        return f"postgresql://{user or self.ADMIN}@127.0.0.1:{self.port}/{dbname}"

    def admin(self, dbname: str = "postgres"):
        import psycopg
        return psycopg.connect(host="127.0.0.1", port=self.port, user=self.ADMIN, dbname=dbname,
                               password=self.password, autocommit=True)

    def create_database(self, name: str, template: str | None = None) -> str:
        with self.admin() as db:
            db.execute(f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else ""))
        return self.url(name)

    def drop_database(self, name: str) -> None:
        with self.admin() as db:
            db.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def stop(self, remove: bool = True) -> None:
        if self.started:
            self._run(pg_bin("pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop",
                      check=False)
            self.started = False
        if remove:
            shutil.rmtree(self.root, ignore_errors=True)

    def restart_later(self, after: float) -> None:
        """Stop now; start again in `after` seconds (in the background)."""
        import threading
        self.stop(remove=False)

        def again():
            time.sleep(after)
            self._pg_ctl_start()
        threading.Thread(target=again, daemon=True).start()
