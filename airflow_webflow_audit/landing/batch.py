"""Landing the consecutive windows of one task: each as its own landing, several at once.

A task with ``window_size`` lands its interval as windows of that size, each exactly as a run per
window would land it (:func:`~airflow_webflow_audit.landing.land.land_window`, the same keys, chains
and manifests). The windows are pulled on one hook, so its pacer spends the token's budget on all of
them together and its ``max_concurrency`` caps their requests together; they share one look at the
retention horizon. A window that fails does not stop the others (unless the API rejected a request
outright, which every later window would repeat): the caller hears which landed and which did not.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field

from airflow_webflow_audit.compat import AirflowFailException
from airflow_webflow_audit.exceptions import (
    WebflowRequestRejectedError,
    WebflowWindowsNotLandedError,
    WebflowWindowsRefusedError,
)
from airflow_webflow_audit.hooks.webflow import WebflowHook
from airflow_webflow_audit.landing.land import LandingPlan, LandingResult, land_window
from airflow_webflow_audit.logs import Log

#: A progress line at most this often while a task's windows land (besides one line per window).
PROGRESS_EVERY_SECONDS = 30.0
#: Windows named in the error of a task whose windows did not all land (the log names every one).
MAX_LISTED_WINDOWS = 20


@dataclass
class BatchOutcome:
    """What became of each of a task's windows, in window order."""

    plans: Sequence[LandingPlan]
    results: dict[int, LandingResult] = field(default_factory=dict)
    errors: dict[int, BaseException] = field(default_factory=dict)
    #: Windows not started, because the API rejected a request of an earlier one.
    skipped: list[int] = field(default_factory=list)

    @property
    def landed(self) -> list[tuple[LandingPlan, LandingResult]]:
        return [(self.plans[index], self.results[index]) for index in sorted(self.results)]

    @property
    def not_landed(self) -> list[tuple[LandingPlan, BaseException | None]]:
        failed = {**self.errors, **dict.fromkeys(self.skipped)}
        return [(self.plans[index], failed[index]) for index in sorted(failed)]


def land_windows(hook: WebflowHook, plans: Sequence[LandingPlan], log: Log, *, workers: int) -> BatchOutcome:
    """Land each plan's window, up to ``workers`` at once; return what landed and what failed, never raise
    for one window's failure."""
    outcome = BatchOutcome(plans)
    rejected = threading.Event()
    pending: dict[Future[LandingResult], int] = {}
    queue = iter(range(len(plans)))
    pool = ThreadPoolExecutor(max_workers=max(1, min(workers, len(plans))), thread_name_prefix="webflow-window")

    def submit_more() -> None:
        if rejected.is_set():
            outcome.skipped.extend(queue)
        for index in queue:
            pending[pool.submit(land_window, hook, plans[index], log)] = index
            if len(pending) >= workers:
                return

    finished = False
    try:
        submit_more()
        last_progress = time.monotonic()
        while pending:
            done, _ = wait(pending, return_when=FIRST_COMPLETED)
            for future in done:
                _record(outcome, pending.pop(future), future, rejected, log)
            submit_more()
            if time.monotonic() - last_progress >= PROGRESS_EVERY_SECONDS:
                last_progress = time.monotonic()
                _log_progress(outcome, len(pending), log)
        finished = True
    finally:
        if not finished:
            # Stopped from outside (SIGTERM) or failed: windows not started stay unstarted, and the windows
            # being written stop at their next request and remove their temporary objects; a final key
            # only ever holds a whole part.
            log.warning("Stopping: %d window(s) being landed stop at their next request.", len(pending))
            hook.stop_requests()
        pool.shutdown(wait=True, cancel_futures=True)
    return outcome


def _log_progress(outcome: BatchOutcome, in_flight: int, log: Log) -> None:
    log.info(
        "%d of %d windows done (%d landed, %d failed), %d in flight.",
        len(outcome.results) + len(outcome.errors),
        len(outcome.plans),
        len(outcome.results),
        len(outcome.errors),
        in_flight,
    )


def _record(
    outcome: BatchOutcome, index: int, future: Future[LandingResult], rejected: threading.Event, log: Log
) -> None:
    plan = outcome.plans[index]
    label = f"[{plan.query.start.isoformat()}, {plan.query.end.isoformat()})"
    error = future.exception()
    if error is None:
        result = future.result()
        outcome.results[index] = result
        log.info(
            "Window %d of %d %s: %d events, %d new (part %d) at %s.",
            index + 1,
            len(outcome.plans),
            label,
            result.window_records,
            result.new_records,
            result.part,
            result.uri,
        )
        return
    outcome.errors[index] = error
    log.error("Window %d of %d %s did not land: %s", index + 1, len(outcome.plans), label, error)
    if isinstance(error, WebflowRequestRejectedError):
        rejected.set()


def raise_for_windows_not_landed(outcome: BatchOutcome, retry_hint: str) -> None:
    """Fail naming the windows that did not land: for good when no retry can mend any of them (each
    failed for a reason its own task would not retry), retryably otherwise."""
    not_landed = outcome.not_landed
    if not not_landed:
        return
    listed = "; ".join(
        f"[{plan.query.start.isoformat()}, {plan.query.end.isoformat()}): "
        + ("not started, after the API rejected a request" if error is None else f"{type(error).__name__}: {error}")
        for plan, error in not_landed[:MAX_LISTED_WINDOWS]
    )
    more = len(not_landed) - MAX_LISTED_WINDOWS
    final = all(isinstance(error, AirflowFailException) for _, error in not_landed if error is not None)
    error_class = WebflowWindowsRefusedError if final else WebflowWindowsNotLandedError
    raise error_class(
        f"{len(not_landed)} of {len(outcome.plans)} windows did not land ({len(outcome.results)} did, and stay "
        f"landed): {listed}{f'; and {more} more (see the log)' if more > 0 else ''}. "
        + ("A retry cannot mend these: fix what each names, then clear the task." if final else retry_hint)
    ) from next((error for _, error in not_landed if error is not None), None)
