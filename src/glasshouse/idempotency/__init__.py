"""Idempotent requests: a client token replays the first answer instead of acting twice."""
