"""Light and dark themes: a Qt palette plus the stylesheet in ui/ (panel.qss, with colours
filled in from ui/theme-light.ini or ui/theme-dark.ini)."""
from __future__ import annotations

import configparser

from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import QApplication, QWidget

from ..resources import shipped

UI = shipped("ui")


# Theme colours the panel draws text in outside the stylesheet (the transcript's speakers and
# times), on the transcript's background: checked for contrast with the stylesheet's pairs.
INLINE_TEXT = {"base": ("agent", "caller", "muted")}


def colours(theme: str) -> dict[str, str]:
    cp = configparser.ConfigParser()
    cp.read(UI / f"theme-{theme}.ini", encoding="utf-8")
    return dict(cp["colours"]) if cp.has_section("colours") else {}


def apply_theme(window: QWidget, theme: str) -> None:
    theme = theme if theme in ("light", "dark") else "light"
    c = colours(theme)
    app = QApplication.instance()
    pal = QPalette()
    for role, key in ((QPalette.Window, "window"), (QPalette.Base, "base"),
                      (QPalette.AlternateBase, "alternate"), (QPalette.Text, "text"),
                      (QPalette.WindowText, "text"), (QPalette.ButtonText, "text"),
                      (QPalette.Button, "button"), (QPalette.PlaceholderText, "muted"),
                      (QPalette.Highlight, "accent"), (QPalette.HighlightedText, "on_accent"),
                      (QPalette.ToolTipBase, "base"),
                      (QPalette.ToolTipText, "text")):
        if key in c:
            pal.setColor(role, QColor(c[key]))
    app.setPalette(pal)
    qss = (UI / "panel.qss").read_text(encoding="utf-8").replace("@icons", (UI / "icons").as_posix())
    for key in sorted(c, key=len, reverse=True):  # "@phrase_border" before "@phrase"
        qss = qss.replace("@" + key, c[key])
    window.setStyleSheet(qss)
    window.setProperty("theme", theme)
