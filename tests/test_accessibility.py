"""Accessibility of the panel, the QA window and the replay view: contrast of every colour pair
the stylesheet uses in both themes (WCAG 2: text >= 4.5:1, controls and focus >= 3:1), a
visible keyboard focus, Tab through every control with no trap, Esc closes windows and
dialogs, and a screen-reader name on every control of the panel."""
import re
from concurrent.futures import Future

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import (QAbstractButton, QAbstractItemView, QAbstractSpinBox,
                               QApplication, QComboBox, QLineEdit, QSlider, QTextEdit, QWidget)

from callassist.gui import widgets
from callassist.gui.theme import INLINE_TEXT, UI, apply_theme, colours

THEMES = ("light", "dark")
TEXT, CONTROL = 4.5, 3.0


# ---- WCAG contrast from the theme colours -------------------------------------------------------

def luminance(colour: str) -> float:
    c = QColor(colour)
    assert c.isValid(), colour

    def ch(v: float) -> float:
        return v / 12.92 if v <= 0.03928 else ((v + 0.055) / 1.055) ** 2.4
    return 0.2126 * ch(c.redF()) + 0.7152 * ch(c.greenF()) + 0.0722 * ch(c.blueF())


def contrast(a: str, b: str) -> float:
    hi, lo = sorted((luminance(a), luminance(b)), reverse=True)
    return (hi + 0.05) / (lo + 0.05)


def test_contrast_formula():
    assert contrast("#000000", "#ffffff") == pytest.approx(21.0)
    assert contrast("#777777", "#ffffff") == pytest.approx(4.48, abs=0.01)


def qss_rules():
    qss = re.sub(r"/\*.*?\*/", "", (UI / "panel.qss").read_text(encoding="utf-8"), flags=re.S)
    for selectors, body in re.findall(r"([^{}]+)\{([^}]*)\}", qss):
        props = {}
        for decl in body.split(";"):
            if ":" in decl:
                k, v = decl.split(":", 1)
                props[k.strip()] = v.strip()
        yield selectors.strip(), props


def keys(value: str) -> list[str]:
    return re.findall(r"@(\w+)", value or "")


CONTROLS = re.compile(r"QPushButton|QToolButton|QComboBox|QLineEdit|QSpinBox|QDateEdit|QCheckBox"
                      r"|QSlider|#phrase|:focus|::indicator")


def pairs(theme: str):
    """(foreground, background, what, minimum ratio) for every pair the stylesheet draws."""
    c = colours(theme)
    rules = list(qss_rules())
    # the surfaces text lands on: every background of a widget that does not set its own text
    # colour (sub-controls such as ::chunk, ::indicator and the slider's parts carry no text)
    surfaces = {k for sel, p in rules if "::" not in sel and "#meter" not in sel
                and "color" not in p for k in keys(p.get("background"))}
    assert {"window", "section", "base", "card", "phrase", "escalation", "button"} <= surfaces
    out = []
    for sel, p in rules:
        fg = keys(p.get("color"))
        bg = keys(p.get("background"))
        if fg and bg:
            out.append((c[fg[0]], c[bg[0]], f"{sel}: {fg[0]} on {bg[0]}", TEXT))
        elif fg:
            out += [(c[fg[0]], c[s], f"{sel}: {fg[0]} on {s}", TEXT) for s in sorted(surfaces)]
        if CONTROLS.search(sel):  # the outline of a control, its focus ring, its parts
            for prop in ("border", "border-color"):
                for k in keys(p.get(prop)):
                    out += [(c[k], c[s], f"{sel}: {prop} {k} on {s}", CONTROL)
                            for s in sorted(surfaces)]
            if ("::" in sel or sel.startswith("QPushButton#primary")) and not keys(p.get("border")):
                for k in bg:  # a part without an outline: its fill is what shows it
                    out += [(c[k], c[s], f"{sel}: fill {k} on {s}", CONTROL)
                            for s in ("window", "section")]
    out += [(c["text"], c[s], f"default text on {s}", TEXT) for s in sorted(surfaces)]
    # text drawn outside the stylesheet: transcript speakers and times, the mood label
    for bg, fgs in INLINE_TEXT.items():
        out += [(c[k], c[bg], f"transcript {k} on {bg}", TEXT) for k in fgs]
    moods = widgets.MOOD_COLOURS_DARK if theme == "dark" else widgets.MOOD_COLOURS
    out += [(v, c["section"], f"mood label {k}", TEXT) for k, v in moods.items()]
    # pictures that carry meaning: the meter, the mood line, the header icons, the check mark
    out.append((c["meter"], c["alternate"], "level meter", CONTROL))
    curve = widgets.CURVE_DARK if theme == "dark" else widgets.CURVE_LIGHT
    out.append((curve, c["section"], "mood line on the chart", CONTROL))
    for icon in ("pin", "library", "settings"):
        for fill in re.findall(r'fill="(#[0-9a-fA-F]{3,6})"', (UI / "icons" / f"{icon}.svg").read_text()):
            out.append((fill, c["window"], f"{icon} icon", CONTROL))
    for stroke in re.findall(r'stroke="(#[0-9a-fA-F]{3,6})"', (UI / "icons" / c["check"]).read_text()):
        out.append((stroke, c["accent"], "check mark in a ticked box", CONTROL))
    return out


