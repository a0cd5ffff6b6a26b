"""alliance-study: a reproducible study of Connecticut's Alliance District program."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("alliance-study")
except PackageNotFoundError:  # running from a source tree without installation
    __version__ = "0.0.0+unknown"

__all__ = ["__version__"]
