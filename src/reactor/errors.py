"""Everything reactor raises.

    ReactorError
     ├── InvalidEvent      an input event that cannot be processed (dead letter)
     ├── ConfigError       one or more problems in the YAML configuration
     ├── RuleError         a JSON Logic rule or amount failed while running
     ├── TemplateError     a target template failed to render valid JSON
     ├── DeliveryError     an HTTP delivery that cannot succeed
     └── TopicError        Kafka topics that do not agree, or cannot be created

Each error carries where it happened (file, line, offset, field) as keywords, so
that every message a user reads names the place to look.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = [
    "ConfigError",
    "ConfigIssue",
    "DeliveryError",
    "InvalidEvent",
    "ReactorError",
    "RuleError",
    "TemplateError",
    "TopicError",
]


class ReactorError(Exception):
    """The root of every error reactor raises on purpose."""


class InvalidEvent(ReactorError):
    """Raised when an input event is not JSON, misses a required field, has a
    wrong type or an unknown `type`.

    `code` is a stable tag (`invalid_json`, `missing_field`, `wrong_type`,
    `invalid_value`, `unknown_type`, `out_of_range` for a time or number
    outside its range, `too_large` for an event, id or list past its size),
    `path` the dotted field it is about (empty for the whole message).
    """

    def __init__(self, message: str, *, code: str, path: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.path = path

    def as_dict(self) -> dict[str, Any]:
        return {"code": self.code, "message": self.message, "path": self.path}


@dataclass(frozen=True, slots=True)
class ConfigIssue:
    """One problem in the configuration, at a place in a file (1-based)."""

    path: str
    line: int
    col: int
    message: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}:{self.col}: {self.message}"


class ConfigError(ReactorError):
    """Raised when the configuration root holds one or more problems; `issues`
    lists every one found, each as `path:line:col: message`."""

    def __init__(self, issues: list[ConfigIssue]) -> None:
        self.issues = sorted(issues, key=lambda i: (i.path, i.line, i.col, i.message))
        super().__init__("\n".join(str(i) for i in self.issues))


class RuleError(ReactorError):
    """Raised when a rule, amount or points expression fails at run time
    (a thrown error, a wrong type, the operation budget exceeded)."""

    def __init__(self, message: str, *, code: str = "rule_error", path: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.path = path


class TemplateError(ReactorError):
    """Raised when a target template fails to render, or renders text that is
    not valid JSON."""

    def __init__(self, message: str, *, code: str = "template_error", path: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.path = path


class DeliveryError(ReactorError):
    """Raised when a delivery cannot be attempted or will never succeed
    (a missing environment variable, a non-retryable HTTP status)."""

    def __init__(self, message: str, *, target: str = "", status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.target = target
        self.status = status


class TopicError(ReactorError):
    """Raised when the worker's topics cannot be made to agree or be created:
    input topics with different partition counts, a state changelog sized
    differently from the inputs (partition P of each belongs to one worker),
    or a topic Kafka refuses to create or to take records for."""
