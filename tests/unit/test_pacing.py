"""The rate-limit pacer, driven by a fixed-window server model on simulated time: no HTTP, no sleeping."""

from __future__ import annotations

import heapq
import logging
import math
from collections import deque
from dataclasses import dataclass, field

import httpx
import pytest

from airflow_webflow_audit.hooks.pacing import RatePacer


@dataclass
class FixedWindowServer:
    """``limit`` requests per token per fixed window. The windows start at ``phase`` + k * ``window``, a
    phase the client cannot see; with ``phase=None`` the first request opens a window (the simulator's
    old rule, kind to a client that assumes it)."""

    limit: int
    window: float = 60.0
    phase: float | None = None
    opened_at: float | None = None
    used: int = 0
    answered: int = 0
    refused: int = 0

    def _window_start(self, now: float) -> float:
        if self.phase is None:
            if self.opened_at is None or now - self.opened_at >= self.window:
                return now
            return self.opened_at
        return self.phase + math.floor((now - self.phase) / self.window) * self.window

    def handle(self, now: float) -> tuple[int, httpx.Headers, float | None]:
        start = self._window_start(now)
        if start != self.opened_at:
            self.opened_at, self.used = start, 0
        if self.used >= self.limit:
            self.refused += 1
            retry_after = max(1, math.ceil(self.opened_at + self.window - now))
            return 429, _headers(self.limit, 0), retry_after
        self.used += 1
        self.answered += 1
        return 200, _headers(self.limit, self.limit - self.used), None

    def next_accept(self, now: float) -> float:
        start = self._window_start(now)
        return now if start != self.opened_at or self.used < self.limit else start + self.window


@dataclass
class SlidingWindowServer:
    """``limit`` requests per token in any ``window`` seconds: each request counts for a window after it arrived."""

    limit: int
    window: float = 60.0
    arrivals: deque = field(default_factory=deque)
    answered: int = 0
    refused: int = 0

    def handle(self, now: float) -> tuple[int, httpx.Headers, float | None]:
        while self.arrivals and self.arrivals[0] <= now - self.window:
            self.arrivals.popleft()
        if len(self.arrivals) >= self.limit:
            self.refused += 1
            return 429, _headers(self.limit, 0), max(1, math.ceil(self.arrivals[0] + self.window - now))
        self.arrivals.append(now)
        self.answered += 1
        return 200, _headers(self.limit, self.limit - len(self.arrivals)), None

    def next_accept(self, now: float) -> float:
        live = [t for t in self.arrivals if t > now - self.window]
        return now if len(live) < self.limit else live[len(live) - self.limit] + self.window


def _headers(limit: int, remaining: int) -> httpx.Headers:
    return httpx.Headers({"X-RateLimit-Limit": str(limit), "X-RateLimit-Remaining": str(remaining)})


@dataclass(order=True)
class _Step:
    at: float
    client: int
    kind: str = field(compare=False, default="ready")  # ready -> send -> arrive (at the server) -> answer
    number: int = field(compare=False, default=0)
    answer: tuple[int, httpx.Headers, float | None] | None = field(compare=False, default=None)


def run_clients(
    server, pacers: list[RatePacer | None], requests_each: int, latency: float = 0.2, starts: list[float] | None = None
) -> float:
    """Each client sends ``requests_each`` successful requests one after another; returns the end time.

    Client ``i`` starts at ``starts[i]`` (all at 0 by default).

    A request reaches the server ``latency / 2`` after it is sent and its answer is back after ``latency``,
    so clients never see each other's requests in flight. A client without a pacer (None) is the ideal
    one: it knows the server's state and sends each request to arrive the moment it would be accepted.
    """
    left = [requests_each] * len(pacers)
    queue = [_Step(starts[index] if starts else 0.0, index) for index in range(len(pacers))]
    heapq.heapify(queue)
    end = 0.0
    while queue:
        step = heapq.heappop(queue)
        pacer = pacers[step.client]
        if step.kind == "ready":
            if pacer is None:
                arrive = server.next_accept(step.at + latency / 2)
                heapq.heappush(queue, _Step(max(arrive, step.at + latency / 2), step.client, "arrive"))
                continue
            number, delay = pacer.reserve(step.at)
            heapq.heappush(queue, _Step(step.at + delay, step.client, "send", number))
        elif step.kind == "send":  # the slot has come: as the hook does, ask whether to wait more
            wait = pacer.recheck(step.number, step.at)
            kind = "send" if wait > 0 else "arrive"
            heapq.heappush(queue, _Step(step.at + (wait or latency / 2), step.client, kind, step.number))
        elif step.kind == "arrive":
            answer = server.handle(step.at)
            heapq.heappush(queue, _Step(step.at + latency / 2, step.client, "answer", step.number, answer))
        else:
            assert step.answer is not None
            status, headers, retry_after = step.answer
            if status == 429:
                assert retry_after is not None
                if pacer is None:
                    heapq.heappush(queue, _Step(step.at, step.client))
                    continue
                pacer.rate_limited(step.number, retry_after, step.at)
                heapq.heappush(queue, _Step(step.at + retry_after, step.client))
                continue
            if pacer is not None:
                pacer.observe(step.number, headers, step.at)
            left[step.client] -= 1
            end = max(end, step.at)
            if left[step.client]:
                heapq.heappush(queue, _Step(step.at, step.client))
    return end


