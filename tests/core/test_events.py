"""Decoding events: what is accepted, and how each bad input is named."""

from __future__ import annotations

import orjson
import pytest

from reactor.errors import InvalidEvent
from reactor.events import decode_event

GOOD = {
    "id": "evt-0001",
    "type": "transaction.created",
    "occurred_at": "2026-11-20T10:00:00Z",
    "profile_id": "p-1",
    "data": {
        "transaction": {
            "id": "t-9",
            "system": "pos",
            "total": 129.50,
            "currency": "AUD",
            "transacted_at": "2026-11-20T09:59:00Z",
            "location": {"id": "store-12", "name": "Sydney"},
            "channel": "in_store",
            "items": [{"sku": "A1", "quantity": 1, "price": 129.50, "full_price": True}],
            "tags": ["black-friday"],
        }
    },
}


def with_(path: str, value: object) -> bytes:
    """GOOD with the field at dotted `path` set (or removed, for ...)."""
    document = orjson.loads(orjson.dumps(GOOD))
    *parents, last = path.split(".")
    node = document
    for part in parents:
        node = node[part]
    if value is ...:
        del node[last]
    else:
        node[last] = value
    return orjson.dumps(document)


def test_the_contract_example_decodes_with_unknown_fields_kept():
    event = decode_event(orjson.dumps({**GOOD, "source": "pos-gateway"}))
    assert (event.id, event.type, event.profile_id, event.occurred_at) == (
        "evt-0001",
        "transaction.created",
        "p-1",
        "2026-11-20T10:00:00Z",
    )
    assert event.data["transaction"]["channel"] == "in_store"
    assert event.extra == {"source": "pos-gateway"}
    assert event.transaction_at == "2026-11-20T09:59:00Z"


def test_times_are_normalised_to_utc():
    event = decode_event(with_("occurred_at", "2026-11-20T21:00:00.750+11:00"))
    assert event.occurred_at == "2026-11-20T10:00:00Z"
    event = decode_event(with_("data.transaction.transacted_at", "2026-11-20T19:59:00+10:00"))
    assert event.data["transaction"]["transacted_at"] == "2026-11-20T09:59:00Z"


def test_a_refund_has_a_negative_total():
    assert decode_event(with_("data.transaction.total", -20)).data["transaction"]["total"] == -20


def test_profile_deleted_takes_any_data_object():
    raw = b'{"id":"e","type":"profile.deleted","occurred_at":"2026-11-20T10:00:00Z","profile_id":"p-1","data":{}}'
    assert decode_event(raw).type == "profile.deleted"


@pytest.mark.parametrize(
    ("raw", "code", "path"),
    [
        (b"{not json", "invalid_json", ""),
        (b"", "invalid_json", ""),
        (b"\xff\xfe", "invalid_json", ""),
        (b"[1, 2]", "wrong_type", ""),
        (b'"a string"', "wrong_type", ""),
        (with_("id", ...), "missing_field", "id"),
        (with_("type", ...), "missing_field", "type"),
        (with_("occurred_at", ...), "missing_field", "occurred_at"),
        (with_("profile_id", ...), "missing_field", "profile_id"),
        (with_("data", ...), "missing_field", "data"),
        (with_("id", 42), "wrong_type", "id"),
        (with_("id", ""), "invalid_value", "id"),
        (with_("profile_id", None), "wrong_type", "profile_id"),
        (with_("data", []), "wrong_type", "data"),
        (with_("type", "order.created"), "unknown_type", "type"),
        (with_("occurred_at", "2026-11-20"), "invalid_value", "occurred_at"),
        (with_("occurred_at", "2026-11-20T10:00:00"), "invalid_value", "occurred_at"),
        (with_("occurred_at", "yesterday"), "invalid_value", "occurred_at"),
        (with_("data.transaction", ...), "missing_field", "data.transaction"),
        (with_("data.transaction.total", "129.50"), "wrong_type", "data.transaction.total"),
        (with_("data.transaction.total", True), "wrong_type", "data.transaction.total"),
        (with_("data.transaction.id", ...), "missing_field", "data.transaction.id"),
        (with_("data.transaction.location", "Sydney"), "wrong_type", "data.transaction.location"),
        (with_("data.transaction.transacted_at", "soon"), "invalid_value", "data.transaction.transacted_at"),
        (with_("data.transaction.items", {"sku": "A1"}), "wrong_type", "data.transaction.items"),
    ],
)
def test_bad_input_is_rejected_with_a_code_and_the_field(raw: bytes, code: str, path: str):
    with pytest.raises(InvalidEvent) as caught:
        decode_event(raw)
    assert (caught.value.code, caught.value.path) == (code, path)
    assert caught.value.message
    if path:
        assert path in caught.value.message


@pytest.mark.parametrize(
    ("profile", "path"),
    [
        ({"id": "p-2"}, "data.profile.id"),
        ({"tags": "vip"}, "data.profile.tags"),
        ({"tags": [1]}, "data.profile.tags.0"),
        ({"statuses": [{"expires_at": None}]}, "data.profile.statuses.0.handle"),
        ({"statuses": [{"handle": "vip", "expires_at": "next year"}]}, "data.profile.statuses.0.expires_at"),
        ({"identities": [{"followers": 3}]}, "data.profile.identities.0.handle"),
    ],
)
def test_bad_profiles_name_the_field(profile: dict, path: str):
    raw = orjson.dumps(
        {
            "id": "e",
            "type": "profile.updated",
            "occurred_at": "2026-11-20T10:00:00Z",
            "profile_id": "p-1",
            "data": {"profile": profile},
        }
    )
    with pytest.raises(InvalidEvent) as caught:
        decode_event(raw)
    assert caught.value.path == path
