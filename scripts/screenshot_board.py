#!/usr/bin/env python3
"""A screenshot of the supervisor's board on a team library, in a real X window under Xvfb.

    xvfb-run -a -s "-screen 0 1400x1000x24" .venv/bin/python scripts/screenshot_board.py [--theme dark]

Starts a private PostgreSQL server (tests/pgserver.py, 127.0.0.1), plays four desks' live calls
into it from the demo dialogues' words (an angry caller asking for a manager, a confused one, a
calm one, one cooling down), opens the board, follows the angry call, and captures it with
ImageMagick's `import` (docs/board.png).
"""
from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

CALLS = [  # agent, title, lines (speaker, text), caller's mood (label, score, trend, intensity)
    ("amy.jones", "Order 5512: late sofa", [
        ("agent", "Thank you for calling Harbour Home, Amy speaking, how can I help?"),
        ("customer", "This is the third time I am calling about my sofa. It is ridiculous."),
        ("agent", "I am sorry to hear that, let me look at your order straight away."),
        ("customer", "I do not want excuses, I want to speak to a manager right now."),
    ], ("angry", -0.74, "worsening", 2.4), "caller asked for a manager",
     [("high", "Caller asked for a manager")]),
    ("ben.okafor", "Router will not connect", [
        ("agent", "Brightwave support, Ben here."),
        ("customer", "I have unplugged the router twice and the light is still orange."),
        ("agent", "Let's try a reset together, do you see a small hole on the back?"),
    ], ("confused", -0.21, "steady", 0.8), "", [("medium", "Long silence (18 s)")]),
    ("chloe.martin", "Change delivery address", [
        ("agent", "Good morning, Chloe speaking."),
        ("customer", "Hi, I moved last week and need my parcel sent to the new flat."),
        ("agent", "Of course, I can change that for you now."),
        ("customer", "Lovely, thank you so much."),
    ], ("happy", 0.58, "improving", 0.0), "", []),
    ("dev.patel", "Double charge on invoice", [
        ("agent", "Billing team, Dev speaking."),
        ("customer", "I was charged twice this month and I am not happy about it."),
        ("agent", "I can see the second charge, I am refunding it now."),
        ("customer", "Okay. That is better, thanks."),
    ], ("annoyed", -0.12, "improving", 0.9), "", [("low", "Refund promised: check wrap-up")]),
]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--theme", choices=["light", "dark"], default="light")
    ap.add_argument("--out", type=Path, default=ROOT / "docs")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp())
    os.environ["XDG_CONFIG_HOME"] = str(tmp / "config")
    os.environ["XDG_DATA_HOME"] = str(tmp / "data")

    from PySide6.QtWidgets import QApplication

    from callassist.core.events import EscalationAdvice, MoodState, RuleMatch, Utterance
    from callassist.gui.board import SupervisorBoard
    from callassist.gui.theme import apply_theme
    from callassist.library.service import Library
    from tests.pgserver import PgServer

    server = PgServer().start()
    os.environ["PGPASSFILE"] = str(server.passfile)
    try:
        url = server.create_database("team")
        app = QApplication(sys.argv[:1])
        desk = Library(url)
        start = datetime.now(timezone.utc)
        for n, (agent, title, lines, mood, esc, alerts) in enumerate(CALLS):
            began = (start - timedelta(seconds=300 - 55 * n)).isoformat(timespec="seconds")
            cid = desk.start_call({"id": f"live-{n}", "started": began}, title=title, agent=agent)
            rec = desk.recorder(cid, flush_seconds=0.1)
            t = 0.0
            for uid, (speaker, text) in enumerate(lines, 1):
                rec(Utterance(uid, speaker, text, t, t + 3.0))
                t += 3.5
            label, score, trend, heat = mood
            rec(MoodState(t, "customer", score, label, 0.8, trend, 0.1, len(lines), "", (), heat))
            for severity, alert in alerts:
                rec(RuleMatch(t, "r", alert, "customer", len(lines), "", alert=alert,
                              severity=severity))
            if esc:
                rec(EscalationAdvice(t, len(lines), "requested", esc))
        board = Library(url)
        win = SupervisorBoard(board.store)
        apply_theme(win, args.theme)
        win.resize(1380, 430)
        win.show()
        deadline = time.monotonic() + 15
        while len(win.model.calls) < len(CALLS) or not win.model.calls[0].escalation:
            app.processEvents()
            time.sleep(0.05)
            if time.monotonic() > deadline:
                raise SystemExit("the board did not show the calls")
        win._clicked(win.model.index(0, 0))
        deadline = time.monotonic() + 5
        while win.transcript.count() < 4 and time.monotonic() < deadline:
            app.processEvents()
            time.sleep(0.05)
        for _ in range(20):
            app.processEvents()
        suffix = "" if args.theme == "light" else "-dark"
        out = args.out / f"board{suffix}.png"
        subprocess.run(["/usr/bin/import", "-window", hex(int(win.winId())), str(out)], check=True)
        print(out)
        win.stop()
        desk.close()
        board.close()
    finally:
        server.stop()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
