"""WebflowAuditEventTrigger against the simulator over HTTP, on an injected clock, with a stand-in state store."""

from __future__ import annotations

import asyncio
import json
from datetime import datetime, timedelta, timezone

import pytest

from airflow_webflow_audit.exceptions import WebflowConfigurationError
from airflow_webflow_audit.triggers.audit_events import CURSOR_KEY, WebflowAuditEventTrigger, check_airflow_version
from tests.conftest import TOKEN, event

pytestmark = pytest.mark.integration

T0 = datetime(2026, 10, 1, 12, 0, tzinfo=timezone.utc)
SLUG = "hitchhikers-workspace"


def at(minutes: float, n: int, event_type: str = "custom_role", subtype: str = "custom_role_created") -> dict:
    stamp = (T0 + timedelta(minutes=minutes)).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
    return event(stamp, event_type, eventSubType=subtype, payload={"n": n})


class StateStore:
    """What the triggerer gives a watcher's trigger as ``asset_state_store``: async get and set of JSON."""

    def __init__(self) -> None:
        self.values: dict[str, object] = {}

    async def aget(self, key: str, default: object = None) -> object:
        return self.values.get(key, default)

    async def aset(self, key: str, value: object) -> None:
        self.values[key] = json.loads(json.dumps(value))


class Stop(Exception):
    """Raised by the stand-in sleep: the test has what it waited for."""


def trigger_on(store: StateStore, now: datetime, sleeps: list[float], *, stop_after: int = 0, **kwargs):
    """A trigger whose clock reads ``now`` and whose sleeps are recorded; the sleep after ``stop_after`` stops it."""
    kwargs.setdefault("workspace", SLUG)
    kwargs.setdefault("event_types", ["custom_role"])
    kwargs.setdefault("poll_interval", 5)
    kwargs.setdefault("start_from", T0.isoformat())
    trigger = WebflowAuditEventTrigger(**kwargs)
    trigger.asset_state_store = store
    trigger._now = lambda: now

    async def sleep(seconds: float) -> None:
        sleeps.append(seconds)
        if len(sleeps) > stop_after:
            raise Stop

    trigger._sleep = sleep
    return trigger


async def payloads(trigger: WebflowAuditEventTrigger) -> list[dict]:
    """Every event the trigger yields until its clock-stopping sleep."""
    out = []
    try:
        async for fired in trigger.run():
            out.append(fired.payload)
    except Stop:
        pass
    return out


def test_a_batch_is_delivered_once_and_a_restart_resumes_with_no_duplicate_and_no_gap(simulator):
    first = [at(1, 1), at(2, 2), at(2, 3), at(3, 4, "user_access", "login")]
    sim = simulator(events=first)
    store = StateStore()
    delivered = asyncio.run(payloads(trigger_on(store, T0 + timedelta(minutes=10), [])))
    assert [p["events"] for p in delivered] == [first[:3]]
    assert delivered[0]["count"] == 3
    assert delivered[0]["truncated"] is False
    assert (delivered[0]["first_timestamp"], delivered[0]["last_timestamp"]) == (
        first[0]["timestamp"],
        first[3 - 1]["timestamp"],
    )
    assert CURSOR_KEY in store.values

    # The triggerer restarts: a new instance, the same store. Meanwhile an event at the last batch's
    # instant, a later one, and a filtered login arrived.
    second = [at(2, 5), at(4, 6), at(4.5, 7, "user_access", "login")]
    for item in second:
        sim.insert_event(item)
    again = asyncio.run(payloads(trigger_on(store, T0 + timedelta(minutes=10), [], stop_after=1)))
    assert [p["events"] for p in again] == [second[:2]]
    assert sim.token == TOKEN
    assert TOKEN not in json.dumps(store.values) + json.dumps(again)


def test_more_than_max_events_come_in_the_next_poll_at_once(simulator):
    events = [at(minute, minute) for minute in range(1, 6)]
    simulator(events=events)
    sleeps: list[float] = []
    trigger = trigger_on(StateStore(), T0 + timedelta(minutes=10), sleeps, max_events=2)
    delivered = asyncio.run(payloads(trigger))
    assert [p["events"] for p in delivered] == [events[:2], events[2:4], events[4:]]
    assert [p["truncated"] for p in delivered] == [True, True, False]
    assert sleeps == [5.0]  # no wait between the truncated batches


def test_a_refused_token_backs_off_without_yielding_or_spinning(simulator, monkeypatch):
    sim = simulator(events=[at(1, 1)])
    wrong = {**json.loads(sim.connection_json()), "password": "not-the-token"}
    monkeypatch.setenv("AIRFLOW_CONN_WEBFLOW_WRONG_TOKEN", json.dumps(wrong))
    sleeps: list[float] = []
    trigger = trigger_on(StateStore(), T0 + timedelta(minutes=10), sleeps, stop_after=3)
    trigger.webflow_conn_id = "webflow_wrong_token"
    assert asyncio.run(payloads(trigger)) == []
    assert sleeps == [5.0, 10.0, 20.0, 40.0]  # doubling, up to an hour


def test_the_serialized_trigger_holds_no_token_and_rebuilds(simulator):
    simulator(events=[])
    classpath, kwargs = trigger_on(StateStore(), T0, []).serialize()
    assert classpath == "airflow_webflow_audit.triggers.audit_events.WebflowAuditEventTrigger"
    assert TOKEN not in json.dumps(kwargs)
    assert WebflowAuditEventTrigger(**kwargs).serialize() == (classpath, kwargs)


@pytest.mark.parametrize(
    ("version", "refused"), [("3.3.1", True), ("3.2.0", True), ("3.3.2", False), ("3.4.0.dev0", False)]
)
def test_airflow_before_3_3_2_is_refused_naming_the_version(version, refused):
    if refused:
        with pytest.raises(WebflowConfigurationError, match=f"needs Airflow 3.3.2 or later.*this is Airflow {version}"):
            check_airflow_version(version)
    else:
        check_airflow_version(version)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"poll_interval": 1}, "poll_interval=1 must be seconds from 5 to 86400"),
        ({"max_events": 20_000}, "max_events=20000 is more than 10000"),
        ({"max_events": 0}, "max_events"),
        ({"workspace": "."}, "workspace"),
        ({"event_types": ["not_a_type"]}, "not_a_type"),
        ({"start_from": "yesterday"}, "start_from"),
    ],
)
def test_bad_arguments_are_refused_when_the_trigger_is_made(kwargs, message):
    with pytest.raises(WebflowConfigurationError, match=message):
        WebflowAuditEventTrigger(**{"workspace": SLUG, **kwargs})


def test_an_oversized_answer_backs_off_and_the_next_poll_delivers(simulator):
    """A hostile body (64 MiB against a 1 MiB cap) must not stop the watcher for good."""
    sim = simulator(events=[at(1, 1)], conn_extra={"max_response_mib": 1})
    sim.queue_faults("huge")
    sleeps: list[float] = []
    delivered = asyncio.run(payloads(trigger_on(StateStore(), T0 + timedelta(minutes=10), sleeps, stop_after=1)))
    assert [p["events"] for p in delivered] == [[at(1, 1)]]
    assert sleeps == [5.0, 5.0]  # the backoff, then the wait after the delivering poll
