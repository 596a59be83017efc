"""Sans-IO pieces of the transport: reading answers, retry decisions, rate-limit pacing, the clock.

The sync and async hook methods share all of this and differ only in how they send and sleep.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import random
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

import httpx

from airflow_webflow_audit import jsonlines
from airflow_webflow_audit.api import parse_timestamp
from airflow_webflow_audit.exceptions import (
    WebflowAuthError,
    WebflowNotFoundError,
    WebflowRequestRejectedError,
    WebflowRetriesExhaustedError,
)

log = logging.getLogger(__name__)

DEFAULT_BACKOFF_BASE_SECONDS = 1.0
DEFAULT_BACKOFF_CAP_SECONDS = 30.0
#: 429s are the API asking us to wait, not failing: they get their own, larger budget.
DEFAULT_MAX_RATE_LIMIT_WAITS = 20
#: Retry-After is "typically up to 60" seconds; anything beyond this is treated as this.
MAX_RETRY_AFTER_SECONDS = 300.0
#: With no Retry-After on a 429, wait this long (one rate-limit minute).
DEFAULT_RETRY_AFTER_SECONDS = 60.0
#: Weight of the newest sample in the moving average of other clients' requests on the token.
OTHERS_SMOOTHING = 0.2
#: Other clients' rate starts as none over this share of a window (a prior against one noisy sample).
OTHERS_PRIOR_SHARE = 0.1
#: While more than this share of the window's budget is ours to spend, requests are not spaced.
BURST_SHARE_OF_LIMIT = 0.5
#: However busy other clients seem, a pull keeps at least this share of the even rate.
MIN_SHARE_OF_EVEN_RATE = 0.1
RETRYABLE_STATUS = frozenset({408, 425, 500, 502, 503, 504})
MAX_ERROR_TEXT = 300


class Clock(Protocol):
    """Time as the hook sees it; tests pass a fake one so nothing really sleeps."""

    def monotonic(self) -> float: ...

    def sleep(self, seconds: float, cancel: threading.Event | None = None) -> None:
        """Wait ``seconds``, or until ``cancel`` is set."""

    async def asleep(self, seconds: float) -> None: ...


class SystemClock:
    def monotonic(self) -> float:
        return time.monotonic()

    def sleep(self, seconds: float, cancel: threading.Event | None = None) -> None:
        if cancel is None:
            time.sleep(seconds)
        else:
            cancel.wait(seconds)

    async def asleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


@dataclass(frozen=True)
class RetryPolicy:
    """How transient failures are retried: capped exponential backoff with jitter.

    Attempt ``n`` (1-based) waits between half and all of ``min(cap, base * 2**(n-1))`` seconds;
    the defaults wait about 0.5-1, 1-2, 2-4, 4-8, 8-16 s over 5 retries.
    """

    max_retries: int = 5
    backoff_base: float = DEFAULT_BACKOFF_BASE_SECONDS
    backoff_cap: float = DEFAULT_BACKOFF_CAP_SECONDS
    max_rate_limit_waits: int = DEFAULT_MAX_RATE_LIMIT_WAITS
    max_retry_after: float = MAX_RETRY_AFTER_SECONDS

    def backoff(self, retry_number: int, rng: random.Random) -> float:
        ceiling = min(self.backoff_cap, self.backoff_base * 2 ** (retry_number - 1))
        return ceiling / 2 + rng.random() * ceiling / 2


@dataclass(frozen=True)
class Page:
    """One 200 answer, checked: the items as sent, their JSON lines and timestamps, the pagination."""

    items: list[dict[str, Any]]
    lines: list[bytes]
    timestamps: list[datetime]
    total: int
    limit: int | None
    offset: int | None


@dataclass(frozen=True)
class Transient:
    """A failure worth retrying; ``retry_after`` is set for 429s."""

    reason: str
    rate_limited: bool = False
    retry_after: float | None = None


class MalformedPageError(ValueError):
    """A 200 whose body is not the documented page shape."""


def redact(text: str, secret: str) -> str:
    return text.replace(secret, "***") if secret else text


def parse_page(content: bytes) -> Page:
    """Check a page body against the documented shape; raise :class:`MalformedPageError` if it is not."""
    try:
        body, fast = jsonlines.loads(content)
    except ValueError as exc:
        raise MalformedPageError(f"invalid JSON ({exc}); {len(content)} bytes received") from None
    except RecursionError:
        raise MalformedPageError(f"JSON nested too deeply; {len(content)} bytes received") from None
    if not isinstance(body, dict):
        raise MalformedPageError(f"expected a JSON object, got {type(body).__name__}")
    items = body.get("items")
    pagination = body.get("pagination")
    if not isinstance(items, list):
        raise MalformedPageError("'items' is missing or not a list")
    if not isinstance(pagination, dict):
        raise MalformedPageError("'pagination' is missing or not an object")
    total = pagination.get("total")
    if isinstance(total, bool) or not isinstance(total, int) or total < 0:
        raise MalformedPageError(f"'pagination.total' is not a whole number >= 0: {total!r}")
    timestamps: list[datetime] = []
    for index, item in enumerate(items):
        if not isinstance(item, dict):
            raise MalformedPageError(f"item {index} is not an object")
        stamp = item.get("timestamp")
        if not isinstance(stamp, str):
            raise MalformedPageError(f"item {index} has no 'timestamp' string")
        try:
            timestamps.append(parse_timestamp(stamp))
        except ValueError:
            raise MalformedPageError(f"item {index} has an unreadable timestamp {stamp[:40]!r}") from None
    limit, offset = pagination.get("limit"), pagination.get("offset")
    dump = jsonlines.dump_line_fast if fast else jsonlines.dump_line
    return Page(
        items=items,
        lines=[dump(item) for item in items],
        timestamps=timestamps,
        total=total,
        limit=limit if isinstance(limit, int) else None,
        offset=offset if isinstance(offset, int) else None,
    )


def parse_retry_after(value: str | None, policy: RetryPolicy) -> float | None:
    """Seconds from a ``Retry-After`` header (delta-seconds form), capped; None if absent or unreadable."""
    if value is None:
        return None
    try:
        seconds = float(value.strip())
    except ValueError:
        return None
    if math.isnan(seconds) or seconds < 0:
        return None
    return min(seconds, policy.max_retry_after)


def _error_body(response: httpx.Response) -> tuple[str | None, str | None]:
    """Webflow's ``code`` and ``message`` from an error body, if the body is the documented JSON."""
    try:
        body = json.loads(response.content)
    except ValueError:
        return None, None
    if not isinstance(body, dict):
        return None, None
    code, message = body.get("code"), body.get("message")
    return (code if isinstance(code, str) else None, message if isinstance(message, str) else None)


