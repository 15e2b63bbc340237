"""The one settings source: ~/.config/callassist/config.toml, overridden by command-line options.

The command line, the side panel, `import` and the QA window all read their settings here (the
panel's settings dialog edits this file too); the panel's panel.ini keeps only window state
(theme, position, devices, agent name). For example:

    engine = "auto"                  # auto | vosk | whisper
    vosk_model = "/opt/models/vosk-model-en-us-0.22"
    channels = "agent,customer"      # speaker of the left and right channel
    mono = "separate"                # mono recordings: separate | customer | agent
    voice_profiles = true            # learn named agents' voices (for mono calls); false: never
    single_input = "caller"          # live with one input: caller | both (a speakerphone)
    knowledge = "/srv/kb"             # folder of Markdown articles
    phrases = "~/my-phrases.yaml"
    wrapup_codes = "~/my-codes.yaml"  # the wrap-up codes a call can end with
    rules = "~/centre-rules.yaml"    # what to look for in calls (alerts, categories, flags)
    scorecard = "~/qa-form.yaml"     # the QA evaluation form, answered from the rules
    escalate_after = 120              # seconds of negative mood before suggesting a transfer
    redact = true                     # remove card/phone/account numbers, e-mails from saved calls
    keep_original = false             # also keep the unredacted transcript (owner-only file)
    library = "~/calls.sqlite3"       # call library (default: ~/.local/share/callassist/)
    # or a team's shared library (its password in ~/.pgpass, never here), and the shared folder
    # where its calls' recordings are kept, as this machine mounts it:
    # library = "postgresql://sam@callassist-db:5432/callassist"
    # recordings = "/mnt/team/callassist-recordings"
    import_jobs = 2                   # recordings analysed at once when importing

    [flags]                           # thresholds of the flagged moments (callassist.library.flags)
    silence_seconds = 10
    negative_seconds = 45

Values are checked strictly against the schema below: `keep_original = "no"` or
`mood_window = "three"` is a one-line error naming the file, the setting and what it expects.
"""
from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from .core.rules import ESCALATE_MOOD
from .errors import CallAssistError, ConfigError
from .paths import config_dir, private_dir, write_private

SPEAKER_NAMES = ("agent", "customer", "ignore")
MAX_BYTES = 1_000_000  # a config file is a few hundred bytes
# Settings that decide which models are loaded: calls with equal values share one loaded set.
MODEL_SETTINGS = ("engine", "vosk_model", "whisper_model", "mood_model", "knowledge", "phrases",
                  "wrapup_codes", "rules")


def config_path() -> Path:
    return config_dir() / "config.toml"


