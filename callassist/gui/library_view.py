"""The QA reviewer's window: every call in the library, sortable and filterable, with its flags.

Import a folder of recordings (analysed in a worker thread, several at once; the window stays
usable and shows progress), filter by flag kind, mood, date and transcript text, open a call
in the replay view at its worst moment, export the list as CSV.
"""
from __future__ import annotations

import threading
from datetime import date, datetime
from pathlib import Path

from PySide6.QtCore import (QAbstractTableModel, QDate, QModelIndex, QObject, QSortFilterProxyModel,
                            Qt, QThread, QTimer, Signal, Slot)
from PySide6.QtGui import QAction, QBrush, QColor, QKeySequence
from PySide6.QtWidgets import (QAbstractItemView, QComboBox, QDateEdit, QDialog, QDialogButtonBox,
                               QDoubleSpinBox, QFileDialog, QFormLayout, QHBoxLayout, QHeaderView,
                               QInputDialog, QLabel, QLineEdit, QMainWindow, QMessageBox, QProgressBar,
                               QPushButton, QTableView, QToolBar, QVBoxLayout, QWidget)

from ..errors import CallAssistError
from ..library.flags import KINDS, SEVERITY_COLOURS, FlagSettings
from .replay import ReplayWindow, fmt_time

MOOD_FILTERS = {
    "any": "Any mood",
    "ended_negative": "Ended negative",
    "ended_positive": "Ended positive",
    "worsened": "Got worse",
    "improved": "Got better",
    "low": "Dropped below −0.5",
}
COLUMNS = ("Started", "Title", "Agent", "Duration", "Mood start", "Mood end", "Worst moment",
           "Flags", "High", "Status")


def _mood(v: float | None) -> str:
    return "—" if v is None else f"{v:+.2f}"


class CallTableModel(QAbstractTableModel):
    def __init__(self, parent=None):
        super().__init__(parent)
        self.records: list = []

    def set_records(self, records) -> None:
        self.beginResetModel()
        self.records = list(records)
        self.endResetModel()

    def rowCount(self, parent=QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self.records)

    def columnCount(self, parent=QModelIndex()) -> int:
        return len(COLUMNS)

    def headerData(self, section, orientation, role=Qt.DisplayRole):
        if orientation == Qt.Horizontal and role == Qt.DisplayRole:
            return COLUMNS[section]
        return None

    def data(self, index, role=Qt.DisplayRole):
        if not index.isValid():
            return None
        rec = self.records[index.row()]
        col = COLUMNS[index.column()]
        worst = rec.worst
        flags = rec.flags or []
        if role == Qt.DisplayRole:
            return {
                "Started": rec.started[:16].replace("T", " "),
                "Title": rec.title or Path(rec.source or rec.id).stem,
                "Agent": rec.agent or "",
                "Duration": fmt_time(rec.duration),
                "Mood start": _mood(rec.mood_start),
                "Mood end": _mood(rec.mood_end),
                "Worst moment": (f"{fmt_time(worst.time)} {worst.title}" if worst else ""),
                "Flags": str(len(flags)) if rec.flags is not None else "…",
                "High": str(sum(f.severity == 3 for f in flags)),
                "Status": rec.status,
            }[col]
        if role == Qt.UserRole:  # sort key
            return {
                "Started": rec.started, "Title": (rec.title or "").lower(),
                "Agent": (rec.agent or "").lower(), "Duration": rec.duration,
                "Mood start": -9 if rec.mood_start is None else rec.mood_start,
                "Mood end": -9 if rec.mood_end is None else rec.mood_end,
                "Worst moment": (worst.severity * 1000 - worst.time / 1000) if worst else -1,
                "Flags": len(flags), "High": sum(f.severity == 3 for f in flags),
                "Status": rec.status,
            }[col]
        if role == Qt.ToolTipRole:
            if col in ("Flags", "High") and flags:
                counts = rec.flag_counts
                return "\n".join(f"{KINDS[k]}: {n}" for k, n in counts.items())
            if col == "Worst moment" and worst:
                return f"{worst.title} ({worst.severity_name}) at {fmt_time(worst.time)}: {worst.reason}"
            if col == "Title":
                return rec.audio_path or rec.source
        if role == Qt.ForegroundRole:
            if col == "Worst moment" and worst:
                return QBrush(QColor(SEVERITY_COLOURS[worst.severity]))
            if col in ("Mood start", "Mood end"):
                v = rec.mood_start if col == "Mood start" else rec.mood_end
                if v is not None and v <= -0.3:
                    return QBrush(QColor("#c62828"))
                if v is not None and v >= 0.3:
                    return QBrush(QColor("#2e7d32"))
        if role == Qt.TextAlignmentRole and col in ("Duration", "Mood start", "Mood end", "Flags",
                                                      "High"):
            return int(Qt.AlignRight | Qt.AlignVCenter)
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
        if self.mood == "ended_negative" and not (e is not None and e <= -0.3):
            return False
        if self.mood == "ended_positive" and not (e is not None and e >= 0.3):
            return False
        if self.mood == "worsened" and not (s is not None and e is not None and e < s - 0.2):
            return False
        if self.mood == "improved" and not (s is not None and e is not None and e > s + 0.2):
            return False
        if self.mood == "low" and not (rec.mood_min is not None and rec.mood_min <= -0.5):
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
    """Loads the models once (in its thread) and imports recordings into the library."""

    progress = Signal(int, int, str)  # done, total, message
    imported = Signal(object)  # ImportResult
    finished = Signal(list)
    failed = Signal(str)

    def __init__(self, store, jobs: int, channels: str | None, loader=None):
        super().__init__()
        self.store, self.jobs, self.channels = store, jobs, channels
        self.loader = loader  # () -> Pipeline; default: the user's config
        self.pipeline = None
        self.cancel = threading.Event()

    @Slot(list)
    def run(self, paths: list) -> None:
        from ..library.importer import Importer
        self.cancel.clear()
        try:
            if self.pipeline is None:
                self.progress.emit(0, 0, "Loading speech and mood models…")
                self.pipeline = (self.loader or _load_pipeline)()
            importer = Importer(self.store, self.pipeline, jobs=self.jobs, channels=self.channels)

            def on_result(res, done, total):
                self.imported.emit(res)
                what = ("already in the library" if res.skipped else
                        f"error: {res.error}" if res.error else "done")
                self.progress.emit(done, total, f"{res.path.name}: {what}")

            results = importer.run(paths, cancel=self.cancel, on_result=on_result)
        except CallAssistError as exc:
            self.failed.emit(str(exc))
            return
        self.finished.emit(results)


