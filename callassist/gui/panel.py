"""The side panel an agent keeps beside the softphone: mood, trend, phrases, knowledge, the
caller's points, escalation, the close-the-call checklist and a live transcript."""
from __future__ import annotations

import time
from html import escape
from pathlib import Path

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QGuiApplication, QIcon, QKeySequence, QShortcut
from PySide6.QtWidgets import (QCheckBox, QComboBox, QFrame, QGridLayout, QHBoxLayout, QLabel,
                               QListWidget, QListWidgetItem, QMainWindow, QPlainTextEdit, QProgressBar,
                               QPushButton, QScrollArea, QTextEdit, QToolButton, QVBoxLayout, QWidget)

from ..assist.rulebook import LEGACY_CHECKLIST
from ..core.events import (CallerPoint, CallMetrics, ChecklistItem, CoachingTip, EscalationAdvice,
                      KnowledgeMatch, MoodState, PartialUtterance, PhraseSuggestion, ProvisionalMood, Sentiment,
                      Relabelled, RuleMatch, Status, Utterance, WrapUp)
from .bridge import NOT_KEPT, CallSetup, CallWorker, EventBridge, start_worker
from .settings import PanelSettings, SettingsDialog
from .theme import UI, apply_theme, colours
from .widgets import ClickLabel, ElidedLabel, KnowledgeCard, MoodGauge, Section, TrendChart

SPEAKER_NAMES = {"agent": "You", "customer": "Caller"}


def _recording_seconds(path: str) -> float | None:
    try:
        import soundfile
        return float(soundfile.info(path).duration)
    except Exception:  # unreadable: the worker says so; the clock then stops at the end
        return None


