"""The exit codes of a run, and the error that ends a run before any file is touched."""

# 0: every file uploaded or rightly skipped; 1: a file (or the report) failed; 2: bad
# usage or configuration; 130: interrupted (Ctrl-C, SIGTERM).
EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130


class UsageError(Exception):
    """Bad options or configuration; the message is shown as one line, exit code 2."""
