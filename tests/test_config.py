"""The one settings source: config.toml checked strictly, overridden by the command line, edited
by the settings dialog without losing the user's comments, read by every front door."""
import os

import pytest

from callassist.config import Config, config_path
from callassist.errors import ConfigError
from tests.conftest import DEMO_CALLS, run_cli


def write_config(text: str):
    path = config_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


@pytest.mark.parametrize("line, setting", [
    ('keep_original = "no"', "keep_original"),  # a string is not a yes
    ('redact = 0', "redact"),
    ('mood_window = "three"', "mood_window"),
    ('channels = 5', "channels"),
    ('channels = "left,right"', "channels"),
    ('import_jobs = "two"', "import_jobs"),
    ('import_jobs = 0', "import_jobs"),
    ('library = 42', "library"),
    ('engine = "google"', "engine"),
    ('escalate_after = -5', "escalate_after"),
    ('flags = 3', "flags"),
    ('chanels = "agent,customer"', "chanels"),
])
def test_wrong_types_are_one_line_errors_naming_the_setting(line, setting):
    path = write_config(line + "\n")
    with pytest.raises(ConfigError) as err:
        Config.load()
    msg = str(err.value)
    assert str(path) in msg and setting in msg and "\n" not in msg


def test_wrong_type_on_the_command_line_is_one_line_not_a_traceback():
    write_config('keep_original = "no"\n')
    r = run_cli("analyze", str(DEMO_CALLS / "angry_calmed.flac"), timeout=120)
    assert r.returncode == 2
    assert r.stderr.startswith("callassist: error:") and "keep_original" in r.stderr
    assert "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1


def test_values_and_command_line_overrides():
    write_config('engine = "whisper"\nescalate_after = 45\nescalate_mood = -0.4\n'
                 'channels = "customer, agent"\n[flags]\nsilence_seconds = 12\n')
    cfg = Config.load()
    assert cfg.engine == "whisper" and cfg.channels == "customer,agent"
    esc = cfg.escalation()
    assert (esc.negative_seconds, esc.negative_threshold) == (45, -0.4)
    assert cfg.flag_settings().silence_seconds == 12
    over = Config.load(engine="vosk", knowledge=None)  # None: the option was not given
    assert over.engine == "vosk" and over.escalate_after == 45
    with pytest.raises(ConfigError, match="command line"):
        Config.load(channels="agent,nobody")


def test_save_keeps_comments_removes_defaults_and_is_owner_only():
    path = write_config("# my desk\nengine = \"whisper\"  # the fast one\nimport_jobs = 3\n")
    cfg = Config.load()
    new = cfg.save(escalate_after=90.0, import_jobs=2, engine="vosk")
    text = path.read_text()
    assert "# my desk" in text and "escalate_after = 90.0" in text
    assert "import_jobs" not in text  # back to the default: the line goes
    assert new.engine == "vosk" and Config.load() == new
    assert os.stat(path).st_mode & 0o777 == 0o600
    with pytest.raises(ConfigError):
        cfg.save(import_jobs="many")
    assert Config.load() == new  # a refused change writes nothing


def test_model_key_tells_which_settings_load_other_models():
    a = Config()
    assert a.model_key() == Config(escalate_after=30.0, channels="customer,agent").model_key()
    assert a.model_key() != Config(knowledge="/srv/kb").model_key()
