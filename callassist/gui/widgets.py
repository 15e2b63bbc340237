"""Small widgets of the side panel: sections, the mood gauge, the trend chart, cards."""
from __future__ import annotations

from html import escape

from PySide6.QtCore import QEvent, QRectF, QSize, Qt, Signal
from PySide6.QtGui import QColor, QFont, QLinearGradient, QPainter, QPen
from PySide6.QtWidgets import (QFrame, QHBoxLayout, QLabel, QSizePolicy, QToolButton, QVBoxLayout,
                               QWidget)

# The mood label's colour on the section background: >= 4.5:1 in each theme (tests/test_accessibility.py)
MOOD_COLOURS = {
    "furious": "#b71c1c", "angry": "#c62828", "upset": "#bf360c", "frustrated": "#b34700",
    "annoyed": "#a04000", "worried": "#8a6500",
    "confused": "#7b1fa2", "neutral": "#546e7a", "calm": "#0277bd", "pleased": "#2e7d32",
}
MOOD_COLOURS_DARK = {
    "furious": "#ff8a80", "angry": "#ff8a80", "upset": "#ff9e80", "frustrated": "#ffb74d",
    "annoyed": "#ffcc80", "worried": "#ffd54f",
    "confused": "#ce93d8", "neutral": "#b0bec5", "calm": "#81d4fa", "pleased": "#a5d6a7",
}
TREND_ARROWS = {"improving": "↗", "steady": "→", "worsening": "↘"}


class Section(QFrame):
    """A titled block of the panel; collapsible if asked."""

    def __init__(self, title: str, collapsible: bool = False, collapsed: bool = False, parent=None):
        super().__init__(parent)
        self.setObjectName("section")
        outer = QVBoxLayout(self)
        outer.setContentsMargins(8, 6, 8, 6)
        outer.setSpacing(4)
        head = QHBoxLayout()
        self.title = QLabel(title.upper())
        self.title.setObjectName("sectionTitle")
        head.addWidget(self.title)
        self.extra = QLabel("")
        self.extra.setObjectName("sectionExtra")
        head.addWidget(self.extra, 1, Qt.AlignRight)
        self.toggle = None
        if collapsible:
            self.toggle = QToolButton()
            self.toggle.setCheckable(True)
            self.toggle.setChecked(not collapsed)
            self.toggle.setArrowType(Qt.DownArrow if not collapsed else Qt.RightArrow)
            self.toggle.setAutoRaise(True)
            self.toggle.toggled.connect(self.set_expanded)
            head.addWidget(self.toggle)
        outer.addLayout(head)
        self.body = QWidget()
        self.body_layout = QVBoxLayout(self.body)
        self.body_layout.setContentsMargins(0, 0, 0, 0)
        self.body_layout.setSpacing(4)
        outer.addWidget(self.body)
        if collapsible and collapsed:
            self.body.hide()

    def set_expanded(self, on: bool) -> None:
        self.body.setVisible(on)
        if self.toggle is not None:
            self.toggle.setArrowType(Qt.DownArrow if on else Qt.RightArrow)
            if self.toggle.isChecked() != on:
                self.toggle.setChecked(on)


