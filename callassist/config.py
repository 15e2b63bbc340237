"""User configuration: a small TOML file, overridden by command-line options.

~/.config/callassist/config.toml, for example:

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

    [flags]                           # thresholds of the flagged moments (callassist.flags)
    silence_seconds = 10
    negative_seconds = 45
"""
from __future__ import annotations

import tomllib
from dataclasses import dataclass, field, fields
from pathlib import Path

from .errors import ConfigError
from .paths import config_dir


@dataclass
class Config:
    engine: str = "auto"
    vosk_model: str | None = None
    whisper_model: str | None = None
    mood_model: str | None = None
    channels: str | None = None
    mood_window: int = 3  # utterances in the trend window
    knowledge: str | None = None  # folder of Markdown articles (default: content/knowledge)
    phrases: str | None = None  # phrase library YAML (default: content/phrases.yaml)
    escalate_after: float = 120.0  # seconds of negative mood before advising a transfer
    escalate_mood: float = -0.3  # mood score counted as negative
    escalate_unanswered: int = 2  # caller problems in a row the knowledge base cannot answer
    redact: bool = True  # personal data removed from stored calls and exports
    keep_original: bool = False  # keep the unredacted transcript too (the user's choice)
    library: str | None = None  # call library file (default: data_dir()/calls.sqlite3)
    import_jobs: int = 2  # recordings analysed at once by an import
    flags: dict = field(default_factory=dict)  # [flags] thresholds, see callassist.flags

    @classmethod
    def load(cls, path: str | Path | None = None) -> "Config":
        path = Path(path) if path else config_dir() / "config.toml"
        if not path.exists():
            return cls()
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{path} is not valid TOML ({exc}): fix or delete it") from None
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConfigError(f"{path}: unknown setting(s) {', '.join(unknown)}; "
                              f"known: {', '.join(sorted(known))}")
        try:
            cfg = cls(**data)
        except TypeError as exc:
            raise ConfigError(f"{path}: {exc}") from None
        if not isinstance(cfg.flags, dict):
            raise ConfigError(f"{path}: flags must be a table ([flags] with thresholds)")
        try:
            cfg.flag_settings()
        except ConfigError as exc:
            raise ConfigError(f"{path}: {exc}") from None
        return cfg

    def flag_settings(self):
        from .library.flags import FlagSettings
        return FlagSettings.from_dict(self.flags)

    def library_path(self) -> Path | None:
        return Path(self.library).expanduser() if self.library else None

    def open_store(self, path: str | Path | None = None):
        """The call library with this config's privacy and flag settings."""
        from .library.store import CallStore
        return CallStore(path or self.library_path(), redact=self.redact,
                         keep_original=self.keep_original,
                         flag_settings=self.flag_settings() if self.flags else None)