HINTS = {
    400: "The request was rejected as malformed; check the filters (eventType, from, to) for typos.",
    401: "Check the API token in the Webflow connection's password field: it is invalid, expired or revoked.",
    403: (
        "The token needs the workspace_activity:read scope and the workspace must be on an Enterprise plan; "
        "create a workspace API token from the workspace dashboard's integrations page."
    ),
    404: "Check the workspace id or slug: this token cannot see a workspace by that name.",
}


def classify_response(response: httpx.Response, *, token: str, policy: RetryPolicy) -> Page | Transient:
    """Turn one answer into a page, a retryable failure, or raise a non-retryable error."""
    status = response.status_code
    if status == 200:
        try:
            return parse_page(response.content)
        except MalformedPageError as exc:
            return Transient(f"200 with a bad body: {redact(str(exc), token)}")
    code, message = _error_body(response)
    detail = f"HTTP {status}" + (f" {code}" if code else "")
    if message:
        detail += f": {redact(message, token)[:MAX_ERROR_TEXT]}"
    elif code is None:
        kind = response.headers.get("content-type", "unknown content type").split(";")[0]
        detail += f" ({kind} body, {len(response.content)} bytes)"
    if status == 429:
        retry_after = parse_retry_after(response.headers.get("retry-after"), policy)
        return Transient(detail, rate_limited=True, retry_after=retry_after)
    if status in RETRYABLE_STATUS or status >= 500:
        return Transient(detail)
    hint = HINTS.get(status, "The API refused the request; retrying will not help.")
    error_class: type[WebflowRequestRejectedError] = WebflowRequestRejectedError
    if status in (401, 403):
        error_class = WebflowAuthError
    elif status == 404:
        error_class = WebflowNotFoundError
    raise error_class(
        f"Webflow rejected {response.request.method} {response.request.url.path}: {detail}. {hint}",
        status_code=status,
        code=code,
        api_message=redact(message, token) if message else None,
        hint=hint,
    )


def describe_transport_error(exc: httpx.RequestError, token: str) -> str:
    text = str(exc) or "no detail"
    return redact(f"{type(exc).__name__}: {text}", token)[:MAX_ERROR_TEXT]


@dataclass
class RetryState:
    """Counts the retries of one request and says how long to wait before the next."""

    policy: RetryPolicy
    rng: random.Random
    what: str
    retries: int = 0
    rate_limit_waits: int = 0

    def wait_after(self, failure: Transient) -> float:
        """Seconds to wait before trying again; raises once the budget is spent."""
        if failure.rate_limited:
            self.rate_limit_waits += 1
            if self.rate_limit_waits > self.policy.max_rate_limit_waits:
                raise self._exhausted(failure, self.rate_limit_waits, "rate-limit waits")
            if failure.retry_after is not None:
                return failure.retry_after
            return DEFAULT_RETRY_AFTER_SECONDS
        self.retries += 1
        if self.retries > self.policy.max_retries:
            raise self._exhausted(failure, self.retries, "attempts")
        return self.policy.backoff(self.retries, self.rng)

    def _exhausted(self, failure: Transient, count: int, unit: str) -> WebflowRetriesExhaustedError:
        return WebflowRetriesExhaustedError(
            f"Giving up on {self.what} after {count} {unit}; last error: {failure.reason}. "
            "The Webflow API is failing or unreachable: the task can be retried once it recovers "
            "(raise max_retries in the connection extra to wait longer).",
            attempts=count,
            last_error=failure.reason,
        )


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
    window_seconds: float = 60.0
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
        limit = _header_int(headers.get("x-ratelimit-limit"))
        remaining = _header_int(headers.get("x-ratelimit-remaining"))
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


def _header_int(value: str | None) -> int | None:
    if value is None:
        return None
    try:
        return int(float(value))
    except ValueError:
        return None
