"""`callassist download-model` against a local HTTP server serving a real (Korean) Vosk model."""
import hashlib
import http.server
import threading
import zipfile
from functools import partial
from pathlib import Path

import numpy as np
import pytest

from callassist.asr import load_engine
from callassist.core.events import Utterance
from callassist.asr.vosk_models import DownloadError, download_model, find_vosk_model
from tests.conftest import run_cli


@pytest.fixture(scope="module")
def served(tmp_path_factory, korean_model_dir):
    root = tmp_path_factory.mktemp("www")
    archive = root / "vosk-model-small-ko-test.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_STORED) as zf:
        for f in sorted(korean_model_dir.rglob("*")):
            if f.is_file():
                zf.write(f, Path("vosk-model-small-ko-test") / f.relative_to(korean_model_dir))
    (root / "notazip.zip").write_bytes(b"this is not a zip file" * 100)
    handler = partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    handler.log_message = lambda *a, **k: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    sha = hashlib.sha256(archive.read_bytes()).hexdigest()
    yield f"http://127.0.0.1:{server.server_address[1]}", sha
    server.shutdown()


@pytest.mark.slow
def test_download_unpacks_a_working_model(served, tmp_path, espeak):
    base, sha = served
    dest = tmp_path / "models"
    path = download_model(f"{base}/vosk-model-small-ko-test.zip", sha, dest, progress=False)
    assert path == dest / "vosk-model-small-ko-test"
    assert find_vosk_model(roots=[dest]) == path
    assert not [p for p in dest.iterdir() if p != path]  # no temporary files left behind
    engine = load_engine("auto", vosk_model=path)
    stream = engine.stream("customer", partials=False)
    audio = np.concatenate([espeak("안녕하세요 감사합니다", "ko"), np.zeros(16000, np.float32)])
    events = stream.accept_audio(audio) + stream.finish()
    assert any(isinstance(e, Utterance) and e.text for e in events)


def test_cli_download_with_progress_and_auto_pickup(served, tmp_path):
    base, sha = served
    data = tmp_path / "data"
    r = run_cli("download-model", "--url", f"{base}/vosk-model-small-ko-test.zip", "--sha256", sha,
                env={"XDG_DATA_HOME": str(data)})
    assert r.returncode == 0, r.stderr
    model = data / "callassist" / "models" / "vosk" / "vosk-model-small-ko-test"
    assert "Vosk model ready" in r.stdout and (model / "am" / "final.mdl").exists()


def test_checksum_mismatch_is_refused(served, tmp_path):
    base, _ = served
    with pytest.raises(DownloadError, match="corrupt.*again"):
        download_model(f"{base}/vosk-model-small-ko-test.zip", "0" * 64, tmp_path, progress=False)
    assert list(tmp_path.iterdir()) == []


def test_download_errors_are_one_line(served, tmp_path):
    base, _ = served
    with pytest.raises(DownloadError, match="not a zip"):
        download_model(f"{base}/notazip.zip", None, tmp_path, progress=False)
    r = run_cli("download-model", "--url", f"{base}/missing.zip", "--dest", str(tmp_path))
    assert r.returncode == 2
    assert r.stderr.startswith("callassist: error: could not download") and "Traceback" not in r.stderr
    assert r.stderr.count("\n") == 1
    r = run_cli("download-model", "--url", "http://127.0.0.1:9/x.zip", "--dest", str(tmp_path))
    assert r.returncode == 2 and "could not download" in r.stderr
