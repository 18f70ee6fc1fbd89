"""The web UI: server-rendered pages on the same domain services and gate as the APIs."""
