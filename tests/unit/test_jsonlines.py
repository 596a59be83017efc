"""The hot path's JSON: orjson where it agrees with the stdlib, and always the stdlib's bytes."""

from __future__ import annotations

import json
from datetime import timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from airflow_webflow_audit import jsonlines
from airflow_webflow_audit.hooks.responses import parse_page
from airflow_webflow_audit.testing.simulator import generate_events
from tests.conftest import DAY0
from tests.landing_helpers import batch_of


def json_values(floats: st.SearchStrategy) -> st.SearchStrategy:
    scalars = (
        st.none()
        | st.booleans()
        | st.integers()
        | st.integers(min_value=2**63 - 5, max_value=2**70)
        | st.integers(max_value=-(2**63) + 5, min_value=-(2**70))
        | floats
        | st.text()
    )
    return st.recursive(
        scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=5), inner, max_size=4)
    )


def read_and_write(document: bytes) -> bytes:
    """What the hot path makes of a document: read it, write its line."""
    parsed, fast = jsonlines.loads(document)
    return jsonlines.dump_line_fast(parsed) if fast else jsonlines.dump_line(parsed)


def stdlib_line(document: bytes) -> bytes:
    """What landed before orjson came in: the stdlib's compact line of the stdlib's reading."""
    return jsonlines.dump_line(json.loads(document))


@settings(max_examples=700, deadline=None)
@given(json_values(st.nothing()), st.booleans())
def test_documents_without_floats_give_exactly_the_stdlib_line(value, indented):
    document = json.dumps(value, indent=1 if indented else None).encode("utf-8", "surrogatepass")
    assert read_and_write(document) == stdlib_line(document)


@settings(max_examples=700, deadline=None)
@given(json_values(st.floats(allow_nan=True, allow_infinity=True)), st.booleans())
def test_every_document_reads_back_to_the_same_value(value, indented):
    document = json.dumps(value, indent=1 if indented else None).encode("utf-8", "surrogatepass")
    line = read_and_write(document)
    # Compared as the stdlib writes them, so NaN equals NaN and -0.0 differs from 0.0.
    assert stdlib_line(line) == stdlib_line(document)


def test_documents_orjson_cannot_read_exactly_go_to_the_stdlib():
    for document in (b'{"a":12345678901234567890123}', b'{"a":-9223372036854775809}', b'{"a":NaN}', b'{"a":"\\ud800"}'):
        assert jsonlines.loads(document)[1] is False, document
        assert read_and_write(document) == stdlib_line(document)
    assert jsonlines.loads(b'{"ip":"54.165.18.1","n":3,"ok":true,"f":1e-05}')[1] is True


def test_real_pages_take_the_fast_path():
    events = generate_events(seed=4, start=DAY0, end=DAY0 + timedelta(hours=6), include_unknown_types=True)
    for first in range(0, len(events), 100):
        page = {"items": events[first : first + 100], "pagination": {"limit": 100, "offset": first, "total": 9}}
        for document in (json.dumps(page).encode(), json.dumps(page, indent=2).encode()):
            assert jsonlines.loads(document)[1] is True


def test_page_lines_are_each_items_line():
    items = [
        {"timestamp": "2026-10-01T00:00:00.000Z", "payload": {"note": "caf\u00e9 \u2028 \U0001f600", "n": 1}},
        {"timestamp": "2026-10-01T00:00:02.000Z", "payload": {"bad": "\ud800"}},
        {"timestamp": "2026-10-01T00:00:03.000Z", "payload": {"big": 2**80}},
    ]
    for item in items:
        body = {"items": [item], "pagination": {"limit": 100, "offset": 0, "total": 1}}
        document = json.dumps(body, indent=2).encode("utf-8", "surrogatepass")
        page = parse_page(document)
        assert page.lines == [jsonlines.dump_line(json.loads(document)["items"][0])]
        assert json.loads(page.lines[0]) == json.loads(document)["items"][0]


def test_a_batch_of_other_events_uses_the_stdlib_form():
    batch = batch_of([{"b": 1, "a": "\u00e9"}])
    assert batch.lines == [b'{"b":1,"a":"\xc3\xa9"}\n']
