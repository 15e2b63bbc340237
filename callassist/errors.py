"""Errors that reach the user as one clear line saying what is wrong and what to do."""


class CallAssistError(Exception):
    """An error with a one-line message for the user that says what to do."""


class AudioError(CallAssistError):
    """Audio file or device cannot be used."""


class ModelError(CallAssistError):
    """A speech or mood model is missing or cannot be loaded."""


class ConfigError(CallAssistError):
    """A configuration value or file is wrong."""
