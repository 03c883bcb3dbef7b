"""Errors woundtrack raises on purpose.

Every message names the input, what was expected, what was found and the fix, so that the CLI and
the app can show it to a person as it is, without a traceback.
"""

from __future__ import annotations


class WoundtrackError(Exception):
    """Base class: a problem with the user's input or set-up, explained in the message."""


class ImageError(WoundtrackError):
    """A photo that cannot or must not be read (corrupt, truncated, too large, not an image)."""


class CalibrationError(WoundtrackError):
    """A calibration request that cannot be honoured (e.g. a non-positive manual scale)."""


class ModelError(WoundtrackError):
    """A model file woundtrack cannot measure with (not ONNX, another label set, broken)."""


class TimelineError(WoundtrackError):
    """A treatment timeline that cannot be read, or a treatment event that is not valid.

    ``problems`` holds one line per problem (file, line and column first), so that the app can
    list them; the message is those lines joined, with a count when there are several.
    """

    def __init__(self, message: str, problems: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.problems: tuple[str, ...] = tuple(problems) or (message,)

    def __reduce__(self) -> tuple[type[TimelineError], tuple[str, tuple[str, ...]]]:
        return type(self), (str(self), self.problems)
