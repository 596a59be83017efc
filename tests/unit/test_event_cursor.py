"""The event trigger's cursor: each matching event handed out once, across polls, late arrivals and restarts."""

from __future__ import annotations

import random
from datetime import timedelta

import pytest

from airflow_webflow_audit.api import parse_timestamp
from airflow_webflow_audit.triggers.cursor import EventCursor, advance
from tests.conftest import event

START = EventCursor.starting_at(parse_timestamp("2026-10-01T00:00:00.000Z"))
LOOKBACK = timedelta(minutes=5)


def role(stamp: str, n: int) -> dict:
    return event(stamp, "custom_role", payload={"n": n})


def login(stamp: str, n: int) -> dict:
    return event(stamp, "user_access", payload={"n": n})


def roles_only(item: dict) -> bool:
    return item["eventType"] == "custom_role"


def step(cursor: EventCursor, log: list[dict], max_events: int = 10):
    """One poll: what the API serves from the cursor's start, ascending."""
    start = cursor.poll_from(LOOKBACK)
    served = sorted((item for item in log if parse_timestamp(item["timestamp"]) >= start), key=lambda i: i["timestamp"])
    return advance(cursor, served, matches=roles_only, max_events=max_events, lookback=LOOKBACK)


def test_a_poll_hands_out_the_matching_events_and_reads_on_past_the_others():
    log = [
        login("2026-10-01T00:00:01.000Z", 1),
        role("2026-10-01T00:00:02.000Z", 2),
        login("2026-10-01T00:00:03.000Z", 3),
    ]
    first = step(START, log)
    assert first.events == [log[1]]
    assert not first.truncated
    assert first.cursor.watermark == parse_timestamp("2026-10-01T00:00:03.000Z")
    assert len(first.cursor.handed_out) == 1  # logins are never stored
    assert step(first.cursor, log).events == []


def test_events_sharing_an_instant_are_handed_out_once_in_any_order():
    same = "2026-10-01T00:00:05.000Z"
    first = step(START, [role(same, 1), role(same, 2)])
    # The API lists them in another order next time, with a third at the same instant.
    again = advance(
        first.cursor,
        [role(same, 3), role(same, 2), role(same, 1)],
        matches=roles_only,
        max_events=10,
        lookback=LOOKBACK,
    )
    assert again.events == [role(same, 3)]


def test_identical_events_at_one_instant_count_as_two():
    twin = role("2026-10-01T00:00:05.000Z", 1)
    first = step(START, [twin])
    assert step(first.cursor, [twin, twin]).events == [twin]


def test_a_late_event_behind_the_watermark_is_handed_out_once_within_the_lookback():
    log = [role("2026-10-01T00:01:00.000Z", 1), login("2026-10-01T00:03:00.000Z", 2)]
    first = step(START, log)
    late = role("2026-10-01T00:01:00.000Z", 3)  # reached the log after the 00:03 login was read
    log.append(late)
    second = step(first.cursor, log)
    assert second.events == [late]
    assert step(second.cursor, log).events == []


def test_nothing_before_watching_began_is_handed_out():
    earlier = role("2025-12-31T23:59:00.000Z", 1)
    assert advance(START, [earlier], matches=roles_only, max_events=10, lookback=LOOKBACK).events == []


def test_max_events_truncates_and_the_rest_come_next_poll_without_a_gap():
    log = [role(f"2026-10-01T00:00:{n:02d}.000Z", n) for n in range(1, 8)]
    first = step(START, log, max_events=3)
    second = step(first.cursor, log, max_events=3)
    third = step(second.cursor, log, max_events=3)
    assert (first.truncated, second.truncated, third.truncated) == (True, True, False)
    assert first.events + second.events + third.events == log


def test_a_stored_cursor_reads_back_and_a_broken_one_is_refused():
    cursor = step(START, [role("2026-10-01T00:00:05.000Z", 1)]).cursor
    assert EventCursor.from_json(cursor.to_json()) == cursor
    broken = (
        None,
        "x",
        {"watermark": 5},
        {"since": "2026-10-01T00:00:00Z", "watermark": "2026-10-01T00:00:00Z", "handed_out": [[1, 2]]},
    )
    for value in broken:
        with pytest.raises(ValueError, match="not a stored cursor"):
            EventCursor.from_json(value)


def test_polls_of_a_growing_log_with_late_arrivals_hand_out_every_matching_event_exactly_once():
    rng = random.Random(7)
    log: list[dict] = []
    cursor, handed = START, []
    for poll in range(60):
        for _ in range(rng.randint(0, 6)):
            # Mostly at the newest second or the next; some up to two minutes late, some exact repeats.
            base = poll * 10
            second = max(0, base + rng.choice([0, 0, 1, 1, 2, -30, -120]))
            stamp = f"2026-10-01T{second // 3600:02d}:{second // 60 % 60:02d}:{second % 60:02d}.000Z"
            make = role if rng.random() < 0.5 else login
            log.append(make(stamp, rng.randint(0, 3)))
        rng.shuffle(log)  # the order within one instant is the API's to choose
        result = step(cursor, log, max_events=rng.randint(1, 4))
        handed += result.events
        cursor = result.cursor
    while (result := step(cursor, log, max_events=4)).events:
        handed += result.events
        cursor = result.cursor
    expected = sorted(repr(item) for item in log if roles_only(item))
    assert sorted(repr(item) for item in handed) == expected
