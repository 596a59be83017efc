"""The rate pacer: sends a token's requests as early as its rate-limit window allows, never into a 429 it can foresee.

Sans-IO: it is told when requests are sent and what their answers' ``X-RateLimit-*`` headers said,
and answers how long to wait; the hook does the waiting.
"""

from __future__ import annotations

import logging
import math
import threading
from collections import deque
from dataclasses import dataclass, field

import httpx

from airflow_webflow_audit.connection_fields import DEFAULT_RATE_LIMIT_WINDOW_SECONDS

log = logging.getLogger(__name__)

#: Larger rate-limit header values are not believed (Webflow's plans allow 60 to a few thousand a minute).
MAX_RATE_LIMIT_HEADER = 1_000_000
#: A budget spent with no renewal known sooner than this sends one request anyway: its 429's
#: Retry-After says when the budget renews (a fixed window's boundary is otherwise unknown).
PROBE_AFTER_SECONDS = 2.0
#: An answer showing at least this share of the limit left, and more than the rest of the limit above
#: what our own requests explain, is a fixed window's renewal (a sliding window gives back a few at a
#: time; answers overtaking each other, one per request in flight).
FIXED_RENEWAL_SHARE = 0.9
#: A request whose plan hangs on answers still to come looks again this often.
RELOOK_SECONDS = 0.25
#: With other clients on the token (more than this many of their requests per one of ours) and this
#: few requests left, ours go one at a time: theirs in flight are invisible, and racing them for a
#: budget's last requests only earns 429s.
ENDGAME_OTHERS_PER_OURS = 0.05
ENDGAME_REQUESTS = 4
#: Weight of the newest answer in the moving averages of other clients' requests and ours.
OTHERS_SMOOTHING = 0.2


