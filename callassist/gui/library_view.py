"""The QA reviewer's window: every call in the library, sortable and filterable, with its flags.

Import a folder of recordings (analysed in a worker thread, several at once; the window stays
usable and shows progress), filter by flag kind, mood, date and transcript text, open a call
in the replay view at its worst moment, export the list as CSV.
"""
from __future__ import annotations

import gc
import threading
import time
from datetime import date, datetime
from pathlib import Path

from PySide6.QtCore import (QAbstractTableModel, QDate, QEvent, QModelIndex, QObject,
                            QSortFilterProxyModel, Qt, QThread, QTimer, Signal, Slot)
from PySide6.QtGui import QAction, QBrush, QColor, QKeySequence
from PySide6.QtWidgets import (QAbstractItemView, QComboBox, QDateEdit, QDialog, QDialogButtonBox,
                               QDoubleSpinBox, QFileDialog, QFormLayout, QHBoxLayout, QHeaderView,
                               QInputDialog, QLabel, QLineEdit, QMainWindow, QMessageBox, QProgressBar,
                               QPushButton, QTableView, QTableWidget, QTableWidgetItem, QToolBar,
                               QVBoxLayout, QWidget)

from ..core.rules import VERY_NEGATIVE, mood_band, mood_change  # the mood bands, shared with the report
from ..errors import CallAssistError
from ..library.flags import KINDS, SEVERITY_COLOURS, FlagSettings
from .replay import ReplayWindow, fmt_time

MOOD_FILTERS = {
    "any": "Any mood",
    "ended_negative": "Ended negative",
    "ended_positive": "Ended positive",
    "worsened": "Got worse",
    "improved": "Got better",
    "low": f"Dropped to {VERY_NEGATIVE:+.1f} or below".replace("-", "−"),
}
COLUMNS = ("Started", "Title", "Agent", "Duration", "Mood start", "Mood end", "Worst moment",
           "Flags", "High", "Status")


def _mood(v: float | None) -> str:
    return "—" if v is None else f"{v:+.2f}"


class CallTableModel(QAbstractTableModel):
    def __init__(self, parent=None):
        super().__init__(parent)
        self.records: list = []
        self._cache: dict[int, tuple] = {}  # id(record) -> (record, texts, sort keys)

    def set_records(self, records) -> None:
        self.beginResetModel()
        self.records = list(records)
        self._cache.clear()
        self.endResetModel()

    def update_rows(self, records, start: int, end: int) -> bool:
        """Put in new versions of the same calls (rows start..end-1, after a re-flag) without a
        reset: the view keeps its sort and selection and does not measure every row again.
        False (nothing done) when those rows hold other calls now."""
        if [r.id for r in records[start:end]] != [r.id for r in self.records[start:end]]:
            return False
        self.records[start:end] = records[start:end]
        self._cache.clear()
        if end > start:  # the flag columns: the proxy re-sorts only when sorted by one of them
            self.dataChanged.emit(self.index(start, COLUMNS.index("Worst moment")),
                                  self.index(end - 1, COLUMNS.index("High")))
        return True

    def rowCount(self, parent=QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self.records)

    def columnCount(self, parent=QModelIndex()) -> int:
        return len(COLUMNS)

    def headerData(self, section, orientation, role=Qt.DisplayRole):
        if orientation == Qt.Horizontal and role == Qt.DisplayRole:
            return COLUMNS[section]
        return None

    _ROLES = frozenset((Qt.DisplayRole, Qt.UserRole, Qt.ToolTipRole, Qt.ForegroundRole,
                        Qt.TextAlignmentRole))
    _RIGHT = frozenset(("Duration", "Mood start", "Mood end", "Flags", "High"))

    def _cells(self, row: int) -> tuple[tuple, tuple]:
        """The display texts and sort keys of a row, worked out once per record: the view asks
        for them on every repaint and sort, and Python is slow at that by the thousand."""
        rec = self.records[row]
        cached = self._cache.get(id(rec))
        if cached is not None and cached[0] is rec:
            return cached[1], cached[2]
        worst = rec.worst
        flags = rec.flags or []
        high = sum(f.severity == 3 for f in flags)
        shown = (rec.started[:16].replace("T", " "), rec.title or Path(rec.source or rec.id).stem,
                 rec.agent or "", fmt_time(rec.duration), _mood(rec.mood_start), _mood(rec.mood_end),
                 f"{fmt_time(worst.time)} {worst.title}" if worst else "",
                 str(len(flags)) if rec.flags is not None else "…", str(high), rec.status)
        keys = (rec.started, (rec.title or "").lower(), (rec.agent or "").lower(), rec.duration,
                -9 if rec.mood_start is None else rec.mood_start,
                -9 if rec.mood_end is None else rec.mood_end,
                (worst.severity * 1000 - worst.time / 1000) if worst else -1, len(flags), high,
                rec.status)
        self._cache[id(rec)] = (rec, shown, keys)
        return shown, keys

    def data(self, index, role=Qt.DisplayRole):
        if role not in self._ROLES or not index.isValid():
            return None
        if role == Qt.DisplayRole:
            return self._cells(index.row())[0][index.column()]
        if role == Qt.UserRole:  # sort key
            return self._cells(index.row())[1][index.column()]
        rec = self.records[index.row()]
        col = COLUMNS[index.column()]
        if role == Qt.TextAlignmentRole:
            return int(Qt.AlignRight | Qt.AlignVCenter) if col in self._RIGHT else None
        worst = rec.worst
        if role == Qt.ToolTipRole:
            flags = rec.flags or []
            if col in ("Flags", "High") and flags:
                counts = rec.flag_counts
                return "\n".join(f"{KINDS[k]}: {n}" for k, n in counts.items())
            if col == "Worst moment" and worst:
                return f"{worst.title} ({worst.severity_name}) at {fmt_time(worst.time)}: {worst.reason}"
            if col == "Title":
                return rec.audio_path or rec.source
            return None
        if col == "Worst moment" and worst:  # ForegroundRole
            return QBrush(QColor(SEVERITY_COLOURS[worst.severity]))
        if col in ("Mood start", "Mood end"):
            band = mood_band(rec.mood_start if col == "Mood start" else rec.mood_end)
            if band == "negative":
                return QBrush(QColor("#c62828"))
            if band == "positive":
                return QBrush(QColor("#2e7d32"))
        return None