def _load_pipeline():
    from ..config import Config
    from ..core.pipeline import load_pipeline
    cfg = Config.load()
    return load_pipeline(engine=cfg.engine, vosk_model=cfg.vosk_model,
                         whisper_model=cfg.whisper_model, mood_model=cfg.mood_model,
                         knowledge=cfg.knowledge, phrases=cfg.phrases, partials=False,
                         mood_window=cfg.mood_window)


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


class LibraryWindow(QMainWindow):
    """Calls in the library for QA review; double-click opens the replay view at the worst moment."""

    start_import = Signal(list)

    def __init__(self, store, *, jobs: int = 2, channels: str | None = None, loader=None,
                 parent=None):
        super().__init__(parent)
        self.store = store
        self.replays: dict[str, ReplayWindow] = {}
        self.setWindowTitle(f"CallAssist — call library ({store.path})")
        self.resize(1200, 700)
        self._build()
        self.thread = QThread(self)
        self.worker = ImportWorker(store, jobs, channels, loader)
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
        try:
            store.refresh_flags(only_missing=True)  # calls stored before flags existed
        except CallAssistError as exc:
            self.show_message(str(exc))
        self.reload()

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
        d = QDateEdit()
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
        shown, total = self.proxy.rowCount(), self.model.rowCount()
        flags = sum(len(r.flags or []) for r in self.visible_records())
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
        from ..library.report import write_csv
        if path is None:
            path, _ = QFileDialog.getSaveFileName(self, "Export the calls shown as CSV",
                                                  str(Path.home() / "calls.csv"), "CSV (*.csv)")
        if not path:
            return None
        try:
            write_csv(self.visible_records(), path)
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

    def edit_thresholds(self) -> None:
        dlg = FlagSettingsDialog(self.store.flag_settings, self)
        if dlg.exec() == QDialog.Accepted:
            self.set_flag_settings(dlg.settings())

    def set_flag_settings(self, settings: FlagSettings) -> None:
        try:
            n = self.store.refresh_flags(settings)
        except CallAssistError as exc:
            self.show_message(str(exc))
            return
        self.statusBar().showMessage(f"Re-flagged {n} calls with the new thresholds")
        self.reload()

    def show_message(self, message: str) -> None:
        """Shown in the status bar and in a box that does not block the window (this is also
        called from timers and the import worker's signals, which must never wait on a user)."""
        self.statusBar().showMessage(message)
        box = QMessageBox(QMessageBox.Warning, "CallAssist", message, QMessageBox.Ok, self)
        box.setAttribute(Qt.WA_DeleteOnClose)
        box.open()
        self.message_box = box

    def closeEvent(self, e):
        self._reload_timer.stop()  # nothing may read the library after the window has gone
        self._search_timer.stop()
        if self.importing:
            self.worker.cancel.set()
        for win in list(self.replays.values()):
            win.close()
        self.thread.quit()
        self.thread.wait(60000)
        super().closeEvent(e)
