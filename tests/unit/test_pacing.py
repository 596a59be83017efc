"""The rate-limit pacer, driven by a fixed-window server model on simulated time: no HTTP, no sleeping."""

from __future__ import annotations

import heapq
import logging
import math
from dataclasses import dataclass, field

import httpx
import pytest

from airflow_webflow_audit.hooks.pacing import RatePacer


@dataclass
class FixedWindowServer:
    """The simulator's rule: ``limit`` requests per token per window, the window opened by its first request."""

    limit: int
    window: float = 60.0
    opened_at: float | None = None
    used: int = 0
    answered: int = 0
    refused: int = 0

    def handle(self, now: float) -> tuple[int, httpx.Headers, float | None]:
        if self.opened_at is None or now - self.opened_at >= self.window:
            self.opened_at, self.used = now, 0
        if self.used >= self.limit:
            self.refused += 1
            retry_after = max(1, math.ceil(self.opened_at + self.window - now))
            return 429, httpx.Headers({"X-RateLimit-Limit": str(self.limit), "X-RateLimit-Remaining": "0"}), retry_after
        self.used += 1
        self.answered += 1
        headers = {"X-RateLimit-Limit": str(self.limit), "X-RateLimit-Remaining": str(self.limit - self.used)}
        return 200, httpx.Headers(headers), None


@dataclass(order=True)
class _Step:
    at: float
    client: int
    kind: str = field(compare=False, default="ready")  # ready -> send -> arrive (at the server) -> answer
    number: int = field(compare=False, default=0)
    answer: tuple[int, httpx.Headers, float | None] | None = field(compare=False, default=None)


def run_clients(server: FixedWindowServer, pacers: list[RatePacer], requests_each: int, latency: float = 0.2) -> float:
    """Each client sends ``requests_each`` successful requests one after another; returns the end time.

    A request reaches the server ``latency / 2`` after it is sent and its answer is back after ``latency``,
    so clients never see each other's requests in flight.
    """
    left = [requests_each] * len(pacers)
    queue = [_Step(0.0, index) for index in range(len(pacers))]
    end = 0.0
    while queue:
        step = heapq.heappop(queue)
        pacer = pacers[step.client]
        if step.kind == "ready":
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
                pacer.rate_limited(step.number, retry_after, step.at)
                heapq.heappush(queue, _Step(step.at + retry_after, step.client))
                continue
            pacer.observe(step.number, headers, step.at)
            left[step.client] -= 1
            end = max(end, step.at)
            if left[step.client]:
                heapq.heappush(queue, _Step(step.at, step.client))
    return end


def ceiling_share(server: FixedWindowServer, elapsed: float) -> float:
    """Requests served per second over what the limit allows per second."""
    return server.answered / elapsed / (server.limit / server.window)


@pytest.mark.parametrize(("limit", "latency"), [(60, 0.2), (120, 0.2), (600, 0.05)])
def test_one_pull_runs_at_the_ceiling_without_429s(limit, latency):
    server = FixedWindowServer(limit)
    elapsed = run_clients(server, [RatePacer()], requests_each=limit * 5, latency=latency)
    assert server.refused == 0
    assert ceiling_share(server, elapsed) >= 0.95


def test_one_pull_sends_half_the_budget_at_once_and_spreads_the_rest():
    server = FixedWindowServer(120)
    sent: list[float] = []
    pacer = RatePacer()
    original = pacer.reserve

    def reserve(now: float) -> tuple[int, float]:
        number, delay = original(now)
        sent.append(now + delay)
        return number, delay

    pacer.reserve = reserve  # type: ignore[method-assign]
    run_clients(server, [pacer], requests_each=600, latency=0.005)
    busiest = max(sum(1 for t in sent if start <= t < start + 5.0) for start in sent)
    # A short pull (half a window's budget) does not wait at all; a long one never takes the whole
    # minute's budget at once, so other clients of the token find some left.
    assert 60 <= busiest <= 60 + 120 * 5 / 60 + 2
    assert server.refused == 0


@pytest.mark.parametrize(("clients", "pages_in_flight"), [(2, 1), (4, 1), (4, 4), (8, 4)])
def test_pulls_sharing_a_token_leave_each_other_their_share(clients, pages_in_flight):
    """A backfill: several pulls on one token, each with pages in flight (one pacer per pull)."""
    server = FixedWindowServer(120)
    pacers = [RatePacer() for _ in range(clients)]
    lanes = [pacer for pacer in pacers for _ in range(pages_in_flight)]
    elapsed = run_clients(server, lanes, requests_each=120 * 8 // len(lanes))
    assert server.refused <= 0.01 * (server.answered + server.refused)
    assert ceiling_share(server, elapsed) >= 0.93


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
    delays = [pacer.reserve(0.0)[1] for _ in range(4)]
    assert delays == [0.0, 2.0, 4.0, 6.0]


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
    limit = httpx.Headers({"X-RateLimit-Limit": "60", "X-RateLimit-Remaining": "40"})
    numbers = [pacer.reserve(0.0)[0] for _ in range(4)]
    pacer.observe(numbers[0], limit, 1.0)
    window_end = pacer.window_ends_at
    # Request 3 reached the server before request 2, so it saw one more left: no reset.
    pacer.observe(numbers[1], httpx.Headers({"X-RateLimit-Limit": "60", "X-RateLimit-Remaining": "38"}), 2.0)
    pacer.observe(numbers[2], httpx.Headers({"X-RateLimit-Limit": "60", "X-RateLimit-Remaining": "39"}), 2.5)
    assert pacer.window_ends_at == window_end
    assert pacer.remaining == 38  # within a window the budget only falls
    # An answer older than one already seen is ignored.
    pacer.observe(numbers[0], httpx.Headers({"X-RateLimit-Limit": "60", "X-RateLimit-Remaining": "50"}), 2.6)
    assert pacer.remaining == 38
    pacer.observe(numbers[3], httpx.Headers({"X-RateLimit-Limit": "60", "X-RateLimit-Remaining": "59"}), 3.0)
    assert pacer.window_ends_at == 3.0 + 60.0  # a real reset


def test_a_spent_budget_waits_for_the_window_to_end():
    pacer = RatePacer()
    number, _ = pacer.reserve(0.0)
    pacer.observe(number, httpx.Headers({"X-RateLimit-Limit": "60", "X-RateLimit-Remaining": "0"}), 0.0)
    _, delay = pacer.reserve(1.0)
    assert delay == pytest.approx(59.0)


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
        headers = httpx.Headers(
            {"X-RateLimit-Limit": "120", "X-RateLimit-Remaining": str(left_when_it_arrived[number])}
        )
        pacer.observe(number, headers, 0.001 * step)
    assert pacer._others_rate() < 0.1
    assert pacer.remaining == 114
    assert pacer.reserve(0.01)[1] == 0.0  # 114 of 120 left: a short pull does not wait


def test_one_early_sample_of_another_client_does_not_stall_a_pull():
    pacer = RatePacer()
    first, second = pacer.reserve(0.0)[0], pacer.reserve(0.0)[0]
    pacer.observe(first, httpx.Headers({"X-RateLimit-Limit": "120", "X-RateLimit-Remaining": "119"}), 0.000)
    # One request by someone else landed in between, a millisecond apart: not a flood.
    pacer.observe(second, httpx.Headers({"X-RateLimit-Limit": "120", "X-RateLimit-Remaining": "117"}), 0.001)
    assert pacer._others_rate() < 0.1
    assert pacer.reserve(0.002)[1] == 0.0  # 117 of 120 left: a short pull does not wait