class CallFilter(QSortFilterProxyModel):
    """Filters on flag kind, mood, date range and a set of call ids matching a transcript search."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.flag_kind = "any"  # any, none, or a kind
        self.mood = "any"
        self.date_from: date | None = None
        self.date_to: date | None = None
        self.text_ids: set[str] | None = None  # None: no text search
        self.setSortRole(Qt.UserRole)

    def set_filters(self, **kw) -> None:
        if hasattr(self, "beginFilterChange"):  # Qt 6.9+
            self.beginFilterChange()
            for k, v in kw.items():
                setattr(self, k, v)
            self.endFilterChange(QSortFilterProxyModel.Direction.Rows)
        else:
            for k, v in kw.items():
                setattr(self, k, v)
            self.invalidateFilter()

    def filterAcceptsRow(self, row: int, parent) -> bool:
        rec = self.sourceModel().records[row]
        counts = rec.flag_counts
        if self.flag_kind == "none" and counts:
            return False
        if self.flag_kind not in ("any", "none") and not counts.get(self.flag_kind):
            return False
        s, e = rec.mood_start, rec.mood_end
        if self.mood == "ended_negative" and mood_band(e) != "negative":
            return False
        if self.mood == "ended_positive" and mood_band(e) != "positive":
            return False
        if self.mood == "worsened" and mood_change(s, e) != "worse":
            return False
        if self.mood == "improved" and mood_change(s, e) != "better":
            return False
        if self.mood == "low" and not (rec.mood_min is not None and rec.mood_min <= VERY_NEGATIVE):
            return False
        if self.date_from or self.date_to:
            try:
                day = datetime.fromisoformat(rec.started).astimezone().date()
            except ValueError:
                return False
            if self.date_from and day < self.date_from:
                return False
            if self.date_to and day > self.date_to:
                return False
        if self.text_ids is not None and rec.id not in self.text_ids:
            return False
        return True


class ImportWorker(QObject):
    """Imports recordings into the library in its thread, with the process's models (loaded
    once: the panel's, when the panel opened this window) and the settings of config.toml."""

    progress = Signal(int, int, str)  # done, total, message
    imported = Signal(object)  # ImportResult
    finished = Signal(list)
    failed = Signal(str)

    def __init__(self, store, config, models=None):
        super().__init__()
        self.store, self.config = store, config
        self.models = models  # Models, a Future of them (core.models.preload), or None: load
        self.cancel = threading.Event()

    def _models(self):
        from ..core.models import preload
        if self.models is None:
            self.models = preload(self.config)
        if hasattr(self.models, "result"):
            if not self.models.done():
                self.progress.emit(0, 0, "Loading speech and mood models…")
            self.models = self.models.result()
        return self.models

    @Slot(list)
    def run(self, paths: list) -> None:
        from ..library.importer import Importer
        self.cancel.clear()
        try:
            importer = Importer(self.store, self._models(), self.config)

            def on_result(res, done, total):
                self.imported.emit(res)
                what = (res.skip_reason if res.skipped else
                        f"error: {res.error}" if res.error else "done")
                self.progress.emit(done, total, f"{res.path.name}: {what}")

            results = importer.run(paths, cancel=self.cancel, on_result=on_result)
        except CallAssistError as exc:
            self.failed.emit(str(exc))
            return
        self.finished.emit(results)


