"""Records the worker writes besides actions: dead letters that always fit.

A dead letter holds the original bytes of the message it is about, so a
message near the broker's size limit makes a dead letter over it, which the
broker would refuse (and, in a transaction, take the batch's other records
down with it). `fit_dead_letter` keeps such a record within `limit` bytes:
its error, source and reaction id, the first 64 KiB of the original, and the
original's size and SHA-256, so that nothing is lost without a trace.
"""

from __future__ import annotations

import hashlib
from typing import Any

import orjson

from reactor.replay import raw_fields

__all__ = ["KEPT_RAW", "MAX_MESSAGE_TEXT", "fit_dead_letter"]

#: How much of the original a shortened dead letter keeps.
KEPT_RAW = 64 * 1024
#: An error message longer than this is cut (an exception text can be huge).
MAX_MESSAGE_TEXT = 4096


def fit_dead_letter(record: dict[str, Any], raw: bytes, limit: int) -> bytes:
    """`record` as JSON, or, if that is longer than `limit` bytes, the shortened
    record described in the module docstring."""
    encoded = orjson.dumps(record)
    if len(encoded) <= limit:
        return encoded
    error = dict(record.get("error") or {})
    message = str(error.get("message", ""))
    if len(message) > MAX_MESSAGE_TEXT:
        error["message"] = message[:MAX_MESSAGE_TEXT] + " (cut)"
    short: dict[str, Any] = {"error": error, "source": record.get("source")}
    if "reaction_id" in record:
        short["reaction_id"] = record["reaction_id"]
    short.update(raw_fields(_cut_utf8(raw, KEPT_RAW)))
    short["raw_truncated"] = True
    short["raw_size"] = len(raw)
    short["raw_sha256"] = hashlib.sha256(raw).hexdigest()
    encoded = orjson.dumps(short)
    if len(encoded) > limit:  # a limit below 64 KiB: keep what fits
        short.pop("raw_base64", None)
        short["raw"] = short["raw"][: max(0, limit // 2 - 1024)]
        encoded = orjson.dumps(short)
    return encoded


def _cut_utf8(raw: bytes, size: int) -> bytes:
    """The first `size` bytes of `raw`, not splitting a UTF-8 character."""
    if len(raw) <= size:
        return raw
    cut = raw[:size]
    for back in range(4):
        try:
            cut[: size - back].decode("utf-8")
        except UnicodeDecodeError:
            continue
        return cut[: size - back]
    return cut
