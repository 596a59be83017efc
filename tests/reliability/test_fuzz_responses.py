"""Fuzzing the response handling: any JSON shape either parses or fails with a clear error.

Pages and items come from hypothesis: missing fields, wrong types, huge strings, unicode, lying
totals. A pull over them must end -- with events, or with one of the provider's errors -- within a
bounded number of requests, and never with a stray TypeError/KeyError or a hang.
"""

from __future__ import annotations

import json
import random
from datetime import timedelta

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from airflow_webflow_audit.exceptions import WebflowError
from airflow_webflow_audit.hooks.responses import MalformedPageError, parse_page
from airflow_webflow_audit.hooks.webflow import WebflowHook
from tests.conftest import DAY0, FakeClock, set_connection

WINDOW = (DAY0, DAY0 + timedelta(hours=1))
# Retries (5) x pages: far above what any correct pull of these pages needs, far below a hang.
MAX_REQUESTS = 400

json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=30),
    st.text(min_size=2000, max_size=6000, alphabet="ab\u00e9\U0001f600"),
)
json_values = st.recursive(
    json_scalars,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=12,
)
timestamps = st.one_of(
    st.datetimes(
        min_value=DAY0.replace(tzinfo=None) - timedelta(minutes=5),
        max_value=DAY0.replace(tzinfo=None) + timedelta(hours=1, minutes=5),
    ).map(lambda d: d.strftime("%Y-%m-%dT%H:%M:%S.") + f"{d.microsecond // 1000:03d}Z"),
    st.sampled_from(["", "yesterday", "2026-10-01", "2026-10-01T00:00:00+99:00", "0000-00-00T00:00:00Z"]),
    json_values,
)
items = st.fixed_dictionaries(
    {},
    optional={
        "timestamp": timestamps,
        "eventType": st.one_of(st.sampled_from(["user_access", "brand_new_type"]), json_values),
        "eventSubType": json_values,
        "actor": json_values,
        "workspace": json_values,
        "payload": json_values,
    },
)
paginations = st.fixed_dictionaries(
    {},
    optional={
        "total": st.one_of(st.integers(min_value=-5, max_value=500), json_values),
        "offset": st.one_of(st.integers(min_value=-5, max_value=500), json_values),
        "limit": st.one_of(st.integers(min_value=-5, max_value=500), json_values),
    },
)
pages = st.one_of(
    st.fixed_dictionaries(
        {}, optional={"items": st.one_of(st.lists(items, max_size=6), json_values), "pagination": paginations}
    ),
    json_values,
)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(body=pages)
def test_parse_page_accepts_or_names_the_problem(body):
    page, error = None, None
    try:
        page = parse_page(json.dumps(body).encode())
    except MalformedPageError as exc:  # the hook retries these, then raises WebflowRetriesExhaustedError
        error = exc
    if error is not None:
        assert str(error)
    else:
        assert page is not None
        assert len(page.items) == len(page.timestamps)
        assert page.total >= 0


@pytest.fixture(scope="module")
def connection():
    with pytest.MonkeyPatch.context() as monkeypatch:
        set_connection(monkeypatch, extra={"workspace": "hitchhikers-workspace"})
        yield


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(bodies=st.lists(pages, min_size=1, max_size=5), raw_tail=st.binary(max_size=40))
def test_a_pull_over_arbitrary_pages_ends_with_events_or_a_webflow_error(connection, bodies, raw_tail):
    sent = {"n": 0}

    def answer(request: httpx.Request) -> httpx.Response:
        sent["n"] += 1
        assert sent["n"] <= MAX_REQUESTS, "the pull did not end"
        index = sent["n"] - 1
        if index < len(bodies):
            return httpx.Response(200, content=json.dumps(bodies[index]).encode())
        if index == len(bodies):
            return httpx.Response(200, content=raw_tail)  # then bytes that are rarely JSON at all
        return httpx.Response(200, json={"items": [], "pagination": {"total": 0}})

    hook = WebflowHook(clock=FakeClock(), rng=random.Random(0), transport=httpx.MockTransport(answer))
    events, error = [], None
    try:
        events = list(hook.iter_audit_logs(None, *WINDOW))
    except WebflowError as exc:
        error = exc
    if error is not None:
        assert str(error)
    assert all(isinstance(event, dict) for event in events)
    assert sent["n"] <= MAX_REQUESTS
