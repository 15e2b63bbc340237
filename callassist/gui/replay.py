"""The coach's replay view: a stored call with its audio, mood curve, flags, transcript and notes.

Playback is QtMultimedia (play/pause, seek, speed); in a redacted library it plays a copy of the
recording with the personal data bleeped (callassist.redact.audio). The mood curve carries the flagged moments
and the coach's notes; a click anywhere on it, on a flag, on a transcript line or on a note seeks
there. The transcript follows playback. Notes are saved in the call library at once.
"""
from __future__ import annotations

import bisect
import shutil
import tempfile
import threading
from pathlib import Path

from PySide6.QtCore import QPointF, QRectF, QSignalBlocker, Qt, QUrl, Signal
from PySide6.QtGui import (QBrush, QColor, QIcon, QKeySequence, QPainter, QPalette, QPixmap,
                           QPolygonF, QShortcut)
from PySide6.QtWidgets import (QCheckBox, QComboBox, QFileDialog, QHBoxLayout, QLabel, QLineEdit,
                               QListWidget, QListWidgetItem, QMainWindow, QMessageBox, QPushButton,
                               QSlider, QSplitter, QToolButton, QVBoxLayout, QWidget)

from ..errors import CallAssistError
from ..core.events import CUSTOMER
from ..library.flags import SEVERITY_COLOURS, Flag
from ..library.report import fmt_time

SPEEDS = (0.5, 0.75, 1.0, 1.25, 1.5, 2.0)
NOTE_COLOUR = "#1565c0"


class MoodTimeline(QWidget):
    """The caller's mood over the whole call with flags and notes on it; click to seek."""

    seek = Signal(float)

    def __init__(self, parent=None):
        super().__init__(parent)
        import pyqtgraph as pg

        self.pg = pg
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        self.plot = pg.PlotWidget()
        self.plot.setMinimumHeight(150)
        self.plot.setMaximumHeight(230)
        pal = self.palette()
        self.plot.setBackground(pal.base().color())
        for ax in ("left", "bottom"):
            self.plot.getAxis(ax).setPen(pal.text().color())
            self.plot.getAxis(ax).setTextPen(pal.text().color())
        self.plot.setMenuEnabled(False)
        self.plot.setMouseEnabled(x=False, y=False)
        self.plot.hideButtons()
        self.plot.setYRange(-1.1, 1.15, padding=0)
        self.plot.getAxis("left").setTicks([[(-1, "negative"), (0, "neutral"), (1, "positive")]])
        self.plot.setLabel("bottom", "time (m:ss)")
        self.plot.addLine(y=0, pen=pg.mkPen("#90a4ae", width=1, style=Qt.DashLine))
        self.curve = self.plot.plot([], [], pen=pg.mkPen("#0277bd", width=3), symbol="o",
                                    symbolSize=6, symbolBrush="#0277bd", symbolPen=None)
        self.spans: list = []
        self.flag_points = pg.ScatterPlotItem(size=15, pxMode=True, hoverable=True)
        self.flag_points.sigClicked.connect(self._flag_clicked)
        self.plot.addItem(self.flag_points)
        self.note_points = pg.ScatterPlotItem(size=11, pxMode=True, symbol="s",
                                              brush=pg.mkBrush(NOTE_COLOUR), pen=None)
        self.plot.addItem(self.note_points)
        self.playhead = pg.InfiniteLine(pos=0, angle=90, pen=pg.mkPen("#37474f", width=2))
        self.plot.addItem(self.playhead)
        self.plot.scene().sigMouseClicked.connect(self._clicked)
        lay.addWidget(self.plot)
        self.flags: list[Flag] = []
        self.duration = 0.0
        self._flag_hit = False

    def set_call(self, moods, flags: list[Flag], duration: float) -> None:
        pg = self.pg
        self.flags = list(flags)
        self.duration = max(duration, max((m.time for m in moods), default=0.0), 1.0)
        xs = [0.0] + [m.time for m in moods]
        ys = [0.0] + [m.score for m in moods]
        self.curve.setData(xs, ys)
        for item in self.spans:
            self.plot.removeItem(item)
        self.spans = []
        for f in self.flags:  # stretches (negative mood, silences) shaded, moments as markers
            if f.kind in ("negative_mood", "silence") and f.end - f.time >= 2.0:
                colour = QColor(SEVERITY_COLOURS.get(f.severity, "#ef6c00"))
                colour.setAlpha(28)
                region = pg.LinearRegionItem((f.time, f.end), movable=False, brush=colour,
                                             pen=pg.mkPen(None))
                region.setZValue(-10)
                self.plot.addItem(region)
                self.spans.append(region)
        self.flag_points.setData(
            [{"pos": (f.time, 1.05), "data": i, "symbol": "t",
              "brush": pg.mkBrush(SEVERITY_COLOURS.get(f.severity, "#ef6c00")),
              "pen": pg.mkPen("#263238", width=1)} for i, f in enumerate(self.flags)])
        self.flag_points.setToolTip(None)
        step = 30 if self.duration <= 300 else 60 if self.duration <= 900 else 300
        ticks = [(t, fmt_time(t)) for t in range(0, int(self.duration) + 1, step)]
        self.plot.getAxis("bottom").setTicks([ticks])
        self.plot.setXRange(0, self.duration, padding=0.01)

    def set_notes(self, notes: list[dict]) -> None:
        self.note_points.setData([n["time"] for n in notes], [-1.0] * len(notes))

    def set_position(self, seconds: float) -> None:
        self.playhead.setValue(seconds)

    def flag_pos(self, i: int):
        """Scene position of flag i's marker (for clicking it)."""
        f = self.flags[i]
        vb = self.plot.getViewBox()
        return vb.mapViewToScene(self.pg.QtCore.QPointF(f.time, 1.05))

    def _flag_clicked(self, _item, points, _ev=None) -> None:
        if points is not None and len(points):
            self._flag_hit = True
            self.seek.emit(float(self.flags[points[0].data()].time))

    def _clicked(self, ev) -> None:
        if self._flag_hit:  # the scatter item already handled this click
            self._flag_hit = False
            return
        vb = self.plot.getViewBox()
        if not vb.sceneBoundingRect().contains(ev.scenePos()):
            return
        x = vb.mapSceneToView(ev.scenePos()).x()
        self.seek.emit(float(min(max(0.0, x), self.duration)))


