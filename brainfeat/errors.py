"""Exceptions raised by brainfeat.

Every exception derives from :class:`BrainfeatError` and also from the builtin that
describes the failure, so ``except ValueError`` keeps working for callers who do not
know brainfeat. Messages name the offending value, what was expected, and what to do.
"""

from __future__ import annotations


class BrainfeatError(Exception):
    """Root of every error raised by brainfeat."""


class UnknownNameError(BrainfeatError, ValueError):
    """A subject, network, layer, kind, ROI or split name that the catalog does not know."""


class DataNotFoundError(BrainfeatError, FileNotFoundError):
    """A data file is not in the local cache (and was not allowed to be downloaded)."""


class DownloadError(BrainfeatError, OSError):
    """A remote file could not be downloaded (HTTP error, refused content)."""


class IntegrityError(BrainfeatError, ValueError):
    """A file's size, checksum or internal structure is not what was expected."""


class FormatError(BrainfeatError, ValueError):
    """A file's content cannot be interpreted (wrong shape, unknown column, bad schema)."""


class UnsafeArchiveError(BrainfeatError, ValueError):
    """A zip archive holds a member whose path escapes the extraction folder."""


class ShapeMismatchError(BrainfeatError, ValueError):
    """Arrays that should line up do not: images, units or candidate widths differ."""


class InvalidValueError(BrainfeatError, ValueError):
    """An argument of the right kind whose value is out of range (a zero batch size, a
    negative penalty, a non-finite tolerance) or of a type brainfeat cannot use."""


class OutputLockedError(BrainfeatError, BlockingIOError):
    """Another process is writing the same output file (it holds the file's lock)."""