def efficiency(make_server, lanes: list[RatePacer], requests_each: int, latency: float = 0.2) -> tuple[float, float]:
    """(ideal / actual elapsed, share of requests answered 429) for ``lanes`` against a fresh server."""
    ideal = run_clients(make_server(), [None] * len(lanes), requests_each, latency)
    server = make_server()
    actual = run_clients(server, lanes, requests_each, latency)
    return ideal / actual, server.refused / (server.answered + server.refused)


SHAPES = {
    "fixed, opened by the first request": lambda limit: FixedWindowServer(limit),
    "fixed, boundary 0.4 s after the start": lambda limit: FixedWindowServer(limit, phase=0.4),
    "fixed, boundary 17.3 s after the start": lambda limit: FixedWindowServer(limit, phase=17.3),
    "fixed, boundary 42 s after the start": lambda limit: FixedWindowServer(limit, phase=42.0),
    "fixed, boundary 59.9 s after the start": lambda limit: FixedWindowServer(limit, phase=59.9),
    "sliding": lambda limit: SlidingWindowServer(limit),
}


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize(
    ("limit", "pages_in_flight", "latency"), [(120, 1, 0.2), (120, 5, 0.2), (60, 5, 0.02), (600, 5, 0.05)]
)
def test_one_pull_runs_at_the_ceiling_of_either_window_shape(shape, limit, pages_in_flight, latency):
    """A 401-page window (at 120/min), the phase of a fixed window unknown: within 3% of the ideal client."""
    pacer = RatePacer()
    requests = limit * 10 // 3 + 1
    ratio, refused = efficiency(
        lambda: SHAPES[shape](limit), [pacer] * pages_in_flight, requests // pages_in_flight, latency
    )
    assert ratio >= 0.97
    assert refused <= 0.01
    assert pacer.probes <= 1


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize(
    ("clients", "pages_in_flight", "max_refused"), [(2, 1, 0.01), (2, 5, 0.015), (4, 1, 0.03), (4, 4, 0.05)]
)
def test_pulls_sharing_a_token_run_at_its_ceiling_together(shape, clients, pages_in_flight, max_refused):
    """A backfill: several pulls on one token, each with pages in flight (one pacer per pull). They race
    for a window's last requests, so 429s grow with the number of pulls; a pool of 2 keeps them near 1%."""
    pacers = [RatePacer() for _ in range(clients)]
    lanes = [pacer for pacer in pacers for _ in range(pages_in_flight)]
    ratio, refused = efficiency(lambda: SHAPES[shape](120), lanes, 120 * 8 // len(lanes))
    assert ratio >= 0.95
    assert refused <= max_refused


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize(("clients", "pages_in_flight", "stagger"), [(2, 5, 3.3), (2, 5, 61.0), (3, 3, 17.0)])
def test_pulls_that_join_a_spent_window_catch_up_and_none_starves(shape, clients, pages_in_flight, stagger):
    """A backfill's tasks start one after another: each new one meets a budget the others spent, learns
    when it renews from its first 429, and then takes its share; every client ends near the ideal's end."""
    pacers = [RatePacer() for _ in range(clients)]
    lanes = [pacer for pacer in pacers for _ in range(pages_in_flight)]
    starts = [index * stagger for index, _ in enumerate(pacers) for _ in range(pages_in_flight)]
    requests_each = 120 * 4 // len(lanes)
    ideal = run_clients(SHAPES[shape](120), [None] * len(lanes), requests_each, 0.05, starts)
    server = SHAPES[shape](120)
    actual = run_clients(server, lanes, requests_each, 0.05, starts)
    assert actual <= ideal + 61.0  # at most one window later than the ideal: nobody waits out window after window
    assert server.refused <= 0.05 * (server.answered + server.refused)


def test_a_spent_budget_sends_one_probe_and_resumes_at_its_retry_after():
    pacer = RatePacer()
    number, _ = pacer.reserve(0.0)
    pacer.observe(number, _headers(60, 0), 0.1)
    probe, delay = pacer.reserve(1.0)
    assert delay == 0.0  # nothing of ours renews for a minute: ask the server when the budget does
    held, delay = pacer.reserve(1.0)
    assert 0 < delay <= 0.25  # waits for the probe's answer
    pacer.rate_limited(probe, 14.0, 1.1)
    assert pacer.recheck(held, 1.25) == pytest.approx(13.85)
    assert pacer.probes == 1


def test_a_fixed_windows_boundary_is_learned_and_waited_for_without_probing():
    pacer = RatePacer()
    number, _ = pacer.reserve(0.0)
    pacer.observe(number, _headers(60, 3), 0.1)
    number, _ = pacer.reserve(10.0)
    pacer.observe(number, _headers(60, 59), 10.1)  # the whole budget back: a boundary by 10.1
    assert pacer.boundary == pytest.approx(10.1)
    number, _ = pacer.reserve(20.0)
    pacer.observe(number, _headers(60, 0), 20.1)
    _, delay = pacer.reserve(21.0)
    assert delay == pytest.approx(49.1)  # to the next boundary, 10.1 + 60
    assert pacer.probes == 0


def test_a_probe_whose_retry_after_matches_our_own_requests_marks_the_window_sliding():
    pacer = RatePacer()
    numbers = [pacer.reserve(0.0)[0] for _ in range(3)]
    for left, number in zip((2, 1, 0), numbers, strict=True):
        pacer.observe(number, _headers(3, left), 0.1)
    probe, delay = pacer.reserve(0.2)
    assert delay == 0.0
    pacer.rate_limited(probe, 60.0, 0.3)  # renews when our first request expires: a sliding window
    assert pacer.sliding
    _, delay = pacer.reserve(0.4)
    assert delay == pytest.approx(59.9)


def test_a_predicted_boundary_that_renews_nothing_is_forgotten():
    pacer = RatePacer()
    number, _ = pacer.reserve(0.0)
    pacer.observe(number, _headers(60, 3), 0.1)
    number, _ = pacer.reserve(10.0)
    pacer.observe(number, _headers(60, 59), 10.1)
    number, _ = pacer.reserve(20.0)
    pacer.observe(number, _headers(60, 0), 20.1)
    number, delay = pacer.reserve(21.0)
    pacer.observe(number, _headers(60, 0), 21.0 + delay + 0.1)  # nothing came back at the boundary
    assert pacer.boundary is None


def test_without_rate_limit_headers_nothing_waits():
    pacer = RatePacer()
    for _ in range(100):
        number, delay = pacer.reserve(5.0)
        assert delay == 0
        pacer.observe(number, httpx.Headers(), 5.0)


@pytest.mark.parametrize(
    ("limit", "remaining"), [("1e400", "inf"), ("inf", "5"), ("-120", "-3"), ("120", "nan"), ("1e12", "1e12")]
)
def test_absurd_rate_limit_headers_are_ignored_with_a_warning(caplog, limit, remaining):
    pacer = RatePacer()
    with caplog.at_level(logging.WARNING):
        for _ in range(50):
            number, delay = pacer.reserve(5.0)
            assert delay == 0
            pacer.observe(number, httpx.Headers({"X-RateLimit-Limit": limit, "X-RateLimit-Remaining": remaining}), 5.0)
    assert "Ignoring the header X-RateLimit-" in caplog.text


def test_the_connections_ceiling_is_a_floor_on_spacing():
    pacer = RatePacer(ceiling_per_minute=30)
    first, delay = pacer.reserve(0.0)
    pacer.observe(first, _headers(600, 599), 0.1)
    delays = [delay] + [pacer.reserve(0.1)[1] for _ in range(3)]
    assert delays == pytest.approx([0.0, 1.9, 3.9, 5.9])


def test_the_first_request_goes_alone_until_something_is_known_of_the_budget():
    """A task starting while other workers spent the window meets one 429, not one per request in flight."""
    pacer = RatePacer()
    first, delay = pacer.reserve(0.0)
    assert delay == 0.0
    second, delay = pacer.reserve(0.0)
    assert delay > 0  # a re-look: nothing known yet
    pacer.observe(first, _headers(60, 0), 0.2)
    assert (pacer.recheck(second, 0.25), pacer.probes) == (0.0, 1)  # spent: this one is the one probe
    fresh = RatePacer()
    start, _ = fresh.reserve(0.0)
    fresh.observe(start, _headers(60, 59), 0.2)
    assert [fresh.reserve(0.2)[1] for _ in range(4)] == [0.0] * 4  # then as many at once as the budget allows


def test_a_429_holds_every_request_until_retry_after():
    pacer = RatePacer()
    first, _ = pacer.reserve(10.0)
    second, _ = pacer.reserve(10.0)
    pacer.rate_limited(first, 7.0, 10.0)
    _, delay = pacer.reserve(10.5)
    assert delay == pytest.approx(6.5)
    assert second  # still in flight: its answer is newer than the 429 and may show the new window
    pacer.observe(second, httpx.Headers({"X-RateLimit-Limit": "60", "X-RateLimit-Remaining": "59"}), 17.0)
    assert pacer.remaining == 59


def test_answers_out_of_order_do_not_look_like_a_new_window():
    pacer = RatePacer()
    numbers = [pacer.reserve(0.0)[0] for _ in range(4)]
    pacer.observe(numbers[0], _headers(60, 40), 1.0)
    # Request 3 reached the server before request 2, so it saw one more left: no renewal.
    pacer.observe(numbers[1], _headers(60, 38), 2.0)
    pacer.observe(numbers[2], _headers(60, 39), 2.5)
    assert pacer.boundary is None
    # An answer older than one already seen is ignored.
    pacer.observe(numbers[0], _headers(60, 50), 2.6)
    assert pacer.remaining == 39
    pacer.observe(numbers[3], _headers(60, 59), 3.0)
    assert pacer.boundary == 3.0  # a real renewal


def test_requests_that_never_got_an_answer_do_not_count_against_the_budget_for_good():
    pacer = RatePacer()
    first, _ = pacer.reserve(0.0)
    pacer.observe(first, httpx.Headers({"X-RateLimit-Limit": "60", "X-RateLimit-Remaining": "10"}), 0.0)
    in_flight = [pacer.reserve(0.0)[0] for _ in range(3)]
    assert pacer._budget() == 7
    for number in in_flight:  # cancelled: never sent, or never answered
        pacer.forget(number)
    assert pacer._budget() == 10


def test_pages_in_flight_that_overtake_each_other_do_not_look_like_other_clients():
    pacer = RatePacer()
    numbers = [pacer.reserve(0.0)[0] for _ in range(6)]
    # Request 5 reached the server before request 4; the answers come back a millisecond apart.
    left_when_it_arrived = {1: 119, 2: 118, 3: 117, 5: 116, 4: 115, 6: 114}
    for step, number in enumerate(numbers):
        pacer.observe(number, _headers(120, left_when_it_arrived[number]), 0.001 * step)
    assert pacer._others_per_ours() < 0.5
    assert pacer.boundary is None
    assert pacer.remaining == 114
    assert pacer.reserve(0.01)[1] == 0.0  # 114 of 120 left: no wait


def test_another_clients_requests_show_and_keep_ours_to_our_share():
    pacer = RatePacer()
    first = pacer.reserve(0.0)[0]
    pacer.observe(first, _headers(120, 20), 0.1)
    for left in (17, 14, 11, 8, 5):  # two requests by someone else between each two of ours
        number = pacer.reserve(0.2)[0]
        pacer.observe(number, _headers(120, left), 0.3)
    assert pacer._others_per_ours() > 1
    assert pacer.reserve(0.4)[1] == 0.0  # one in flight is always ours to send
    assert pacer.reserve(0.4)[1] == pytest.approx(0.25)  # the last few go one at a time


def test_a_long_wait_for_a_spent_budget_is_logged_and_a_short_one_is_not(caplog):
    """A task whose pages wait a minute for the budget to renew says so, rather than going quiet."""
    import random

    from airflow_webflow_audit.hooks.retry import RequestAttempts, RetryPolicy

    class Clock:
        now = 0.0

        def monotonic(self) -> float:
            return self.now

    clock, pacer = Clock(), RatePacer()
    log = logging.getLogger("test_pacing.attempts")

    def attempts() -> RequestAttempts:
        return RequestAttempts(
            what="page 2", token="t", policy=RetryPolicy(), pacer=pacer, clock=clock, rng=random.Random(0), log=log
        )

    caplog.set_level(logging.INFO, logger=log.name)
    first = attempts()
    assert first.pacing_delay() == 0.0
    pacer.observe(first.number, _headers(60, 30), 0.1)
    assert attempts().pacing_delay() == 0.0  # budget left: no wait, nothing said
    assert "Waiting" not in caplog.text
    pacer.rate_limited(pacer._sent, 42.0, 0.2)
    clock.now = 0.3
    assert attempts().pacing_delay() == pytest.approx(41.9)
    assert "Waiting 41.9 s before page 2: the token's rate-limit budget is spent until then." in caplog.text