@pytest.mark.parametrize("theme", THEMES)
def test_every_colour_pair_meets_wcag_contrast(theme):
    checked = pairs(theme)
    assert len(checked) > 100
    what = {w for _, _, w, _ in checked}
    # the pairs the issue named: unchecked boxes, folder buttons, replay transport controls
    assert any("::indicator" in w and "control_border" in w for w in what)
    assert any(w.startswith("QPushButton {") or "QPushButton:" in w or w.startswith("QPushButton:")
               for w in what) or any("QPushButton" in w and "border" in w for w in what)
    assert any("#transport" in w for w in what)
    low = [f"{w}: {contrast(a, b):.2f} < {need}" for a, b, w, need in checked
           if contrast(a, b) < need]
    assert not low, "\n".join(low)


# ---- windows, offscreen -------------------------------------------------------------------------

@pytest.fixture(autouse=True)
def no_model_load(monkeypatch):
    ready = Future()
    ready.set_result(None)
    monkeypatch.setattr("callassist.core.models.preload", lambda config, progress=None: ready)


@pytest.fixture
def store(tmp_path):
    from callassist.library.service import Library
    s = Library(tmp_path / "calls.sqlite3")
    yield s
    s.close()


@pytest.fixture(params=THEMES)
def full_panel(qtbot, request, store):
    """A panel mid-call at 360 px: phrases, a card, transfer advice, points and a transcript."""
    from callassist.core.events import (CallerPoint, EscalationAdvice, KnowledgeMatch,
                                        PhraseSuggestion, Utterance)
    from callassist.gui.panel import SidePanel
    from callassist.gui.settings import PanelSettings
    from tests.test_panel_polish import TV_CARD, TV_QUERY
    p = SidePanel(PanelSettings(theme=request.param), store=store)
    qtbot.addWidget(p)
    p.resize(360, 1000)
    p.show()
    for ev in (Utterance(id=1, speaker="customer", text="my TV delivery", start=1, end=2),
               PhraseSuggestion(time=2, utterance_id=1, situation="neutral",
                                phrases=("Let me check that for you.", "Thanks for waiting."),
                                reason="x"),
               KnowledgeMatch(time=2, utterance_id=1, query=TV_QUERY, cards=(TV_CARD,)),
               CallerPoint(id=1, time=2, utterance_id=1, category="issue", text="TV delivery",
                           addressed=False),
               EscalationAdvice(time=2, utterance_id=1, trigger="requested", reason="asked")):
        p.on_event(ev)
    activate(qtbot, p)
    yield p
    p.close()


def activate(qtbot, window: QWidget) -> None:
    window.raise_()
    window.activateWindow()
    qtbot.waitUntil(lambda: QApplication.activeWindow() is window, timeout=5000)


def controls(root: QWidget) -> list[QWidget]:
    """The widgets a keyboard user can reach: shown, enabled, taking focus by Tab."""
    return [w for w in root.findChildren(QWidget)
            if w.isVisible() and w.isEnabled() and w.focusPolicy() & Qt.TabFocus
            and w.focusProxy() is None and w.window() is root.window()]


def tab_walk(qtbot, first: QWidget, limit: int = 200) -> list[QWidget]:
    first.setFocus(Qt.TabFocusReason)
    qtbot.waitUntil(lambda: QApplication.focusWidget() is first, timeout=2000)
    seen = [first]
    for _ in range(limit):
        qtbot.keyClick(QApplication.focusWidget(), Qt.Key_Tab)
        w = QApplication.focusWidget()
        if w is first:
            return seen
        seen.append(w)
    raise AssertionError(f"Tab never came back to the first control: stuck on "
                         f"{[type(w).__name__ + ':' + w.objectName() for w in seen[-3:]]}")


def test_tab_reaches_every_control_of_the_panel(qtbot, full_panel):
    p = full_panel
    reached = tab_walk(qtbot, p.start_button)
    expected = controls(p)
    missing = [f"{type(w).__name__} {w.accessibleName()!r}" for w in expected if w not in reached]
    assert not missing, missing
    for w in (p.start_button, p.pin, p.library_button, p.settings_button, p.caller_input,
              p.dismiss_escalation, p.phrase_labels[0], p.cards[0], p.points, p.transcript,
              *p.checks.values()):
        assert w in reached, w.accessibleName()
    assert p.chart not in reached and p.gauge not in reached  # pictures are not stops


