"""Errors that stop a run with a message naming the file, record and field at fault."""


class DataError(ValueError):
    """Input data (a raw file, a table) is missing, corrupt or breaks the artifact contract."""


class ConfigError(ValueError):
    """The workflow configuration is invalid."""