class MoodGauge(QWidget):
    """A red-to-green bar with a marker at the caller's mood, the label, confidence and trend.

    While the caller is still speaking a provisional reading of their words so far is shown as
    well: the label with a question mark ("Angry?"), "still speaking" in place of the trend and a
    hollow marker; the final utterance's mood replaces it."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.score = 0.0
        self.label = "waiting for the caller"
        self.trend = ""
        self.confidence = 0.0
        self.has_mood = False
        self.provisional: tuple[float, str] | None = None  # (score, label) while they speak
        self.setMinimumHeight(64)
        self.setSizePolicy(QSizePolicy.Expanding, QSizePolicy.Fixed)

    def set_mood(self, score: float, label: str, trend: str, confidence: float) -> None:
        self.score, self.label, self.trend, self.confidence = score, label, trend, confidence
        self.has_mood = True
        self.provisional = None
        self.setToolTip(f"mood {score:+.2f}, {trend}, confidence {confidence:.0%}")
        self.setAccessibleDescription(f"caller mood {label}, {trend}")
        self.update()

    def set_provisional(self, score: float, label: str) -> None:
        self.provisional = (score, label)
        self.setAccessibleDescription(f"caller still speaking, provisionally {label}")
        self.update()

    @property
    def shown_label(self) -> str:
        """What the gauge says in words (for tests and screen readers)."""
        if self.provisional is not None:
            return f"{self.provisional[1].capitalize()}?"
        return self.label.capitalize() if self.has_mood else "Waiting for the caller…"

    def reset(self) -> None:
        self.score, self.label, self.trend, self.confidence, self.has_mood = 0.0, "waiting for the caller", "", 0.0, False
        self.provisional = None
        self.update()

    def paintEvent(self, _):
        p = QPainter(self)
        p.setRenderHint(QPainter.Antialiasing)
        w = self.width()
        dark = self.palette().window().color().lightness() < 128
        shown = self.provisional[1] if self.provisional is not None else self.label
        colour = QColor((MOOD_COLOURS_DARK if dark else MOOD_COLOURS).get(
            shown, self.palette().text().color().name()))
        f = QFont(self.font())
        f.setPointSizeF(f.pointSizeF() * 1.6)
        f.setBold(True)
        f.setItalic(self.provisional is not None)
        p.setFont(f)
        p.setPen(colour if self.has_mood or self.provisional else self.palette().placeholderText().color())
        p.drawText(QRectF(0, 0, w, 30), Qt.AlignLeft | Qt.AlignVCenter, self.shown_label)
        small = QFont(self.font())
        p.setFont(small)
        p.setPen(self.palette().text().color())
        if self.provisional is not None:
            p.drawText(QRectF(0, 0, w, 30), Qt.AlignRight | Qt.AlignVCenter, "still speaking…")
        elif self.has_mood:
            p.drawText(QRectF(0, 0, w, 30), Qt.AlignRight | Qt.AlignVCenter,
                       f"{TREND_ARROWS.get(self.trend, '')} {self.trend}  ·  {self.confidence:.0%} sure")
        bar = QRectF(2, 38, w - 4, 12)
        grad = QLinearGradient(bar.topLeft(), bar.topRight())
        grad.setColorAt(0.0, QColor("#c62828"))
        grad.setColorAt(0.35, QColor("#ef6c00"))
        grad.setColorAt(0.5, QColor("#90a4ae"))
        grad.setColorAt(0.75, QColor("#0277bd"))
        grad.setColorAt(1.0, QColor("#2e7d32"))
        p.setPen(Qt.NoPen)
        p.setBrush(grad)
        p.drawRoundedRect(bar, 6, 6)
        if self.has_mood:
            x = bar.left() + (self.score + 1) / 2 * bar.width()
            p.setPen(QPen(self.palette().text().color(), 2))
            p.setBrush(self.palette().base())
            p.drawEllipse(QRectF(x - 8, bar.center().y() - 8, 16, 16))
        if self.provisional is not None:
            x = bar.left() + (self.provisional[0] + 1) / 2 * bar.width()
            p.setPen(QPen(self.palette().text().color(), 2, Qt.DashLine))
            p.setBrush(Qt.NoBrush)
            p.drawEllipse(QRectF(x - 7, bar.center().y() - 7, 14, 14))
        p.end()


CURVE_LIGHT, CURVE_DARK = "#0277bd", "#4fc3f7"  # the mood line: >= 3:1 on the chart


def pg_pen(colour: str, width: int):
    import pyqtgraph as pg
    return pg.mkPen(colour, width=width)


class TrendChart(QWidget):
    """Caller sentiment per utterance (dots) and the smoothed mood (line) over the call."""

    def __init__(self, parent=None):
        super().__init__(parent)
        import pyqtgraph as pg

        pg.setConfigOptions(antialias=True)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        self.plot = pg.PlotWidget()
        self.plot.setMinimumHeight(110)
        self.plot.setMaximumHeight(150)
        self.plot.setMenuEnabled(False)
        self.plot.setMouseEnabled(x=False, y=False)
        self.plot.hideButtons()
        self.plot.setYRange(-1.05, 1.05, padding=0)
        self.plot.getAxis("left").setTicks([[(-1, "−"), (0, "0"), (1, "+")]])
        self.plot.setLabel("bottom", "minutes")
        self.zero = self.plot.addLine(y=0, pen=pg.mkPen("#90a4ae", width=1, style=Qt.DashLine))
        self.points = self.plot.plot([], [], pen=None, symbol="o", symbolSize=7,
                                     symbolBrush="#90a4ae", symbolPen=None)
        self.curve = self.plot.plot([], [], pen=pg.mkPen("#0277bd", width=3))
        self.setAccessibleName("Mood over the call")
        lay.addWidget(self.plot)
        self.xs: list[float] = []
        self.raw: list[float] = []
        self.smooth: list[float] = []

    def set_theme(self, dark: bool) -> None:
        self.plot.setBackground("#1e1f22" if dark else "#ffffff")
        fg = "#cfd8dc" if dark else "#37474f"
        self.curve.setPen(pg_pen(CURVE_DARK if dark else CURVE_LIGHT, 3))
        for ax in ("left", "bottom"):
            self.plot.getAxis(ax).setPen(fg)
            self.plot.getAxis(ax).setTextPen(fg)

    def add(self, t: float, raw: float, smooth: float) -> None:
        self.xs.append(t / 60)
        self.raw.append(raw)
        self.smooth.append(smooth)
        self.points.setData(self.xs, self.raw)
        self.curve.setData(self.xs, self.smooth)
        self.plot.setXRange(0, max(1.0, self.xs[-1] * 1.05), padding=0)

    def clear(self) -> None:
        self.xs, self.raw, self.smooth = [], [], []
        self.points.setData([], [])
        self.curve.setData([], [])


class ClickLabel(QLabel):
    """A label that acts as a button: click, or Enter / Space when it has the keyboard focus."""
    clicked = Signal()

    def __init__(self, text: str = "", parent=None):
        super().__init__(text, parent)
        self.setWordWrap(True)
        self.setCursor(Qt.PointingHandCursor)
        self.setTextInteractionFlags(Qt.NoTextInteraction)
        self.setFocusPolicy(Qt.StrongFocus)

    def mouseReleaseEvent(self, e):
        if e.button() == Qt.LeftButton:
            self.clicked.emit()
        super().mouseReleaseEvent(e)

    def keyPressEvent(self, e):
        if e.key() in (Qt.Key_Return, Qt.Key_Enter, Qt.Key_Space):
            self.clicked.emit()
            return
        super().keyPressEvent(e)


class ElidedLabel(QLabel):
    """One line of text that never wraps, grows or pushes its neighbours: what does not fit is
    elided (…) and the whole text is the tooltip. text() is the whole text."""

    def __init__(self, text: str = "", parent=None):
        super().__init__(text, parent)
        self.setWordWrap(False)
        self.setSizePolicy(QSizePolicy.Ignored, QSizePolicy.Fixed)
        self.setFixedHeight(self.fontMetrics().height() + 4)

    def setText(self, text: str) -> None:
        super().setText(text)
        self.setToolTip(text)

    def changeEvent(self, e):
        super().changeEvent(e)
        if e.type() in (QEvent.FontChange, QEvent.StyleChange):
            self.setFixedHeight(self.fontMetrics().height() + 4)

    def minimumSizeHint(self) -> QSize:
        return QSize(0, self.fontMetrics().height() + 4)

    def sizeHint(self) -> QSize:
        return QSize(60, self.fontMetrics().height() + 4)

    def elided(self) -> str:
        return self.fontMetrics().elidedText(self.text(), Qt.ElideRight, max(0, self.contentsRect().width()))

    def paintEvent(self, _):
        p = QPainter(self)
        p.setPen(self.palette().color(self.foregroundRole()))
        p.drawText(self.contentsRect(), Qt.AlignLeft | Qt.AlignVCenter, self.elided())
        p.end()


class KnowledgeCard(QFrame):
    """A compact knowledge-base card: the title and the one sentence of the matched passage that
    answers (product, section and why it matched in the tooltip). Click, Enter or Space opens
    the whole article in the card; again folds it."""

    def __init__(self, card: dict, article_path=None, parent=None, query: str = ""):
        super().__init__(parent)
        from ..assist.knowledge import answer_sentence
        self.setObjectName("card")
        self.card = card
        self.article_path = article_path  # read when the card is first expanded
        self.setCursor(Qt.PointingHandCursor)
        self.setFocusPolicy(Qt.StrongFocus)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(8, 5, 8, 5)
        lay.setSpacing(1)
        self.title = QLabel(f"<b>{escape(card['title'])}</b>")
        self.title.setWordWrap(True)
        lay.addWidget(self.title)
        self.answer = card.get("answer") or answer_sentence(card["passage"], query)
        self.passage = QLabel(self.answer)
        self.passage.setWordWrap(True)
        self.passage.setObjectName("cardPassage")
        lay.addWidget(self.passage)
        where = " · ".join(x for x in (card.get("product"), card.get("section")) if x)
        self.why = card.get("why", "")
        self.setToolTip("\n".join(x for x in (where, f"matched on {self.why}" if self.why else "",
                                              "Click or press Enter for the whole article") if x))
        self.setAccessibleName(f"Knowledge card: {card['title']}")
        self.setAccessibleDescription(f"{self.answer} Press Enter for the whole article.")
        self.full = QLabel()
        self.full.setWordWrap(True)
        self.full.setTextFormat(Qt.MarkdownText)
        self.full.setObjectName("cardFull")
        self.full.hide()
        lay.addWidget(self.full)
        self.expanded = False

    def set_stale(self, stale: bool) -> None:
        """Mark the card as answering an earlier topic of the call (dimmed, said in the tooltip)."""
        self.setProperty("stale", stale)
        self.style().unpolish(self)
        self.style().polish(self)

    def toggle(self) -> None:
        self.expanded = not self.expanded
        if self.expanded and not self.full.text():
            from ..assist.knowledge import article_markdown
            text = article_markdown(self.article_path) if self.article_path else ""
            self.full.setText(text or self.card["passage"])
        self.full.setVisible(self.expanded)
        self.passage.setVisible(not self.expanded)

    def mouseReleaseEvent(self, e):
        if e.button() == Qt.LeftButton:
            self.toggle()
        super().mouseReleaseEvent(e)

    def keyPressEvent(self, e):
        if e.key() in (Qt.Key_Return, Qt.Key_Enter, Qt.Key_Space):
            self.toggle()
            return
        super().keyPressEvent(e)
