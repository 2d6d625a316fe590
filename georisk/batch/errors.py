"""Exit codes of ``georisk batch`` and the error that stops a batch.

>>> raise BatchError(EXIT_USAGE, "--chunk-size must be at least 1")
Traceback (most recent call last):
...
georisk.batch.errors.BatchError: --chunk-size must be at least 1
"""

from __future__ import annotations

__all__ = ["EXIT_DATA", "EXIT_FAILED_ROWS", "EXIT_OK", "EXIT_USAGE", "BatchError"]

#: 0 every row scored; 1 some rows refused (see the errors file); 2 usage; 3 input or dataset
EXIT_OK, EXIT_FAILED_ROWS, EXIT_USAGE, EXIT_DATA = 0, 1, 2, 3


class BatchError(Exception):
    """A problem that stops the batch before or while it runs, with the exit code to use."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
