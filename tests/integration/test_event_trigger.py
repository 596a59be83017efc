"""WebflowAuditEventTrigger against the simulator over HTTP, on an injected clock, with a stand-in state store."""

from __future__ import annotations

import asyncio
import json
from datetime import datetime, timedelta, timezone

import pytest

from airflow_webflow_audit.exceptions import WebflowConfigurationError
from airflow_webflow_audit.triggers.audit_events import CURSOR_KEY, WebflowAuditEventTrigger, check_airflow_version
from tests.conftest import TOKEN, event, insert_on_request

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
    """A trigger whose clock starts at ``now`` and moves only by its sleeps, which are recorded; the sleep
    after ``stop_after`` stops it."""
    kwargs.setdefault("workspace", SLUG)
    kwargs.setdefault("event_types", ["custom_role"])
    kwargs.setdefault("poll_interval", 5)
    kwargs.setdefault("start_from", T0.isoformat())
    trigger = WebflowAuditEventTrigger(**kwargs)
    trigger.asset_state_store = store
    clock = [now]
    trigger._now = lambda: clock[0]

    async def sleep(seconds: float) -> None:
        sleeps.append(seconds)
        if len(sleeps) > stop_after:
            raise Stop
        clock[0] += timedelta(seconds=seconds)

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
    sleeps: list[float] = []
    # Polls at +0 (delivers), +5; the cursor is saved at +10, SAVE_AFTER_YIELD_SECONDS after the yield.
    delivered = asyncio.run(payloads(trigger_on(store, T0 + timedelta(minutes=10), sleeps, stop_after=2)))
    assert sleeps == [5.0, 5.0, 5.0]
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


def test_a_stop_before_the_batch_can_be_stored_delivers_it_again_never_skips_it(simulator):
    """Airflow stores a yielded event a state sync or two later; a stop in between must not lose it."""
    batch = [at(1, 1), at(2, 2)]
    simulator(events=batch)
    store = StateStore()
    stopped_early = asyncio.run(payloads(trigger_on(store, T0 + timedelta(minutes=10), [], stop_after=0)))
    assert [p["events"] for p in stopped_early] == [batch]
    assert CURSOR_KEY not in store.values  # stopped 5 s after the yield: too early to be sure it is stored

    again = asyncio.run(payloads(trigger_on(store, T0 + timedelta(minutes=10), [], stop_after=2)))
    assert [p["events"] for p in again] == [batch]  # at least once
    assert CURSOR_KEY in store.values
    assert asyncio.run(payloads(trigger_on(store, T0 + timedelta(minutes=11), [], stop_after=2))) == []


def test_filtered_events_move_the_saved_cursor_only_after_the_batch_before_them(simulator):
    sim = simulator(events=[at(1, 1)])
    login = at(9.99, 2, "user_access", "login")
    insert_on_request(sim, 2, login)  # read by the second poll, 5 s after the batch; filtered out
    store = StateStore()
    saved: list[dict] = []
    original_aset = store.aset

    async def recording_aset(key: str, value: object) -> None:
        saved.append(json.loads(json.dumps(value)))
        await original_aset(key, value)

    store.aset = recording_aset  # type: ignore[method-assign]
    delivered = asyncio.run(payloads(trigger_on(store, T0 + timedelta(minutes=10), [], stop_after=2)))
    assert [p["events"] for p in delivered] == [[at(1, 1)]]
    # One save, at +10 s: the login moved the cursor at +5 s, but not before the batch could be stored.
    assert [cursor["watermark"] for cursor in saved] == [(T0 + timedelta(minutes=9.99)).isoformat()]


def test_one_trigger_on_several_assets_keeps_its_cursor_in_memory_and_says_so(simulator, capsys):
    """Airflow gives a trigger shared by watchers on two assets no single store: ``aget`` raises ValueError."""

    class SeveralAssets:
        async def aget(self, key: str, default: object = None) -> object:
            raise ValueError("Task has 2 concrete inlets and outlets")

        async def aset(self, key: str, value: object) -> None:
            raise AssertionError("not asked again once refused")

    simulator(events=[at(1, 1)])
    trigger = trigger_on(SeveralAssets(), T0 + timedelta(minutes=10), [], stop_after=2)  # type: ignore[arg-type]
    assert [p["events"] for p in asyncio.run(payloads(trigger))] == [[at(1, 1)]]
    assert "Give each watcher its own arguments" in capsys.readouterr().out
    assert trigger._cursor_in_memory is not None


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
