"""Secrets of target delivery: `${VAR}` resolved from the environment, and kept out of every text.

A target's `url`, `headers` and `secret` may name environment variables; they
are resolved at the moment of sending and never leave delivery. Errors can
still echo a value back (an HTTP library quoting the URL it could not reach,
a header it refused), in whatever form that text holds it: raw, escaped as
in JSON, percent-encoded as in a URL, or with the trailing newline that a
secret file often adds stripped or kept. `Secrets.scrub` replaces every such
form with `***`.
"""

from __future__ import annotations

import re
import urllib.parse
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import orjson

from reactor.errors import DeliveryError

__all__ = ["MIN_SECRET", "Secrets", "header_value", "resolve"]

_VARIABLE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
#: Values shorter than this are not scrubbed: replacing "a" or "1" in every
#: error text would hide the message, and such a value protects nothing.
MIN_SECRET = 3


def _forms(value: str) -> Iterable[str]:
    """Every form `value` can take in an error text."""
    for text in {value, value.strip()}:
        yield text
        yield orjson.dumps(text).decode()[1:-1]  # JSON-escaped (\n, \", \uXXXX)
        yield text.encode("unicode_escape").decode("ascii")  # Python repr style (\n, \xe9)
        yield urllib.parse.quote(text, safe="")  # percent-encoded, as in a URL
        yield urllib.parse.quote(text, safe="/:@")
        yield urllib.parse.quote_plus(text)
        yield repr(text)[1:-1]


@dataclass
class Secrets:
    """The values resolved for one request, by variable name."""

    values: dict[str, str] = field(default_factory=dict)

    def scrub(self, text: str) -> str:
        """`text` with every form of every resolved value replaced by `***`."""
        forms = {form for value in self.values.values() for form in _forms(value)}
        for form in sorted(forms, key=len, reverse=True):
            if len(form) >= MIN_SECRET:
                text = text.replace(form, "***")
        return text


def resolve(text: str, environ: Mapping[str, str], secrets: Secrets | None = None) -> str:
    """`text` with every `${VAR}` replaced from `environ`. Raises DeliveryError
    naming the variable (never a value) when one is not set. Resolved values
    are recorded in `secrets`, so that they can be scrubbed from messages."""

    def value(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in environ:
            raise DeliveryError(f"environment variable {name} is not set")
        found = environ[name]
        if secrets is not None and found:
            secrets.values[name] = found
        return found

    return _VARIABLE.sub(value, text)


def header_value(header: str, template: str, environ: Mapping[str, str], secrets: Secrets) -> str:
    """The value of header `header` (written `template` in the YAML), resolved.

    Raises DeliveryError, naming the variable or the header and never the
    value, when the value holds a line break (CR or LF: it would split the
    header, and a secret file's trailing newline is a common slip) or a
    character outside ASCII (HTTP header values are bytes; non-ASCII ones are
    refused rather than guessed at)."""
    for name in _VARIABLE.findall(template):
        if name not in environ:
            continue  # reported by `resolve` below
        problem = _header_problem(environ[name])
        if problem:
            raise DeliveryError(f"environment variable {name} (header {header}) {problem}")
    value = resolve(template, environ, secrets)
    problem = _header_problem(value)
    if problem:
        raise DeliveryError(f"header {header} {problem}")
    return value


def _header_problem(value: str) -> str:
    if "\r" in value or "\n" in value:
        return "holds a line break (CR or LF), which a header value cannot hold"
    if not value.isascii():
        return "holds a character outside ASCII, which a header value cannot hold"
    if any((ord(c) < 32 and c != "\t") or ord(c) == 127 for c in value):
        return "holds a control character, which a header value cannot hold"
    return ""
