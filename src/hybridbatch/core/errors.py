"""Errors that stop a run with a message naming the file, record, field or key at fault.

Their message is the whole report: a workflow script prints it as one line, without a traceback.
"""


class HybridbatchError(Exception):
    """An expected failure whose message says what is wrong, where, and what to do."""


class DataError(HybridbatchError, ValueError):
    """Input data (a raw file, a table) is missing, corrupt or breaks the artifact contract."""


class ConfigError(HybridbatchError, ValueError):
    """The workflow configuration is invalid."""


class OutputError(HybridbatchError, OSError):
    """An output cannot be written (disk full, over quota, read-only)."""


class DeviceError(HybridbatchError, RuntimeError):
    """A job was given a device (a GPU) that it cannot use."""
