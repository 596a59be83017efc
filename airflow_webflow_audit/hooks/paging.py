"""The window pull as a state machine: which offset to ask for next, and what to hand out from a page.

It never sends anything itself, so the sync and async hook share it and tests drive it directly.

The API promises little (see the design notes), so the pull checks instead of trusting:

* ``[start, end)`` is cut here, from a request padded on both sides, so inclusive or exclusive
  ``from``/``to`` on the server never matter and adjacent windows never share an event.
* Every page must report the same ``pagination.total`` as the first. The log is append-only, so an
  unchanged total from the first to the last page means every page read the same snapshot. When it
  changes (a late event arrived, or retention removed one), the pull starts again from offset 0 and
  re-reads, without handing them out twice, the events it already handed out -- checking with a
  running digest that they are still the same events in the same order. If they are not, events
  appeared inside the part already streamed, which cannot be taken back:
  :class:`WebflowWindowChangedError` tells the caller to start over.
* Offsets advance by the number of items received, so a server that caps ``limit`` lower is fine.
* A page identical to the previous one (a server ignoring ``offset``), or out of timestamp order
  within itself or across pages (a server ignoring ``sortOrder``), stops the pull with a clear error
  instead of producing duplicates or gaps: the window's end is judged by order, so a misordered page
  is never reordered and trusted. Each is re-asked once first, in case it was a glitch.
* A pass never ends on ``total`` alone, which may undercount: past it, a full page means the next
  offset is asked, and only a short or empty page ends the pass. An empty page before ``total`` is
  reached is re-asked once; if it is empty again with the same total, the pull ends there (a
  ``total`` that overcounts must not loop forever nor fail every run). Either disagreement between
  ``total`` and the items served is logged, and the manifest records both.
* Every event handed out must name the same workspace (``workspace.id`` and ``slug``), and the one
  asked for by its id or its slug: a server answering for another workspace stops the pull. The
  workspace the events named is kept for the manifest, which binds the window to it.
"""

from __future__ import annotations

import hashlib
import itertools
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Generic, TypeVar

from airflow_webflow_audit.api import API_MAX_LIMIT, KNOWN_EVENT_TYPES
from airflow_webflow_audit.exceptions import WebflowPagingError, WebflowWindowChangedError
from airflow_webflow_audit.hooks.responses import Page
from airflow_webflow_audit.hooks.retry import DEFAULT_MAX_SNAPSHOT_ATTEMPTS
from airflow_webflow_audit.jsonlines import EventBatch

log = logging.getLogger(__name__)
Handle = TypeVar("Handle")

#: How far each side of the window the request reaches, so the API's unknown edge rules
#: (inclusive or exclusive ``from``/``to``, second or millisecond precision) can never drop an edge
#: event; the exact ``[start, end)`` cut is made here.
REQUEST_WINDOW_PADDING = timedelta(seconds=1)
#: A suspicious page (empty early, repeated, out of order) is asked for again this many times.
MAX_SUSPECT_REPEATS = 1


@dataclass
class PullProgress:
    """Counters of one pull, for logs and summaries."""

    pages: int = 0
    records: int = 0
    restarts: int = 0
    out_of_window: int = 0
    #: ``pagination.total`` of the pass that completed (of the padded request window, so it can
    #: exceed ``records``); None until the first page.
    api_total: int | None = None
    #: Items the API served in the pass that completed, in and out of the window.
    served: int = 0
    #: ``{"id", "slug"}`` of the workspace the events handed out name; None before the first such event.
    workspace: dict[str, Any] | None = None


