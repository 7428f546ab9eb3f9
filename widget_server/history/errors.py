"""The one exception of the history API: a refused request, in the error envelope of Zendesk's REST APIs.

``{"error": label, "description": sentence}``, plus for a refused body ``details``, which maps a field's
path to a list of ``{"error": code, "description": sentence}`` (the shape tests/fakes/zendesk.py uses for
Zendesk itself). Clients should decide on the HTTP status; the labels are for people reading logs.
"""

from __future__ import annotations

from typing import Any

Details = dict[str, list[dict[str, str]]]


class RequestError(Exception):
    def __init__(self, status: int, label: str, description: str, details: Details | None = None) -> None:
        super().__init__(description)
        self.status = status
        self.label = label
        self.description = description
        self.details = details

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {"error": self.label, "description": self.description}
        if self.details:
            body["details"] = self.details
        return body


def invalid(description: str) -> RequestError:
    """A malformed request: a bad parameter, query, date, cursor or id list."""
    return RequestError(400, "InvalidRequest", description)


def not_found(chat_id: str) -> RequestError:
    return RequestError(404, "RecordNotFound", f"There is no chat {chat_id!r}.")


def record_invalid(details: Details) -> RequestError:
    """A body with problems, each under its field's path; the description is the first one."""
    problems = [problem["description"] for found in details.values() for problem in found]
    more = f" ({len(problems) - 1} more in details)" if len(problems) > 1 else ""
    return RequestError(400, "RecordInvalid", problems[0] + more, details)
