"""The core never imports Qt: the engine runs headless (analyze, batch) and in the GUI's worker."""
import subprocess
import sys
from pathlib import Path

CORE = sorted(p.stem for p in (Path(__file__).parents[1] / "callassist").glob("*.py")
              if p.stem != "__init__")


def test_core_modules_import_no_qt():
    code = ("import sys, importlib\n"
            f"for m in {CORE!r}: importlib.import_module('callassist.' + m)\n"
            "import callassist.asr, callassist.asr.vosk_engine, callassist.asr.whisper_engine\n"
            "bad = [m for m in sys.modules if m.startswith(('PySide6', 'PyQt', 'pyqtgraph'))]\n"
            "print(bad); sys.exit(1 if bad else 0)\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "cli" in CORE and "pipeline" in CORE and "store" in CORE
