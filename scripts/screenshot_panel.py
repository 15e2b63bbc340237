#!/usr/bin/env python3
"""Screenshots of the side panel mid-call, light and dark, in a real X window under Xvfb.

    xvfb-run -a -s "-screen 0 1400x1000x24" .venv/bin/python scripts/screenshot_panel.py

Plays a demo call through the panel (4x speed) and, once the caller has been calmed and the
panel is full, captures the window with ImageMagick's `import` into docs/panel-<theme>.png.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--call", default=str(ROOT / "demo" / "calls" / "angry_calmed.flac"))
    ap.add_argument("--theme", choices=["light", "dark"], default="light")
    ap.add_argument("--after-moods", type=int, default=5, help="capture after this many mood updates")
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()
    tmp = tempfile.mkdtemp()
    os.environ.setdefault("XDG_CONFIG_HOME", tmp)  # a clean settings file, not the user's
    os.environ.setdefault("XDG_DATA_HOME", tmp)
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication

    from callassist.gui.panel import SidePanel
    from callassist.gui.settings import PanelSettings

    app = QApplication(sys.argv[:1])
    panel = SidePanel(PanelSettings(theme=args.theme), store=None)
    panel.resize(400, 980)
    panel.move(1000, 0)
    panel.show()
    out = args.out or ROOT / "docs" / f"panel-{args.theme}.png"
    moods = []

    def capture():
        app.processEvents()
        wid = hex(int(panel.winId()))
        subprocess.run(["/usr/bin/import", "-window", wid, str(out)], check=True)
        print(out)
        panel.stop_call()
        QTimer.singleShot(1500, app.quit)

    def on_mood(m):
        moods.append(m)
        if len(moods) == args.after_moods:
            QTimer.singleShot(2500, capture)  # let the assist events of that utterance arrive

    panel.mood_shown.connect(on_mood)
    panel.play(args.call, speed=4.0)
    QTimer.singleShot(180000, app.quit)
    app.exec()


if __name__ == "__main__":
    main()
