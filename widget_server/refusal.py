"""A request refused with a reason, as the admin and console APIs answer it: ``{"error": code, "message":
sentence, "field": name?}`` with an HTTP status. The domain modules (site_admin.py, canned.py) raise their
own subclass, so that a route catches only the refusals of what it calls."""

from __future__ import annotations

from typing import Any


class Refused(Exception):
    """``code`` for machines, ``message`` for people, the ``field`` at fault where there is one, and the
    HTTP ``status`` it is answered with."""

    def __init__(self, code: str, message: str, *, field: str | None = None, status: int = 400) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.field = field
        self.status = status

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {"error": self.code, "message": self.message}
        if self.field is not None:
            body["field"] = self.field
        return body
