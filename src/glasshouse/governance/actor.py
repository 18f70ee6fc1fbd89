"""Who is acting, and through which surface. Every gate decision and every audited change names one."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Actor:
    """An organisation's caller: a person (once people exist), else the access key, else the surface.

    ``surface`` is one of ``rekognition-api``, ``rest``, ``cli``, ``ui``, ``job``.
    """

    org_id: str
    org_name: str
    surface: str
    key_id: str | None = None
    person: str | None = None
    is_operator: bool = False

    @property
    def principal(self) -> str:
        """The individual behind the call, for separation of duties (a searcher never reviews)."""
        if self.person:
            return f"person:{self.person}"
        if self.key_id:
            return f"key:{self.key_id}"
        return f"{self.surface}:{self.org_name}"
