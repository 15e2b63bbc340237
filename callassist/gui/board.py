"""The supervisor's board: the live calls of every desk, the caller's mood on each, its trend,
the alerts and the escalation advice, most urgent first; click a call to follow its transcript.

The database is read in a worker thread (callassist.library.board.Watcher: the server's
notifications on a team library), so the window never waits on it; the call clocks tick on
the GUI thread from the start times already read.
"""
from __future__ import annotations

import threading
import time

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QObject, Qt, QTimer, Signal, Slot
from PySide6.QtGui import QBrush, QColor
from PySide6.QtWidgets import (QAbstractItemView, QHeaderView, QLabel, QListWidget,
                               QListWidgetItem, QMainWindow, QSplitter, QTableView,
                               QVBoxLayout, QWidget)

from ..library.board import LiveCall, Watcher, age, live_calls, transcript_after
from ..library.flags import SEVERITY_COLOURS
from .replay import fmt_time

COLUMNS = ("Agent", "Call", "Time", "Caller's mood", "Trend", "Alerts", "Escalation advice",
           "Last said")
TREND = {"worsening": "↓ worsening", "improving": "↑ improving", "steady": "→ steady"}


class LiveCallsModel(QAbstractTableModel):
    def __init__(self, parent=None):
        super().__init__(parent)
        self.calls: list[LiveCall] = []

    def set_calls(self, calls: list[LiveCall]) -> None:
        if [c.id for c in calls] == [c.id for c in self.calls]:
            self.calls = calls  # same rows: repaint, keep the selection
            self.dataChanged.emit(self.index(0, 0), self.index(len(calls) - 1, len(COLUMNS) - 1))
            return
        self.beginResetModel()
        self.calls = calls
        self.endResetModel()

    def rowCount(self, parent=QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self.calls)

    def columnCount(self, parent=QModelIndex()) -> int:
        return len(COLUMNS)

    def headerData(self, section, orientation, role=Qt.DisplayRole):
        if role == Qt.DisplayRole and orientation == Qt.Horizontal:
            return COLUMNS[section]
        return None

    def text(self, call: LiveCall, column: int) -> str:
        if column == 0:
            return call.agent or "—"
        if column == 1:
            return call.title or call.id
        if column == 2:
            return fmt_time(max(age(call.started), call.seconds))
        if column == 3:
            return "—" if call.score is None else f"{call.mood} ({call.score:+.2f})"
        if column == 4:
            return TREND.get(call.trend, call.trend or "—")
        if column == 5:
            return "; ".join(text for _, text in call.alerts[-2:]) or "—"
        if column == 6:
            return call.escalation or "—"
        return call.last_line

    def data(self, index, role=Qt.DisplayRole):
        if not index.isValid():
            return None
        call = self.calls[index.row()]
        if role in (Qt.DisplayRole, Qt.ToolTipRole):
            text = self.text(call, index.column())
            if role == Qt.ToolTipRole and index.column() == 5 and call.alerts:
                return "\n".join(f"[{s}] {t}" for s, t in call.alerts)
            if role == Qt.ToolTipRole and index.column() == 7:
                return call.last_line
            return text
        if role == Qt.ForegroundRole and index.column() in (3, 5, 6) and call.severity:
            return QBrush(QColor(SEVERITY_COLOURS[call.severity]))
        if role == Qt.AccessibleTextRole:
            return f"{COLUMNS[index.column()]}: {self.text(call, index.column())}"
        return None


class BoardWorker(QObject):
    """Reads the board in its own thread; the window asks for a call to follow."""
    calls = Signal(list, float)  # live calls, monotonic time they were read
    lines = Signal(str, list, bool)  # call id, (seq, speaker, text, start), from the start?
    status = Signal(str)

    def __init__(self, store):
        super().__init__()
        self.store = store
        self.stop = threading.Event()
        self._follow: str | None = None
        self._asked: str | None = None  # a call just clicked: its whole transcript
        self._seen = -1
        self._lock = threading.Lock()

    def follow(self, call_id: str | None) -> None:  # from the GUI thread
        with self._lock:
            self._asked = call_id

    def _changed(self, ids) -> None:
        from ..errors import CallAssistError
        try:
            self.calls.emit(live_calls(self.store), time.monotonic())
            self.status.emit("")
            with self._lock:
                cid = self._follow
            if cid and (ids is None or cid in ids):
                self._read_lines(cid, fresh=False)
        except CallAssistError as exc:
            self.status.emit(str(exc))

    def _read_lines(self, cid: str, fresh: bool) -> None:
        new = transcript_after(self.store, cid, -1 if fresh else self._seen)
        if fresh or new:
            self._seen = new[-1][0] if new else (-1 if fresh else self._seen)
            self.lines.emit(cid, new, fresh)

    def _tick(self) -> None:
        from ..errors import CallAssistError
        with self._lock:
            asked, self._asked = self._asked, None
            if asked is not None:
                self._follow = asked or None
        if asked:
            try:
                self._read_lines(asked, fresh=True)
            except CallAssistError as exc:
                self.status.emit(str(exc))

    def run(self) -> None:
        Watcher(self.store).run(self._changed, self.stop, self._tick)