class QaAveragesDialog(QDialog):
    """Averages of the QA scorecard over the calls shown in the list."""

    def __init__(self, card, agents, questions, shown: int, parent=None):
        super().__init__(parent)
        self.setWindowTitle(f"QA averages — {card.name}")
        self.resize(820, 600)
        lay = QVBoxLayout(self)
        scored = sum(a.calls for a in agents)
        lay.addWidget(QLabel(f"{scored} of the {shown} calls shown scored with “{card.name}” "
                             f"(a reviewer's answer counts where there is one)."))
        self.agents = self._table(
            ["Agent", "Calls", "Average score"],
            [[a.agent, str(a.calls), "—" if a.score is None else f"{a.score:.1f} %"]
             for a in agents], "QA averages per agent")
        lay.addWidget(QLabel("<b>Per agent</b>"))
        lay.addWidget(self.agents, 1)
        rows = []
        for q in questions:
            if q.value is None:
                value = "—"
            elif q.question.type == "yes_no":
                value = f"{q.value:.0f} % yes"
            else:
                value = f"{q.value:.2f} of 5"
            kept = f"{q.agreed} of {q.reviewed}" if q.reviewed else "—"
            rows.append([q.question.text, str(q.answered), value, kept])
        self.questions = self._table(["Question", "Answered", "Result",
                                      "Reviewers kept the automatic answer"], rows,
                                     "QA averages per question")
        lay.addWidget(QLabel("<b>Per question</b>"))
        lay.addWidget(self.questions, 3)
        buttons = QDialogButtonBox(QDialogButtonBox.Close)
        buttons.rejected.connect(self.reject)
        lay.addWidget(buttons)

    @staticmethod
    def _table(headers: list[str], rows: list[list[str]], name: str) -> QTableWidget:
        table = QTableWidget(len(rows), len(headers))
        table.setHorizontalHeaderLabels(headers)
        table.setAccessibleName(name)
        table.setEditTriggers(QAbstractItemView.NoEditTriggers)
        table.verticalHeader().hide()
        for r, row in enumerate(rows):
            for c, text in enumerate(row):
                item = QTableWidgetItem(text)
                item.setToolTip(text)  # a long question is elided in its cell
                table.setItem(r, c, item)
        table.horizontalHeader().setSectionResizeMode(0, QHeaderView.Stretch)
        for c in range(1, len(headers)):
            table.horizontalHeader().setSectionResizeMode(c, QHeaderView.ResizeToContents)
        return table


