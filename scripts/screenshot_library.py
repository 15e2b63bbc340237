#!/usr/bin/env python3
"""Screenshots of the QA library and the coach's replay view, in real X windows under Xvfb.

    xvfb-run -a -s "-screen 0 1400x1000x24" .venv/bin/python scripts/screenshot_library.py [--theme dark]

Imports the bundled demo calls into a new library (real models), adds two coach notes to the
angry call, then captures with ImageMagick's `import`: the QA list sorted by flag count
(docs/library-qa.png), the angry call opened at its worst moment with its QA scorecard
(docs/replay.png), the rules editor testing a rule on the library (docs/rules-editor.png) and
the QA averages per agent and per question (docs/qa-averages.png).
With --pdf it also writes that call's PDF report and its first page as docs/report-page1.png.
"""
from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def grab(window, out: Path) -> None:
    from PySide6.QtWidgets import QApplication
    for _ in range(20):
        QApplication.processEvents()
    subprocess.run(["/usr/bin/import", "-window", hex(int(window.winId())), str(out)], check=True)
    print(out)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--theme", choices=["light", "dark"], default="light")
    ap.add_argument("--out", type=Path, default=ROOT / "docs")
    ap.add_argument("--pdf", action="store_true", help="also render the PDF report's first page")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp())
    os.environ["XDG_CONFIG_HOME"] = str(tmp / "config")  # clean settings, not the user's
    os.environ["XDG_DATA_HOME"] = str(tmp / "data")
    suffix = "" if args.theme == "light" else "-dark"

    from PySide6.QtCore import QTimer, Qt
    from PySide6.QtWidgets import QApplication

    from callassist.gui.library_view import COLUMNS, LibraryWindow
    from callassist.gui.theme import apply_theme
    from callassist.library.importer import Importer
    from callassist.config import Config
    from callassist.core.models import Models
    from callassist.library.service import Library

    app = QApplication(sys.argv[:1])
    store = Library(tmp / "calls.sqlite3")
    print("importing the demo calls…")
    results = Importer(store, Models.load(Config()), Config(), jobs=2).run([ROOT / "demo" / "calls"])
    assert all(r.ok for r in results), [r.error for r in results]
    angry = next(r for r in store.list_calls() if r.title == "angry_calmed")
    store.add_note(angry.id, angry.worst.time, "Good: stayed calm and offered the supervisor.")
    store.add_note(angry.id, 47.0, "Acknowledge the third call before the order number.")
    for title, agent in (("angry_calmed", "Sam"), ("billing_escalation", "Sam"),
                         ("confused_caller", "Priya"), ("satisfied_caller", "Priya")):
        store.update_call(next(r.id for r in store.list_calls() if r.title == title), agent=agent)
    store.review(angry.id, "greeting", "no", "Ana", "company name missing")

    win = LibraryWindow(store)
    apply_theme(win, args.theme)
    win.resize(1320, 420)
    win.move(20, 20)
    win.show()
    win.table.sortByColumn(COLUMNS.index("Flags"), Qt.DescendingOrder)
    win.select(angry.id)

    def shoot():
        grab(win, args.out / f"library-qa{suffix}.png")
        replay = win.open_call(angry.id)  # at its worst moment
        replay.resize(1200, 820)
        replay.move(40, 60)
        QTimer.singleShot(2500, lambda: shoot_replay(replay))

    def shoot_replay(replay):
        grab(replay, args.out / f"replay{suffix}.png")
        if args.pdf:
            pdf = tmp / "report.pdf"
            replay.export_pdf(str(pdf))
            subprocess.run(["pdftoppm", "-png", "-r", "80", "-f", "1", "-l", "1", "-singlefile",
                            str(pdf), str(args.out / "report-page1")], check=True)
            print(args.out / "report-page1.png")
        replay.close()
        editor = win.edit_rules()
        editor.resize(1100, 640)
        editor.move(60, 80)
        row = next(i for i, r in enumerate(editor.rules) if r.get("id") == "cancel_threat")
        editor.list.setCurrentRow(row)
        editor.test_rule()

        def when_tested():
            if not editor.test_button.isEnabled():
                QTimer.singleShot(300, when_tested)
                return
            grab(editor, args.out / f"rules-editor{suffix}.png")
            editor.close()
            dlg = win.show_qa_averages()
            dlg.move(80, 60)
            QTimer.singleShot(800, lambda: shoot_averages(dlg))

        def shoot_averages(dlg):
            grab(dlg, args.out / f"qa-averages{suffix}.png")
            dlg.close()
            win.close()
            app.quit()
        QTimer.singleShot(300, when_tested)

    QTimer.singleShot(1500, shoot)
    QTimer.singleShot(120000, app.quit)
    app.exec()
    store.close()
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