class Config(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, validate_assignment=True)

    engine: Literal["auto", "vosk", "whisper"] = "auto"
    vosk_model: str | None = None  # a Vosk model folder (default: models/vosk/, the data folder)
    whisper_model: str | None = None  # a CTranslate2 Whisper folder (default: bundled tiny.en)
    mood_model: str | None = None  # default: the shipped models/mood
    channels: str | None = None  # speaker of each channel of a recording, e.g. "agent,customer"
    mono: Literal["separate", "customer", "agent"] = "separate"  # a mono recording: voices told
    # apart (audio.diarize), or all of it one speaker's
    single_input: Literal["caller", "both"] = "caller"  # a live call with one input: the
    # caller's audio only (a softphone's output), or both voices (a speakerphone, a mixed feed)
    voice_profiles: bool = True  # learn each named agent's voice from calls with the agent on
    # their own channel, to tell them apart on mono calls (stored in the library, deletable)
    mood_window: int = Field(3, ge=1, le=50)  # utterances over which the mood trend is judged
    knowledge: str | None = None  # folder of Markdown articles (default: content/knowledge)
    phrases: str | None = None  # phrase library YAML (default: content/phrases.yaml)
    wrapup_codes: str | None = None  # wrap-up code list YAML (default: content/wrapup_codes.yaml)
    rules: str | None = None  # the centre's rules YAML (default: content/rules.yaml)
    scorecard: str | None = None  # the QA evaluation form YAML (default: content/scorecard.yaml)
    escalate_after: float = Field(120.0, gt=0)  # seconds of negative mood before a transfer
    escalate_mood: float = Field(ESCALATE_MOOD, ge=-1, le=1)  # mood counted as negative for that
    escalate_unanswered: int = Field(2, ge=1)  # caller problems in a row the base cannot answer
    redact: bool = True  # personal data removed from stored calls and exports
    keep_original: bool = False  # keep the unredacted transcript too (the user's choice)
    library: str | None = None  # call library file (default: data_dir()/calls.sqlite3), or a
    # team's PostgreSQL library: "postgresql://USER@HOST:PORT/DATABASE" (password in ~/.pgpass)
    recordings: str | None = None  # a team library's shared folder of recordings (a shared
    # drive every reviewer's machine mounts, wherever): calls' audio is kept there
    import_jobs: int = Field(2, ge=1, le=16)  # recordings analysed at once by an import
    flags: dict[str, Any] = Field(default_factory=dict)  # [flags] thresholds

    @field_validator("vosk_model", "whisper_model", "mood_model", "knowledge", "phrases",
                     "wrapup_codes", "rules", "scorecard", "library", "recordings")
    @classmethod
    def _path_like(cls, v: str | None) -> str | None:
        if v is not None and "\x00" in v:
            raise ValueError("a file name cannot hold a NUL character")
        if v is not None and (len(v) > 4096 or any(len(p) > 255 for p in v.split("/"))):
            raise ValueError("too long for a file name")
        return v

    @field_validator("library")
    @classmethod
    def _library_address(cls, v: str | None) -> str | None:
        from .library.store import is_server, server_url
        if v is not None and is_server(v):
            try:
                server_url(v)  # no password in the file, a database named
            except CallAssistError as exc:
                raise ValueError(str(exc)) from None
        return v

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
        for name, value in v.items():  # the types first: FlagSettings checks the values
            if name == "kinds":
                if not isinstance(value, list) or not all(isinstance(k, str) for k in value):
                    raise ValueError(f"[flags] kinds must be a list of flag kinds, e.g. "
                                     f"[\"mood_drop\", \"silence\"] (got {_short(value)})")
            elif (isinstance(value, bool) or not isinstance(value, (int, float))
                  or value != value):
                raise ValueError(f"[flags] {name if name.isidentifier() else _short(name, 40)} "
                                 f"must be a number (got {_short(value)})")
        FlagSettings.from_dict(v)  # ConfigError names the threshold
        return v

    # ---- reading and writing ---------------------------------------------------------------
    @classmethod
    def load(cls, path: str | Path | None = None, **overrides: Any) -> "Config":
        """The user's settings (or `path`'s), with `overrides` (command-line options; None means
        not given) on top. Any problem is a ConfigError naming the file and the setting."""
        given_path = bool(path)
        path = Path(path).expanduser() if path else config_path()
        data: dict[str, Any] = {}
        if given_path and not path.exists():  # a mistyped --config is not "use the defaults"
            raise ConfigError(f"no config file at {path}: check the name, or leave out --config "
                              f"to use {config_path()}")
        if path.exists():
            try:
                if path.stat().st_size > MAX_BYTES:
                    raise ConfigError(f"{path} is {path.stat().st_size / 1e6:.1f} MB, too big "
                                      f"for a config file: choose the right file or delete it")
                data = tomllib.loads(path.read_text(encoding="utf-8"))
            except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
                raise ConfigError(f"{path} is not valid TOML ({exc}): fix or delete it") from None
            except RecursionError:  # tomllib reads nested arrays/tables recursively
                raise ConfigError(f"{path} is not valid TOML (values nested too deeply): fix "
                                  f"or delete it") from None
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
        private_dir(path.parent)
        write_private(path, tomlkit.dumps(doc))  # atomic, owner only
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

    def library_path(self) -> Path | str | None:
        """The library file, or a database server's address as written."""
        from .library.store import is_server
        if not self.library:
            return None
        return self.library if is_server(self.library) else Path(self.library).expanduser()

    def open_store(self, path: str | Path | None = None, *, create: bool = True):
        """The call library (a `Library`) with this config's privacy and flag settings.
        `create=False` (reading: reports, the library window): a library that does not exist is
        a one-line error saying how to make one, and no file is made. A library the user named
        (`path`, or `library` in the config) is made only in a folder that exists, so a typo
        in a folder name is not silently made; the default one is made with its folder."""
        from .library.service import Library
        named = path or self.library_path()
        lib = Library(named, redact=self.redact, keep_original=self.keep_original,
                      flag_settings=self.flag_settings() if self.flags else None,
                      create=create, make_folder=named is None)
        lib.rules_file, lib.scorecard_file = self.rules, self.scorecard
        if self.recordings:
            lib.recordings = Path(self.recordings).expanduser()
        return lib


def _one_line(exc: ValidationError) -> str:
    """The first problem pydantic found, as a person reads it."""
    err = exc.errors()[0]
    where = ".".join(str(p) for p in err["loc"]) or "settings"
    if err["type"] == "extra_forbidden":
        known = ", ".join(Config.model_fields)
        return (f"unknown setting {where if where.isidentifier() else _short(where, 40)}; "
                f"known: {known}")
    msg = err["msg"].removeprefix("Value error, ")
    if msg.startswith("[flags]"):  # says what it got itself
        return f"{msg}: fix it or delete the line"
    return (f"{where}: {msg[0].lower() + msg[1:]} (got {_short(err.get('input'))}): fix it or "
            f"delete the line")


def _short(value, limit: int = 60) -> str:
    """repr() of a value from the file, cut for a one-line message."""
    r = repr(value)
    return r if len(r) <= limit else r[: limit - 1] + "…"
