"""woundtrack: calibrated wound measurements from dressing-change photos."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("woundtrack")
except PackageNotFoundError:  # running from a source tree that was not installed
    __version__ = "0.0.0+unknown"

from woundtrack.image.pipeline import Analysis, analyze, analyze_image  # noqa: E402

__all__ = ["Analysis", "__version__", "analyze", "analyze_image"]
