"""Exit codes and the one error type that reaches the user as a one-line message."""
from __future__ import annotations

EXIT_OK = 0
EXIT_INTERNAL = 1  # a bug: please report
EXIT_USAGE = 2  # bad command line
EXIT_PARTIAL = 3  # some results written, some stage could not run (see results.json flags)
EXIT_NO_INPUT = 4  # nothing usable in the input; nothing written
EXIT_INTERRUPTED = 130  # stopped by Ctrl-C (128 + SIGINT, the shell convention)


class LumbarqiError(Exception):
    """A problem with the user's input, stated in one line."""

    exit_code = EXIT_USAGE

    def __init__(self, message: str, exit_code: int | None = None):
        super().__init__(message)
        if exit_code is not None:
            self.exit_code = exit_code
