"""Panel settings: stored with QSettings in an INI file in the user's config folder, edited in a
dialog. Paths are checked when saved so a bad model folder is caught before a call starts."""
from __future__ import annotations

from dataclasses import dataclass, fields
from pathlib import Path

from PySide6.QtCore import QSettings
from PySide6.QtWidgets import (QCheckBox, QComboBox, QDialog, QDialogButtonBox, QDoubleSpinBox,
                               QFileDialog, QFormLayout, QHBoxLayout, QLabel, QLineEdit,
                               QPushButton, QSpinBox, QWidget)

from ..paths import config_dir


@dataclass
class PanelSettings:
    engine: str = "auto"
    vosk_model: str = ""
    whisper_model: str = ""
    knowledge: str = ""
    phrases: str = ""
    left_channel: str = "agent"
    right_channel: str = "customer"
    escalate_after: int = 120
    escalate_mood: float = -0.3
    theme: str = "light"
    on_top: bool = False
    caller_input: str = ""
    agent_input: str = ""
    agent_name: str = ""  # saved with every call, for the QA library's Agent column

    @property
    def channels(self) -> str:
        return f"{self.left_channel},{self.right_channel}"

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
        qs = self.qsettings()
        for f in fields(self):
            qs.setValue(f.name, getattr(self, f.name))
        qs.sync()

    def problems(self) -> list[str]:
        """One line per setting that cannot work, saying what to do."""
        from ..asr.vosk_engine import check_vosk_model_dir
        from ..errors import ModelError
        out = []
        if self.vosk_model:
            try:
                check_vosk_model_dir(Path(self.vosk_model))
            except ModelError as exc:
                out.append(str(exc))
        if self.whisper_model and not (Path(self.whisper_model).expanduser() / "model.bin").exists():
            out.append(f"no Whisper model in {self.whisper_model} (model.bin missing): choose a "
                       f"CTranslate2 Whisper folder or leave it empty for the bundled one")
        if self.knowledge and not Path(self.knowledge).expanduser().is_dir():
            out.append(f"knowledge-base folder not found: {self.knowledge}")
        if self.phrases and not Path(self.phrases).expanduser().is_file():
            out.append(f"phrase file not found: {self.phrases}")
        return out


class _PathEdit(QWidget):
    def __init__(self, value: str, folder: bool, placeholder: str):
        super().__init__()
        lay = QHBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        self.edit = QLineEdit(value)
        self.edit.setPlaceholderText(placeholder)
        browse = QPushButton("…")
        browse.setFixedWidth(28)
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
    def __init__(self, settings: PanelSettings, parent=None):
        super().__init__(parent)
        self.setWindowTitle("CallAssist settings")
        self.settings = settings
        form = QFormLayout(self)
        self.agent_name = QLineEdit(settings.agent_name)
        self.agent_name.setPlaceholderText("saved with your calls, for QA review")
        form.addRow("Your name", self.agent_name)
        self.engine = QComboBox()
        self.engine.addItems(["auto", "vosk", "whisper"])
        self.engine.setCurrentText(settings.engine)
        form.addRow("Speech engine", self.engine)
        self.vosk = _PathEdit(settings.vosk_model, True, "found automatically in models/vosk")
        form.addRow("Vosk model folder", self.vosk)
        self.whisper = _PathEdit(settings.whisper_model, True, "bundled Whisper tiny.en")
        form.addRow("Whisper model folder", self.whisper)
        self.knowledge = _PathEdit(settings.knowledge, True, "content/knowledge")
        form.addRow("Knowledge base", self.knowledge)
        self.phrases = _PathEdit(settings.phrases, False, "content/phrases.yaml")
        form.addRow("Phrase file", self.phrases)
        self.left = QComboBox()
        self.right = QComboBox()
        for combo, value in ((self.left, settings.left_channel), (self.right, settings.right_channel)):
            combo.addItems(["agent", "customer", "ignore"])
            combo.setCurrentText(value)
        form.addRow("Left channel (stereo calls)", self.left)
        form.addRow("Right channel", self.right)
        self.after = QSpinBox()
        self.after.setRange(10, 3600)
        self.after.setSuffix(" s")
        self.after.setValue(settings.escalate_after)
        form.addRow("Suggest transfer after upset for", self.after)
        self.mood = QDoubleSpinBox()
        self.mood.setRange(-1.0, 0.0)
        self.mood.setSingleStep(0.05)
        self.mood.setValue(settings.escalate_mood)
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

    def values(self) -> PanelSettings:
        s = PanelSettings(**{f.name: getattr(self.settings, f.name) for f in fields(PanelSettings)})
        s.agent_name = self.agent_name.text().strip()
        s.engine = self.engine.currentText()
        s.vosk_model, s.whisper_model = self.vosk.text(), self.whisper.text()
        s.knowledge, s.phrases = self.knowledge.text(), self.phrases.text()
        s.left_channel, s.right_channel = self.left.currentText(), self.right.currentText()
        s.escalate_after, s.escalate_mood = self.after.value(), round(self.mood.value(), 2)
        s.theme, s.on_top = self.theme.currentText(), self.on_top.isChecked()
        return s

    def accept(self) -> None:
        new = self.values()
        problems = new.problems()
        if problems:
            self.error.setText("\n".join(problems))
            return
        new.save()
        self.settings = new
        super().accept()