class WindowPull:
    """Pages through one ``[start, end)`` window and decides, page by page, what to hand out."""

    def __init__(
        self,
        *,
        start: datetime,
        end: datetime,
        max_snapshot_attempts: int = DEFAULT_MAX_SNAPSHOT_ATTEMPTS,
        on_unknown_event_type: Callable[[str], None] | None = None,
        workspace: str | None = None,
    ) -> None:
        self.start = start
        self.end = end
        #: The workspace id or slug the pull asks for; None: not checked (a caller without one).
        self.workspace = workspace
        self._workspace_key: tuple[object, object] | None = None
        self.max_snapshot_attempts = max_snapshot_attempts
        self.progress = PullProgress()
        self._on_unknown_event_type = on_unknown_event_type
        self._unknown_types_seen: set[str] = set()
        self._digest_of_handed_out = hashlib.blake2b(digest_size=16)
        #: Items per page the server gives (it may cap ``limit``): the stride of pages fetched ahead.
        self._page_size = 0
        self._begin_pass(verify_count=0)

    def _begin_pass(self, *, verify_count: int) -> None:
        self.offset = 0
        self.done = False
        self._total: int | None = None
        self._last_timestamp: datetime | None = None
        self._previous_lines: list[bytes] | None = None
        self._suspect_offset: int | None = None
        self._suspect_repeats = 0
        # While re-reading after a restart: how many in-window events were handed out already.
        self._verify_count = verify_count
        self._verify_seen = 0
        self._verify_digest = hashlib.blake2b(digest_size=16)

    @property
    def snapshot_total(self) -> int | None:
        return self._total

    def next_offset(self) -> int | None:
        """The offset to request next, or None once the window is complete."""
        return None if self.done else self.offset

    @property
    def pass_number(self) -> int:
        """Which read of the window this is; pages fetched for an earlier pass must not be accepted."""
        return self.progress.restarts

    def offsets_ahead(self, count: int) -> list[int]:
        """``next_offset()`` and up to ``count - 1`` later offsets this pass will ask for, if all goes well.

        Only known once a page of this pass gave the total and the server's page size; until then
        (and after the last page) it is just ``next_offset()``, or nothing once the window is complete.
        """
        if self.done:
            return []
        if count <= 1 or self._total is None or not self._page_size:
            return [self.offset]
        return list(range(self.offset, max(self._total, self.offset + 1), self._page_size)[:count])

    def accept(self, page: Page) -> EventBatch:
        """Take the page for ``next_offset()`` and return the events to hand out, in order."""
        self.progress.pages += 1
        if self._total is None:
            self._total = self.progress.api_total = page.total
        elif page.total != self._total:
            self._restart(f"pagination.total changed from {self._total} to {page.total} during the pull")
            return EventBatch([], [])
        if not page.items:
            self._on_empty_page()
            return EventBatch([], [])
        if self._previous_lines is not None and page.lines == self._previous_lines:
            self._suspect(
                f"the API returned the same {len(page.items)} events for offset {self.offset} as for the "
                "previous page; it seems to ignore 'offset'"
            )
            return EventBatch([], [])
        items, lines, timestamps = page.items, page.lines, page.timestamps
        if any(later < earlier for earlier, later in itertools.pairwise(timestamps)):
            # Ordering it here would not help: the window's end is judged by order, and a server that
            # misorders a page may misorder what lies across pages too, so events could be dropped.
            self._suspect(f"the page at offset {self.offset} is not in timestamp order although sortOrder=asc was sent")
            return EventBatch([], [])
        if self._last_timestamp is not None and timestamps[0] < self._last_timestamp:
            self._suspect(
                f"the page at offset {self.offset} starts at {items[0].get('timestamp')}, before the previous "
                "page ended, although sortOrder=asc was sent"
            )
            return EventBatch([], [])
        self._suspect_offset, self._suspect_repeats = None, 0
        self._page_size = max(self._page_size, len(page.items))
        self._previous_lines = page.lines
        self._last_timestamp = timestamps[-1]
        self.offset += len(page.items)
        self.progress.served = self.offset
        # Not on total alone (it may undercount): past it, only a short page ends the pass; a full
        # page means there may be more, so the next offset is asked (an empty answer ends it).
        if self.offset >= self._total and len(page.items) < _page_limit(page):
            self._end_of_log()
        return self._take(items, lines, timestamps)

    def finish(self) -> None:
        """Call once ``next_offset()`` is None: checks a re-read reached everything handed out before."""
        if self._verify_count and self._verify_seen < self._verify_count:
            raise WebflowWindowChangedError(
                f"Events vanished from the window {self._window()} during the pull: {self.progress.records} were "
                f"already handed out, a re-read found only {self._verify_seen}. Start the pull again."
            )

    def _take(self, items: list[dict[str, Any]], lines: list[bytes], timestamps: list[datetime]) -> EventBatch:
        start, end = self.start, self.end
        out = EventBatch([], [])
        for item, line, stamp in zip(items, lines, timestamps, strict=True):
            if stamp < start:
                self.progress.out_of_window += 1
                continue
            if stamp >= end:
                # Ascending order: nothing after this can be inside the window.
                self.progress.out_of_window += 1
                self.done = True
                break
            if self._verify_seen < self._verify_count:
                # Items have no id: the whole item, as sent, is its identity.
                self._verify_digest.update(line)
                self._verify_seen += 1
                if self._verify_seen == self._verify_count:
                    self._check_prefix()
                continue
            event_type = item.get("eventType")
            if event_type not in KNOWN_EVENT_TYPES:
                self._note_unknown_type(event_type)
            named = item.get("workspace")
            if named is not None and (
                not isinstance(named, dict) or (named.get("id"), named.get("slug")) != self._workspace_key
            ):
                self._check_workspace(named)
            out.events.append(item)
            out.lines.append(line)
        # One update per page: the digest of the lines in a row is the digest of each line in turn.
        self._digest_of_handed_out.update(b"".join(out.lines))
        self.progress.records += len(out.lines)
        return out

    def _check_workspace(self, named: object) -> None:
        """The first event's workspace must be the one asked for; every later one the same as the first."""
        if not isinstance(named, dict) or not all(isinstance(named.get(k), (str, type(None))) for k in ("id", "slug")):
            raise WebflowPagingError(
                f"Stopping the pull of {self._window()}: an event's workspace is {named!r}, not an object with "
                "an id and a slug."
            )
        seen = self.progress.workspace
        if seen is not None:
            raise WebflowPagingError(
                f"Stopping the pull of {self._window()}: its events name two workspaces ({seen} and {named}); "
                "one window is one workspace's log."
            )
        if self.workspace is not None and self.workspace not in (named.get("id"), named.get("slug")):
            raise WebflowPagingError(
                f"Stopping the pull of {self._window()}: the API answered for workspace {self.workspace!r} with "
                f"events of workspace id {named.get('id')!r}, slug {named.get('slug')!r}. If the workspace's slug "
                "changed, name it by its id (or its new slug)."
            )
        self.progress.workspace = {"id": named.get("id"), "slug": named.get("slug")}
        self._workspace_key = (named.get("id"), named.get("slug"))

    def _check_prefix(self) -> None:
        if self._verify_digest.digest() != self._digest_of_handed_out.digest():
            raise WebflowWindowChangedError(
                f"Late events arrived inside the part of the window {self._window()} already handed out "
                f"({self.progress.records} events); they cannot be inserted in order any more. Start the pull "
                "again (the operator does this itself)."
            )
        log.info("Re-read the %d events already handed out; they are unchanged. Resuming.", self._verify_count)

    def _restart(self, reason: str) -> None:
        self.progress.restarts += 1
        if self.progress.restarts >= self.max_snapshot_attempts:
            raise WebflowPagingError(
                f"Could not read one consistent snapshot of the window {self._window()} in "
                f"{self.max_snapshot_attempts} attempts; last: {reason}. Events are arriving faster than the "
                "window can be read: retry later, or pull smaller windows."
            )
        log.warning("%s; re-reading the window from the start (attempt %d).", reason, self.progress.restarts + 1)
        self._begin_pass(verify_count=self.progress.records)

    def _suspect(self, reason: str) -> None:
        if self._suspect_offset == self.offset:
            self._suspect_repeats += 1
        else:
            self._suspect_offset, self._suspect_repeats = self.offset, 1
        if self._suspect_repeats > MAX_SUSPECT_REPEATS:
            raise WebflowPagingError(f"Stopping the pull of {self._window()}: {reason}.")
        log.warning("%s; asking again.", reason)

    def _on_empty_page(self) -> None:
        assert self._total is not None
        if self.offset >= self._total:
            self._end_of_log()
            return
        if self._suspect_offset == self.offset:
            log.warning(
                "pagination.total says %d events, but the API serves none past offset %d (asked twice); "
                "ending the pull there.",
                self._total,
                self.offset,
            )
            self._end_of_log()
            return
        self._suspect_offset, self._suspect_repeats = self.offset, 1
        log.warning("Empty page at offset %d although total is %d; asking again.", self.offset, self._total)

    def _end_of_log(self) -> None:
        """The pass read everything the API serves for the padded window."""
        self.done = True
        if self.offset != self._total:
            log.warning(
                "pagination.total said %s events for the requested window (the window padded by %s on each side), "
                "but the API served %d; the pull went by the events served. The manifest records both "
                "(pulls[].api_total and pulls[].served).",
                self._total,
                REQUEST_WINDOW_PADDING,
                self.offset,
            )

    def _note_unknown_type(self, event_type: object) -> None:
        key = repr(event_type)
        if key in self._unknown_types_seen:
            return
        self._unknown_types_seen.add(key)
        if self._on_unknown_event_type is not None:
            self._on_unknown_event_type(str(event_type))

    def _window(self) -> str:
        return f"[{self.start.isoformat()}, {self.end.isoformat()})"


