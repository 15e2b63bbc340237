"""Start the side panel: `callassist` (live calls) or `callassist --play CALL.wav`."""
from __future__ import annotations

import sys


def run(play: str | None = None, speed: float = 1.0, playback: bool = True) -> int:
    from PySide6.QtWidgets import QApplication, QMessageBox

    from ..errors import CallAssistError
    from .panel import SidePanel

    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setApplicationName("CallAssist")
    store = None
    try:
        from ..store import CallStore
        store = CallStore()
    except CallAssistError as exc:
        QMessageBox.warning(None, "CallAssist", f"Calls will not be saved: {exc}")
    panel = SidePanel(store=store)
    panel.dock_right()
    panel.show()
    if store is not None and not play:
        offer_interrupted(panel, store)
    if play:
        panel.play(play, speed, playback=playback)
    return app.exec()


def offer_interrupted(panel, store) -> None:
    """After a crash, offer to open the call that was interrupted (nothing recorded is lost)."""
    from PySide6.QtWidgets import QMessageBox

    for rec in store.interrupted_calls():
        answer = QMessageBox.question(
            panel, "Interrupted call",
            f"A call started {rec.started} was interrupted ({rec.utterances} utterances saved). "
            f"Open it?", QMessageBox.Open | QMessageBox.Ignore, QMessageBox.Open)
        timeline = store.recover(rec.id)
        if answer == QMessageBox.Open:
            panel.show_timeline(timeline)
            break
