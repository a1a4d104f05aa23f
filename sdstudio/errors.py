"""Errors a user can act on. Their message is one line that says what is wrong and what to do.

Everything the CLI and the UI show to a person goes through these; any other exception is a bug.
"""


class SdStudioError(Exception):
    """Base of the errors that are reported to the user as a one-line message."""


class InputError(SdStudioError):
    """Bad input: a missing file, a size that is not a multiple of 8, an unknown sampler..."""


class ModelError(SdStudioError):
    """A model that cannot be found, read, recognised or loaded safely."""


class Cancelled(Exception):
    """The user cancelled a job; raised between steps, never an error."""
