"""The retention horizon: its look, shared by the windows one task lands, and what it lets a window's
manifest vouch for (:func:`coverage_of`).

Each landing records the oldest event the API still serves (one ``limit=1`` request), so a window
that may have lost events to retention says so in its manifest. A task landing many windows spends
that request once, not once per window. Retention drops events older than some age, so its cut moves
no faster than the clock: a look that saw the oldest event at ``E`` a time ``t`` ago says the cut is
now at most ``E + t``, and a window starting after that (with :data:`HORIZON_SLACK` to spare) has
lost nothing since. A window nearer the horizon looks again, as does one with events after a look
that saw none. (Should Webflow shorten its retention in the middle of a task, a window could claim
coverage it lost in those seconds: the same race a look of its own, a moment after its pull, has.)
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import datetime, timedelta

from airflow_webflow_audit.hooks.webflow import WebflowHook

#: ``coverage`` values: how far the API's retention lets the manifest vouch for its window.
COVERAGE_COMPLETE = "complete"
COVERAGE_PARTLY_BEFORE = "partly_before_earliest_available"
COVERAGE_BEFORE = "before_earliest_available"


def coverage_of(start: datetime, end: datetime, earliest_available: datetime | None) -> str:
    """Whether the window lies where the API still serves events.

    The oldest event served is all that can be seen of the retention horizon: a window that ends at
    or before it may have lost every event, one that straddles it the part before it. Nothing served
    at all says nothing about retention, so it counts as complete.
    """
    if earliest_available is None or start >= earliest_available:
        return COVERAGE_COMPLETE
    return COVERAGE_BEFORE if end <= earliest_available else COVERAGE_PARTLY_BEFORE


#: What a window must start beyond the horizon's furthest possible move since the look to reuse it.
HORIZON_SLACK = timedelta(minutes=1)


class RetentionHorizon:
    """The oldest event the API serves for one workspace, looked at once and reused while it is safe to."""

    def __init__(
        self,
        hook: WebflowHook,
        workspace: str,
        *,
        slack: timedelta = HORIZON_SLACK,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._hook = hook
        self._workspace = workspace
        self._slack = slack
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._seen: tuple[datetime | None, float] | None = None
        #: Requests spent on the horizon.
        self.looks = 0

    def after_pull(self, window_start: datetime, pulled: int) -> datetime | None:
        """The horizon to record for a window just pulled (``pulled`` events): the shared look, or a new one."""
        # One look at a time: windows finishing together wait for the first look instead of each taking one.
        with self._lock:
            if self._seen is not None and self._holds_for(window_start, pulled):
                return self._seen[0]
            earliest = self._hook.get_earliest_available(self._workspace)
            self._seen = (earliest, self._monotonic())
            self.looks += 1
            return earliest

    def _holds_for(self, window_start: datetime, pulled: int) -> bool:
        assert self._seen is not None
        earliest, seen_at = self._seen
        if earliest is None:
            return pulled == 0  # it saw nothing served; a window with events says otherwise
        moved = timedelta(seconds=self._monotonic() - seen_at)
        return window_start >= earliest + moved + self._slack