@dataclass
class RatePacer:
    """Sends a token's requests as early as its rate-limit window allows; shared by all of a hook's threads.

    Inputs: an optional client-side ceiling (connection extra ``rate_limit_per_minute``), the
    ``X-RateLimit-Limit``/``-Remaining`` headers of every answer, and 429s with their ``Retry-After``.
    Webflow sends no reset header and does not say how its window renews, so the pacer assumes only
    what holds for both shapes a limiter can have, a fixed window (the whole budget renews at
    boundaries whose phase the client cannot see) and a sliding one (each request counts for
    ``window_seconds`` after it was made):

    - a request counts against the budget for at most ``window_seconds`` after its answer came back,
      so each of this hook's requests gives one request back then (exact for a sliding window);
    - the first request goes alone (nothing is known yet); then, while the budget has requests left, send:
      the ideal client spends a window's budget at once;
    - once it is spent and nothing of ours renews within :data:`PROBE_AFTER_SECONDS`, one request is
      sent anyway; its 429's ``Retry-After`` says when the budget renews, and one request goes then;
    - an answer showing the budget back by more than our own requests explain is a fixed window's
      boundary; boundaries recur every ``window_seconds``, and at each predicted one a request goes.

    Other clients of the token (the pulls of a backfill) show as ``Remaining`` falling faster than this
    hook's own requests explain. Their requests in flight are invisible, so this hook keeps its own in
    flight to its share of what is left, and sends a budget's last few one at a time. They still race
    for a window's last requests: two clients earn about 1% 429s, four 2-5% (tests/unit/test_pacing.py).
    A 429 holds every request of this hook until its ``Retry-After``.
    """

    ceiling_per_minute: float | None = None
    window_seconds: float = DEFAULT_RATE_LIMIT_WINDOW_SECONDS
    limit: int | None = None
    #: ``X-RateLimit-Remaining`` of the newest answer (by request number).
    remaining: int | None = None
    #: An upper bound on one of the fixed window's boundaries, once one has been seen; None before.
    boundary: float | None = None
    #: A probe's Retry-After matched our own requests' expiry: the window slides, probes teach nothing.
    sliding: bool = False
    waited_seconds: float = 0.0
    probes: int = 0
    _sent: int = 0
    _observed: int = 0
    _observed_at: float = -math.inf
    #: Requests reserved or in flight: number -> planned send time.
    _send_times: dict[int, float] = field(default_factory=dict)
    #: (sent at, answered at) of this hook's answered requests, newest last: the requests that renew.
    _answered: deque[tuple[float, float]] = field(default_factory=deque)
    _next_send_at: float = -math.inf
    #: When a 429's Retry-After said the budget renews.
    _retry_at: float = -math.inf
    _probe: int | None = None
    _probed_at: float = -math.inf
    #: Moving averages of requests by other clients and by us between two of our answers.
    _others: float = 0.0
    _ours: float = 1.0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def reserve(self, now: float) -> tuple[int, float]:
        """Take the next send slot: this request's number, and the seconds to wait before sending it."""
        with self._lock:
            send_at = max(now, self._next_send_at, self._retry_at)
            self._sent += 1
            number = self._sent
            self._send_times[number] = send_at
            send_at += self._wait(number, send_at)
            self._send_times[number] = send_at
            if self.ceiling_per_minute:
                self._next_send_at = send_at + 60.0 / self.ceiling_per_minute
            self.waited_seconds += send_at - now
            return number, send_at - now

    def recheck(self, number: int, now: float) -> float:
        """Seconds more to wait before sending reserved request ``number``, now that its slot has come.

        A slot can be reserved well ahead (one per page in flight); what was learned meanwhile (a 429,
        other clients' requests) may leave nothing for it yet.
        """
        with self._lock:
            if number not in self._send_times:
                return 0.0
            wait = self._wait(number, max(now, self._retry_at))
            wait += max(0.0, self._retry_at - now)
            self._send_times[number] = now + wait
            self.waited_seconds += wait
            return wait

    def observe(self, number: int, headers: httpx.Headers, now: float) -> None:
        """Learn from the answer to request ``number`` (from :meth:`reserve`)."""
        limit = _header_count("X-RateLimit-Limit", headers.get("x-ratelimit-limit"))
        remaining = _header_count("X-RateLimit-Remaining", headers.get("x-ratelimit-remaining"))
        with self._lock:
            sent_at = self._send_times.pop(number, now)
            self._answered.append((sent_at, now))
            while len(self._answered) > 1 and self._answered[0][1] + self.window_seconds < now - self.window_seconds:
                self._answered.popleft()
            if number == self._probe:
                self._probe = None
            if limit is not None and limit > 0:
                self.limit = limit
            if remaining is None:
                if self.limit is None:
                    self.remaining = None  # a server without the headers: only 429s pace
                return
            if number < self._observed:
                return  # older than what is known: a request answered out of order
            if self.remaining is not None:
                ours = number - self._observed  # ours that reached the server since the last answer
                expected = self.remaining - ours + self._renewed_since(self._observed_at, now)
                self._others += OTHERS_SMOOTHING * (max(0, expected - remaining) - self._others)
                self._ours += OTHERS_SMOOTHING * (ours - self._ours)
                renewal_sized = self.limit is not None and remaining >= self.limit * FIXED_RENEWAL_SHARE
                predicted = self._next_boundary(self._observed_at)
                if (
                    renewal_sized
                    and self.limit
                    and remaining - max(expected, 0) > self.limit * (1 - FIXED_RENEWAL_SHARE)
                ):
                    # Back by more than our requests explain: a fixed window renewed before this arrived.
                    self._learn_boundary(now)
                elif predicted is not None and sent_at >= predicted and not renewal_sized:
                    self.boundary = None  # a predicted boundary that renewed nothing: the window is not fixed
            self.remaining, self._observed, self._observed_at = remaining, number, now

    def rate_limited(self, number: int, retry_after: float, now: float) -> None:
        """A 429 to request ``number``: nothing is left until ``retry_after`` seconds from now."""
        with self._lock:
            self._send_times.pop(number, None)
            if number == self._probe:
                self._probe = None
                ours = self._next_own_expiry(now)
                self.sliding = ours is not None and abs(ours - (now + retry_after)) <= PROBE_AFTER_SECONDS
            self.remaining, self._observed = 0, max(self._observed, number)
            self._observed_at = now
            self._retry_at = max(self._retry_at, now + retry_after)
            if self.boundary is not None:
                # Refused past a predicted boundary: the window moved (one opened by a request drifts).
                self.boundary = now + retry_after

    def forget(self, number: int) -> None:
        """Request ``number`` got no answer (a dropped connection, or it was never sent)."""
        with self._lock:
            self._send_times.pop(number, None)
            if number == self._probe:
                self._probe = None

    def record_wait(self, seconds: float) -> None:
        with self._lock:
            self.waited_seconds += seconds

    def _others_per_ours(self) -> float:
        return self._others / self._ours if self._ours > 0 else 0.0

    def _learn_boundary(self, upper_bound: float) -> None:
        """A fixed window renewed at or before ``upper_bound``: keep the tightest bound on its phase."""
        if self.boundary is None:
            self.boundary = upper_bound
            return
        periods = round((upper_bound - self.boundary) / self.window_seconds)
        self.boundary = min(self.boundary + periods * self.window_seconds, upper_bound)

    def _next_boundary(self, after: float) -> float | None:
        """The first predicted boundary after ``after``."""
        if self.boundary is None:
            return None
        periods = math.floor((after - self.boundary) / self.window_seconds) + 1
        return self.boundary + periods * self.window_seconds

    def _next_own_expiry(self, after: float) -> float | None:
        window = self.window_seconds
        return min((answered + window for _, answered in self._answered if answered + window > after), default=None)

    def _renewed_since(self, since: float, until: float) -> int:
        """Our requests surely counted at ``since`` and surely no longer at ``until``.

        In a fixed window they all renew at its boundary instead, which the answers after it show.
        """
        if self.boundary is not None:
            return 0
        window = self.window_seconds
        return sum(1 for sent, answered in self._answered if sent + window > since and answered + window <= until)

    def _budget(self, before: int | None = None, at: float | None = None) -> int | None:
        """Requests left at ``at`` once our own in flight (reserved before ``before``) are counted."""
        if self.remaining is None:
            return None
        in_flight = [sent for n, sent in self._send_times.items() if self._observed < n < (before or math.inf)]
        left = self.remaining - len(in_flight)
        if at is None:
            return left
        left += self._renewed_since(self._observed_at, at)
        renewal = max(self._retry_at, self._next_boundary(self._observed_at) or -math.inf)
        if self._observed_at < renewal <= at:
            # A renewal we know of came since the last answer: one request finds out how much.
            left = max(left, 1 - sum(1 for sent in in_flight if sent >= renewal))
        return left

    def _wait(self, number: int, send_at: float) -> float:
        """Seconds from ``send_at`` until request ``number`` may go."""
        if not self._answered and self._retry_at == -math.inf and any(n < number for n in self._send_times):
            # Nothing known of the budget yet: the first request goes alone. A task that starts while other
            # workers have spent the window then meets one 429, not one for each request it has in flight.
            return RELOOK_SECONDS
        budget = self._budget(before=number, at=send_at)
        if budget is None or number == self._probe:
            return 0.0
        if budget >= 1:
            # Other clients' requests in flight are invisible: keep ours to our share of what is left,
            # (1 + others per request of ours) * ours in flight <= left, so together they do not overshoot.
            # Other clients' requests in flight are invisible. Ours in flight stay within our share of
            # what is left ((1 + others per ours) * ours <= left), and the last few go one at a time.
            ahead = sum(1 for n in self._send_times if self._observed < n < number)
            others = self._others_per_ours()
            endgame = others > ENDGAME_OTHERS_PER_OURS and budget <= ENDGAME_REQUESTS
            if ahead and (endgame or (1 + others) * (ahead + 1) > budget + ahead):
                return RELOOK_SECONDS
            return 0.0
        renews_at = self._next_renewal(send_at, needed=1 - budget)
        # Requests of ours ahead of this one, in flight or waiting: their answers may change the plan.
        pending = self._probe is not None or any(self._observed < n < number for n in self._send_times)
        if (
            not pending
            and self.boundary is None
            and not self.sliding
            and (renews_at is None or renews_at - send_at > PROBE_AFTER_SECONDS)
            and send_at - self._probed_at >= self.window_seconds
        ):
            self._probe, self._probed_at = number, send_at
            self.probes += 1
            return 0.0
        wait = self.window_seconds if renews_at is None else max(renews_at - send_at, 0.0)
        return min(wait, RELOOK_SECONDS) if pending else wait

    def _next_renewal(self, send_at: float, *, needed: int) -> float | None:
        """The first moment after ``send_at`` the budget could grow by ``needed`` requests."""
        boundary = self._next_boundary(self._observed_at)
        candidates = [moment for moment in (self._retry_at, boundary) if moment is not None and moment > send_at]
        window = self.window_seconds
        ours = sorted(
            answered + window
            for sent, answered in self._answered
            if sent + window > self._observed_at
            and answered + window > send_at
            and self.boundary is None  # in a fixed window ours renew at its boundary
        )
        if 0 < needed <= len(ours):
            candidates.append(ours[needed - 1])
        return min(candidates) if candidates else None


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