def test_every_control_of_the_panel_has_a_screen_reader_name(qtbot, full_panel):
    p = full_panel
    interactive = (QAbstractButton, QComboBox, QAbstractItemView, QTextEdit, QLineEdit,
                   QSlider, QAbstractSpinBox, widgets.ClickLabel, widgets.KnowledgeCard)
    found = [w for w in p.findChildren(QWidget)
             if w.isVisible() and isinstance(w, interactive) or w in controls(p)]
    assert len(found) >= 15
    unnamed = [f"{type(w).__name__} {w.objectName()!r} {w.toolTip()!r}" for w in found
               if not w.accessibleName().strip()]
    assert not unnamed, unnamed
    # icon-only buttons say what they do, and the phrases and cards say what they hold
    assert p.pin.accessibleName() == "Keep the panel on top"
    assert p.settings_button.accessibleName() == "Settings"
    assert p.phrase_labels[0].accessibleName().endswith("Let me check that for you.")
    assert p.cards[0].accessibleName().endswith(p.cards[0].card["title"])
    assert p.cards[0].answer in p.cards[0].accessibleDescription()


def test_keyboard_focus_is_visible_on_every_control(qtbot, full_panel):
    p = full_panel
    other = p.start_button
    invisible = []
    for w in controls(p):
        other = p.library_button if w is p.start_button else p.start_button
        other.setFocus(Qt.TabFocusReason)
        qtbot.waitUntil(lambda: not w.hasFocus(), timeout=2000)
        qtbot.wait(10)
        before = w.grab().toImage()
        w.setFocus(Qt.TabFocusReason)
        qtbot.waitUntil(w.hasFocus, timeout=2000)
        qtbot.wait(10)
        if w.grab().toImage() == before:
            invisible.append(f"{type(w).__name__} {w.accessibleName()!r}")
    assert not invisible, invisible


def test_qa_window_tab_leaves_the_date_fields(qtbot, store):
    from callassist.gui.library_view import LibraryWindow
    win = LibraryWindow(store)
    qtbot.addWidget(win)
    apply_theme(win, "dark")
    win.show()
    activate(qtbot, win)
    reached = tab_walk(qtbot, win.date_from)
    assert len(reached) > 1 and reached[1] is not win.date_from, "Tab stays in the date field"
    assert win.date_to in reached
    missing = [f"{type(w).__name__} {w.toolTip() or w.objectName()!r}" for w in controls(win)
               if w not in reached]
    assert not missing, missing
    win.date_to.setFocus(Qt.TabFocusReason)
    qtbot.waitUntil(win.date_to.hasFocus, timeout=2000)
    qtbot.keyClick(win.date_to, Qt.Key_Backtab)
    assert not win.date_to.hasFocus()  # Shift+Tab leaves too
    win.close()


@pytest.fixture
def stored_call(store):
    from callassist.core.events import MoodState, Utterance
    from callassist.core.timeline import Timeline
    tl = Timeline(call={"duration": 30.0, "source": "test.wav"}, events=[
        Utterance(id=1, speaker="customer", text="my TV has not arrived", start=1.0, end=3.0),
        MoodState(time=3.0, speaker="customer", score=-0.4, label="frustrated", confidence=0.6,
                  trend="steady", change=-0.4, utterance_id=1, reason="sounds unhappy: −0.4"),
        Utterance(id=2, speaker="agent", text="let me check that for you", start=4.0, end=6.0)])
    return store.save_timeline(tl, title="TV delivery")


@pytest.mark.parametrize("theme", THEMES)
def test_esc_closes_the_replay_window_and_its_controls_are_visible(qtbot, store, stored_call, theme):
    from callassist.gui.replay import ReplayWindow
    from callassist.gui.settings import PanelSettings, SettingsDialog
    win0 = QWidget()
    apply_theme(win0, theme)  # the application palette of the theme, as the library sets it
    win = ReplayWindow(store, stored_call)
    qtbot.addWidget(win)
    win.setStyleSheet(win0.styleSheet())
    win.show()
    activate(qtbot, win)
    # the transport: play is drawn in the theme's text colour, clear of its button
    img = win.play_button.icon().pixmap(32, 32).toImage()
    ink = {img.pixelColor(x, y).name() for x in range(32) for y in range(32)
           if img.pixelColor(x, y).alpha() == 255}
    c = colours(theme)
    assert ink and all(contrast(i, c["button"]) >= CONTROL for i in ink), ink
    assert win.play_button.accessibleName() == "Play"
    qtbot.keyClick(win, Qt.Key_Escape)
    qtbot.waitUntil(lambda: not win.isVisible(), timeout=2000)

    dlg = SettingsDialog(PanelSettings(theme=theme))
    qtbot.addWidget(dlg)
    dlg.setStyleSheet(win0.styleSheet())
    dlg.show()
    # the folder buttons show their "…" whole (they were clipped to nothing)
    b = dlg.vosk.browse
    assert b.width() >= b.fontMetrics().horizontalAdvance(b.text()) + 8
    assert b.accessibleName() == "Choose a folder"
    activate(qtbot, dlg)
    qtbot.keyClick(dlg, Qt.Key_Escape)
    qtbot.waitUntil(lambda: not dlg.isVisible(), timeout=2000)
    assert QApplication.palette().color(QPalette.HighlightedText).name() == c["on_accent"]
