"""Property: however a range is cut into windows, the pulls add up to one pull of the range, nothing twice."""

from __future__ import annotations

import itertools
import random
from collections.abc import Iterator
from datetime import datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from airflow_webflow_audit.api import parse_timestamp
from airflow_webflow_audit.hooks.webflow import WebflowHook
from airflow_webflow_audit.testing.simulator import SimulatorConfig, WebflowSimulator, generate_events
from tests.conftest import DAY0, TOKEN, FakeClock

pytestmark = pytest.mark.integration

RANGE_END = DAY0 + timedelta(hours=6)


@pytest.fixture(scope="module")
def sim() -> Iterator[WebflowSimulator]:
    events = generate_events(seed=11, start=DAY0, end=RANGE_END, events_per_day=4000)
    # Exclusive 'from' and inclusive 'to': the least convenient edge rules for a naive client.
    config = SimulatorConfig(from_inclusive=False, to_inclusive=True)
    with WebflowSimulator(events, token=TOKEN, config=config) as simulator:
        yield simulator


@pytest.fixture(scope="module")
def stamps(sim: WebflowSimulator) -> list[datetime]:
    return sorted({parse_timestamp(e["timestamp"]) for e in sim.events()})


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_any_split_of_a_range_adds_up_to_the_whole(sim, stamps, monkeypatch, data):
    monkeypatch.setenv("AIRFLOW_CONN_WEBFLOW_DEFAULT", sim.connection_json())
    # Cut points: some exactly on event timestamps (where bursts and edges live), some anywhere.
    on_events = data.draw(st.lists(st.sampled_from(stamps), max_size=4))
    anywhere = data.draw(
        st.lists(
            st.integers(min_value=1, max_value=6 * 3_600_000 - 1).map(lambda ms: DAY0 + timedelta(milliseconds=ms)),
            max_size=4,
        )
    )
    cuts = sorted({DAY0, RANGE_END, *[c for c in on_events + anywhere if DAY0 < c < RANGE_END]})
    hook = WebflowHook(clock=FakeClock(), rng=random.Random(0))
    pieces = [list(hook.iter_audit_logs(None, start, end)) for start, end in itertools.pairwise(cuts)]
    whole = list(hook.iter_audit_logs(None, DAY0, RANGE_END))
    assert [item for piece in pieces for item in piece] == whole
    assert whole == sim.events(DAY0, RANGE_END)
    for (start, end), piece in zip(itertools.pairwise(cuts), pieces, strict=True):
        assert all(start <= parse_timestamp(item["timestamp"]) < end for item in piece)
