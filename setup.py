"""Ships the repository's models/mood, models/wrapup, ui/ and content/ inside the wheel, as package data of
`callassist` (callassist/_shipped/...), where `callassist.resources` finds them with
importlib.resources. An editable install reads them from the repository itself."""
import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent
SHIPPED = ("models/mood", "models/wrapup", "ui", "content")  # models/vosk holds the user's own Vosk models: not shipped


class BuildPyWithData(build_py):
    def run(self):
        super().run()
        if getattr(self, "editable_mode", False):
            return
        dest = Path(self.build_lib) / "callassist" / "_shipped"
        for rel in SHIPPED:
            target = dest / rel
            if target.exists():
                shutil.rmtree(target)
            shutil.copytree(ROOT / rel, target,
                            ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))


setup(cmdclass={"build_py": BuildPyWithData})
