"""Warnings and errors reach a rotated, owner-only log file under the data folder."""
import logging
import os
import shutil

from callassist.logs import BACKUPS, MAX_BYTES, log_path, setup_logging
from tests.conftest import run_cli


def mode(path):
    return os.stat(path).st_mode & 0o777


def test_knowledge_reload_problem_is_logged(tmp_path):
    from callassist.assist.assistant import Assistant
    from callassist.assist.knowledge import DEFAULT_KB, KnowledgeBase

    path = setup_logging()
    assert path == log_path()
    kb_dir = tmp_path / "kb"
    shutil.copytree(DEFAULT_KB, kb_dir)
    assistant = Assistant(KnowledgeBase(kb_dir), None)
    assistant.settings.reload_seconds = 0
    shutil.rmtree(kb_dir)  # the folder goes away mid-call
    assistant._reload_knowledge()
    for h in logging.getLogger("callassist").handlers:
        h.flush()
    text = path.read_text()
    assert "knowledge base not reloaded" in text and str(kb_dir) in text
    assert mode(path) == 0o600 and mode(path.parent) == 0o700


def test_the_log_rotates_and_every_file_is_owner_only():
    path = setup_logging()
    log = logging.getLogger("callassist.test")
    for i in range(2 * (BACKUPS + 1) * MAX_BYTES // 1000):
        log.warning("line %05d %s", i, "x" * 980)
    files = sorted(path.parent.glob("callassist.log*"))
    assert len(files) == BACKUPS + 1  # the log and three old ones, no more
    assert all(mode(f) == 0o600 and f.stat().st_size <= MAX_BYTES + 2000 for f in files)


def test_a_command_line_error_is_one_line_on_screen_and_kept_in_the_log(tmp_path):
    r = run_cli("analyze", str(tmp_path / "missing.wav"))
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1
    assert "missing.wav" in log_path().read_text()