class ReplayWindow(QMainWindow):
    """One stored call, for a coach: listen, look at the flags, take notes, export a report."""

    notes_changed = Signal(str)  # call id
    _bleeped = Signal(str, str)  # path of the bleeped copy (or ""), error message (or "")

    def __init__(self, store, call_id: str, start_at: float | None = None, parent=None,
                 author: str = ""):
        super().__init__(parent)
        from PySide6.QtMultimedia import QAudioOutput, QMediaPlayer

        self.store = store
        self.call_id = call_id
        self.author = author
        self.record = store.get_call(call_id)
        self.timeline = store.load_timeline(call_id)
        self.flags = list(self.record.flags or [])
        self.utterances = sorted(self.timeline.utterances, key=lambda u: u.start)
        self._starts = [u.start for u in self.utterances]
        self.duration = float(self.record.duration or self.timeline.call.get("duration") or 0.0)
        self._pending_seek: float | None = None
        self._position = 0.0  # seconds; kept even when there is no audio to play
        self._current = -1

        self.player = QMediaPlayer(self)
        self.audio = QAudioOutput(self)
        self.player.setAudioOutput(self.audio)
        self.player.positionChanged.connect(self._on_player_position)
        self.player.durationChanged.connect(self._on_duration)
        self.player.playbackStateChanged.connect(self._on_state)
        self.player.mediaStatusChanged.connect(self._on_media_status)
        self.player.errorOccurred.connect(self._on_player_error)

        self.setWindowTitle(f"Replay — {self.record.title or self.record.id}")
        self.resize(1100, 760)
        self._build()
        self._load_audio()
        self._fill()
        if start_at is not None:
            self.seek(start_at)

    # ---- layout
    def _build(self) -> None:
        root = QWidget()
        outer = QVBoxLayout(root)
        outer.setContentsMargins(8, 8, 8, 8)
        rec = self.record
        head = QHBoxLayout()
        title = QLabel(f"<b>{_esc(rec.title or rec.id)}</b>")
        title.setObjectName("replayTitle")
        head.addWidget(title)
        self.meta = QLabel(self._meta_text())
        self.meta.setObjectName("status")
        if self.timeline.call.get("separation"):
            from ..audio.separated import describe
            self.meta.setToolTip(describe(self.timeline.call["separation"])[1])
        head.addWidget(self.meta, 1)
        self.show_original = QCheckBox("Show unredacted text")
        self.show_original.setToolTip("The library kept this call's original transcript "
                                      "(keep_original); reports stay redacted")
        self.show_original.setVisible(self.store.has_originals(self.call_id))
        self.show_original.toggled.connect(self._show_original)
        head.addWidget(self.show_original)
        for text, slot in (("Export HTML…", self.export_html), ("Export PDF…", self.export_pdf),
                           ("Export audio…", self.export_audio)):
            b = QPushButton(text)
            b.clicked.connect(slot)
            head.addWidget(b)
        outer.addLayout(head)

        self.alert = QLabel("")
        self.alert.setObjectName("error")
        self.alert.setWordWrap(True)
        self.alert.hide()
        outer.addWidget(self.alert)

        transport = QHBoxLayout()
        self.play_button = QToolButton()
        self.play_button.setObjectName("transport")
        self.play_button.setIcon(_transport_icon("play", self.palette()))
        self.play_button.setToolTip("Play / pause (Space)")
        self.play_button.setAccessibleName("Play")
        self.play_button.clicked.connect(self.toggle_play)
        transport.addWidget(self.play_button)
        back = QToolButton()
        back.setObjectName("transport")
        back.setAccessibleName("Back 5 seconds")
        back.setText("−5 s")
        back.setToolTip("Back 5 seconds (Left)")
        back.clicked.connect(lambda: self.seek(self._position - 5))
        transport.addWidget(back)
        fwd = QToolButton()
        fwd.setObjectName("transport")
        fwd.setAccessibleName("Forward 5 seconds")
        fwd.setText("+5 s")
        fwd.setToolTip("Forward 5 seconds (Right)")
        fwd.clicked.connect(lambda: self.seek(self._position + 5))
        transport.addWidget(fwd)
        self.slider = QSlider(Qt.Horizontal)
        self.slider.setAccessibleName("Position in the call")
        self.slider.setRange(0, int(self.duration * 1000))
        self.slider.sliderMoved.connect(lambda ms: self.seek(ms / 1000))
        self.slider.sliderPressed.connect(lambda: self.seek(self.slider.value() / 1000))
        transport.addWidget(self.slider, 1)
        self.clock = QLabel(f"0:00 / {fmt_time(self.duration)}")
        self.clock.setObjectName("clock")
        transport.addWidget(self.clock)
        self.speed = QComboBox()
        for s in SPEEDS:
            self.speed.addItem(f"{s:g}×", s)
        self.speed.setCurrentIndex(SPEEDS.index(1.0))
        self.speed.setToolTip("Playback speed")
        self.speed.currentIndexChanged.connect(
            lambda _i: self.player.setPlaybackRate(float(self.speed.currentData())))
        transport.addWidget(self.speed)
        outer.addLayout(transport)

        self.chart = MoodTimeline()
        self.chart.seek.connect(self.seek)
        outer.addWidget(self.chart)

        split = QSplitter(Qt.Horizontal)
        left = QWidget()
        ll = QVBoxLayout(left)
        ll.setContentsMargins(0, 0, 0, 0)
        ll.addWidget(_caption("Transcript — click a line to play from there"))
        self.transcript = QListWidget()
        self.transcript.setObjectName("transcript")
        self.transcript.setWordWrap(True)
        self.transcript.itemClicked.connect(
            lambda it: self.seek(self.utterances[self.transcript.row(it)].start))
        ll.addWidget(self.transcript, 1)
        split.addWidget(left)

        right = QWidget()
        rl = QVBoxLayout(right)
        rl.setContentsMargins(0, 0, 0, 0)
        rl.addWidget(_caption("Flagged moments"))
        self.flag_list = QListWidget()
        self.flag_list.setObjectName("points")
        self.flag_list.setWordWrap(True)
        self.flag_list.itemClicked.connect(
            lambda it: self.seek(self.flags[self.flag_list.row(it)].time))
        rl.addWidget(self.flag_list, 3)
        rl.addWidget(_caption("Coach notes — double-click to edit"))
        self.note_list = QListWidget()
        self.note_list.setObjectName("points")
        self.note_list.setWordWrap(True)
        self.note_list.itemClicked.connect(self._note_clicked)
        self.note_list.itemChanged.connect(self._note_edited)
        rl.addWidget(self.note_list, 2)
        add = QHBoxLayout()
        self.note_text = QLineEdit()
        self.note_text.setPlaceholderText("Note on this moment…")
        self.note_text.returnPressed.connect(self.add_note_here)
        add.addWidget(self.note_text, 1)
        self.add_note_button = QPushButton("Add at 0:00")
        self.add_note_button.clicked.connect(self.add_note_here)
        add.addWidget(self.add_note_button)
        delete = QPushButton("Delete")
        delete.setToolTip("Delete the selected note")
        delete.clicked.connect(self.delete_selected_note)
        add.addWidget(delete)
        rl.addLayout(add)
        # the QA scorecard, answered from the centre's rules; a reviewer may change an answer
        self.card_caption = _caption("QA scorecard")
        rl.addWidget(self.card_caption)
        self.card_list = QListWidget()
        self.card_list.setObjectName("points")
        self.card_list.setWordWrap(True)
        self.card_list.setAccessibleName("QA scorecard")
        self.card_list.itemClicked.connect(self._card_clicked)
        rl.addWidget(self.card_list, 3)
        review = QHBoxLayout()
        self.card_answer = QComboBox()
        self.card_answer.setToolTip("Your answer to the selected question")
        self.card_answer.setAccessibleName("Reviewer's answer")
        review.addWidget(self.card_answer)
        self.card_why = QLineEdit()
        self.card_why.setPlaceholderText("Why (kept with your answer)…")
        self.card_why.returnPressed.connect(self.review_selected)
        review.addWidget(self.card_why, 1)
        self.card_set = QPushButton("Set answer")
        self.card_set.clicked.connect(self.review_selected)
        review.addWidget(self.card_set)
        rl.addLayout(review)
        split.addWidget(right)
        split.setSizes([640, 420])
        outer.addWidget(split, 1)
        self.setCentralWidget(root)

        close = QShortcut(QKeySequence(Qt.Key_Escape), self)  # Esc closes the replay window
        close.setContext(Qt.WindowShortcut)
        close.activated.connect(self.close)
        for key, slot in (("Space", self.toggle_play), ("Left", lambda: self.seek(self._position - 5)),
                          ("Right", lambda: self.seek(self._position + 5))):
            sc = QShortcut(QKeySequence(key), self)
            sc.setContext(Qt.WindowShortcut)
            sc.activated.connect(lambda s=slot: None if self.note_text.hasFocus()
                                 or self.card_why.hasFocus() else s())

    def _meta_text(self) -> str:
        rec = self.record
        bits = [rec.started[:16].replace("T", " "), fmt_time(self.duration)]
        if rec.agent:
            bits.append(f"agent {rec.agent}")
        bits.append(f"{len(self.flags)} flagged moments")
        if rec.redacted:
            bits.append("personal data redacted")
        separation = self.timeline.call.get("separation")
        if separation:  # a mono recording: say that its speakers were worked out, and how surely
            from ..audio.separated import UNSURE
            sure = separation.get("voices", 0) >= 2 and separation.get("confidence", 0) >= UNSURE
            bits.append("speakers separated from one channel" + ("" if sure else " (uncertain)"))
        return " · ".join(bits)

    def _fill(self) -> None:
        moods = [m for m in self.timeline.moods if m.speaker == CUSTOMER]
        self.chart.set_call(moods, self.flags, self.duration)
        self._fill_transcript()
        for f in self.flags:
            item = QListWidgetItem(f"● {fmt_time(f.time)}  {f.title} ({f.severity_name}) — {f.reason}")
            item.setForeground(QBrush(QColor(SEVERITY_COLOURS.get(f.severity, "#ef6c00"))))
            self.flag_list.addItem(item)
        if not self.flags:
            self.flag_list.addItem("No flagged moments in this call.")
        self.refresh_notes()
        self.refresh_scorecard()

    # ---- the QA scorecard
    def refresh_scorecard(self) -> None:
        self.card_list.clear()
        self.scorecard = None
        try:
            self.scorecard = self.store.scorecard(self.call_id, timeline=self.timeline)
        except CallAssistError as exc:  # a broken form: said here, the rest of the window works
            self.card_caption.setText(f"QA SCORECARD — {exc}")
            return
        card = self.scorecard.card
        score = self.scorecard.score
        self.card_caption.setText(f"QA SCORECARD — {card.name.upper()}: "
                                  f"{'–' if score is None else f'{score:.0f} %'}")
        for a in self.scorecard.answers:
            value = a.answer
            mark = {"yes": "✓", "no": "✗", "n/a": "–"}.get(value, "★" if value else "?")
            shown = "to review" if value is None else str(value)
            who = f" · {a.review['reviewer']}" if a.review else ""
            ev = next((e for e in a.evidence if e.get("time") is not None), None)
            where = f" · {fmt_time(ev['time'])} “{ev['text']}”" if ev else ""
            item = QListWidgetItem(f"{mark} {a.question.text}: {shown}{who}{where}")
            tip = [f"automatic answer: {a.auto}" if a.auto is not None else "for a reviewer"]
            if a.review:
                tip.append(f"reviewer {a.review['reviewer']} at {a.review['at'][:16]}"
                           + (f": {a.review['why']}" if a.review.get("why") else ""))
            item.setToolTip("\n".join(tip))
            self.card_list.addItem(item)

    def _card_clicked(self, item) -> None:
        if self.scorecard is None:
            return
        a = self.scorecard.answers[self.card_list.row(item)]
        self.card_answer.clear()
        for v in (["1", "2", "3", "4", "5"] if a.question.type == "scale"
                  else ["yes", "no", "n/a"]):
            self.card_answer.addItem(v)
        if a.answer is not None:
            self.card_answer.setCurrentText(str(a.answer))
        ev = next((e for e in a.evidence if e.get("time") is not None), None)
        if ev is not None:
            self.seek(ev["time"])

    def review_selected(self) -> None:
        row = self.card_list.currentRow()
        if self.scorecard is None or row < 0 or not self.card_answer.currentText():
            return
        a = self.scorecard.answers[row]
        try:
            self.store.review(self.call_id, a.question.id, self.card_answer.currentText(),
                              self.author or "reviewer", self.card_why.text(),
                              card=self.scorecard.card)
        except CallAssistError as exc:
            self.alert.setText(f"⚠ {exc}")
            self.alert.show()
            return
        self.card_why.clear()
        self.refresh_scorecard()
        self.card_list.setCurrentRow(row)

    def _fill_transcript(self) -> None:
        self.transcript.clear()
        flagged = {f.utterance_id: f for f in sorted(self.flags, key=lambda f: f.severity)
                   if f.utterance_id is not None}
        for u in self.utterances:
            who = "Caller" if u.speaker == CUSTOMER else u.speaker.capitalize()
            item = QListWidgetItem(f"{fmt_time(u.start)}  {who}: {u.text}")
            item.setToolTip(f"{u.start:.1f}–{u.end:.1f} s")
            f = flagged.get(u.id)
            if f is not None:
                item.setForeground(QBrush(QColor(SEVERITY_COLOURS[f.severity])))
                item.setToolTip(f"{f.title}: {f.reason}")
            self.transcript.addItem(item)

    def _show_original(self, on: bool) -> None:
        """Swap the transcript between the stored (redacted) text and the kept original."""
        try:
            timeline = self.store.load_timeline(self.call_id, original=on)
        except CallAssistError as exc:
            self.show_alert(str(exc))
            return
        self.utterances = sorted(timeline.utterances, key=lambda u: u.start)
        self._current = -1
        self._fill_transcript()
        self._show_position(self._position)
        audio = self.original_audio if on else self.bleeped_audio
        if audio is not None and audio.exists():  # the audio follows the text
            self._set_source(audio)

    # ---- audio
    def _load_audio(self) -> None:
        """Play the recording; in a redacted library, a copy with the personal data bleeped
        (made in a background thread; the original file is never changed)."""
        from ..library.redact.audio import redacted_spans
        path = self.record.audio_path
        self.original_audio = Path(path).resolve() if path else None
        self.bleeped_audio: Path | None = None
        self._tmpdir: str | None = None
        if path and path.startswith("shared:"):
            self.show_alert("This call's recording is in the team's shared folder: set "
                            "`recordings` in config.toml to where this machine reaches it, to "
                            "listen. The transcript, flags and notes still work.")
            self.original_audio = None
            self.play_button.setEnabled(False)
            return
        if not path or not Path(path).exists():
            self.show_alert(f"The recording {path or '(none)'} is not there: the transcript, flags "
                            f"and notes still work; put the file back to listen.")
            self.play_button.setEnabled(False)
            return
        if not (self.record.redacted and redacted_spans(self.timeline)):
            self._set_source(self.original_audio)
            return
        self.play_button.setEnabled(False)
        self.play_button.setToolTip("Preparing the recording with personal data bleeped…")
        self._bleeped.connect(self._on_bleeped)
        self._tmpdir = tempfile.mkdtemp(prefix="callassist-replay-")  # readable by the owner only
        out = Path(self._tmpdir) / "call.wav"
        timeline, source = self.timeline, self.original_audio

        def work():
            from ..library.redact.audio import write_redacted_audio
            try:
                write_redacted_audio(source, timeline, out)
                done = (str(out), "")
            except CallAssistError as exc:
                done = ("", str(exc))
            try:
                self._bleeped.emit(*done)
            except RuntimeError:  # the window was closed meanwhile
                pass

        threading.Thread(target=work, name="bleep", daemon=True).start()

    def _on_bleeped(self, path: str, error: str) -> None:
        if error:
            self.show_alert(f"Personal data could not be bleeped, so the recording is not played: "
                            f"{error}")
            return
        self.bleeped_audio = Path(path)
        self.play_button.setEnabled(True)
        self.play_button.setToolTip("Play / pause (Space); personal data is bleeped")
        if not self.show_original.isChecked():
            self._set_source(self.bleeped_audio)

    def _set_source(self, path: Path) -> None:
        """Play `path` from where the playhead is."""
        if self.player.source() == QUrl.fromLocalFile(str(path)):
            return
        self._pending_seek = self._position if self._position > 0 else None
        self.player.setSource(QUrl.fromLocalFile(str(path)))

    @property
    def playing_file(self) -> Path | None:
        src = self.player.source()
        return None if src.isEmpty() else Path(src.toLocalFile())

    def _on_media_status(self, status) -> None:
        from PySide6.QtMultimedia import QMediaPlayer
        if status in (QMediaPlayer.LoadedMedia, QMediaPlayer.BufferedMedia) \
                and self._pending_seek is not None:
            t, self._pending_seek = self._pending_seek, None
            self.player.setPosition(int(t * 1000))
        elif status == QMediaPlayer.InvalidMedia:
            self.show_alert(f"The recording {self.record.audio_path} cannot be played: convert it "
                            f"to WAV or FLAC.")

    def _on_player_error(self, _error, message: str) -> None:
        if message:
            self.show_alert(f"Playback problem: {message}")

    def _on_duration(self, ms: int) -> None:
        if ms > 0 and ms / 1000 > self.duration + 0.5:
            self.duration = ms / 1000
            self.slider.setRange(0, ms)

    def _on_state(self, state) -> None:
        from PySide6.QtMultimedia import QMediaPlayer
        playing = state == QMediaPlayer.PlayingState
        self.play_button.setIcon(_transport_icon("pause" if playing else "play", self.palette()))
        self.play_button.setAccessibleName("Pause" if playing else "Play")

    def _on_player_position(self, ms: int) -> None:
        if self._pending_seek is None:
            self._show_position(ms / 1000)

    def toggle_play(self) -> None:
        from PySide6.QtMultimedia import QMediaPlayer
        if self.player.playbackState() == QMediaPlayer.PlayingState:
            self.player.pause()
        else:
            self.player.play()

    @property
    def position(self) -> float:
        return self._position

    def seek(self, seconds: float) -> None:
        """Move playback (and the playhead, the transcript, the note button) to `seconds`."""
        from PySide6.QtMultimedia import QMediaPlayer
        seconds = min(max(0.0, float(seconds)), max(self.duration, 0.0))
        if self.player.mediaStatus() in (QMediaPlayer.LoadingMedia, QMediaPlayer.NoMedia) \
                and not self.player.source().isEmpty():
            self._pending_seek = seconds  # applied when the media has loaded
        else:
            self.player.setPosition(int(seconds * 1000))
        self._show_position(seconds)

    def _show_position(self, seconds: float) -> None:
        self._position = seconds
        with QSignalBlocker(self.slider):
            self.slider.setValue(int(seconds * 1000))
        self.clock.setText(f"{fmt_time(seconds)} / {fmt_time(self.duration)}")
        self.chart.set_position(seconds)
        self.add_note_button.setText(f"Add at {fmt_time(seconds)}")
        i = bisect.bisect_right(self._starts, seconds + 0.05) - 1
        if i != self._current:
            if 0 <= self._current < self.transcript.count():
                self.transcript.item(self._current).setBackground(QBrush())
            self._current = i
            if i >= 0:
                item = self.transcript.item(i)
                item.setBackground(QBrush(QColor(21, 101, 192, 45)))
                self.transcript.scrollToItem(item, QListWidget.PositionAtCenter)

    @property
    def current_line(self) -> int:
        """Index of the transcript line being played (-1 before the first)."""
        return self._current

    # ---- notes
    def refresh_notes(self) -> None:
        self.notes = self.store.notes(self.call_id)
        with QSignalBlocker(self.note_list):
            self.note_list.clear()
            for n in self.notes:
                item = QListWidgetItem(n["text"])
                item.setData(Qt.UserRole, n["id"])
                item.setToolTip(f"{fmt_time(n['time'])}{' · ' + n['author'] if n['author'] else ''}"
                                f" · {n['created'][:16].replace('T', ' ')}")
                item.setText(f"{fmt_time(n['time'])}  {n['text']}")
                item.setFlags(item.flags() | Qt.ItemIsEditable)
                self.note_list.addItem(item)
        self.chart.set_notes(self.notes)

    def add_note_here(self) -> None:
        text = self.note_text.text().strip()
        if not text:
            self.note_text.setFocus()
            return
        try:
            self.store.add_note(self.call_id, round(self._position, 2), text, self.author)
        except CallAssistError as exc:
            self.show_alert(str(exc))
            return
        self.note_text.clear()
        self.refresh_notes()
        self.notes_changed.emit(self.call_id)

    def _note_clicked(self, item: QListWidgetItem) -> None:
        note = self.notes[self.note_list.row(item)]
        self.seek(note["time"])

    def _note_edited(self, item: QListWidgetItem) -> None:
        note = self.notes[self.note_list.row(item)]
        text = item.text()
        prefix = f"{fmt_time(note['time'])}  "
        text = text[len(prefix):] if text.startswith(prefix) else text
        text = text.strip()
        try:
            if text:
                self.store.update_note(note["id"], text)
            else:
                self.store.delete_note(note["id"])
        except CallAssistError as exc:
            self.show_alert(str(exc))
        self.refresh_notes()
        self.notes_changed.emit(self.call_id)

    def delete_selected_note(self) -> None:
        row = self.note_list.currentRow()
        if row < 0:
            return
        try:
            self.store.delete_note(self.notes[row]["id"])
        except CallAssistError as exc:
            self.show_alert(str(exc))
        self.refresh_notes()
        self.notes_changed.emit(self.call_id)

    # ---- reports
    def _report_data(self):
        from ..library.report import ReportData
        return ReportData.from_store(self.store, self.call_id)

    def _ask_path(self, kind: str, suffix: str) -> str | None:
        default = str(Path.home() / f"{_safe_name(self.record.title or self.call_id)}.{suffix}")
        path, _ = QFileDialog.getSaveFileName(self, f"Export {kind}", default,
                                              f"{kind} (*.{suffix})")
        return path or None

    def _export_report(self, write, kind: str, suffix: str, path: str | None) -> str | None:
        """`write(ReportData, path)` to `path`, asked for when None; returns the path written."""
        path = path or self._ask_path(kind, suffix)
        if path:
            try:
                write(self._report_data(), path)
            except CallAssistError as exc:
                QMessageBox.warning(self, "Export", str(exc))
                return None
        return path

    def export_html(self, path: str | None = None) -> str | None:
        from ..library.report import write_html
        return self._export_report(write_html, "HTML report", "html", path)

    def export_pdf(self, path: str | None = None) -> str | None:
        from .pdf import write_pdf
        return self._export_report(write_pdf, "PDF report", "pdf", path)

    def export_audio(self, path: str | None = None) -> str | None:
        """The recording as WAV, personal data bleeped when the library is redacted."""
        from ..library.redact.audio import write_redacted_audio
        from ..paths import copy_private
        if self.original_audio is None or not self.original_audio.exists():
            QMessageBox.warning(self, "Export", "The recording is not there to export.")
            return None
        path = path or self._ask_path("WAV audio", "wav")
        if not path:
            return None
        try:
            if self.bleeped_audio is not None:  # made already: a copy is enough
                copy_private(self.bleeped_audio, path)  # owner only, as every export
            elif self.record.redacted:
                write_redacted_audio(self.original_audio, self.timeline, path)
            else:
                copy_private(self.original_audio, path)
        except (OSError, CallAssistError) as exc:
            QMessageBox.warning(self, "Export", f"cannot write {path}: {exc}")
            return None
        return path

    def show_alert(self, message: str) -> None:
        self.alert.setText(message)
        self.alert.show()

    def closeEvent(self, e):
        self.player.stop()
        self.player.setSource(QUrl())
        if self._tmpdir:
            shutil.rmtree(self._tmpdir, ignore_errors=True)
        super().closeEvent(e)


def _transport_icon(kind: str, palette) -> QIcon:
    """Play / pause drawn in the theme's text colour (the style's stock icons are dark grey,
    nearly invisible on the dark theme)."""
    pix = QPixmap(32, 32)
    pix.fill(Qt.transparent)
    p = QPainter(pix)
    p.setRenderHint(QPainter.Antialiasing)
    p.setPen(Qt.NoPen)
    p.setBrush(palette.color(QPalette.ButtonText))
    if kind == "pause":
        p.drawRoundedRect(QRectF(8, 6, 6, 20), 1.5, 1.5)
        p.drawRoundedRect(QRectF(18, 6, 6, 20), 1.5, 1.5)
    else:
        p.drawPolygon(QPolygonF([QPointF(10, 6), QPointF(26, 16), QPointF(10, 26)]))
    p.end()
    return QIcon(pix)


def _caption(text: str) -> QLabel:
    label = QLabel(text.upper())
    label.setObjectName("sectionTitle")
    return label


def _esc(text: str) -> str:
    import html
    return html.escape(text)


def _safe_name(text: str) -> str:
    keep = "".join(c if c.isalnum() or c in "-_ " else "_" for c in text).strip()
    return keep[:60] or "call"
