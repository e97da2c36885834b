"""User-facing errors.

Every problem a user can cause or fix (missing data, bad YAML, unknown names, missing
weights...) is raised as a :class:`YonosError` subclass with a complete message. The CLI
prints the message and exits with code 1; it never shows a traceback for these.
"""

from __future__ import annotations


class YonosError(Exception):
    """An error whose message is meant for the user, verbatim."""


class SpecError(YonosError, ValueError):
    """A protocol spec or model card is malformed (names the file and the key)."""


class DeviceError(YonosError, ValueError):
    """A ``--device`` value that is not a usable torch device on this machine."""


class UnknownNameError(YonosError, KeyError):
    """An unknown protocol / model / metric name (message carries did-you-mean)."""

    def __str__(self) -> str:  # KeyError quotes its argument; we want the plain message
        return str(self.args[0]) if self.args else ""


class DataMissingError(YonosError, FileNotFoundError):
    """A dataset or source folder is missing (message gives layout and URL)."""


class WeightsMissingError(YonosError, FileNotFoundError):
    """A weight file is missing (message gives what, where looked, URL, fetch command)."""


class ImageError(YonosError, ValueError):
    """An image cannot be read or has an unusable format (names the file)."""


class FileWriteError(YonosError, OSError):
    """A file could not be written (disk full, permissions...); names the file. The atomic
    writers raise it with the previous version of the file left untouched."""


def did_you_mean(kind: str, name: str, available: list[str]) -> UnknownNameError:
    """Build the lm-eval-harness style unknown-name error."""
    import difflib

    close = difflib.get_close_matches(name, available, n=3, cutoff=0.5)
    hint = f" Did you mean: {', '.join(close)}?" if close else ""
    return UnknownNameError(f"Unknown {kind} '{name}'.{hint} Available: {', '.join(sorted(available))}")
