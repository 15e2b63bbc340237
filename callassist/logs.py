"""The log file: warnings and errors (knowledge-base reload problems, worker failures, store
errors) go to <data folder>/logs/callassist.log, rotated at 1 MB with three old files kept, readable
by the user only. The terminal and the windows show the user one line; the log keeps the detail."""
from __future__ import annotations

import logging
import logging.handlers
import os
from pathlib import Path

from .paths import data_dir, private_dir

LOGGER = "callassist"
MAX_BYTES = 1_000_000
BACKUPS = 3


class _PrivateRotatingFile(logging.handlers.RotatingFileHandler):
    """Creates every log file (the first and each rotated one) 0600."""

    def _open(self):
        fd = os.open(self.baseFilename, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        return os.fdopen(fd, self.mode.replace("w", "a"), encoding=self.encoding)


def log_path() -> Path:
    return data_dir() / "logs" / "callassist.log"


def setup_logging(level: int = logging.WARNING) -> Path | None:
    """Send the package's warnings and errors to the log file (once per file; a later call with
    another data folder moves the log there). Returns the file, or None if it cannot be written:
    the app works on without a log."""
    path = log_path()
    logger = logging.getLogger(LOGGER)
    for h in list(logger.handlers):
        if isinstance(h, _PrivateRotatingFile):
            if Path(h.baseFilename) == path:
                return path
            logger.removeHandler(h)
            h.close()
    try:
        private_dir(path.parent)  # 0700, and the data folder above it
        handler = _PrivateRotatingFile(path, maxBytes=MAX_BYTES, backupCount=BACKUPS,
                                       encoding="utf-8", delay=True)
    except OSError:
        return None
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logger.addHandler(handler)
    if logger.level == logging.NOTSET or logger.level > level:
        logger.setLevel(level)
    return path
