"""Public transparency reports computed from the audit log."""
