"""Window rules and snapshot consistency: exactly once, in order, whatever the API does at the edges."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import Any

import httpx
import pytest

from airflow_webflow_audit.api import format_api_time, parse_timestamp
from airflow_webflow_audit.exceptions import WebflowPagingError, WebflowWindowChangedError
from tests.conftest import event, page_response

START = datetime(2026, 10, 1, tzinfo=timezone.utc)
END = START + timedelta(hours=1)


def at(seconds: float, **extra: Any) -> dict[str, Any]:
    return event(format_api_time(START + timedelta(seconds=seconds)), **extra)


class FakeLog:
    """An in-memory audit log answering like the API (inclusive ``from`` and ``to``, ascending)."""

    def __init__(self, events: list[dict[str, Any]], page_cap: int = 100) -> None:
        self.events = sorted(events, key=lambda e: parse_timestamp(e["timestamp"]))
        self.page_cap = page_cap
        self.requests = 0
        self.before_answer: Callable[[int, int], None] | None = None  # (request number, offset)
        # Pages in flight call this from several threads, and list.sort() empties the list while it
        # sorts: without the lock a concurrent answer would see events vanish that a real log keeps.
        self._lock = threading.RLock()

    def insert(self, item: dict[str, Any]) -> None:
        with self._lock:
            self.events.append(item)
            self.events.sort(key=lambda e: parse_timestamp(e["timestamp"]))

    def __call__(self, request: httpx.Request) -> httpx.Response:
        with self._lock:
            self.requests += 1
            params = request.url.params
            offset, limit = int(params["offset"]), min(int(params["limit"]), self.page_cap)
            if self.before_answer:
                self.before_answer(self.requests, offset)
            low, high = parse_timestamp(params["from"]), parse_timestamp(params["to"])
            chosen = [e for e in self.events if low <= parse_timestamp(e["timestamp"]) <= high]
            return page_response(chosen[offset : offset + limit], total=len(chosen), offset=offset)


def spread(count: int, seconds: float = 3000.0) -> list[dict[str, Any]]:
    return [at(60 + i * seconds / count, payload={"n": i}) for i in range(count)]


def test_edges_belong_to_exactly_one_window(mock_hook):
    inside = [at(0), at(0.001), at(1799.999), at(3599.999)]
    outside = [at(-0.001), at(-0.5), at(3600), at(3600.001), at(3600.5)]
    hook, _ = mock_hook(FakeLog(inside + outside))
    assert list(hook.iter_audit_logs(None, START, END)) == inside
    later = list(hook.iter_audit_logs(None, END, END + timedelta(hours=1)))
    assert later == [at(3600), at(3600.001), at(3600.5)]


def test_events_come_out_exactly_as_sent(mock_hook):
    odd = at(10, actor={"id": "t1", "type": "token"}, extra_field={"nested": [1, "ü"]})
    odd["timestamp"] = "2026-10-01T00:00:10.000000Z"
    hook, _ = mock_hook(FakeLog([odd]))
    (got,) = hook.iter_audit_logs(None, START, END)
    assert got == odd
    assert got["timestamp"] == "2026-10-01T00:00:10.000000Z"
    assert list(got) == list(odd)


def test_many_pages_come_out_once_and_in_order(mock_hook):
    events = spread(1050)
    log = FakeLog(events)
    hook, _ = mock_hook(log)
    stream = hook.iter_audit_logs(None, START, END)
    assert list(stream) == events
    assert log.requests == 11
    assert stream.progress.pages == 11


def test_a_server_that_caps_the_page_size_lower_still_yields_everything(mock_hook):
    events = spread(260)
    log = FakeLog(events, page_cap=40)
    hook, _ = mock_hook(log)
    assert list(hook.iter_audit_logs(None, START, END)) == events
    assert log.requests == 7


def test_a_burst_sharing_one_millisecond_across_page_edges(mock_hook):
    burst = [at(600, payload={"n": i}) for i in range(250)]
    events = [at(1), *burst, at(700)]
    hook, _ = mock_hook(FakeLog(events))
    assert list(hook.iter_audit_logs(None, START, END)) == events


def test_sequential_streaming_asks_for_one_page_at_a_time(mock_hook):
    log = FakeLog(spread(500))
    hook, _ = mock_hook(log, extra={"workspace": "hitchhikers-workspace", "max_concurrency": 1})
    events = hook.iter_audit_logs(None, START, END)
    next(events)
    assert log.requests == 1
    for _ in range(100):
        next(events)
    assert log.requests == 2


@pytest.mark.parametrize("concurrency", [2, 4, 8])
def test_concurrent_streaming_fetches_max_concurrency_pages_at_once(mock_hook, concurrency):
    events = spread(2000)
    log = FakeLog(events)
    # The pages after the first are asked for together: each waits here until all of them are in flight.
    together = threading.Barrier(concurrency, timeout=10)
    first_batch = {str(100 * n) for n in range(1, concurrency + 1)}

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.params["offset"] in first_batch:
            together.wait()
        return log(request)

    hook, _ = mock_hook(handler, extra={"workspace": "hitchhikers-workspace", "max_concurrency": concurrency})
    pulled = hook.iter_audit_logs(None, START, END)
    next(pulled)
    assert log.requests == 1  # the total is not known before the first page
    assert [next(pulled) for _ in range(1999)] == events[1:]
    assert log.requests == 20  # every page once, none fetched ahead past the end


def test_a_late_event_after_the_streamed_part_is_included_once(mock_hook, caplog):
    events = spread(300)
    log = FakeLog(events)
    late = at(3500, payload={"late": True})
    log.before_answer = lambda number, offset: log.insert(late) if number == 3 else None
    hook, _ = mock_hook(log)
    with caplog.at_level(logging.WARNING):
        stream = hook.iter_audit_logs(None, START, END)
        got = list(stream)
    assert got == sorted([*events, late], key=lambda e: e["timestamp"])
    assert stream.progress.restarts == 1
    assert "pagination.total changed from 300 to 301" in caplog.text


def test_a_late_event_inside_the_streamed_part_stops_the_pull(mock_hook):
    original = spread(300)
    log = FakeLog(list(original))
    log.before_answer = lambda number, offset: log.insert(at(61, payload={"late": True})) if number == 3 else None
    hook, _ = mock_hook(log)
    got = []
    with pytest.raises(WebflowWindowChangedError, match="already handed out"):  # noqa: PT012 -- counts what streamed
        for item in hook.iter_audit_logs(None, START, END):
            got.append(item)
    assert got == original[:200]  # what was handed out before the change: once each, in order


def test_events_vanishing_from_the_streamed_part_stop_the_pull(mock_hook):
    log = FakeLog(spread(300))

    def expire(number: int, offset: int) -> None:
        if number == 3:
            del log.events[:150]

    log.before_answer = expire
    hook, _ = mock_hook(log)
    with pytest.raises(WebflowWindowChangedError):
        list(hook.iter_audit_logs(None, START, END))


def test_a_total_that_never_settles_gives_up_after_bounded_attempts(mock_hook):
    log = FakeLog(spread(300))
    counter = iter(range(10_000))
    log.before_answer = lambda number, offset: log.insert(at(3590, payload={"n": next(counter)})) if offset else None
    hook, _ = mock_hook(log)  # pages in flight, the default
    with pytest.raises(WebflowPagingError, match="consistent snapshot"):
        list(hook.iter_audit_logs(None, START, END))
    assert log.requests < 30


def test_a_page_that_repeats_the_previous_one_is_asked_again_then_refused(mock_hook):
    events = spread(300)

    def ignores_offset(request: httpx.Request) -> httpx.Response:
        return page_response(events[:100], total=300)

    hook, seen = mock_hook(ignores_offset, extra={"workspace": "hitchhikers-workspace", "max_concurrency": 1})
    with pytest.raises(WebflowPagingError, match="seems to ignore 'offset'"):
        list(hook.iter_audit_logs(None, START, END))
    assert len(seen) == 3


def test_a_repeated_page_that_recovers_loses_nothing(mock_hook):
    events = spread(300)
    log = FakeLog(events)
    glitch = {"done": False}

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.params["offset"] == "100" and not glitch["done"]:
            glitch["done"] = True
            return page_response(events[:100], total=300)
        return log(request)

    hook, _ = mock_hook(handler)
    assert list(hook.iter_audit_logs(None, START, END)) == events


def test_pages_out_of_order_across_offsets_are_refused(mock_hook):
    events = spread(200)

    def descending(request: httpx.Request) -> httpx.Response:
        offset = int(request.url.params["offset"])
        newest_first = events[::-1]
        return page_response(newest_first[offset : offset + 100], total=200, offset=offset)

    hook, _ = mock_hook(descending)
    with pytest.raises(WebflowPagingError, match="sortOrder=asc"):
        list(hook.iter_audit_logs(None, START, END))


def test_a_misordered_page_holding_an_event_past_the_end_is_refused_not_trusted(mock_hook):
    """Ordered locally, page 1 would end the window at its padding event and drop 151 of 250 events."""
    events = spread(250)
    past_end = at(3600.5)
    first = [*events[:49], past_end, *events[49:99]]  # the padding event in the middle of page 1
    pages = {0: first, 100: events[99:199], 200: events[199:]}

    def hostile(request: httpx.Request) -> httpx.Response:
        offset = int(request.url.params["offset"])
        return page_response(pages.get(offset, []), total=251, offset=offset)

    hook, seen = mock_hook(hostile, extra={"workspace": "hitchhikers-workspace", "max_concurrency": 1})
    with pytest.raises(WebflowPagingError, match="page at offset 0 is not in timestamp order"):
        list(hook.iter_audit_logs(None, START, END))
    assert len(seen) == 2  # asked once more, in case it was a glitch


def test_a_page_out_of_order_once_is_asked_again(mock_hook):
    events = spread(50)
    answers = iter([events[::-1]])
    hook, seen = mock_hook(lambda request: page_response(next(answers, events), total=50))
    assert list(hook.iter_audit_logs(None, START, END)) == events
    assert len(seen) == 2


@pytest.mark.parametrize("reported_total", [150, 0, 249])
def test_a_total_that_undercounts_does_not_end_the_pull(mock_hook, caplog, reported_total):
    events = spread(250)

    def undercounting(request: httpx.Request) -> httpx.Response:
        offset = int(request.url.params["offset"])
        return page_response(events[offset : offset + 100], total=reported_total, offset=offset)

    hook, _ = mock_hook(undercounting, extra={"workspace": "hitchhikers-workspace", "max_concurrency": 3})
    with caplog.at_level(logging.WARNING):
        stream = hook.iter_audit_logs(None, START, END)
        assert list(stream) == events
    assert (stream.progress.api_total, stream.progress.served) == (reported_total, 250)
    assert f"pagination.total said {reported_total} events" in caplog.text


def test_a_full_last_page_at_the_total_asks_once_more(mock_hook):
    events = spread(200)
    hook, seen = mock_hook(FakeLog(events), extra={"workspace": "hitchhikers-workspace", "max_concurrency": 1})
    assert list(hook.iter_audit_logs(None, START, END)) == events
    assert [request.url.params["offset"] for request in seen] == ["0", "100", "200"]


def test_a_total_that_overcounts_ends_with_a_warning(mock_hook, caplog):
    events = spread(150)

    def lying(request: httpx.Request) -> httpx.Response:
        offset = int(request.url.params["offset"])
        return page_response(events[offset : offset + 100], total=400, offset=offset)

    hook, seen = mock_hook(lying, extra={"workspace": "hitchhikers-workspace", "max_concurrency": 1})
    with caplog.at_level(logging.WARNING):
        assert list(hook.iter_audit_logs(None, START, END)) == events
    assert len(seen) == 4  # 2 pages, then the empty page asked twice
    assert "pagination.total says 400 events, but the API serves none past offset 150" in caplog.text


def test_unknown_event_types_pass_through_with_one_warning(mock_hook, caplog, capsys):
    events = [at(10 + i, event_type="site_publishing") for i in range(5)] + [at(20, event_type="user_access")]
    hook, _ = mock_hook(FakeLog(events))
    with caplog.at_level(logging.WARNING):
        assert list(hook.iter_audit_logs(None, START, END)) == events
    # The hook logs through Airflow's task logger (structlog, printed), the core through stdlib logging.
    logged = caplog.text + capsys.readouterr().out
    assert logged.count("'site_publishing' is not one this provider knows") == 1


def test_token_actors_without_email_pass_through(mock_hook):
    item = at(5, actor={"id": "tok-1", "type": "token"})
    hook, _ = mock_hook(FakeLog([item]))
    assert list(hook.iter_audit_logs(None, START, END)) == [item]


def test_events_of_the_workspace_asked_for_by_slug_or_id_are_recorded(mock_hook):
    hook, _ = mock_hook(FakeLog(spread(5)), extra={"workspace": "hitchhikers-workspace", "max_concurrency": 1})
    batches = hook.iter_audit_log_batches(None, START, END)
    assert sum(len(batch.lines) for batch in batches) == 5
    assert batches.progress.workspace == {"id": "w1", "slug": "hitchhikers-workspace"}
    by_id = hook.iter_audit_log_batches("w1", START, END)
    assert sum(len(batch.lines) for batch in by_id) == 5


@pytest.mark.parametrize(
    ("stranger", "message"),
    [
        ({"id": "w2", "slug": "another-workspace"}, "two workspaces"),
        ("hitchhikers-workspace", "not an object"),
    ],
)
def test_a_window_whose_events_name_two_workspaces_stops_the_pull(mock_hook, stranger, message):
    events = spread(5)
    events[3] = {**events[3], "workspace": stranger}
    hook, _ = mock_hook(FakeLog(events), extra={"workspace": "hitchhikers-workspace", "max_concurrency": 1})
    with pytest.raises(WebflowPagingError, match=message):
        list(hook.iter_audit_logs(None, START, END))


def test_an_answer_for_another_workspace_stops_the_pull_naming_both(mock_hook):
    hook, _ = mock_hook(FakeLog(spread(3)), extra={"workspace": "hitchhikers-workspace", "max_concurrency": 1})
    with pytest.raises(WebflowPagingError, match=r"answered for workspace 'renamed-workspace' with events of .*'w1'"):
        list(hook.iter_audit_logs("renamed-workspace", START, END))
