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
