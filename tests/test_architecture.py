"""The layers: the core never imports Qt (the engine runs headless in analyze, import and the GUI's
worker), and the package's folders are the pipeline's layers."""
import subprocess
import sys
from pathlib import Path

PKG = Path(__file__).parents[1] / "callassist"
LAYERS = ("core", "audio", "asr", "mood", "assist", "library", "gui")
CORE = sorted(".".join(p.relative_to(PKG.parent).with_suffix("").parts).removesuffix(".__init__")
              for p in PKG.rglob("*.py") if "gui" not in p.relative_to(PKG).parts)


def test_core_modules_import_no_qt():
    code = ("import sys, importlib\n"
            f"for m in {CORE!r}: importlib.import_module(m)\n"
            "bad = [m for m in sys.modules if m.startswith(('PySide6', 'PyQt', 'pyqtgraph'))]\n"
            "print(bad); sys.exit(1 if bad else 0)\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "callassist.core.pipeline" in CORE and "callassist.library.store" in CORE


def test_layout_is_the_layers():
    folders = {p.name for p in PKG.iterdir() if p.is_dir() and not p.name.startswith(("_", "."))}
    assert folders == set(LAYERS)
    loose = {p.stem for p in PKG.glob("*.py")}
    # at the top: the entry point and what every layer shares (settings, errors, folders, log)
    assert loose <= {"__init__", "cli", "config", "errors", "paths", "resources", "logs"}, loose


def test_no_unused_imports_or_undefined_names():
    """pyflakes over the package, the scripts and the tests: an unused import, a name never
    defined or a variable assigned and never read is a mistake left behind by a change."""
    root = PKG.parent
    r = subprocess.run([sys.executable, "-m", "pyflakes", "callassist", "scripts", "tests"],
                       cwd=root, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
