"""Small widgets of the side panel: sections, the mood gauge, the trend chart, cards."""
from __future__ import annotations

from PySide6.QtCore import QRectF, Qt, Signal
from PySide6.QtGui import QColor, QFont, QLinearGradient, QPainter, QPen
from PySide6.QtWidgets import (QFrame, QHBoxLayout, QLabel, QSizePolicy, QToolButton, QVBoxLayout,
                               QWidget)

MOOD_COLOURS = {
    "angry": "#c62828", "upset": "#d84315", "frustrated": "#ef6c00", "worried": "#b8860b",
    "confused": "#7b1fa2", "neutral": "#546e7a", "calm": "#0277bd", "pleased": "#2e7d32",
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
    """A red-to-green bar with a marker at the caller's mood, the label, confidence and trend."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.score = 0.0
        self.label = "waiting for the caller"
        self.trend = ""
        self.confidence = 0.0
        self.has_mood = False
        self.setMinimumHeight(64)
        self.setSizePolicy(QSizePolicy.Expanding, QSizePolicy.Fixed)

    def set_mood(self, score: float, label: str, trend: str, confidence: float) -> None:
        self.score, self.label, self.trend, self.confidence = score, label, trend, confidence
        self.has_mood = True
        self.setToolTip(f"mood {score:+.2f}, {trend}, confidence {confidence:.0%}")
        self.update()

    def reset(self) -> None:
        self.score, self.label, self.trend, self.confidence, self.has_mood = 0.0, "waiting for the caller", "", 0.0, False
        self.update()

    def paintEvent(self, _):
        p = QPainter(self)
        p.setRenderHint(QPainter.Antialiasing)
        w = self.width()
        colour = QColor(MOOD_COLOURS.get(self.label, self.palette().text().color().name()))
        f = QFont(self.font())
        f.setPointSizeF(f.pointSizeF() * 1.6)
        f.setBold(True)
        p.setFont(f)
        p.setPen(colour if self.has_mood else self.palette().placeholderText().color())
        text = self.label.capitalize() if self.has_mood else "Waiting for the caller…"
        p.drawText(QRectF(0, 0, w, 30), Qt.AlignLeft | Qt.AlignVCenter, text)
        if self.has_mood:
            small = QFont(self.font())
            p.setFont(small)
            p.setPen(self.palette().text().color())
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
        p.end()


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
        lay.addWidget(self.plot)
        self.xs: list[float] = []
        self.raw: list[float] = []
        self.smooth: list[float] = []

    def set_theme(self, dark: bool) -> None:
        self.plot.setBackground("#1e1f22" if dark else "#ffffff")
        fg = "#cfd8dc" if dark else "#37474f"
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
    clicked = Signal()

    def __init__(self, text: str = "", parent=None):
        super().__init__(text, parent)
        self.setWordWrap(True)
        self.setCursor(Qt.PointingHandCursor)
        self.setTextInteractionFlags(Qt.NoTextInteraction)

    def mouseReleaseEvent(self, e):
        if e.button() == Qt.LeftButton:
            self.clicked.emit()
        super().mouseReleaseEvent(e)


class KnowledgeCard(QFrame):
    """A knowledge-base card: title, the passage that matched and why; click to expand."""

    def __init__(self, card: dict, article_path=None, parent=None):
        super().__init__(parent)
        self.setObjectName("card")
        self.card = card
        self.article_path = article_path  # read when the card is first expanded
        self.setCursor(Qt.PointingHandCursor)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(8, 6, 8, 6)
        lay.setSpacing(2)
        title = QLabel(f"<b>{card['title']}</b>")
        title.setWordWrap(True)
        lay.addWidget(title)
        meta = QLabel(f"{card.get('product') or ''}{' · ' if card.get('section') else ''}{card.get('section') or ''}")
        meta.setObjectName("cardMeta")
        meta.setWordWrap(True)
        lay.addWidget(meta)
        self.passage = QLabel(card["passage"])
        self.passage.setWordWrap(True)
        self.passage.setObjectName("cardPassage")
        lay.addWidget(self.passage)
        why = QLabel(f"why: {card.get('why', '')}")
        why.setObjectName("cardWhy")
        why.setWordWrap(True)
        lay.addWidget(why)
        self.full = QLabel()
        self.full.setWordWrap(True)
        self.full.setTextFormat(Qt.MarkdownText)
        self.full.setObjectName("cardFull")
        self.full.hide()
        lay.addWidget(self.full)
        self.expanded = False

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
