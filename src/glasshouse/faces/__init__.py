"""Stateless face analysis: detect and compare faces in caller-supplied images."""
