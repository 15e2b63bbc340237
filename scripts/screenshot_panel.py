#!/usr/bin/env python3
"""Screenshots of the side panel mid-call, light and dark, in a real X window under Xvfb.

    xvfb-run -a -s "-screen 0 1400x1000x24" .venv/bin/python scripts/screenshot_panel.py
    … scripts/screenshot_panel.py --width 360 --theme dark --after-call

Plays a demo call through the panel (4x speed) and, once the caller has been calmed and the
panel is full, captures the window with ImageMagick's `import` into docs/panel-<theme>.png
(at --width 360: docs/panel-360-<theme>-mid.png; with --after-call, once the call has ended:
docs/panel-360-<theme>-after.png).
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
    ap.add_argument("--width", type=int, default=400)
    ap.add_argument("--height", type=int, default=980)
    ap.add_argument("--after-call", action="store_true", help="capture when the call has ended")
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
    panel.resize(args.width, args.height)
    panel.move(1000, 0)
    panel.show()
    name = (f"panel-{args.theme}" if args.width == 400 and not args.after_call else
            f"panel-{args.width}-{args.theme}-{'after' if args.after_call else 'mid'}")
    out = args.out or ROOT / "docs" / f"{name}.png"
    moods = []

    def capture():
        app.processEvents()
        wid = hex(int(panel.winId()))
        if Path("/usr/bin/import").exists():  # ImageMagick: the window as the X server shows it
            subprocess.run(["/usr/bin/import", "-window", wid, str(out)], check=True)
        else:  # the window's own rendering
            panel.grab().save(str(out))
        print(out, panel.width(), "px wide")
        panel.stop_call()
        QTimer.singleShot(1500, app.quit)

    def on_mood(m):
        moods.append(m)
        if len(moods) == args.after_moods and not args.after_call:
            QTimer.singleShot(2500, capture)  # let the assist events of that utterance arrive

    def ended():
        if panel.worker is None and panel.call_started is None and moods:
            QTimer.singleShot(3000, capture)  # after the call: the clock has stopped

    panel.mood_shown.connect(on_mood)
    if args.after_call:
        watch = QTimer(panel)
        watch.timeout.connect(lambda: (ended(), watch.stop()) if panel.worker is None and moods else None)
        watch.start(500)
    panel.play(args.call, speed=4.0)
    QTimer.singleShot(180000, app.quit)
    app.exec()


if __name__ == "__main__":
    main()
