"""Errors that end a run before any file is touched (exit code 2)."""


class UsageError(Exception):
    """Bad options or configuration; the message is shown as one line, exit code 2."""
