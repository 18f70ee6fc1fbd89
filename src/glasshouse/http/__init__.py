"""HTTP surfaces served by ``glasshouse serve``."""
