"""Settings: the panel's window state in panel.ini (QSettings), everything else in the one
settings source, config.toml (callassist.config), which the dialog edits. Paths are checked when
saved so a bad model folder is caught before a call starts."""
from __future__ import annotations

from dataclasses import dataclass, fields
import os
from pathlib import Path

from PySide6.QtCore import QSettings
from PySide6.QtWidgets import (QCheckBox, QComboBox, QDialog, QDialogButtonBox, QDoubleSpinBox,
                               QFileDialog, QFormLayout, QHBoxLayout, QLabel, QLineEdit,
                               QPushButton, QSpinBox, QWidget)

from ..config import Config
from ..errors import CallAssistError
from ..paths import config_dir, private_dir


@dataclass
class PanelSettings:
    """Window state only: how this desk's panel looks and which devices it listens to."""

    theme: str = "light"
    on_top: bool = False
    caller_input: str = ""
    agent_input: str = ""
    agent_name: str = ""  # saved with every call, for the QA library's Agent column
    geometry: str = ""  # the window's place and size (Qt's saveGeometry, base64)

    @staticmethod
    def qsettings() -> QSettings:
        return QSettings(str(config_dir() / "panel.ini"), QSettings.IniFormat)

    @classmethod
    def load(cls) -> "PanelSettings":
        qs = cls.qsettings()
        out = cls()
        for f in fields(cls):
            if qs.contains(f.name):
                raw = qs.value(f.name)
                default = getattr(out, f.name)
                try:
                    if isinstance(default, bool):
                        value = raw in (True, "true", "1", 1)
                    else:
                        value = type(default)(raw)
                except (TypeError, ValueError):
                    continue
                setattr(out, f.name, value)
        return out

    def save(self) -> None:
        try:
            private_dir(config_dir())
        except OSError:
            pass  # QSettings cannot write there either: the panel works on without
        qs = self.qsettings()
        for f in fields(self):
            qs.setValue(f.name, getattr(self, f.name))
        qs.sync()
        try:
            os.chmod(qs.fileName(), 0o600)  # the agent's name and devices: owner only
        except OSError:
            pass


def config_problems(cfg: Config) -> list[str]:
    """One line per setting that cannot work, saying what to do."""
    from ..asr.vosk_engine import check_vosk_model_dir
    from ..errors import ModelError
    out = []
    if cfg.vosk_model:
        try:
            check_vosk_model_dir(Path(cfg.vosk_model))
        except ModelError as exc:
            out.append(str(exc))
    if cfg.whisper_model and not (Path(cfg.whisper_model).expanduser() / "model.bin").exists():
        out.append(f"no Whisper model in {cfg.whisper_model} (model.bin missing): choose a "
                   f"CTranslate2 Whisper folder or leave it empty for the bundled one")
    if cfg.knowledge and not Path(cfg.knowledge).expanduser().is_dir():
        out.append(f"knowledge-base folder not found: {cfg.knowledge}")
    if cfg.phrases and not Path(cfg.phrases).expanduser().is_file():
        out.append(f"phrase file not found: {cfg.phrases}")
    return out


class _PathEdit(QWidget):
    def __init__(self, value: str, folder: bool, placeholder: str):
        super().__init__()
        lay = QHBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        self.edit = QLineEdit(value)
        self.edit.setPlaceholderText(placeholder)
        browse = self.browse = QPushButton("…")
        browse.setObjectName("browse")  # narrow padding in the stylesheet: the "…" stays visible
        browse.setToolTip("Choose a folder" if folder else "Choose a file")
        browse.setAccessibleName("Choose a folder" if folder else "Choose a file")
        browse.clicked.connect(lambda: self._browse(folder))
        lay.addWidget(self.edit, 1)
        lay.addWidget(browse)

    def _browse(self, folder: bool) -> None:
        path = (QFileDialog.getExistingDirectory(self, "Choose folder", self.edit.text()) if folder
                else QFileDialog.getOpenFileName(self, "Choose file", self.edit.text())[0])
        if path:
            self.edit.setText(path)

    def text(self) -> str:
        return self.edit.text().strip()


