"""The rate pacer: spaces a token's requests so its budget lasts until the rate-limit window renews.

Sans-IO: it is told when requests are sent and what their answers' ``X-RateLimit-*`` headers said,
and answers how long to wait; the hook does the waiting.
"""

from __future__ import annotations

import logging
import math
import threading
from dataclasses import dataclass, field

import httpx

from airflow_webflow_audit.connection_fields import DEFAULT_RATE_LIMIT_WINDOW_SECONDS

log = logging.getLogger(__name__)

#: Larger rate-limit header values are not believed (Webflow's plans allow 60 to a few thousand a minute).
MAX_RATE_LIMIT_HEADER = 1_000_000
#: Weight of the newest sample in the moving average of other clients' requests on the token.
OTHERS_SMOOTHING = 0.2
#: Other clients' rate starts as none over this share of a window (a prior against one noisy sample).
OTHERS_PRIOR_SHARE = 0.1
#: While more than this share of the window's budget is ours to spend, requests are not spaced.
BURST_SHARE_OF_LIMIT = 0.5
#: However busy other clients seem, a pull keeps at least this share of the even rate.
MIN_SHARE_OF_EVEN_RATE = 0.1


@dataclass
class RatePacer:
    """Spaces requests so a token's budget lasts until its window renews; shared by all of a hook's threads.

    Inputs: an optional client-side ceiling (connection extra ``rate_limit_per_minute``), and the
    ``X-RateLimit-Limit``/``-Remaining`` headers of every answer. The budget renews every
    ``window_seconds`` (Webflow: a minute). The pacer estimates when the current window ends -- one
    window after the answer that showed a new one: the first answer, one sent after the estimated end,
    or a ``Remaining`` that went up. While more than half the window's budget is its own to spend,
    requests go out at once (a short pull never waits); after that it spreads what is left evenly over
    the time left: ``Remaining`` minus its own requests still in flight, over the seconds to the end.

    Other clients of the token (several pulls in a backfill) show as ``Remaining`` falling faster than
    this hook's own requests explain. Their rate is estimated (a moving average, kept across windows)
    and left to them: this hook sends at the even rate minus theirs, so together the clients spend
    the budget evenly to the window's end instead of racing for its last requests. One pull alone so
    runs at the ceiling. Slots are reserved ahead (one per page in flight), so each is checked again
    when it comes (:meth:`recheck`): if what is left by then is the others', it waits for the next
    window. A 429 (the budget was spent anyway) holds every request of this hook until its
    ``Retry-After``.
    """

    ceiling_per_minute: float | None = None
    window_seconds: float = DEFAULT_RATE_LIMIT_WINDOW_SECONDS
    limit: int | None = None
    remaining: int | None = None
    window_ends_at: float | None = None
    waited_seconds: float = 0.0
    _sent: int = 0
    _observed: int = 0
    _send_times: dict[int, float] = field(default_factory=dict)
    _next_send_at: float = -math.inf
    #: Moving averages of requests by other clients between two of our answers, and of the time between.
    #: They start as "none in a tenth of a window": answers close together (pages in flight) can make
    #: one early sample look like a flood, and this prior keeps that from stalling the pull.
    _others_requests: float = 0.0
    _others_seconds: float | None = None
    _observed_at: float | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def reserve(self, now: float) -> tuple[int, float]:
        """Take the next send slot: this request's number, and the seconds to wait before sending it."""
        with self._lock:
            send_at = max(now, self._next_send_at)
            send_at += self._wait_for_next_window(self._sent + 1, send_at)
            self._next_send_at = send_at + self._spacing(send_at, self._budget())
            self._sent += 1
            self._send_times[self._sent] = send_at
            self.waited_seconds += send_at - now
            return self._sent, send_at - now

    def recheck(self, number: int, now: float) -> float:
        """Seconds more to wait before sending reserved request ``number``, now that its slot has come.

        A slot can be reserved well ahead (one per page in flight); what others spent meanwhile may
        leave nothing for it in this window.
        """
        with self._lock:
            wait = self._wait_for_next_window(number, now)
            self.waited_seconds += wait
            return wait

    def _wait_for_next_window(self, number: int, send_at: float) -> float:
        """0, or the seconds from ``send_at`` to the window's end if nothing of this window is ours."""
        if self.remaining is None or self.window_ends_at is None or send_at >= self.window_ends_at:
            return 0.0
        budget = self._budget(before=number)
        assert budget is not None
        # What is ours of what is left: the rest is what the others will spend before the end.
        time_left = self.window_ends_at - send_at
        ours = max(budget - self._others_rate() * time_left, budget * MIN_SHARE_OF_EVEN_RATE)
        return time_left if ours < 1 else 0.0

    def observe(self, number: int, headers: httpx.Headers, now: float) -> None:
        """Learn from the answer to request ``number`` (from :meth:`reserve`)."""
        limit = _header_count("X-RateLimit-Limit", headers.get("x-ratelimit-limit"))
        remaining = _header_count("X-RateLimit-Remaining", headers.get("x-ratelimit-remaining"))
        with self._lock:
            sent_at = self._send_times.pop(number, now)
            if limit is not None and limit > 0:
                self.limit = limit
            if remaining is None or number < self._observed:
                return  # no news, or older than what is known: a request answered out of order
            ours = number - self._observed  # our requests that reached the server since the last answer
            if (
                self.remaining is None
                or self.window_ends_at is None
                or sent_at >= self.window_ends_at
                # Up by more than our own requests sent in between explain (they may arrive out of order).
                or remaining > self.remaining + ours
            ):
                self.window_ends_at = now + self.window_seconds
            else:
                if self._observed_at is not None and now > self._observed_at:
                    others = max(0, self.remaining - remaining - ours)
                    seconds = (
                        self.window_seconds * OTHERS_PRIOR_SHARE
                        if self._others_seconds is None
                        else self._others_seconds
                    )
                    self._others_requests += OTHERS_SMOOTHING * (others - self._others_requests)
                    self._others_seconds = seconds + OTHERS_SMOOTHING * (now - self._observed_at - seconds)
                # Within a window the budget only falls: a higher count came from a request of ours that
                # overtook an earlier one on the way to the server.
                remaining = min(remaining, self.remaining)
            self.remaining, self._observed, self._observed_at = remaining, number, now

    def rate_limited(self, number: int, retry_after: float, now: float) -> None:
        """A 429 to request ``number``: nothing is left until ``retry_after`` seconds from now."""
        with self._lock:
            self._send_times.pop(number, None)
            self.remaining, self._observed = 0, max(self._observed, number)
            self.window_ends_at = now + retry_after
            self._next_send_at = max(self._next_send_at, self.window_ends_at)

    def forget(self, number: int) -> None:
        """Request ``number`` got no answer (a dropped connection)."""
        with self._lock:
            self._send_times.pop(number, None)

    def record_wait(self, seconds: float) -> None:
        with self._lock:
            self.waited_seconds += seconds

    def _budget(self, before: int | None = None) -> int | None:
        """Requests left in this window once our own unanswered ones (sent before ``before``) are counted."""
        if self.remaining is None:
            return None
        return self.remaining - sum(1 for sent in self._send_times if self._observed < sent < (before or math.inf))

    def _spacing(self, send_at: float, budget: int | None) -> float:
        """Seconds from this request to the next one."""
        spacing = 60.0 / self.ceiling_per_minute if self.ceiling_per_minute else 0.0
        if not self.limit or budget is None or self.window_ends_at is None:
            return spacing
        time_left = self.window_ends_at - send_at
        # Past the window's end (or with nothing left), a new window's steady rate until an answer shows it.
        ended = time_left <= 0 or budget <= 0
        if not ended and budget - self._others_rate() * time_left > self.limit * BURST_SHARE_OF_LIMIT:
            return spacing  # plenty left: a short pull need not wait at all
        even_rate = self.limit / self.window_seconds if ended else budget / time_left
        # Never below a share of the even rate: other clients may have stopped since they were last seen.
        rate = max(even_rate - self._others_rate(), even_rate * MIN_SHARE_OF_EVEN_RATE)
        return max(spacing, 1.0 / rate)

    def _others_rate(self) -> float:
        """Requests per second other clients of the token have been sending lately."""
        return self._others_requests / self._others_seconds if self._others_seconds else 0.0


def _header_count(name: str, value: str | None) -> int | None:
    """A request count from a rate-limit header; None (ignored, with a warning) unless it is a sane count.

    ``inf``, ``1e400``, negative or absurdly large values would overflow or stall the pacer (a budget
    of one request a minute); without the header the hook still honours 429s and their Retry-After.
    """
    if value is None:
        return None
    try:
        number = float(value)
    except ValueError:
        number = math.nan
    if not 0 <= number <= MAX_RATE_LIMIT_HEADER:  # NaN fails this too
        log.warning(
            "Ignoring the header %s: %r is not a request count from 0 to %d.", name, value[:40], MAX_RATE_LIMIT_HEADER
        )
        return None
    return int(number)
