"""The one error hierarchy. Surfaces render these; they never invent their own.

GlasshouseError
├── InvalidInputError            caller sent something unusable
│   ├── InvalidImageError        not a JPEG/PNG, truncated, undecodable
│   │   └── ImageTooLargeError   too many bytes or too many pixels
│   └── InvalidParameterError    a parameter is out of range or malformed
│       ├── EmbeddingDimensionError  an embedding of another length than its collection's
│       └── ModelMismatchError   faces of one face model offered to a collection of another
├── NotFoundError                no such resource (or not yours: same answer)
├── AlreadyExistsError
├── ThrottledError               too much at once: try again shortly
└── ModelUnavailableError        a bundled model is missing or broken
    └── ModelNotInstalledError   a collection's (or the chosen) model pack is not installed here
"""

from __future__ import annotations


class GlasshouseError(Exception):
    """Base of every error Glasshouse raises on purpose."""

    code: str = "InternalError"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidInputError(GlasshouseError):
    code = "InvalidInput"


class InvalidImageError(InvalidInputError):
    code = "InvalidImageFormat"


class ImageTooLargeError(InvalidImageError):
    code = "ImageTooLarge"


class InvalidParameterError(InvalidInputError):
    code = "InvalidParameter"


class EmbeddingDimensionError(InvalidParameterError):
    """An embedding whose length is not its collection's ``embedding_dim``: faces (or probes) of another
    face model are never mixed into a collection."""


class ModelMismatchError(InvalidParameterError):
    """Embeddings of another face model would be mixed into a collection (one model per collection)."""


class NotFoundError(GlasshouseError):
    code = "NotFound"


class AlreadyExistsError(GlasshouseError):
    code = "AlreadyExists"


class ThrottledError(GlasshouseError):
    """The server is at its limit (e.g. analyses in flight) and the caller waited too long for a turn."""

    code = "Throttled"


class ModelUnavailableError(GlasshouseError):
    code = "ModelUnavailable"


class ModelNotInstalledError(ModelUnavailableError):
    """A model pack that must be installed on purpose (``glasshouse models install``) is not."""

    code = "ModelNotInstalled"
