"""Exceptions of the exclusion file. ``str(err)`` is one sentence saying the reason in words.

Every reader failure is an ``ExclusionSetError``: a consumer that catches only that one type
and extracts nobody is failing closed correctly. The subclasses let tests and scripts tell
the reasons apart.
"""

from __future__ import annotations


class ExclusionError(Exception):
    """Base of everything this package raises on purpose."""


class ExclusionSetError(ExclusionError):
    """The exclusion set cannot be trusted: extract nobody."""


class MissingFileError(ExclusionSetError):
    pass


class SymlinkError(ExclusionSetError):
    """CURRENT, the folder, a generation or a file in it is a symbolic link (or junction)."""


class ConsumerSetupError(ExclusionSetError):
    """The consumer did not say which practice it is, or where its state file is."""


class UnreadableFileError(ExclusionSetError):
    """A file exists but cannot be read (permissions, a failing disk)."""


class UnknownFormatVersionError(ExclusionSetError):
    pass


class BadSignatureError(ExclusionSetError):
    pass


class MalformedSetError(ExclusionSetError):
    """A manifest field or a list row breaks the format."""


class HashMismatchError(ExclusionSetError):
    pass


class CountMismatchError(ExclusionSetError):
    pass


class WrongPracticeError(ExclusionSetError):
    pass


class ExpiredError(ExclusionSetError):
    pass


class NotYetValidError(ExclusionSetError):
    """Generated in the future: a clock is wrong somewhere, so the dates cannot be trusted."""


class RevisionRollbackError(ExclusionSetError):
    pass


class StateFileError(ExclusionSetError):
    """The consumer's own record of the highest revision seen is unreadable."""


class KeyFileError(ExclusionError):
    """A public or private key could not be loaded."""


class CandidateFileError(ExclusionError):
    """The candidate extraction list cannot be read (no NHS number column, bad encoding...)."""


class ExportError(ExclusionError):
    """Writing an exclusion set failed; the previous set (if any) is still the current one."""
