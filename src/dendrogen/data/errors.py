"""The errors of the data layer.

Every error names what it is about (the data set, the file) so a user can act on it without a
traceback: the command line prints ``str(error)`` and exits with status 1.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

__all__ = ["DatasetFormatError", "DatasetNotFoundError", "UnknownDatasetError"]


class DatasetNotFoundError(FileNotFoundError):
    """A known data set whose files are in none of the places searched.

    Attributes:
        name: the data set's name.
        places: every directory that was searched, in search order.
    """

    def __init__(self, message: str, name: str = "", places: Sequence[Path] = ()) -> None:
        super().__init__(message)
        self.name = name
        self.places = list(places)

    def __str__(self) -> str:
        # FileNotFoundError's own __str__ would print "[Errno None] ..." for some argument forms.
        return str(self.args[0])


class DatasetFormatError(ValueError):
    """A file that exists but is not what its format promises (truncated, wrong magic, NaN, ...).

    Attributes:
        path: the offending file or folder (also named in the message).
    """

    def __init__(self, path: str | Path, problem: str) -> None:
        super().__init__(f"{path}: {problem}")
        self.path = Path(path)


class UnknownDatasetError(ValueError):
    """A name that is neither a known data set nor an existing file or folder."""