def _page_limit(page: Page) -> int:
    """Items in a full page: the ``limit`` the server reports, if sane, else the one the hook asks for."""
    if page.limit is not None and 1 <= page.limit <= API_MAX_LIMIT:
        return page.limit
    return API_MAX_LIMIT


class PageSchedule(Generic[Handle]):
    """Which pages to have in flight for a pull: the one it needs next and up to ``concurrency - 1`` ahead.

    Sans-IO like :class:`WindowPull`: the hook keeps its futures or tasks (``Handle``) here, keyed by
    pass and offset, and each step says which to start and which are no longer wanted (a restart,
    or a short page that moved the offsets). Events are still accepted strictly in order.
    """

    def __init__(self, pull: WindowPull, concurrency: int) -> None:
        self.pull = pull
        self.concurrency = concurrency
        self.in_flight: dict[tuple[int, int], Handle] = {}

    def step(self) -> tuple[tuple[int, int], list[Handle], list[tuple[int, int]]]:
        """The key of the page needed now, the handles to drop, and the keys to start (in order)."""
        pass_number = self.pull.pass_number
        wanted = [(pass_number, offset) for offset in self.pull.offsets_ahead(self.concurrency)]
        if not wanted:
            raise RuntimeError("The pull is complete; there is no page to fetch.")
        keep = set(wanted)
        stale = [self.in_flight.pop(key) for key in list(self.in_flight) if key not in keep]
        return wanted[0], stale, [key for key in wanted if key not in self.in_flight]
