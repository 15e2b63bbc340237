"""Start the side panel: `callassist` (live calls) or `callassist --play CALL.wav`."""
from __future__ import annotations

import sys


def run(play: str | None = None, speed: float = 1.0, playback: bool = True, config=None) -> int:
    from PySide6.QtWidgets import QApplication, QMessageBox

    from ..config import Config
    from ..errors import CallAssistError
    from .panel import SidePanel

    config = config if config is not None else Config.load()
    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setApplicationName("CallAssist")
    store = None
    try:
        store = config.open_store()
    except CallAssistError as exc:
        QMessageBox.warning(None, "CallAssist", f"Calls will not be saved: {exc}")
    panel = SidePanel(store=store, config=config)  # starts loading the models at once
    panel.dock_right()
    panel.show()
    if store is not None and not play:
        offer_interrupted(panel, store)
    if play:
        panel.play(play, speed, playback=playback)
    return app.exec()


def run_library(library: str | None = None, config: str | None = None,
                call_id: str | None = None) -> int:
    """The QA / coach window on the call library (`callassist library`)."""
    from PySide6.QtWidgets import QApplication

    from ..config import Config
    from .library_view import LibraryWindow
    from .settings import PanelSettings
    from .theme import apply_theme

    cfg = Config.load(config)
    store = cfg.open_store(library, create=False)  # errors: one line on the terminal
    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setApplicationName("CallAssist")
    win = LibraryWindow(store, config=cfg)
    apply_theme(win, PanelSettings.load().theme)
    win.show()
    if call_id:
        win.open_call(call_id)
    try:
        return app.exec()
    finally:
        store.close()


def offer_interrupted(panel, store) -> None:
    """After a crash, offer to open the call that was interrupted (nothing recorded is lost)."""
    from PySide6.QtWidgets import QMessageBox

    for rec in store.interrupted_calls():  # `utterances`: counted from what was stored
        said = f"{rec.utterances} utterance{'' if rec.utterances == 1 else 's'} saved"
        answer = QMessageBox.question(
            panel, "Interrupted call",
            f"A call started {rec.started} was interrupted ({said}). "
            f"Open it?", QMessageBox.Open | QMessageBox.Ignore, QMessageBox.Open)
        timeline = store.recover(rec.id)
        if answer == QMessageBox.Open:
            panel.show_timeline(timeline)
            break
