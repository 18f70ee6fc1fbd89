"""The tamper-evident audit log: every governed call and change, in an append-only HMAC-chained table."""

from glasshouse.audit.service import (
    ALLOW,
    DENY,
    RECORD,
    AuditEntryView,
    AuditEvent,
    AuditFilter,
    AuditLog,
    AuditLogError,
    InvalidAuditEventError,
    VerifyReport,
    digest,
)

__all__ = [
    "ALLOW",
    "DENY",
    "RECORD",
    "AuditEntryView",
    "AuditEvent",
    "AuditFilter",
    "AuditLog",
    "AuditLogError",
    "InvalidAuditEventError",
    "VerifyReport",
    "digest",
]
