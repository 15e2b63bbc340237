"""User configuration: a small TOML file, overridden by command-line options.

~/.config/callassist/config.toml, for example:

    engine = "auto"                  # auto | vosk | whisper
    vosk_model = "/opt/models/vosk-model-en-us-0.22"
    channels = "agent,customer"      # speaker of the left and right channel
    knowledge = "/srv/kb"             # folder of Markdown articles
    phrases = "~/my-phrases.yaml"
    escalate_after = 120              # seconds of negative mood before suggesting a transfer
"""
from __future__ import annotations

import tomllib
from dataclasses import dataclass, fields
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
            return cls(**data)
        except TypeError as exc:
            raise ConfigError(f"{path}: {exc}") from None
