"""UUIDv7 ids made on the box: RFC 9562 layout, time-ordered, unique."""

from __future__ import annotations

import time
import uuid

from edge.ids import is_uuid, uuid7


def test_uuid7_layout_order_and_uniqueness() -> None:
    before = time.time_ns() // 1_000_000
    ids = [uuid7() for _ in range(20_000)]  # many share a millisecond
    after = time.time_ns() // 1_000_000
    parsed = [uuid.UUID(i) for i in ids]
    assert all(is_uuid(i) for i in ids[:100])
    assert {u.version for u in parsed} == {7}
    assert {u.variant for u in parsed} == {uuid.RFC_4122}
    assert ids == sorted(ids)  # the counter keeps order inside a millisecond
    assert len(set(ids)) == len(ids)
    stamps = [u.int >> 80 for u in parsed]
    assert before <= stamps[0] and stamps[-1] <= after + 1
