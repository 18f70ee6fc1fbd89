"""Fixtures of the transparency tests (the world itself lives in ``world.py``, importable by tests)."""

from transparency.world import world

__all__ = ["world"]