class SupervisorBoard(QMainWindow):
    def __init__(self, store, parent=None):
        super().__init__(parent)
        self.store = store
        self.setWindowTitle("CallAssist — live calls")
        self.resize(1200, 560)
        self.model = LiveCallsModel(self)
        self.table = QTableView()
        self.table.setModel(self.model)
        self.table.setAccessibleName("Live calls")
        self.table.setSelectionBehavior(QAbstractItemView.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.NoEditTriggers)
        self.table.verticalHeader().hide()
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeToContents)
        for column in (5, 6):  # alerts, advice: a fair width, elided (the tooltip has it all)
            header.setSectionResizeMode(column, QHeaderView.Interactive)
            header.resizeSection(column, 170)
        header.setSectionResizeMode(len(COLUMNS) - 1, QHeaderView.Stretch)  # "Last said"
        header.setMinimumSectionSize(60)
        self.table.setTextElideMode(Qt.ElideRight)
        self.table.setWordWrap(False)
        self.table.clicked.connect(self._clicked)
        self.table.activated.connect(self._clicked)

        self.follow_title = QLabel("Click a call to follow its transcript")
        self.follow_title.setWordWrap(True)
        self.transcript = QListWidget()
        self.transcript.setAccessibleName("Transcript of the followed call")
        self.transcript.setWordWrap(True)
        right = QWidget()
        lay = QVBoxLayout(right)
        lay.setContentsMargins(4, 0, 0, 0)
        lay.addWidget(self.follow_title)
        lay.addWidget(self.transcript)
        split = QSplitter()
        split.addWidget(self.table)
        split.addWidget(right)
        split.setSizes([900, 300])
        self.setCentralWidget(split)
        self.empty = "No live calls"
        self.statusBar().showMessage("Reading the live calls…")

        self.following: str | None = None
        self.last_read = 0.0  # monotonic time of the last snapshot shown
        self.worker = BoardWorker(store)  # signals from its thread arrive queued, on this one
        self.worker.calls.connect(self._show_calls)
        self.worker.lines.connect(self._show_lines)
        self.worker.status.connect(self._show_status)
        self.thread = threading.Thread(target=self.worker.run, daemon=True,
                                       name="callassist-board")
        self.thread.start()
        self.clock = QTimer(self)  # the call times tick without asking the database
        self.clock.timeout.connect(self._tick)
        self.clock.start(1000)

    # -- from the worker
    @Slot(list, float)
    def _show_calls(self, calls: list, read_at: float) -> None:
        self.model.set_calls(calls)
        self.last_read = read_at
        n = len(calls)
        urgent = sum(1 for c in calls if c.severity >= 3)
        self.setWindowTitle(f"CallAssist — live calls ({n})")
        text = f"{n} live call{'s' * (n != 1)}" if n else self.empty
        if urgent:
            text += f" · {urgent} need{'s' * (urgent == 1)} a supervisor"
        self._status_text = text + time.strftime(" · updated %H:%M:%S")
        self.statusBar().showMessage(self._status_text)
        if self.following and self.following not in {c.id for c in calls}:
            self.follow_title.setText(self.follow_title.text().split(" — ")[0] + " — call ended")

    @Slot(str, list, bool)
    def _show_lines(self, call_id: str, lines: list, fresh: bool) -> None:
        if call_id != self.following:
            return
        if fresh:
            self.transcript.clear()
        for _, speaker, text, start in lines:
            item = QListWidgetItem(f"{fmt_time(start)}  {speaker}: {text}")
            self.transcript.addItem(item)
        self.transcript.scrollToBottom()

    @Slot(str)
    def _show_status(self, message: str) -> None:
        if message:
            self.statusBar().showMessage(message)

    # -- from the user
    def _clicked(self, index: QModelIndex) -> None:
        call = self.model.calls[index.row()]
        self.table.selectRow(index.row())
        self.following = call.id
        self.follow_title.setText(f"{call.agent or 'Agent'} — {call.title or call.id}")
        self.transcript.clear()
        self.worker.follow(call.id)

    def _tick(self) -> None:
        if self.model.calls:
            top, bottom = self.model.index(0, 2), self.model.index(len(self.model.calls) - 1, 2)
            self.model.dataChanged.emit(top, bottom)

    def closeEvent(self, event) -> None:
        self.stop()
        super().closeEvent(event)

    def stop(self) -> None:
        self.clock.stop()
        self.worker.stop.set()
        self.thread.join(5)


def run_board(library: str | None = None, config: str | None = None) -> int:
    """`callassist board`: the supervisor's board on the configured library."""
    import sys

    from PySide6.QtWidgets import QApplication

    from ..config import Config
    from .settings import PanelSettings
    from .theme import apply_theme

    cfg = Config.load(config)
    store = cfg.open_store(library, create=False)
    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setApplicationName("CallAssist")
    win = SupervisorBoard(store.store)
    apply_theme(win, PanelSettings.load().theme)
    win.show()
    try:
        return app.exec()
    finally:
        store.close()
