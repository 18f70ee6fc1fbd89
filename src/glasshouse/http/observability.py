"""Prometheus metrics and structured JSON logs with request ids. Nothing here ever sees an image or
embedding: log records carry only the fields listed in ``_FIELDS``."""

from __future__ import annotations

import json
import logging
import sys
import time
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram

_FIELDS = ("request_id", "method", "path", "operation", "status", "error", "org_id", "latency_ms")


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        payload: dict[str, Any] = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name in _FIELDS:
            value = getattr(record, name, None)
            if value is not None:
                payload[name] = value
        if record.exc_info:
            payload["exception"] = self.formatException(record.exc_info)
        return json.dumps(payload)


def configure_logging(level: str) -> None:
    """JSON lines on stderr for Glasshouse's and uvicorn's loggers."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    for name in ("glasshouse", "uvicorn", "uvicorn.error"):
        logger = logging.getLogger(name)
        logger.handlers = [handler]
        logger.setLevel(level)
        logger.propagate = False
    logging.getLogger("uvicorn.access").disabled = True  # replaced by our request log


class Metrics:
    """Requests, errors and latency per operation, in a registry of this app's own."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "glasshouse_requests_total",
            "Requests by operation and status",
            ["operation", "status"],
            registry=self.registry,
        )
        self.errors = Counter(
            "glasshouse_errors_total",
            "Error responses by operation and error type",
            ["operation", "error"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "glasshouse_request_seconds",
            "Request latency by operation",
            ["operation"],
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
            registry=self.registry,
        )

    def observe(self, operation: str, status: int, error: str | None, seconds: float) -> None:
        self.requests.labels(operation, str(status)).inc()
        if error:
            self.errors.labels(operation, error).inc()
        self.latency.labels(operation).observe(seconds)