class SidePanel(QMainWindow):
    mood_shown = Signal(object)  # MoodState, after the gauge shows it (for benchmarks and tests)

    models_progress = Signal(str)  # what the background model load is doing (any thread)
    models_ready = Signal(str)  # "" when loaded, else the one-line error (any thread)
    devices_listed = Signal(object)  # audio.devices.DeviceList from the device watcher (any thread)

    def __init__(self, settings: PanelSettings | None = None, store=None, config=None):
        super().__init__()
        self.settings = settings or PanelSettings.load()
        self.config = config
        self.store = store
        self.models = None  # Future of the models (core.models.preload), started when shown
        self.bridge = EventBridge()
        self.bridge.event.connect(self.on_event)
        self.worker: CallWorker | None = None
        self.thread = None
        self.call_started: float | None = None
        self._clock_stopped = False
        self._clock_limit: float | None = None  # a recording's length: the clock stops there
        self._escalations: dict[str, str] = {}  # transfer advice shown: trigger -> reason
        self._flash: str | None = None  # a transient header message, and what it covers
        self._status_under = ""
        self._flash_timer = QTimer(self)
        self._flash_timer.setSingleShot(True)
        self._flash_timer.timeout.connect(self._end_flash)
        self.last_timeline = None
        self.library = None  # the QA / coach window, opened from the panel
        self.device_watch = None  # audio.devices.DeviceWatcher: lists inputs off the GUI thread
        self.device_list = None  # the last audio.devices.DeviceList it sent
        self.setWindowTitle("CallAssist")
        self.setWindowIcon(QIcon(str(UI / "icons" / "app.svg")))
        self.setMinimumWidth(340)
        self.resize(400, 900)
        self._build()
        self._shortcuts()
        self.timer = QTimer(self)
        self.timer.timeout.connect(self._tick)
        self.timer.start(500)
        apply_theme(self, self.settings.theme)
        self.chart.set_theme(self.settings.theme == "dark")
        self.set_on_top(self.settings.on_top)
        self.models_progress.connect(self._models_progress)
        self.models_ready.connect(self._models_loaded)
        self.preload_models()

    def _checklist(self) -> list[tuple[str, str]]:
        """The close-the-call checklist: the rules that tick it (the built-in ones and the
        centre's file, or the built-in ones when it is broken; a small file, read once and
        cached)."""
        from ..assist.rulebook import rules_or_builtin
        return rules_or_builtin(getattr(self.config, "rules", None)).checklist()

    def _check_box(self, item: str, label: str) -> QCheckBox:
        box = QCheckBox(label)
        box.setAccessibleName(f"Close the call: {label}")
        box.setAccessibleDescription("Ticked when you say it")
        self.checks[item] = box
        self.checklist_section.body_layout.addWidget(box)
        return box

    # ---- models, loaded once in the background -----------------------------------------------
    def preload_models(self) -> None:
        """Start loading the models the settings name, so that Start finds them ready."""
        from ..config import Config
        from ..core.models import preload
        from ..errors import CallAssistError
        try:
            if self.config is None:
                self.config = Config.load()
        except CallAssistError as exc:
            self.show_error(str(exc))
            return
        self.models = preload(self.config, progress=self.models_progress.emit)
        if not self.models.done():
            self.status.setText("Loading models…")
        self.models.add_done_callback(self._tell_models_loaded)

    def _tell_models_loaded(self, fut) -> None:
        """From the loading thread: queue the outcome to the GUI thread (if the panel is open)."""
        try:
            self.models_ready.emit("" if fut.exception() is None else str(fut.exception()))
        except RuntimeError:  # the panel was closed while the models loaded
            pass

    def _models_progress(self, message: str) -> None:
        if self.worker is None:
            self.status.setText(message)

    def _models_loaded(self, error: str) -> None:
        import gc
        gc.freeze()  # the models live as long as the process: the collector stops walking them
        if error:
            self.show_error(error)
        elif self.worker is None and self.status.text().startswith("Loading"):
            self.status.setText("Ready")

    # ---- layout --------------------------------------------------------------------------------
    @staticmethod
    def _banner(margin: int) -> tuple[QFrame, QLabel, QToolButton]:
        """A dismissable banner (the transfer advice, a rule's alert): frame, text, ✕ button;
        hidden until there is something to say."""
        frame = QFrame()
        frame.setObjectName("escalation")
        row = QHBoxLayout(frame)
        row.setContentsMargins(8, margin, 8, margin)
        text = QLabel("")
        text.setWordWrap(True)
        row.addWidget(text, 1)
        dismiss = QToolButton()
        dismiss.setText("✕")
        dismiss.setToolTip("Dismiss")
        dismiss.clicked.connect(frame.hide)
        row.addWidget(dismiss)
        frame.hide()
        return frame, text, dismiss

    def _build(self) -> None:
        root = QWidget()
        outer = QVBoxLayout(root)
        outer.setContentsMargins(6, 6, 6, 6)
        outer.setSpacing(6)

        head = QHBoxLayout()
        self.clock = QLabel("00:00")
        self.clock.setObjectName("clock")
        head.addWidget(self.clock)
        self.status = ElidedLabel("Ready")  # one line, elided: the header never wraps or jumps
        self.status.setObjectName("status")
        head.addWidget(self.status, 1)
        self.start_button = QPushButton("Start call")
        self.start_button.setObjectName("primary")
        self.start_button.setToolTip("Start or stop listening (Ctrl+Enter)")
        self.start_button.clicked.connect(self.toggle_call)
        head.addWidget(self.start_button)
        self.pin = QToolButton()
        self.pin.setIcon(QIcon(str(UI / "icons" / "pin.svg")))
        self.pin.setCheckable(True)
        self.pin.setToolTip("Keep the panel above other windows")
        self.pin.toggled.connect(self.set_on_top)
        head.addWidget(self.pin)
        self.library_button = QToolButton()
        self.library_button.setIcon(QIcon(str(UI / "icons" / "library.svg")))
        self.library_button.setToolTip("Call library: review, replay and flag saved calls (Ctrl+L)"
                                       if self.store is not None else
                                       "Calls are not being saved, so there is no library to open")
        self.library_button.setEnabled(self.store is not None)
        self.library_button.clicked.connect(self.open_library)
        head.addWidget(self.library_button)
        gear = self.settings_button = QToolButton()
        gear.setIcon(QIcon(str(UI / "icons" / "settings.svg")))
        gear.setToolTip("Settings (Ctrl+,)")
        gear.clicked.connect(self.open_settings)
        head.addWidget(gear)
        outer.addLayout(head)

        # caller over you, a row each: at 360 px the device names stay readable
        audio = QGridLayout()
        audio.setColumnStretch(1, 1)
        self.caller_input = QComboBox()
        self.caller_input.setSizeAdjustPolicy(QComboBox.AdjustToMinimumContentsLengthWithIcon)
        self.caller_input.setMinimumContentsLength(6)
        self.caller_input.setToolTip("Caller's audio (e.g. the softphone's output monitor)")
        self.agent_input = QComboBox()
        self.agent_input.setSizeAdjustPolicy(QComboBox.AdjustToMinimumContentsLengthWithIcon)
        self.agent_input.setMinimumContentsLength(6)
        self.agent_input.setToolTip("Your headset microphone (optional)")
        audio.addWidget(QLabel("Caller"), 0, 0)
        audio.addWidget(self.caller_input, 0, 1)
        audio.addWidget(QLabel("You"), 1, 0)
        audio.addWidget(self.agent_input, 1, 1)
        self.softphone_button = QToolButton()
        self.softphone_button.setText("☎")
        self.softphone_button.setToolTip("Softphone: caller = the output a program is playing to, "
                                         "you = your headset microphone")
        self.softphone_button.setAccessibleName("Choose the softphone's audio and your microphone")
        self.softphone_button.clicked.connect(self.choose_softphone)
        audio.addWidget(self.softphone_button, 0, 2)
        rescan = QToolButton()
        rescan.setText("⟳")
        rescan.setToolTip("Look for audio devices again")
        rescan.clicked.connect(lambda: self.refresh_devices(rescan=True))
        audio.addWidget(rescan, 1, 2)
        outer.addLayout(audio)
        self.device_note = QLabel("")  # a device gone mid-call; the softphone choice made
        self.device_note.setObjectName("error")
        self.device_note.setWordWrap(True)
        self.device_note.hide()
        outer.addWidget(self.device_note)
        meters = QHBoxLayout()
        self.meters = {}
        for speaker in ("customer", "agent"):
            bar = QProgressBar()
            bar.setObjectName("meter")
            bar.setRange(0, 100)
            bar.setTextVisible(False)
            bar.setFixedHeight(5)
            self.meters[speaker] = bar
            meters.addWidget(bar)
        outer.addLayout(meters)

        self.alert = QLabel("")
        self.alert.setObjectName("error")
        self.alert.setWordWrap(True)
        self.alert.hide()
        outer.addWidget(self.alert)
        self.escalation, self.escalation_text, self.dismiss_escalation = self._banner(6)
        outer.addWidget(self.escalation)
        # the centre's rules (content/rules.yaml): the latest live alert, until dismissed
        self.rule_alert, self.rule_alert_text, dismiss = self._banner(4)
        self.rule_alert_text.setAccessibleName("Alert from the centre's rules")
        dismiss.setAccessibleName("Dismiss the alert")
        outer.addWidget(self.rule_alert)

        scroll = self.scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.NoFrame)
        content = QWidget()
        col = QVBoxLayout(content)
        col.setContentsMargins(0, 0, 0, 0)
        col.setSpacing(6)

        self.mood_section = Section("Caller mood")
        self.gauge = MoodGauge()
        self.mood_section.body_layout.addWidget(self.gauge)
        self.mood_reason = QLabel("")
        self.mood_reason.setObjectName("reason")
        self.mood_reason.setWordWrap(True)
        self.mood_section.body_layout.addWidget(self.mood_reason)
        self.chart = TrendChart()
        self.mood_section.body_layout.addWidget(self.chart)
        col.addWidget(self.mood_section)

        self.phrase_section = Section("Say next")
        self.phrase_labels: list[ClickLabel] = []
        for i in range(3):
            lab = ClickLabel("")
            lab.setObjectName("phrase")
            lab.setToolTip(f"Click to copy (Ctrl+{i + 1})")
            lab.clicked.connect(lambda i=i: self.copy_phrase(i))
            lab.hide()
            self.phrase_labels.append(lab)
            self.phrase_section.body_layout.addWidget(lab)
        self.coaching = QLabel("")
        self.coaching.setObjectName("coaching")
        self.coaching.setWordWrap(True)
        self.coaching.hide()
        self.phrase_section.body_layout.addWidget(self.coaching)
        col.addWidget(self.phrase_section)

        self.knowledge_section = Section("Knowledge")
        self.cards_box = QVBoxLayout()
        self.knowledge_section.body_layout.addLayout(self.cards_box)
        self.no_cards = QLabel("Cards appear when the caller talks about a product or policy.")
        self.no_cards.setObjectName("hint")
        self.no_cards.setWordWrap(True)
        self.knowledge_section.body_layout.addWidget(self.no_cards)
        col.addWidget(self.knowledge_section)

        self.points_section = Section("Caller's points")
        self.points = QListWidget()
        self.points.setObjectName("points")
        self.points.setMaximumHeight(130)
        self.points.setWordWrap(True)
        self.points_section.body_layout.addWidget(self.points)
        col.addWidget(self.points_section)

        self.checklist_section = Section("Close the call")
        self.checks: dict[str, QCheckBox] = {}
        for item, label in self._checklist():
            self._check_box(item, label)
        self._own_checks = set(self.checks)  # the rest came with a call: gone with it
        col.addWidget(self.checklist_section)

        # the wrap-up, written from the call when it ends: editable, one click copies it
        self.wrapup_section = Section("Wrap-up")
        self.wrapup_text = QPlainTextEdit()
        self.wrapup_text.setObjectName("wrapup")
        self.wrapup_text.setAccessibleName("Wrap-up of the call, editable")
        self.wrapup_text.setMinimumHeight(110)
        self.wrapup_text.setMaximumHeight(180)
        self.wrapup_section.body_layout.addWidget(self.wrapup_text)
        self.wrapup_copy = QPushButton("Copy wrap-up")
        self.wrapup_copy.setAccessibleName("Copy the wrap-up")
        self.wrapup_copy.setToolTip("Copy the wrap-up as shown, with your edits")
        self.wrapup_copy.clicked.connect(self.copy_wrapup)
        self.wrapup_section.body_layout.addWidget(self.wrapup_copy)
        self.wrapup_section.hide()
        self.wrapup = None  # the WrapUp event shown
        col.addWidget(self.wrapup_section)

        self.transcript_section = Section("Transcript", collapsible=True, collapsed=False)
        self.transcript = QTextEdit()
        self.transcript.setReadOnly(True)
        self.transcript.setObjectName("transcript")
        self.transcript.setMinimumHeight(140)
        self._follow = True  # the transcript follows new lines unless the user scrolled up
        bar = self.transcript.verticalScrollBar()
        bar.valueChanged.connect(lambda v: setattr(self, "_follow", v >= bar.maximum() - 2))
        bar.rangeChanged.connect(lambda _lo, hi: self._follow and bar.setValue(hi))
        self.transcript_section.body_layout.addWidget(self.transcript)
        self.partials = QLabel("")
        self.partials.setObjectName("partial")
        self.partials.setWordWrap(True)
        self.transcript_section.body_layout.addWidget(self.partials)
        col.addWidget(self.transcript_section)
        col.addStretch(1)
        scroll.setWidget(content)
        outer.addWidget(scroll, 1)

        self.footer = QLabel("")
        self.footer.setObjectName("footer")
        self.footer.setWordWrap(True)
        outer.addWidget(self.footer)
        self.setCentralWidget(root)
        self.refresh_devices()
        self._reset_call_view()
        self._name_controls()

    def _shortcuts(self) -> None:
        QShortcut(QKeySequence("Ctrl+Return"), self, self.toggle_call)
        for i in range(3):
            QShortcut(QKeySequence(f"Ctrl+{i + 1}"), self, lambda i=i: self.copy_phrase(i))
        QShortcut(QKeySequence("Ctrl+T"), self,
                  lambda: self.transcript_section.set_expanded(not self.transcript_section.body.isVisible()))
        QShortcut(QKeySequence("Ctrl+,"), self, self.open_settings)
        QShortcut(QKeySequence("Ctrl+D"), self, self.toggle_theme)
        QShortcut(QKeySequence("Ctrl+L"), self, self.open_library)

    def _name_controls(self) -> None:
        """Screen-reader names and descriptions for the panel's controls; the keyboard reaches
        every control and nothing that is not one."""
        named = (
            (self.start_button, "Start or stop the call", "Ctrl+Enter"),
            (self.pin, "Keep the panel on top", "Keeps the panel above other windows"),
            (self.library_button, "Call library", self.library_button.toolTip()),
            (self.settings_button, "Settings", "Ctrl+comma"),
            (self.caller_input, "Caller's audio input",
             "For a softphone, the monitor of its output"),
            (self.agent_input, "Your microphone", "Your headset microphone, optional"),
            (self.dismiss_escalation, "Dismiss the transfer advice", ""),
            (self.points, "Caller's points", "Issues, requests and questions the caller raised; "
                                             "ticked when answered"),
            (self.transcript, "Transcript", "Both speakers; follows new lines unless you "
                                            "scroll up"),
            (self.status, "Status", ""),
            (self.clock, "Call time", ""),
            (self.gauge, "Caller mood", ""),
            (self.mood_reason, "Why the mood changed", ""),
            (self.escalation, "Transfer advice", ""),
        )
        for widget, name, description in named:
            widget.setAccessibleName(name)
            if description:
                widget.setAccessibleDescription(description)
        for i, lab in enumerate(self.phrase_labels):
            lab.setAccessibleName(f"Phrase {i + 1} to say next")
            lab.setAccessibleDescription(f"Enter, a click or Ctrl+{i + 1} copies it")
        if self.transcript_section.toggle is not None:
            self.transcript_section.toggle.setAccessibleName("Show or hide the transcript")
            self.transcript_section.toggle.setAccessibleDescription("Ctrl+T")
        self.transcript.setTabChangesFocus(True)
        self.chart.setFocusPolicy(Qt.NoFocus)  # a picture, not a control
        for w in self.chart.findChildren(QWidget):
            w.setFocusPolicy(Qt.NoFocus)
        for area in self.centralWidget().findChildren(QScrollArea):
            area.setFocusPolicy(Qt.NoFocus)  # Tab goes to the controls in it, which it scrolls to
        # anything else (added later) that takes the focus is named after what it says
        for w in self.centralWidget().findChildren(QWidget):
            if w.focusPolicy() & Qt.TabFocus and not w.accessibleName():
                text = w.text() if hasattr(w, "text") and callable(w.text) else ""
                w.setAccessibleName(w.toolTip().split(" (")[0] or text)

    # ---- window behaviour ----------------------------------------------------------------------
    def dock_right(self) -> None:
        screen = self.screen() or QGuiApplication.primaryScreen()
        if screen is None:
            return
        area = screen.availableGeometry()
        width = max(self.minimumWidth(), min(420, area.width() // 4))
        self.setGeometry(area.right() - width + 1, area.top(), width, area.height())

    def set_on_top(self, on: bool) -> None:
        if self.pin.isChecked() != on:
            self.pin.setChecked(on)
        visible = self.isVisible()
        self.setWindowFlag(Qt.WindowStaysOnTopHint, on)
        if visible:
            self.show()

    def toggle_theme(self) -> None:
        self.settings.theme = "dark" if self.settings.theme == "light" else "light"
        self.settings.save()
        apply_theme(self, self.settings.theme)
        self.chart.set_theme(self.settings.theme == "dark")

    def open_settings(self) -> None:
        dlg = SettingsDialog(self.settings, self.config, self)
        if dlg.exec():
            self.settings = dlg.settings
            reload = self.config is None or dlg.config.model_key() != self.config.model_key()
            self.config = dlg.config
            if reload:  # other models or files: load them now, not at the next Start
                self.preload_models()
            apply_theme(self, self.settings.theme)
            self.chart.set_theme(self.settings.theme == "dark")
            self.set_on_top(self.settings.on_top)

    def open_library(self):
        """The call library window on the calls this panel saves (a new one if it was closed)."""
        if self.store is None:
            return None
        if self.library is None or not self.library.isVisible():
            from .library_view import LibraryWindow
            if self.config is None:
                return None
            self.library = LibraryWindow(self.store, config=self.config, models=self.models)
            apply_theme(self.library, self.settings.theme)
        else:
            self.library.reload()
        self.library.show()
        self.library.raise_()
        self.library.activateWindow()
        return self.library

    def refresh_devices(self, rescan: bool = False) -> None:
        """List the audio inputs again. The listing runs on the device watcher's thread (the
        GUI never waits for the sound server); the list arrives in `show_devices`. The watcher
        also lists by itself whenever a source appears or goes (hot-plug)."""
        from ..audio.devices import DeviceList, DeviceWatcher
        if self.device_watch is None:
            self.show_devices(DeviceList(), listing=True)  # the remembered choices, until listed
            self.devices_listed.connect(self.show_devices)
            self.device_watch = DeviceWatcher(self.devices_listed.emit).start()
        else:
            self.device_watch.refresh(rescan=rescan and self.worker is None)

    def show_devices(self, listed, listing: bool = False) -> None:
        """Fill the input lists by description, keeping each choice (by source name); a
        remembered input that is not connected now stays listed as such."""
        self.device_list = None if listing else listed
        for combo, saved, optional in ((self.caller_input, self.settings.caller_input, False),
                                       (self.agent_input, self.settings.agent_input, True)):
            keep = combo.currentData() if combo.count() else saved
            combo.blockSignals(True)
            combo.clear()
            combo.addItem("(none)" if optional else "default input", "")
            for d in listed.devices:
                combo.addItem(d.label, d.name)
                combo.setItemData(combo.count() - 1, d.name, Qt.ToolTipRole)
            if keep and combo.findData(keep) < 0:
                combo.addItem(keep if listing else f"{keep} (not connected)", keep)
            combo.setCurrentIndex(max(0, combo.findData(keep or "")))
            combo.blockSignals(False)
        self.softphone_button.setEnabled(bool(listed.caller))

    def choose_softphone(self) -> None:
        """One step: caller = the monitor of the output a program plays to (the softphone),
        you = the default / headset microphone; remembered in panel.ini by source name."""
        listed = self.device_list
        if listed is None or not listed.caller:
            self.device_note.setText("No program output to listen to: start the softphone's call "
                                     "audio, or pick the caller's input by hand")
            self.device_note.show()
            return
        for combo, name in ((self.caller_input, listed.caller), (self.agent_input, listed.agent)):
            combo.setCurrentIndex(max(0, combo.findData(name)))
        self.settings.caller_input = self.caller_input.currentData() or ""
        self.settings.agent_input = self.agent_input.currentData() or ""
        self.settings.save()
        self.device_note.hide()
        self.status.setText(listed.reason[:1].upper() + listed.reason[1:])

    # ---- calls ---------------------------------------------------------------------------------
    def _setup(self, play: str | None = None, speed: float = 1.0, playback: bool = False) -> CallSetup:
        inputs = {"customer": self.caller_input.currentData() or None}
        if self.agent_input.currentData():
            inputs["agent"] = self.agent_input.currentData()
        return CallSetup(play=play, inputs=inputs, speed=speed, playback=playback,
                         agent=self.settings.agent_name or None)

    def toggle_call(self) -> None:
        if self.worker is not None:
            self.stop_call()
        else:
            self.settings.caller_input = self.caller_input.currentData() or ""
            self.settings.agent_input = self.agent_input.currentData() or ""
            self.settings.save()
            self.start_call(self._setup())

    def play(self, path: str, speed: float = 1.0, playback: bool = False) -> None:
        self.start_call(self._setup(play=path, speed=speed, playback=playback))

    def start_call(self, setup: CallSetup) -> None:
        if self.worker is not None:
            return
        if self.models is None:  # the settings could not be read: said in the panel already
            self.preload_models()
            if self.models is None:
                return
        self._reset_call_view()
        self.device_note.hide()
        self.setup = setup
        self.worker = CallWorker(setup, self.bridge, self.config, self.models, self.store)
        self.worker.status.connect(self.show_status)
        self.worker.level.connect(self.show_level)
        self.worker.capturing.connect(self._call_capturing)
        self.worker.started.connect(self._call_running)
        self.worker.failed.connect(self.show_error)
        self.worker.finished.connect(self._call_finished)
        self.thread = start_worker(self.worker)
        self.start_button.setText("Stop")
        self.caller_input.setEnabled(False)
        self.agent_input.setEnabled(False)

    def stop_call(self) -> None:
        if self.worker is not None:
            self._tick()
            self._clock_stopped = True  # the call ends now, however long the worker takes
            self.status.setText("Stopping…")
            self.worker.stop()

    def _call_capturing(self) -> None:
        """The audio is open and recorded: the call's clock runs from here, models or not."""
        self.call_started = time.monotonic()
        self._clock_stopped = False
        self._clock_limit = _recording_seconds(self.setup.play) if self.setup.play else None
        self.call_speed = self.setup.speed if self.setup.play else 1.0
        if self.models is not None and not self.models.done():
            self.status.setText("● Listening — transcribing as soon as the models are loaded")

    def _call_running(self, call: dict) -> None:
        if self.call_started is None:
            self._call_capturing()
        what = Path(self.setup.play).name if self.setup.play else "live"
        self.status.setText(f"● {what} — {call.get('engine_description', '')}")

    def _call_finished(self, timeline) -> None:
        self.last_timeline = timeline
        kept = getattr(self.worker, "kept", True)  # False: nothing was said, the library dropped it
        if self.thread is not None:
            self.thread.quit()
            self.thread.wait(5000)
        self.worker = None
        self.thread = None
        self._tick()  # the clock shows where the call ended, and stops
        self.call_started = None
        self._clock_stopped = True
        self.start_button.setText("Start call")
        self.caller_input.setEnabled(True)
        self.agent_input.setEnabled(True)
        for bar in self.meters.values():
            bar.setValue(0)
        if not self.alert.isVisible():
            self.status.setText(NOT_KEPT if not kept else
                                "Call ended" if timeline is not None else "Ready")
        if self.library is not None and self.library.isVisible():
            self.library.reload()  # the call just saved appears in the list, flagged

    def show_timeline(self, timeline) -> None:
        """Show a stored call (e.g. one a crash interrupted) as the panel had it."""
        self._reset_call_view()
        for ev in timeline.events:
            self.on_event(ev)
        self.last_timeline = timeline
        self.clock.setText(self._fmt(timeline.call.get("duration", 0.0)))
        self.status.setText(f"Opened call of {timeline.call.get('started', '')}")

    def closeEvent(self, e):
        if self.device_watch is not None:
            self.device_watch.stop()
        if self.worker is not None:
            self.worker.stop()
            if self.thread is not None:
                self.thread.quit()
                self.thread.wait(10000)
        if self.library is not None:
            self.library.close()
        super().closeEvent(e)

    # ---- events --------------------------------------------------------------------------------
    def _reset_call_view(self) -> None:
        self.gauge.reset()
        self.mood_reason.setText("")
        self.chart.clear()
        for lab in self.phrase_labels:
            lab.hide()
        self.phrase_section.extra.setText("")
        self.coaching.hide()
        self.wrapup_section.hide()
        self.wrapup = None
        self.wrapup_text.clear()
        self._clear_cards()
        self.points.clear()
        self._point_items: dict[int, QListWidgetItem] = {}
        for item in list(self.checks):
            if item not in self._own_checks:
                self.checks.pop(item).deleteLater()
            else:
                self.checks[item].setChecked(False)
        self.transcript.clear()
        self._partial: dict[str, str] = {}
        self.partials.setText("")
        self.escalation.hide()
        self.rule_alert.hide()
        self._escalations = {}
        self.knowledge_section.extra.setText("")
        self.alert.hide()
        self.footer.setText("")
        self._raw: dict[int, float] = {}
        self.clock.setText("00:00")

    def _clear_cards(self) -> None:
        while self.cards_box.count():
            w = self.cards_box.takeAt(0).widget()
            if w is not None:
                w.deleteLater()
        self.cards: list[KnowledgeCard] = []
        self.no_cards.show()

    def on_event(self, ev) -> None:
        if isinstance(ev, Relabelled):  # the call so far follows again, the roles swapped
            clock = self.clock.text()
            self._reset_call_view()
            self.clock.setText(clock)
            self.footer.setText(ev.message)
        elif isinstance(ev, PartialUtterance):
            self._partial[ev.speaker] = ev.text
            self._show_partials()
        elif isinstance(ev, Utterance):
            self._partial.pop(ev.speaker, None)
            self._show_partials()
            who = SPEAKER_NAMES.get(ev.speaker, ev.speaker)
            c = colours(self.settings.theme)  # speaker and time colours that pass contrast
            colour = c.get("agent" if ev.speaker == "agent" else "caller", "#1565c0")
            self.transcript.append(f"<span style='color:{colour}'><b>{who}</b></span> "
                                   f"<span style='color:{c.get('muted', 'gray')}'>{self._fmt(ev.start)}</span> "
                                   f"{escape(ev.text)}")
        elif isinstance(ev, Sentiment):
            self._raw[ev.utterance_id] = ev.score
        elif isinstance(ev, WrapUp):
            if ev.final:
                self._show_wrapup(ev)
        elif isinstance(ev, ProvisionalMood):
            self.gauge.set_provisional(ev.score, ev.label)
        elif isinstance(ev, MoodState):
            self.gauge.set_mood(ev.score, ev.label, ev.trend, ev.confidence)
            self.mood_reason.setText(ev.reason)
            self.chart.add(ev.time, self._raw.get(ev.utterance_id, ev.score), ev.score)
            self.mood_shown.emit(ev)
        elif isinstance(ev, PhraseSuggestion):
            self.phrase_section.extra.setText(ev.situation.replace("_", " "))
            self.phrase_section.setToolTip(ev.reason)
            for i, (lab, text) in enumerate(zip(self.phrase_labels, list(ev.phrases) + [""] * 3)):
                lab.setText(text)
                lab.setVisible(bool(text))
                lab.setAccessibleName(f"Say next {i + 1}: {text}")
        elif isinstance(ev, KnowledgeMatch):
            self._clear_cards()
            from ..assist.knowledge import DEFAULT_KB
            folder = (Path(self.config.knowledge).expanduser()
                      if self.config is not None and self.config.knowledge else DEFAULT_KB)
            for card in ev.cards:
                w = KnowledgeCard(card, folder / f"{card['article']}.md", query=ev.query)
                self.cards.append(w)
                self.cards_box.addWidget(w)
            self.no_cards.setVisible(not ev.cards)
            if ev.cards and self._escalations.pop("no_knowledge", None) is not None:
                self._show_escalation()  # the base answers what the caller says now
        elif isinstance(ev, CallerPoint):
            mark = "✓" if ev.addressed else "•"
            text = f"{mark} [{ev.category}] {ev.text}"
            item = self._point_items.get(ev.id)
            if item is None:
                item = QListWidgetItem(text)
                self._point_items[ev.id] = item
                self.points.addItem(item)
            item.setText(text)
            item.setForeground(Qt.gray if ev.addressed else self.palette().text().color())
            self.points.scrollToItem(item)
        elif isinstance(ev, CoachingTip):
            self.coaching.setText(f"Instead of “{ev.said}”: {ev.suggestion}")
            self.coaching.show()
        elif isinstance(ev, EscalationAdvice):
            self._escalations[ev.trigger] = ev.reason
            self._show_escalation()
        elif isinstance(ev, RuleMatch) and ev.alert:
            mark = {"high": "⚠", "medium": "⚑", "low": "ℹ"}.get(ev.severity, "⚑")
            self.rule_alert_text.setText(f"{mark} {escape(ev.alert)}")
            self.rule_alert.setToolTip(f"{ev.name} ({ev.severity}): “{ev.evidence}”")
            self.rule_alert.setAccessibleDescription(f"{ev.severity} alert: {ev.alert}")
            self.rule_alert.show()
        elif isinstance(ev, ChecklistItem):
            item = LEGACY_CHECKLIST.get(ev.item, ev.item)  # a call stored before the rules
            box = self.checks.get(item) or self._check_box(item, ev.label)
            box.setChecked(ev.done)
            box.setToolTip(f"you said: “{ev.evidence}”")
        elif isinstance(ev, CallMetrics):
            ratio = ev.talk_listen_ratio
            self.footer.setText(f"talk/listen {ratio if ratio is not None else '–'} · "
                                f"silences >3 s: {len(ev.long_silences)} · overlaps: {len(ev.overlaps)}")
        elif isinstance(ev, Status):
            if ev.level == "warning":
                self.footer.setText(f"⚠ {ev.message}")
            elif ev.level == "info" and "caught up" in ev.message:
                self.footer.setText("")
            elif ev.level == "info" and "call has ended" in ev.message:
                self.footer.setText(ev.message)  # the agent's words put aside on a busy machine
            elif ev.level == "info" and ("mono recording" in ev.message
                                         or "one microphone" in ev.message):
                self.footer.setText(ev.message)  # a mono call: who is who was worked out

    def _show_escalation(self) -> None:
        """The transfer advice, every reason still true. "No answer in the knowledge base" and
        cards on screen do not contradict each other: cards shown then are for an earlier topic
        of the call and are marked so; cards for what the caller says now retire that reason."""
        reasons = dict(self._escalations)
        earlier = bool(self.cards) and "no_knowledge" in reasons
        for card in self.cards:
            card.set_stale(earlier)
        self.knowledge_section.extra.setText("earlier topic" if earlier else "")
        if earlier:
            reasons["no_knowledge"] += " (the cards below are for an earlier topic)"
        if not reasons:
            self.escalation.hide()
            return
        self.escalation_text.setText("<b>Consider a transfer to a senior rep</b><br>"
                                     + "<br>".join(escape(r) for r in reasons.values()))
        self.escalation.setAccessibleDescription("; ".join(reasons.values()))
        self.escalation.show()

    def _show_partials(self) -> None:
        self.partials.setText("  ".join(f"<i>{SPEAKER_NAMES.get(s, s)}: {t}…</i>"
                                        for s, t in self._partial.items()))

    def show_status(self, level: str, message: str) -> None:
        if level == "device":  # an input went away mid-call: the call goes on with the other
            self.device_note.setText(f"⚠ {message}")
            self.device_note.show()
        elif level == "warning":
            self.footer.setText(f"⚠ {message}")
        else:
            self.status.setText(message)

    def show_error(self, message: str) -> None:
        self.alert.setText(f"⚠ {message}")
        self.alert.show()
        self.status.setText("Could not run the call")

    def show_level(self, speaker: str, value: float) -> None:
        bar = self.meters.get(speaker)
        if bar is not None:
            bar.setValue(int(value * 100))

    def copy_wrapup(self) -> None:
        text = self.wrapup_text.toPlainText().strip()
        if text:
            QGuiApplication.clipboard().setText(text)
            self.flash_status("Copied the wrap-up")

    def _show_wrapup(self, ev) -> None:
        """The call's wrap-up, in the panel when the call ends; each line's tooltip names the
        utterances it was read from."""
        self.wrapup = ev
        self.wrapup_section.extra.setText(ev.code_label)
        self.wrapup_section.setToolTip(f"{ev.code}: {ev.code_why}")
        self.wrapup_text.setPlainText(ev.text)
        self.wrapup_section.show()
        # the call is over: the wrap-up is what the agent needs now, brought into view (at 360 px
        # it sits below the fold); once laid out, so the scroll area knows where it is
        QTimer.singleShot(0, lambda: self.scroll.ensureWidgetVisible(self.wrapup_section, 0, 0))

    def copy_phrase(self, i: int) -> None:
        if i < len(self.phrase_labels) and not self.phrase_labels[i].isHidden():
            text = self.phrase_labels[i].text()
            QGuiApplication.clipboard().setText(text)
            self.flash_status("Copied: " + text)

    def flash_status(self, message: str, ms: int = 4000) -> None:
        """A transient message in the header (e.g. "Copied: …"): after `ms` the status it
        covered comes back, unless something else has been shown in the meantime."""
        if self._flash is None or self.status.text() != self._flash:
            self._status_under = self.status.text()
        self._flash = message
        self.status.setText(message)
        self._flash_timer.start(ms)

    def _end_flash(self) -> None:
        if self._flash is not None and self.status.text() == self._flash:
            self.status.setText(self._status_under)
        self._flash = None

    @staticmethod
    def _fmt(seconds: float) -> str:
        seconds = int(seconds)
        return f"{seconds // 60:02d}:{seconds % 60:02d}"

    def _tick(self) -> None:
        spool = getattr(self.store, "store", None)  # a team library: its desk's spool
        state = spool.state() if hasattr(spool, "state") else ""
        if state and self.footer.text() != f"⚠ {state}":
            self.footer.setText(f"⚠ {state}")
        elif not state and self.footer.text().startswith("⚠ shared library"):
            self.footer.setText("")
        # The clock runs while the call runs: it stops when Stop is pressed (the recogniser may
        # still be catching up) and, for a recording, at the recording's end.
        if self.call_started is not None and not self._clock_stopped:
            t = (time.monotonic() - self.call_started) * getattr(self, "call_speed", 1.0)
            if self._clock_limit is not None and t >= self._clock_limit:
                t, self._clock_stopped = self._clock_limit, True
            self.clock.setText(self._fmt(t))
