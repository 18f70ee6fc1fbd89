"""Glasshouse's native REST API (``/v1``): governance, review, consent, and gated face operations."""