class SettingsDialog(QDialog):
    """Edits config.toml (engine, models, knowledge base, channels, escalation) and the panel's
    window state (name, theme, stay on top)."""

    def __init__(self, settings: PanelSettings, config: Config | None = None, parent=None):
        super().__init__(parent)
        self.setWindowTitle("CallAssist settings")
        self.settings = settings
        self.config = config if config is not None else Config.load()
        c = self.config
        form = QFormLayout(self)
        self.agent_name = QLineEdit(settings.agent_name)
        self.agent_name.setPlaceholderText("saved with your calls, for QA review")
        form.addRow("Your name", self.agent_name)
        self.engine = QComboBox()
        self.engine.addItems(["auto", "vosk", "whisper"])
        self.engine.setCurrentText(c.engine)
        form.addRow("Speech engine", self.engine)
        self.vosk = _PathEdit(c.vosk_model or "", True, "found automatically in models/vosk")
        form.addRow("Vosk model folder", self.vosk)
        self.whisper = _PathEdit(c.whisper_model or "", True, "bundled Whisper tiny.en")
        form.addRow("Whisper model folder", self.whisper)
        self.knowledge = _PathEdit(c.knowledge or "", True, "the bundled demo knowledge base")
        form.addRow("Knowledge base", self.knowledge)
        self.phrases = _PathEdit(c.phrases or "", False, "the bundled phrase library")
        form.addRow("Phrase file", self.phrases)
        names = (c.channels or "agent,customer").split(",")
        left, right = names[0], names[1] if len(names) > 1 else "ignore"
        self.left = QComboBox()
        self.right = QComboBox()
        for combo, value in ((self.left, left), (self.right, right)):
            combo.addItems(["agent", "customer", "ignore"])
            combo.setCurrentText(value)
        form.addRow("Left channel (stereo calls)", self.left)
        form.addRow("Right channel", self.right)
        self.mono = QComboBox()
        for value, text in (("separate", "tell the two voices apart"),
                            ("customer", "all the customer's"), ("agent", "all the agent's")):
            self.mono.addItem(text, value)
        self.mono.setCurrentIndex(self.mono.findData(c.mono))
        form.addRow("Mono recordings", self.mono)
        self.both = QCheckBox("My one input hears the caller and me (speakerphone)")
        self.both.setToolTip("Without an agent input, tell the two voices apart as the call goes")
        self.both.setChecked(c.single_input == "both")
        form.addRow("", self.both)
        self.voices = QCheckBox("Learn agents' voices from stereo calls (for mono calls only)")
        self.voices.setToolTip("A voice profile per named agent, kept in the call library; "
                               "`callassist voices --delete NAME` removes one")
        self.voices.setChecked(c.voice_profiles)
        form.addRow("", self.voices)
        self.after = QSpinBox()
        self.after.setRange(10, 3600)
        self.after.setSuffix(" s")
        self.after.setValue(int(c.escalate_after))
        form.addRow("Suggest transfer after upset for", self.after)
        self.mood = QDoubleSpinBox()
        self.mood.setRange(-1.0, 0.0)
        self.mood.setSingleStep(0.05)
        self.mood.setValue(c.escalate_mood)
        form.addRow("…with the mood below", self.mood)
        self.theme = QComboBox()
        self.theme.addItems(["light", "dark"])
        self.theme.setCurrentText(settings.theme)
        form.addRow("Theme", self.theme)
        self.on_top = QCheckBox("Keep the panel above other windows")
        self.on_top.setChecked(settings.on_top)
        form.addRow("", self.on_top)
        self.error = QLabel("")
        self.error.setObjectName("error")
        self.error.setWordWrap(True)
        form.addRow(self.error)
        buttons = QDialogButtonBox(QDialogButtonBox.Save | QDialogButtonBox.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        form.addRow(buttons)

    def config_changes(self) -> dict:
        """The config.toml settings as the dialog shows them (None: the default)."""
        channels = f"{self.left.currentText()},{self.right.currentText()}"
        return {"engine": self.engine.currentText(), "vosk_model": self.vosk.text() or None,
                "whisper_model": self.whisper.text() or None,
                "knowledge": self.knowledge.text() or None, "phrases": self.phrases.text() or None,
                "channels": None if channels == "agent,customer" else channels,
                "mono": self.mono.currentData(),
                "single_input": "both" if self.both.isChecked() else "caller",
                "voice_profiles": self.voices.isChecked(),
                "escalate_after": float(self.after.value()),
                "escalate_mood": round(self.mood.value(), 2)}

    def values(self) -> PanelSettings:
        s = PanelSettings(**{f.name: getattr(self.settings, f.name) for f in fields(PanelSettings)})
        s.agent_name = self.agent_name.text().strip()
        s.theme, s.on_top = self.theme.currentText(), self.on_top.isChecked()
        return s

    def accept(self) -> None:
        changes = {k: v for k, v in self.config_changes().items() if getattr(self.config, k) != v}
        try:
            new_config = self.config.with_changes(**changes)
            problems = config_problems(new_config)
            if not problems and changes:
                new_config = self.config.save(**changes)
        except CallAssistError as exc:
            problems = [str(exc)]
        if problems:
            self.error.setText("\n".join(problems))
            return
        self.config = new_config
        self.settings = self.values()
        self.settings.save()
        super().accept()
