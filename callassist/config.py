"""The one settings source: ~/.config/callassist/config.toml, overridden by command-line options.

The command line, the side panel, `import` and the QA window all read their settings here (the
panel's settings dialog edits this file too); the panel's panel.ini keeps only window state
(theme, position, devices, agent name). For example:

    engine = "auto"                  # auto | vosk | whisper
    vosk_model = "/opt/models/vosk-model-en-us-0.22"
    channels = "agent,customer"      # speaker of the left and right channel
    knowledge = "/srv/kb"             # folder of Markdown articles
    phrases = "~/my-phrases.yaml"
    escalate_after = 120              # seconds of negative mood before suggesting a transfer
    redact = true                     # remove card/phone/account numbers, e-mails from saved calls
    keep_original = false             # also keep the unredacted transcript (owner-only file)
    library = "~/calls.sqlite3"       # call library (default: ~/.local/share/callassist/)
    import_jobs = 2                   # recordings analysed at once when importing

    [flags]                           # thresholds of the flagged moments (callassist.library.flags)
    silence_seconds = 10
    negative_seconds = 45

Values are checked strictly against the schema below: `keep_original = "no"` or
`mood_window = "three"` is a one-line error naming the file, the setting and what it expects.
"""
from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from .core.rules import ESCALATE_MOOD
from .errors import ConfigError
from .paths import config_dir

SPEAKER_NAMES = ("agent", "customer", "ignore")
# Settings that decide which models are loaded: calls with equal values share one loaded set.
MODEL_SETTINGS = ("engine", "vosk_model", "whisper_model", "mood_model", "knowledge", "phrases")


def config_path() -> Path:
    return config_dir() / "config.toml"


class Config(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, validate_assignment=True)

    engine: Literal["auto", "vosk", "whisper"] = "auto"
    vosk_model: str | None = None  # a Vosk model folder (default: models/vosk/, the data folder)
    whisper_model: str | None = None  # a CTranslate2 Whisper folder (default: bundled tiny.en)
    mood_model: str | None = None  # default: the shipped models/mood
    channels: str | None = None  # speaker of each channel of a recording, e.g. "agent,customer"
    mood_window: int = Field(3, ge=1, le=50)  # utterances over which the mood trend is judged
    knowledge: str | None = None  # folder of Markdown articles (default: content/knowledge)
    phrases: str | None = None  # phrase library YAML (default: content/phrases.yaml)
    escalate_after: float = Field(120.0, gt=0)  # seconds of negative mood before a transfer
    escalate_mood: float = Field(ESCALATE_MOOD, ge=-1, le=1)  # mood counted as negative for that
    escalate_unanswered: int = Field(2, ge=1)  # caller problems in a row the base cannot answer
    redact: bool = True  # personal data removed from stored calls and exports
    keep_original: bool = False  # keep the unredacted transcript too (the user's choice)
    library: str | None = None  # call library file (default: data_dir()/calls.sqlite3)
    import_jobs: int = Field(2, ge=1, le=16)  # recordings analysed at once by an import
    flags: dict[str, Any] = Field(default_factory=dict)  # [flags] thresholds

    @field_validator("channels")
    @classmethod
    def _channel_names(cls, v: str | None) -> str | None:
        if v is None:
            return v
        names = [n.strip() for n in v.split(",")]
        if not names or any(n not in SPEAKER_NAMES for n in names):
            raise ValueError(f"give one of {', '.join(SPEAKER_NAMES)} per channel, "
                             f"e.g. \"agent,customer\"")
        return ",".join(names)

    @field_validator("flags")
    @classmethod
    def _flag_thresholds(cls, v: dict) -> dict:
        from .library.flags import FlagSettings
        FlagSettings.from_dict(v)  # ConfigError names the threshold
        return v

    # ---- reading and writing ---------------------------------------------------------------
    @classmethod
    def load(cls, path: str | Path | None = None, **overrides: Any) -> "Config":
        """The user's settings (or `path`'s), with `overrides` (command-line options; None means
        not given) on top. Any problem is a ConfigError naming the file and the setting."""
        path = Path(path) if path else config_path()
        data: dict[str, Any] = {}
        if path.exists():
            try:
                data = tomllib.loads(path.read_text(encoding="utf-8"))
            except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
                raise ConfigError(f"{path} is not valid TOML ({exc}): fix or delete it") from None
            except OSError as exc:
                raise ConfigError(f"{path} cannot be read ({exc.strerror}): fix its "
                                  f"permissions or delete it") from None
        cfg = cls._validated(data, path)
        given = {k: v for k, v in overrides.items() if v is not None}
        return cls._validated({**cfg.model_dump(), **given}, "command line") if given else cfg

    @classmethod
    def _validated(cls, data: dict, where: Path | str) -> "Config":
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            raise ConfigError(f"{where}: {_one_line(exc)}") from None
        except ConfigError as exc:
            raise ConfigError(f"{where}: {exc}") from None

    def with_changes(self, **changes: Any) -> "Config":
        """A copy with some settings changed, checked like the file is."""
        return self._validated({**self.model_dump(), **changes}, "setting")

    def save(self, path: str | Path | None = None, **changes: Any) -> "Config":
        """Write `changes` into the config file (None removes a setting), keeping the user's
        comments and the rest of the file as it is; the file is readable by its owner only."""
        import tomlkit

        path = Path(path) if path else config_path()
        new = self.with_changes(**changes)
        try:
            doc = (tomlkit.parse(path.read_text(encoding="utf-8")) if path.exists()
                   else tomlkit.document())
        except Exception as exc:
            raise ConfigError(f"{path} cannot be updated ({exc}): fix or delete it") from None
        for key, value in changes.items():
            if value is None or value == Config.model_fields[key].get_default(
                    call_default_factory=True):
                doc.pop(key, None)  # back to the default: the line goes
            else:
                doc[key] = value
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(tomlkit.dumps(doc))
        os.replace(tmp, path)
        return new

    # ---- what the stages read --------------------------------------------------------------
    def model_key(self) -> tuple:
        """Equal for configs that load the same models (see core.models.shared_models)."""
        return tuple(getattr(self, name) for name in MODEL_SETTINGS)

    def escalation(self):
        from .assist.escalation import EscalationSettings
        return EscalationSettings(negative_seconds=self.escalate_after,
                                  negative_threshold=self.escalate_mood,
                                  unanswered_problems=self.escalate_unanswered)

    def flag_settings(self):
        from .library.flags import FlagSettings
        return FlagSettings.from_dict(self.flags)

    def library_path(self) -> Path | None:
        return Path(self.library).expanduser() if self.library else None

    def open_store(self, path: str | Path | None = None):
        """The call library (a `Library`) with this config's privacy and flag settings."""
        from .library.service import Library
        return Library(path or self.library_path(), redact=self.redact,
                       keep_original=self.keep_original,
                       flag_settings=self.flag_settings() if self.flags else None)


def _one_line(exc: ValidationError) -> str:
    """The first problem pydantic found, as a person reads it."""
    err = exc.errors()[0]
    where = ".".join(str(p) for p in err["loc"]) or "settings"
    if err["type"] == "extra_forbidden":
        known = ", ".join(Config.model_fields)
        return f"unknown setting {where}; known: {known}"
    msg = err["msg"].removeprefix("Value error, ")
    got = err.get("input")
    return f"{where}: {msg[0].lower() + msg[1:]} (got {got!r}): fix it or delete the line"
