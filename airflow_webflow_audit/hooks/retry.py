"""The retry policy: how one request is retried, and every retry budget's default in one place.

* A request: transient failures (5xx, 408/425, network errors, a 200 with a bad body) are retried
  with capped exponential backoff and jitter, up to ``max_retries``; 429s wait their ``Retry-After``
  (capped) on a separate, larger budget, because they are the API asking to wait, not failing.
* A pull: when ``pagination.total`` moves mid-pull the window is re-read, up to
  ``max_snapshot_attempts`` reads (see :mod:`~airflow_webflow_audit.hooks.paging`).
* A landing: when late events land inside the part already written, the operator pulls the whole
  window again, up to :data:`DEFAULT_MAX_WINDOW_ATTEMPTS` times.

A hand-written loop rather than tenacity: each wait depends on the answer (``Retry-After``), is
shared with the rate pacer's bookkeeping, and must go through the injected clock; tenacity would
wrap the same decisions in more code.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

import httpx

from airflow_webflow_audit import metrics
from airflow_webflow_audit.connection_fields import DEFAULT_MAX_RETRIES
from airflow_webflow_audit.exceptions import WebflowRetriesExhaustedError
from airflow_webflow_audit.hooks.clock import Clock
from airflow_webflow_audit.hooks.pacing import RatePacer
from airflow_webflow_audit.hooks.responses import Page, Transient, classify_response, describe_transport_error
from airflow_webflow_audit.logs import Log

DEFAULT_BACKOFF_BASE_SECONDS = 1.0
DEFAULT_BACKOFF_CAP_SECONDS = 30.0
#: 429s are the API asking us to wait, not failing: they get their own, larger budget.
DEFAULT_MAX_RATE_LIMIT_WAITS = 20
#: Retry-After is "typically up to 60" seconds; anything beyond this is treated as this.
MAX_RETRY_AFTER_SECONDS = 300.0
#: With no Retry-After on a 429, wait this long (one rate-limit minute).
DEFAULT_RETRY_AFTER_SECONDS = 60.0
#: Reads of one window when its ``pagination.total`` keeps moving during the pull.
DEFAULT_MAX_SNAPSHOT_ATTEMPTS = 5
#: Whole-window re-pulls by the operator when late events land inside the part already written.
DEFAULT_MAX_WINDOW_ATTEMPTS = 3
#: A pacing wait at least this long is logged: a task waiting on a spent budget says so, not nothing.
LOGGED_PACING_WAIT_SECONDS = 10.0


@dataclass(frozen=True)
class RetryPolicy:
    """How transient failures are retried: capped exponential backoff with jitter.

    Attempt ``n`` (1-based) waits between half and all of ``min(cap, base * 2**(n-1))`` seconds;
    the defaults wait about 0.5-1, 1-2, 2-4, 4-8, 8-16 s over 5 retries.
    """

    max_retries: int = DEFAULT_MAX_RETRIES
    backoff_base: float = DEFAULT_BACKOFF_BASE_SECONDS
    backoff_cap: float = DEFAULT_BACKOFF_CAP_SECONDS
    max_rate_limit_waits: int = DEFAULT_MAX_RATE_LIMIT_WAITS
    max_retry_after: float = MAX_RETRY_AFTER_SECONDS
    max_snapshot_attempts: int = DEFAULT_MAX_SNAPSHOT_ATTEMPTS

    def backoff(self, retry_number: int, rng: random.Random) -> float:
        ceiling = min(self.backoff_cap, self.backoff_base * 2 ** (retry_number - 1))
        return ceiling / 2 + rng.random() * ceiling / 2


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
            if failure.retry_after is None:
                return DEFAULT_RETRY_AFTER_SECONDS
            return min(failure.retry_after, self.policy.max_retry_after)
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


class RequestAttempts:
    """The bookkeeping around one request's tries, shared by the hook's sync and async senders.

    Each try takes a slot from the pacer (and waits as it says), and each answer or transport error
    becomes a page or the seconds to wait before the next try, under the retry policy. The sender
    does the I/O and the sleeping. Use it as a context manager: a try that ends without an answer
    (cancelled, or an error outside httpx) is then taken off the pacer's books.
    """

    def __init__(
        self,
        *,
        what: str,
        token: str,
        policy: RetryPolicy,
        pacer: RatePacer,
        clock: Clock,
        rng: random.Random,
        log: Log,
    ) -> None:
        self.what = what
        self.token = token
        self.pacer = pacer
        self.clock = clock
        self.log = log
        self.retry = RetryState(policy, rng, what)
        self.number = 0

    def __enter__(self) -> RequestAttempts:
        return self

    def __exit__(self, *exc: object) -> None:
        # Left in the pacer, a try in flight would count against the budget for good.
        self.pacer.forget(self.number)

    def pacing_delay(self) -> float:
        """Seconds to wait before this try (rate-limit pacing); also counts the try as sent."""
        self.number, delay = self.pacer.reserve(self.clock.monotonic())
        return self._logged_wait(delay)

    def recheck(self) -> float:
        """Seconds more to wait now that this try's slot has come (others may have spent the window)."""
        return self._logged_wait(self.pacer.recheck(self.number, self.clock.monotonic()))

    def _logged_wait(self, delay: float) -> float:
        if delay >= LOGGED_PACING_WAIT_SECONDS:
            self.log.info(
                "Waiting %.1f s before %s: the token's rate-limit budget is spent until then.", delay, self.what
            )
        return delay

    def answered(self, response: httpx.Response) -> Page | float:
        """The page, or the seconds to wait before the next try; raises when retrying cannot help."""
        self.pacer.observe(self.number, response.headers, self.clock.monotonic())
        metrics.count(metrics.REQUESTS, status=response.status_code)
        outcome = classify_response(response, token=self.token)
        if isinstance(outcome, Page):
            metrics.count(metrics.PAGES)
            return outcome
        return self._wait_after(outcome)

    def failed(self, exc: httpx.RequestError) -> float:
        """The seconds to wait after a transport error; raises once the retries are spent."""
        self.pacer.forget(self.number)
        metrics.count(metrics.REQUESTS, status="no_answer")
        return self._wait_after(Transient(describe_transport_error(exc, self.token)))

    def _wait_after(self, failure: Transient) -> float:
        if failure.rate_limited:
            metrics.count(metrics.RATE_LIMITED)
        wait = self.retry.wait_after(failure)  # raises once the budget is spent: then nothing is tried again
        if not failure.rate_limited:
            metrics.count(metrics.RETRIES)
        if failure.rate_limited:
            self.pacer.rate_limited(self.number, wait, self.clock.monotonic())
            self.pacer.record_wait(wait)
            self.log.warning(
                "Rate limited on %s (%s); waiting %.1f s as asked (wait %d of %d).",
                self.what,
                failure.reason,
                wait,
                self.retry.rate_limit_waits,
                self.retry.policy.max_rate_limit_waits,
            )
        else:
            self.log.warning(
                "Transient failure on %s (%s); retry %d of %d in %.1f s.",
                self.what,
                failure.reason,
                self.retry.retries,
                self.retry.policy.max_retries,
                wait,
            )
        return wait
