"""Glasshouse: self-hosted face recognition with accountability built in."""

__version__ = "0.1.0"
__all__ = ["__version__"]