class FlagSettingsDialog(QDialog):
    """Edit the thresholds of the flagged moments; every call is re-flagged on OK."""

    def __init__(self, settings: FlagSettings, parent=None):
        super().__init__(parent)
        self.setWindowTitle("Flag thresholds")
        form = QFormLayout(self)
        self.fields = {}
        spec = (("mood_drop", "Mood drop between utterances", 0.05, 2.0, 0.05),
                ("negative_mood", "Mood counted as negative", -1.0, 0.0, 0.05),
                ("negative_seconds", "Negative for at least (s)", 5, 600, 5),
                ("anger_strength", "Weakest anger cue flagged", 0.1, 1.0, 0.05),
                ("silence_seconds", "Silence / hold longer than (s)", 1, 600, 1),
                ("interruption_seconds", "Talking over for at least (s)", 0.1, 5, 0.1),
                ("resolved_mood", "Call ending at or above this mood is resolved", -1, 1, 0.05))
        for name, label, lo, hi, step in spec:
            box = QDoubleSpinBox()
            box.setRange(lo, hi)
            box.setSingleStep(step)
            box.setDecimals(2)
            box.setValue(getattr(settings, name))
            form.addRow(label, box)
            self.fields[name] = box
        self.kinds = settings.kinds
        buttons = QDialogButtonBox(QDialogButtonBox.Ok | QDialogButtonBox.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        form.addRow(buttons)

    def settings(self) -> FlagSettings:
        return FlagSettings(**{k: b.value() for k, b in self.fields.items()}, kinds=self.kinds)


class FlagWorker(QObject):
    """Re-flags the library in its own thread: flagging every call takes seconds, and the window
    must keep answering meanwhile. Results go to the library; the window is told by signals
    (queued to the GUI thread) and reloads the list itself."""

    progress = Signal(int, int)  # calls done, total
    finished = Signal(int, bool, object)  # calls re-flagged, cancelled?, the calls re-read
    failed = Signal(str)

    def __init__(self, store):
        super().__init__()
        self.store = store
        self.cancel = threading.Event()

    @Slot(object, bool)
    def run(self, settings, only_missing: bool) -> None:
        self.cancel.clear()
        last = [0.0]

        def progress(done: int, total: int) -> None:  # at most ~20 updates a second
            now = time.monotonic()
            if done == total or now - last[0] >= 0.05:
                last[0] = now
                self.progress.emit(done, total)
        try:
            n = self.store.refresh_flags(settings, only_missing=only_missing, progress=progress,
                                         cancel=self.cancel)
        except CallAssistError as exc:
            self.failed.emit(str(exc))
            return
        try:  # read here, not on the GUI thread: decoding a big library's flags takes a while
            records = self.store.list_calls() if n else None
        except CallAssistError:
            records = None
        self.finished.emit(n, self.cancel.is_set(), records)


class _DateEdit(QDateEdit):
    """A date field that Tab leaves (QDateEdit keeps Tab to step through its sections, and
    swallows it while it shows "any": a tab trap). The sections are reached with the arrow keys."""

    def event(self, e):
        if (e.type() == QEvent.KeyPress and e.key() in (Qt.Key_Tab, Qt.Key_Backtab)
                and not e.modifiers() & (Qt.ControlModifier | Qt.AltModifier)):
            back = e.key() == Qt.Key_Backtab or bool(e.modifiers() & Qt.ShiftModifier)
            QWidget.focusNextPrevChild(self, not back)
            return True
        return super().event(e)

    def focusNextPrevChild(self, forward: bool) -> bool:
        return QWidget.focusNextPrevChild(self, forward)


class LibraryWindow(QMainWindow):
    """Calls in the library for QA review; double-click opens the replay view at the worst moment."""

    start_import = Signal(list)
    start_reflag = Signal(object, bool)  # FlagSettings or None, only calls without flags

    def __init__(self, store, *, config=None, models=None, parent=None):
        """`config`: the settings (default: config.toml); `models`: the loaded models or a
        Future of them, shared with the panel (default: the process's, loaded at first import)."""
        super().__init__(parent)
        self.store = store
        if config is None:
            from ..config import Config
            config = Config.load()
        self.config = config
        self.replays: dict[str, ReplayWindow] = {}
        self.setWindowTitle(f"CallAssist — call library ({store.path})")
        self.resize(1200, 700)
        self._build()
        self.thread = QThread(self)
        self.worker = ImportWorker(store, config, models)
        self.worker.moveToThread(self.thread)
        self.start_import.connect(self.worker.run)
        self.worker.progress.connect(self._import_progress)
        # bound methods of this window, never lambdas: a lambda has no receiver, so it would run
        # in the import threads (touching this window's timers there, or deadlocking on the GIL)
        self.worker.imported.connect(self._on_imported)
        self.worker.finished.connect(self._import_done)
        self.worker.failed.connect(self._import_failed)
        self.thread.start()
        self.importing = False
        self._reload_timer = QTimer(self)
        self._reload_timer.setSingleShot(True)
        self._reload_timer.setInterval(300)
        self._reload_timer.timeout.connect(self.reload)
        self._start_reflagger()
        self.reload()
        self.reflag(only_missing=True)  # calls stored before flags existed, in the worker
        # What exists now (Qt wrappers, the loaded calls, the models) lives as long as the
        # window: the garbage collector stops walking it, so its pauses, which hold up the GUI
        # thread, cover only what a re-flag or an import creates.
        gc.freeze()

    def _build(self) -> None:
        bar = QToolBar("Library")
        bar.setMovable(False)
        self.addToolBar(bar)
        for text, slot, key in (("Import folder…", self.import_folder, "Ctrl+I"),
                                ("Import files…", self.import_files, None),
                                ("Open call", self.open_selected, "Return"),
                                ("Set agent…", self.set_agent, None),
                                ("Delete call…", self.delete_selected, "Delete"),
                                ("Export CSV…", self.export_csv, None),
                                ("Flag thresholds…", self.edit_thresholds, None),
                                ("Rules…", self.edit_rules, None),
                                ("QA averages…", self.show_qa_averages, None),
                                ("Refresh", self.reload, "F5")):
            act = QAction(text, self)
            act.triggered.connect(lambda _=False, s=slot: s())
            if key:
                act.setShortcut(QKeySequence(key))
            bar.addAction(act)

        root = QWidget()
        outer = QVBoxLayout(root)
        filters = QHBoxLayout()
        self.search = QLineEdit()
        self.search.setPlaceholderText("Search transcripts…")
        self.search.setClearButtonEnabled(True)
        self._search_timer = QTimer(self)
        self._search_timer.setSingleShot(True)
        self._search_timer.setInterval(250)
        self._search_timer.timeout.connect(self.apply_filters)
        self.search.textChanged.connect(lambda _t: self._search_timer.start())
        filters.addWidget(self.search, 2)
        self.kind = QComboBox()
        self.kind.addItem("Any flags", "any")
        self.kind.addItem("No flags", "none")
        for k, title in KINDS.items():
            self.kind.addItem(title, k)
        self.kind.currentIndexChanged.connect(self.apply_filters)
        filters.addWidget(self.kind, 1)
        self.mood = QComboBox()
        for k, title in MOOD_FILTERS.items():
            self.mood.addItem(title, k)
        self.mood.currentIndexChanged.connect(self.apply_filters)
        filters.addWidget(self.mood, 1)
        filters.addWidget(QLabel("From"))
        self.date_from = self._date_edit()
        filters.addWidget(self.date_from)
        filters.addWidget(QLabel("to"))
        self.date_to = self._date_edit()
        filters.addWidget(self.date_to)
        clear = QPushButton("Clear")
        clear.clicked.connect(self.clear_filters)
        filters.addWidget(clear)
        outer.addLayout(filters)

        self.model = CallTableModel(self)
        self.proxy = CallFilter(self)
        # Filters and sorting are applied when the user changes them (apply_filters) or the list
        # is reloaded, not re-run in Python for every changed row (a re-flag changes them all).
        self.proxy.setDynamicSortFilter(False)
        self.proxy.setSourceModel(self.model)
        self.table = QTableView()
        self.table.setModel(self.proxy)
        self.table.setSortingEnabled(True)
        self.table.sortByColumn(0, Qt.DescendingOrder)
        self.table.setSelectionBehavior(QAbstractItemView.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.NoEditTriggers)
        self.table.setAlternatingRowColors(True)
        self.table.verticalHeader().hide()
        head = self.table.horizontalHeader()
        head.setSectionResizeMode(QHeaderView.ResizeToContents)
        head.setResizeContentsPrecision(0)  # fit the rows shown, not thousands of calls each update
        head.setSectionResizeMode(COLUMNS.index("Title"), QHeaderView.Stretch)
        self.table.doubleClicked.connect(lambda idx: self.open_call(self._record_at(idx).id))
        outer.addWidget(self.table, 1)
        self.summary = QLabel("")
        self.summary.setObjectName("status")
        outer.addWidget(self.summary)
        self.setCentralWidget(root)

        self.progress = QProgressBar()
        self.progress.setMaximumWidth(260)
        self.progress.hide()
        self.cancel_button = QPushButton("Cancel import")
        self.cancel_button.clicked.connect(self.cancel_import)
        self.cancel_button.hide()
        self.statusBar().addPermanentWidget(self.progress)
        self.statusBar().addPermanentWidget(self.cancel_button)

    def _date_edit(self) -> QDateEdit:
        d = _DateEdit()
        d.setCalendarPopup(True)
        d.setDisplayFormat("yyyy-MM-dd")
        d.setMinimumDate(QDate(2000, 1, 1))
        d.setSpecialValueText("any")
        d.setDate(d.minimumDate())
        d.dateChanged.connect(self.apply_filters)
        return d

    # ---- data
    def reload(self) -> None:
        try:
            records = self.store.list_calls()
        except CallAssistError as exc:
            self.show_message(str(exc))
            return
        selected = self.selected_id()
        self.model.set_records(records)
        self.apply_filters()
        if selected:
            self.select(selected)

    @Slot(object)
    def _on_imported(self, _result) -> None:
        self._schedule_reload()

    def _schedule_reload(self) -> None:
        if not self._reload_timer.isActive():
            self._reload_timer.start()

    def apply_filters(self) -> None:
        text = self.search.text().strip()
        try:
            ids = self.store.search(text) if text else None
        except CallAssistError as exc:
            self.show_message(str(exc))
            ids = None

        def day(edit: QDateEdit):
            return None if edit.date() == edit.minimumDate() else edit.date().toPython()
        self.proxy.set_filters(flag_kind=self.kind.currentData(), mood=self.mood.currentData(),
                               date_from=day(self.date_from), date_to=day(self.date_to),
                               text_ids=ids)
        self._show_summary()

    def _show_summary(self) -> None:
        shown, total = self.proxy.rowCount(), self.model.rowCount()
        records = self.model.records if shown == total else self.visible_records()
        flags = sum(len(r.flags or []) for r in records)
        self.summary.setText(f"{shown} of {total} calls shown · {flags} flagged moments")

    def clear_filters(self) -> None:
        for w in (self.search, self.kind, self.mood, self.date_from, self.date_to):
            w.blockSignals(True)
        self.search.clear()
        self.kind.setCurrentIndex(0)
        self.mood.setCurrentIndex(0)
        self.date_from.setDate(self.date_from.minimumDate())
        self.date_to.setDate(self.date_to.minimumDate())
        for w in (self.search, self.kind, self.mood, self.date_from, self.date_to):
            w.blockSignals(False)
        self.apply_filters()

    def visible_records(self) -> list:
        return [self._record_at(self.proxy.index(r, 0)) for r in range(self.proxy.rowCount())]

    def _record_at(self, proxy_index):
        return self.model.records[self.proxy.mapToSource(proxy_index).row()]

    def selected_id(self) -> str | None:
        rows = self.table.selectionModel().selectedRows() if self.table.selectionModel() else []
        return self._record_at(rows[0]).id if rows else None

    def select(self, call_id: str) -> None:
        for r in range(self.proxy.rowCount()):
            if self._record_at(self.proxy.index(r, 0)).id == call_id:
                self.table.selectRow(r)
                return

    # ---- opening calls
    def open_selected(self) -> None:
        call_id = self.selected_id()
        if call_id:
            self.open_call(call_id)

    def open_call(self, call_id: str, at: float | None = None) -> ReplayWindow | None:
        """The replay view of a call, at `at` or else at its worst moment."""
        try:
            rec = self.store.get_call(call_id)
            if at is None:
                at = rec.worst.time if rec.worst else 0.0
            win = self.replays.get(call_id)
            if win is None or not win.isVisible():
                win = ReplayWindow(self.store, call_id, start_at=at)
                win.setStyleSheet(self.styleSheet())
                win.notes_changed.connect(lambda _cid: self._schedule_reload())
                self.replays[call_id] = win
            else:
                win.seek(at)
        except CallAssistError as exc:
            self.show_message(str(exc))
            return None
        win.show()
        win.raise_()
        win.activateWindow()
        return win

    # ---- import
    def import_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Import a folder of recorded calls")
        if folder:
            self.import_paths([folder])

    def import_files(self) -> None:
        files, _ = QFileDialog.getOpenFileNames(
            self, "Import recorded calls", "", "Recordings (*.wav *.flac *.ogg *.mp3 *.opus)")
        if files:
            self.import_paths(files)

    def import_paths(self, paths: list) -> None:
        if self.importing:
            self.show_message("An import is running: wait for it or cancel it first.")
            return
        self.importing = True
        self.progress.setRange(0, 0)
        self.progress.show()
        self.cancel_button.show()
        self.statusBar().showMessage("Finding recordings…")
        self.start_import.emit([str(p) for p in paths])

    def cancel_import(self) -> None:
        self.worker.cancel.set()
        self.statusBar().showMessage("Cancelling: the calls being analysed finish first…")

    def _import_progress(self, done: int, total: int, message: str) -> None:
        if total:
            self.progress.setRange(0, total)
            self.progress.setValue(done)
            self.progress.setFormat(f"{done}/{total}")
        self.statusBar().showMessage(message)

    def _import_done(self, results: list) -> None:
        self.importing = False
        self.progress.hide()
        self.cancel_button.hide()
        ok = sum(r.ok for r in results)
        skipped = sum(r.skipped for r in results)
        errors = [r for r in results if r.error and r.error != "cancelled"]
        msg = f"Imported {ok} of {len(results)} recordings"
        if skipped:
            msg += f", {skipped} already in the library"
        if errors:
            msg += f"; {len(errors)} could not be read (first: {errors[0].path.name}: {errors[0].error})"
        self.statusBar().showMessage(msg)
        self.last_import = results
        self.reload()

    def _import_failed(self, message: str) -> None:
        self.importing = False
        self.progress.hide()
        self.cancel_button.hide()
        self.show_message(message)

    # ---- other actions
    def export_csv(self, path: str | None = None) -> str | None:
        if path is None:
            path, _ = QFileDialog.getSaveFileName(self, "Export the calls shown as CSV",
                                                  str(Path.home() / "calls.csv"), "CSV (*.csv)")
        if not path:
            return None
        try:
            self.store.write_csv(self.visible_records(), path)  # with the QA scores
        except CallAssistError as exc:
            self.show_message(str(exc))
            return None
        self.statusBar().showMessage(f"Exported {self.proxy.rowCount()} calls to {path}")
        return path

    def set_agent(self, name: str | None = None, call_id: str | None = None) -> None:
        """Name the agent of the selected call (asked for when `name` is None)."""
        call_id = call_id or self.selected_id()
        if not call_id:
            self.statusBar().showMessage("Select a call first.")
            return
        if name is None:
            rec = next((r for r in self.model.records if r.id == call_id), None)
            name, ok = QInputDialog.getText(self, "Agent", "Agent on this call:",
                                            text=(rec.agent or "") if rec else "")
            if not ok:
                return
        try:
            self.store.update_call(call_id, agent=name.strip())
        except CallAssistError as exc:
            self.show_message(str(exc))
            return
        self.reload()

    def delete_selected(self, confirm: bool = True) -> None:
        """Delete the selected call with its notes (the recording itself is left on disk)."""
        call_id = self.selected_id()
        if not call_id:
            return
        rec = next(r for r in self.model.records if r.id == call_id)
        if rec.status == "live":
            self.show_message("This call is still being recorded: end it in the panel first.")
            return
        if confirm and QMessageBox.question(
                self, "Delete call", f"Delete “{rec.title or rec.id}” with its transcript, flags "
                f"and notes from the library? The recording file stays where it is.") \
                != QMessageBox.Yes:
            return
        try:
            self.store.delete_call(call_id)
        except CallAssistError as exc:
            self.show_message(str(exc))
            return
        win = self.replays.pop(call_id, None)
        if win is not None:
            win.close()
        self.reload()

    def edit_rules(self):
        """The rules editor (non-modal): a match it finds opens in the replay view."""
        from .rules_editor import RulesEditor
        if getattr(self, "rules_editor", None) is None:
            self.rules_editor = RulesEditor(self.store, self.config, self)
            self.rules_editor.open_call.connect(lambda cid, t: self.open_call(cid, t))
        self.rules_editor.show()
        self.rules_editor.raise_()
        return self.rules_editor

    def show_qa_averages(self):
        """The QA scorecard's averages over the calls shown: per agent and per question, with
        how often reviewers kept the automatic answer."""
        try:
            card, agents, questions = self.store.qa_averages(self.visible_records())
        except CallAssistError as exc:
            self.show_message(str(exc))
            return None
        dlg = QaAveragesDialog(card, agents, questions, self.proxy.rowCount(), self)
        dlg.show()
        self.qa_dialog = dlg
        return dlg

    def edit_thresholds(self) -> None:
        dlg = FlagSettingsDialog(self.store.flag_settings, self)
        if dlg.exec() == QDialog.Accepted:
            self.set_flag_settings(dlg.settings())

    def set_flag_settings(self, settings: FlagSettings) -> None:
        """Save the thresholds and re-flag every call, in the worker (see `reflag`)."""
        self.reflag(settings)

    # ---- re-flagging, in its own thread
    def _start_reflagger(self) -> None:
        self.reflagging = 0  # runs asked for and not finished
        self.flag_progress = QProgressBar()
        self.flag_progress.setMaximumWidth(200)
        self.flag_progress.hide()
        self.flag_cancel = QPushButton("Stop re-flagging")
        self.flag_cancel.clicked.connect(self.cancel_reflag)
        self.flag_cancel.hide()
        self.statusBar().addPermanentWidget(self.flag_progress)
        self.statusBar().addPermanentWidget(self.flag_cancel)
        self.flag_thread = QThread(self)
        self.flag_worker = FlagWorker(self.store)
        self.flag_worker.moveToThread(self.flag_thread)
        self.start_reflag.connect(self.flag_worker.run)
        self.flag_worker.progress.connect(self._reflag_progress)
        self.flag_worker.finished.connect(self._reflag_done)
        self.flag_worker.failed.connect(self._reflag_failed)
        self.flag_thread.start()

    def reflag(self, settings: FlagSettings | None = None, only_missing: bool = False) -> None:
        """Recompute flags in the worker thread (with `settings`, saved in the library), showing
        progress and a stop button; the list is reloaded when it is done."""
        if self.reflagging and not only_missing:
            self.flag_worker.cancel.set()  # the run asked for now re-flags every call anyway
        self.reflagging += 1
        if not only_missing:
            self.flag_progress.setRange(0, 0)
            self.flag_progress.show()
            self.flag_cancel.show()
            self.statusBar().showMessage("Re-flagging the calls with the new thresholds…")
        self.start_reflag.emit(settings, only_missing)

    def cancel_reflag(self) -> None:
        self.flag_worker.cancel.set()

    @Slot(int, int)
    def _reflag_progress(self, done: int, total: int) -> None:
        self.flag_progress.setRange(0, total)
        self.flag_progress.setValue(done)
        self.flag_progress.setFormat(f"flags {done}/{total}")
        if total and not self.flag_progress.isVisible():
            self.flag_progress.show()
            self.flag_cancel.show()

    def _reflag_over(self) -> None:
        self.reflagging = max(0, self.reflagging - 1)
        if not self.reflagging:
            self.flag_progress.hide()
            self.flag_cancel.hide()

    @Slot(int, bool, object)
    def _reflag_done(self, n: int, cancelled: bool, records) -> None:
        self._reflag_over()
        if cancelled and not self.reflagging:
            self.statusBar().showMessage(f"Re-flagging stopped after {n} calls; the others keep "
                                         f"their flags (Flag thresholds… to run it again)")
        elif n and not self.reflagging:
            self.statusBar().showMessage(f"Re-flagged {n} calls")
        if records is not None and len(records) == len(self.model.records):
            self._apply_records(records)
        elif n:
            self.reload()

    def _apply_records(self, records: list) -> None:
        """Show re-flagged calls: the same calls with new flags, put in place without a reset
        (the view keeps its sort, selection and scroll and repaints only the rows on screen);
        reloads if the list changed meanwhile."""
        if not self.model.update_rows(records, 0, len(records)):
            self.reload()
            return
        sort_col = COLUMNS[self.proxy.sortColumn()] if self.proxy.sortColumn() >= 0 else ""
        if self.kind.currentData() != "any" or sort_col in ("Worst moment", "Flags", "High"):
            self.apply_filters()  # the shown calls or their order depend on the flags
            self.proxy.sort(self.proxy.sortColumn(), self.proxy.sortOrder())
        else:
            self._show_summary()

    @Slot(str)
    def _reflag_failed(self, message: str) -> None:
        self._reflag_over()
        self.show_message(message)

    def _stop_reflagger(self) -> None:
        self.flag_worker.cancel.set()
        self.flag_thread.quit()
        self.flag_thread.wait(60000)

    def show_message(self, message: str) -> None:
        """Shown in the status bar and in a box that does not block the window (this is also
        called from timers and the import worker's signals, which must never wait on a user)."""
        self.statusBar().showMessage(message)
        box = QMessageBox(QMessageBox.Warning, "CallAssist", message, QMessageBox.Ok, self)
        box.setAttribute(Qt.WA_DeleteOnClose)
        box.open()
        self.message_box = box

    def closeEvent(self, e):
        self._stop_reflagger()
        self._reload_timer.stop()  # nothing may read the library after the window has gone
        self._search_timer.stop()
        if self.importing:
            self.worker.cancel.set()
        for win in list(self.replays.values()):
            win.close()
        self.thread.quit()
        self.thread.wait(60000)
        super().closeEvent(e)
