"""Errors that a user can cause and fix: shown as one line, never as a traceback."""


class UserError(Exception):
    """A mistake in something the user gave us (a file, a config, a layer stack, a device)."""


class DataError(UserError):
    """A word list that cannot be used."""


class ConfigError(UserError):
    """A config field, or a layer stack, that is not valid."""


class RunFileError(UserError):
    """A saved run or config file that cannot be read."""
