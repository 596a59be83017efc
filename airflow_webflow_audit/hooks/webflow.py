"""WebflowHook: the one place that speaks HTTP to Webflow's workspace audit-log endpoint."""

from __future__ import annotations

import asyncio
import contextlib
import copy
import functools
import random
import ssl
import threading
import time
from collections.abc import AsyncGenerator, Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import datetime
from typing import TYPE_CHECKING, Any, Generic, TypedDict, TypeVar
from urllib.parse import quote, urlencode

import httpx

from airflow_webflow_audit import __version__
from airflow_webflow_audit.api import API_MAX_LIMIT, API_VERSION_PREFIX, format_api_time, parse_timestamp
from airflow_webflow_audit.compat import AirflowTaskTerminated, BaseHook, aget_connection
from airflow_webflow_audit.connection_fields import UI_FIELD_BEHAVIOUR
from airflow_webflow_audit.exceptions import WebflowConfigurationError, WebflowError
from airflow_webflow_audit.hooks.clock import Clock, SystemClock
from airflow_webflow_audit.hooks.connection import WebflowConnectionConfig, check_hook_params, config_from_connection
from airflow_webflow_audit.hooks.pacing import RatePacer
from airflow_webflow_audit.hooks.paging import REQUEST_WINDOW_PADDING, PageSchedule, PullProgress, WindowPull
from airflow_webflow_audit.hooks.responses import BodyReader, Page
from airflow_webflow_audit.hooks.retry import RequestAttempts, RetryPolicy
from airflow_webflow_audit.jsonlines import EventBatch
from airflow_webflow_audit.validation import (
    validate_event_type,
    validate_limit,
    validate_sort_order,
    validate_whole_number,
    validate_window,
    validate_workspace,
)

if TYPE_CHECKING:
    from typing_extensions import Unpack

Item = TypeVar("Item")

#: How often a request waiting for one of the hook's slots looks whether its pull was stopped.
SLOT_POLL_SECONDS = 0.05


class PageQuery(TypedDict, total=False):
    """The optional arguments of one raw page request (see :meth:`WebflowHook.get_audit_logs_page`)."""

    limit: int
    offset: int
    sort_order: str
    event_type: str | None
    start: datetime | None
    end: datetime | None


#: Log a progress line at most this often during a long pull.
PROGRESS_LOG_INTERVAL_SECONDS = 30.0


class WebflowHook(BaseHook):
    """
    Read Webflow workspace audit logs.

    :param webflow_conn_id: A ``webflow`` connection: the workspace API token in the password, an
        optional base URL in the host (default ``https://api.webflow.com``), and optional extras
        ``workspace``, ``rate_limit_per_minute``, ``rate_limit_window_seconds``, ``timeout``, ``max_retries``,
        ``max_concurrency``.
    :param clock: Where time comes from; tests pass a fake so retries and pacing never really sleep.
    :param rng: Random source for backoff jitter.
    :param transport: An httpx transport for the sync client (tests use ``httpx.MockTransport``).
    :param async_transport: The same for the async client.
    :param retry_policy: How requests and pulls are retried; default: the connection's ``max_retries``
        with :class:`~airflow_webflow_audit.hooks.retry.RetryPolicy`'s other defaults.
    :param hook_params: Per-task overrides of the connection's extras: ``max_retries``, ``timeout``,
        ``max_concurrency``, ``rate_limit_per_minute`` (checked here, with the extras' ranges).
    """

    conn_name_attr = "webflow_conn_id"
    default_conn_name = "webflow_default"
    conn_type = "webflow"
    hook_name = "Webflow"

    @classmethod
    def get_ui_field_behaviour(cls) -> dict[str, Any]:
        """Form layout for Airflow 3.0/3.1; 3.2+ reads the same from the provider info."""
        return copy.deepcopy(UI_FIELD_BEHAVIOUR)

    def __init__(
        self,
        webflow_conn_id: str = default_conn_name,
        *,
        clock: Clock | None = None,
        rng: random.Random | None = None,
        transport: httpx.BaseTransport | None = None,
        async_transport: httpx.AsyncBaseTransport | None = None,
        retry_policy: RetryPolicy | None = None,
        hook_params: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__()
        self.hook_params = check_hook_params(hook_params)
        self.webflow_conn_id = webflow_conn_id
        self.clock: Clock = clock or SystemClock()
        self.rng = rng or random.Random()
        self._transport = transport
        self._async_transport = async_transport
        self._config: WebflowConnectionConfig | None = None
        self._retry_policy = retry_policy
        self.pacer = RatePacer()
        self._slots_lock = threading.Lock()
        self._slots: threading.BoundedSemaphore | None = None
        # Set by stop_requests(): every request of this hook, in any thread, stops at its next wait.
        self._stopped = threading.Event()
        self._pull_cancels: set[threading.Event] = set()

    def __repr__(self) -> str:
        return f"{type(self).__name__}(webflow_conn_id={self.webflow_conn_id!r})"

    # -- connection ---------------------------------------------------------------------------

    @property
    def config(self) -> WebflowConnectionConfig:
        """The checked connection settings (resolved once, synchronously)."""
        if self._config is None:
            self._set_config(self.get_connection(self.webflow_conn_id))
        assert self._config is not None
        return self._config

    async def aconfig(self) -> WebflowConnectionConfig:
        """The checked connection settings, resolved without blocking the event loop."""
        if self._config is None:
            self._set_config(await aget_connection(self.webflow_conn_id))
        assert self._config is not None
        return self._config

    def _set_config(self, conn: Any) -> None:
        config = config_from_connection(
            self.webflow_conn_id,
            host=conn.host,
            port=conn.port,
            password=conn.password,
            extra=conn.extra,
            hook_params=self.hook_params,
        )
        self._config = config
        self.pacer.ceiling_per_minute = config.rate_limit_per_minute
        self.pacer.window_seconds = config.rate_limit_window_seconds

    @property
    def retry_policy(self) -> RetryPolicy:
        """The policy given to the constructor, else the connection's ``max_retries`` with the other defaults."""
        if self._retry_policy is not None:
            return self._retry_policy
        return RetryPolicy(max_retries=self.config.max_retries)

    def get_conn(self) -> httpx.Client:
        """A new httpx client for this connection; close it (or use it in a ``with`` block)."""
        return self._client(self.config)

    def _client_kwargs(self, config: WebflowConnectionConfig) -> dict[str, Any]:
        return {
            "base_url": config.base_url,
            "headers": {
                "Authorization": f"Bearer {config.token}",
                "Accept": "application/json",
                "User-Agent": f"airflow-webflow-audit/{__version__}",
            },
            "timeout": httpx.Timeout(config.timeout, connect=min(config.timeout, 10.0)),
            "follow_redirects": False,
            "verify": self._ssl_context,
        }

    @functools.cached_property
    def _ssl_context(self) -> ssl.SSLContext:
        # Loading the CA bundle costs ~50 ms of CPU; httpx would do it for every client (a pull, the
        # retention lookup, each re-landed window), so the hook does it once.
        return httpx.create_ssl_context()

    def _client(self, config: WebflowConnectionConfig) -> httpx.Client:
        return httpx.Client(transport=self._transport, **self._client_kwargs(config))

    def _async_client(self, config: WebflowConnectionConfig) -> httpx.AsyncClient:
        return httpx.AsyncClient(transport=self._async_transport, **self._client_kwargs(config))

    def resolve_workspace(self, workspace: object = None) -> str:
        """The workspace a task names, or the connection's "Default workspace" when it names none
        (None or ""), checked. The connection is read only in the second case."""
        if workspace is None or workspace == "":
            return self._workspace(None, self.config)
        return validate_workspace(workspace)

    def _workspace(self, workspace: str | None, config: WebflowConnectionConfig) -> str:
        return validate_workspace(config.workspace if workspace is None or workspace == "" else workspace)

    # -- requests -----------------------------------------------------------------------------

    def _send(
        self,
        client: httpx.Client,
        url: httpx.URL,
        what: str,
        cancel: threading.Event | None = None,
    ) -> Page:
        """One GET with pacing and retries; returns a checked page or raises.

        ``cancel`` stops a request sent from a worker thread: its waits end early and it raises
        :class:`_Cancelled` instead of trying again.
        """
        with self._request_slot(cancel), self._attempts(what) as attempts:
            while True:
                self._raise_if_stopped()
                if (delay := attempts.pacing_delay()) > 0:
                    self._sleep(delay, cancel)
                while (delay := attempts.recheck()) > 0:
                    self._sleep(delay, cancel)
                outcome: Page | float
                try:
                    response = self._get(client, url)
                except httpx.RequestError as exc:
                    if cancel is not None and cancel.is_set():
                        raise _Cancelled from None
                    outcome = attempts.failed(exc)
                else:
                    outcome = attempts.answered(response)
                if isinstance(outcome, Page):
                    return outcome
                self._sleep(outcome, cancel)

    @contextlib.contextmanager
    def _request_slot(self, cancel: threading.Event | None) -> Iterator[None]:
        """Hold one of the ``max_concurrency`` requests this hook has in flight, across all its pulls.

        A task landing several windows at once pulls them on one hook: the connection's cap holds for
        all of them together, as it does for one pull's pages.
        """
        with self._slots_lock:
            if self._slots is None:
                self._slots = threading.BoundedSemaphore(self.config.max_concurrency)
            slots = self._slots
        while not slots.acquire(timeout=SLOT_POLL_SECONDS):
            self._raise_if_stopped()
            if cancel is not None and cancel.is_set():
                raise _Cancelled
        try:
            yield
        finally:
            slots.release()

    def _body_reader(self, response: httpx.Response, sent_at: float) -> BodyReader:
        config = self.config
        return BodyReader(
            response,
            max_bytes=config.max_response_mib * 2**20,
            deadline=sent_at + config.timeout,
            timeout=config.timeout,
        )

    def _get(self, client: httpx.Client, url: httpx.URL) -> httpx.Response:
        """One GET, its body read within the size cap and the whole-request deadline."""
        sent_at = time.monotonic()
        with client.stream("GET", url) as response:
            body = self._body_reader(response, sent_at)
            for chunk in response.iter_bytes():
                body.add(chunk)
            return body.finish()

    async def _aget(self, client: httpx.AsyncClient, url: httpx.URL) -> httpx.Response:
        """Async twin of :meth:`_get`."""
        sent_at = time.monotonic()
        async with client.stream("GET", url) as response:
            body = self._body_reader(response, sent_at)
            async for chunk in response.aiter_bytes():
                body.add(chunk)
            return body.finish()

    def _attempts(self, what: str) -> RequestAttempts:
        return RequestAttempts(
            what=what,
            token=self.config.token,
            policy=self.retry_policy,
            pacer=self.pacer,
            clock=self.clock,
            rng=self.rng,
            log=self.log,
        )

    def _sleep(self, seconds: float, cancel: threading.Event | None) -> None:
        self.clock.sleep(seconds, self._stopped if cancel is None else cancel)
        self._raise_if_stopped()
        if cancel is not None and cancel.is_set():
            raise _Cancelled

    def stop_requests(self) -> None:
        """Stop every request of this hook, in every thread: waits end at once, and each request raises
        :class:`~airflow.exceptions.AirflowTaskTerminated` at its next step (one in flight first
        finishes, within the connection's timeout). For a task going down; the hook is done after it."""
        self._stopped.set()
        with self._slots_lock:
            for cancel in self._pull_cancels:
                cancel.set()

    def _raise_if_stopped(self) -> None:
        if self._stopped.is_set():
            raise AirflowTaskTerminated("The task is stopping: no further request to Webflow is sent.")

    async def _asend(self, client: httpx.AsyncClient, url: httpx.URL, what: str) -> Page:
        """Async twin of :meth:`_send`."""
        with self._attempts(what) as attempts:
            while True:
                if (delay := attempts.pacing_delay()) > 0:
                    await self.clock.asleep(delay)
                while (delay := attempts.recheck()) > 0:
                    await self.clock.asleep(delay)
                outcome: Page | float
                try:
                    response = await self._aget(client, url)
                except httpx.RequestError as exc:
                    outcome = attempts.failed(exc)
                else:
                    outcome = attempts.answered(response)
                if isinstance(outcome, Page):
                    return outcome
                await self.clock.asleep(outcome)

    # -- one page -------------------------------------------------------------------------------

    def get_audit_logs_page(self, workspace: str | None = None, **query: Unpack[PageQuery]) -> dict[str, Any]:
        """One raw page: ``{"items": [...], "pagination": {"limit", "offset", "total"}}``.

        ``query`` takes ``limit`` (1..100, default 100), ``offset`` (default 0), ``sort_order``
        (``"asc"``, the default, or ``"desc"``), ``event_type``, ``start`` and ``end``. ``start``/``end``
        are passed to the API's ``from``/``to`` as they are; whether the API treats them as inclusive is
        not documented. For a whole window, use :meth:`iter_audit_logs`.
        """
        config = self.config
        url, what = self._page_request(workspace, config, query)
        with self._client(config) as client:
            page = self._send(client, url, what)
        return _page_dict(page)

    async def aget_audit_logs_page(self, workspace: str | None = None, **query: Unpack[PageQuery]) -> dict[str, Any]:
        """Async twin of :meth:`get_audit_logs_page`."""
        config = await self.aconfig()
        url, what = self._page_request(workspace, config, query)
        async with self._async_client(config) as client:
            page = await self._asend(client, url, what)
        return _page_dict(page)

    def get_earliest_available(self, workspace: str | None = None) -> datetime | None:
        """The timestamp of the oldest event the API still serves for the workspace; None if it serves none.

        One request (``sortOrder=asc&limit=1``, no ``from``/``to``, no type filter). Webflow does not
        document how far back audit logs go: this is the one way to see the horizon, and a window
        that ends before it cannot be shown to be complete.
        """
        page = self.get_audit_logs_page(workspace, limit=1, sort_order="asc")
        items = page["items"]
        return parse_timestamp(items[0]["timestamp"]) if items else None

    def _page_request(
        self, workspace: str | None, config: WebflowConnectionConfig, query: PageQuery
    ) -> tuple[httpx.URL, str]:
        """The checked URL of one page, and how the logs name the request."""
        unknown = set(query) - set(PageQuery.__annotations__)
        if unknown:
            raise WebflowConfigurationError(
                f"Unknown page argument(s) {', '.join(sorted(unknown))}; use {', '.join(PageQuery.__annotations__)}."
            )
        ws = self._workspace(workspace, config)
        start, end = query.get("start"), query.get("end")
        if start is not None and end is not None:
            start, end = validate_window(start, end)
        offset = validate_whole_number(query.get("offset", 0), "offset", minimum=0)
        url = audit_logs_url(
            config.base_url,
            ws,
            limit=validate_limit(query.get("limit", API_MAX_LIMIT)),
            offset=offset,
            sort_order=validate_sort_order(query.get("sort_order", "asc")),
            event_type=validate_event_type(query.get("event_type")),
            start=start,
            end=end,
        )
        return url, f"audit logs page at offset {offset}"

    # -- a whole window ---------------------------------------------------------------------------

    def iter_audit_logs(
        self,
        workspace: str | None,
        start: datetime | str,
        end: datetime | str,
        event_type: str | None = None,
    ) -> PullStream[dict[str, Any]]:
        """Every event with ``start <= timestamp < end``, once, ascending, exactly as the API sent it.

        Streams page by page: memory stays at a few pages whatever the window's size. All input is
        checked when this is called, before any request. Raises
        :class:`~airflow_webflow_audit.exceptions.WebflowWindowChangedError` if late events land inside
        the part already streamed (start again), and the transport's errors otherwise. The returned
        stream's ``progress`` counts pages, events and re-reads as the pull goes.
        """
        batches = self.iter_audit_log_batches(workspace, start, end, event_type)
        return PullStream((event for batch in batches for event in batch.events), batches.progress)

    def iter_audit_log_batches(
        self,
        workspace: str | None,
        start: datetime | str,
        end: datetime | str,
        event_type: str | None = None,
    ) -> PullStream[EventBatch]:
        """:meth:`iter_audit_logs` a page at a time, each event with its JSON line (what landing writes)."""
        config = self.config
        run = self._prepare_pull(self._workspace(workspace, config), start, end, event_type)
        return PullStream(self._iter_pull(config, run), run.pull.progress)

    def _iter_pull(self, config: WebflowConnectionConfig, run: _PullRun) -> Iterator[EventBatch]:
        with self._client(config) as client:
            if config.max_concurrency == 1:
                while (offset := run.pull.next_offset()) is not None:
                    page = self._send(client, run.url(offset), run.describe(offset))
                    yield from run.accept(page)
            else:
                yield from self._iter_pull_concurrently(client, run, config.max_concurrency)
        run.finish()

    def _iter_pull_concurrently(self, client: httpx.Client, run: _PullRun, concurrency: int) -> Iterator[EventBatch]:
        """Pages ahead of the one needed are fetched in worker threads; events still go out in order."""
        schedule: PageSchedule[Future[Page]] = PageSchedule(run.pull, concurrency)
        cancel = threading.Event()
        with self._slots_lock:
            self._pull_cancels.add(cancel)
            if self._stopped.is_set():
                cancel.set()
        pool = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="webflow-page")
        try:
            while run.pull.next_offset() is not None:
                key, stale, start = schedule.step()
                for future in stale:
                    future.cancel()
                for pass_number, offset in start:
                    schedule.in_flight[(pass_number, offset)] = pool.submit(
                        self._send, client, run.url(offset), run.describe(offset), cancel
                    )
                yield from run.accept(schedule.in_flight.pop(key).result())
        finally:
            # Stop what is still in flight (a failure, an early stop, or the end): waits end at once.
            cancel.set()
            for future in schedule.in_flight.values():
                future.cancel()
            pool.shutdown(wait=True)
            with self._slots_lock:
                self._pull_cancels.discard(cancel)

    def aiter_audit_logs(
        self,
        workspace: str | None,
        start: datetime | str,
        end: datetime | str,
        event_type: str | None = None,
    ) -> AsyncGenerator[dict[str, Any], None]:
        """Async twin of :meth:`iter_audit_logs`; the connection is resolved asynchronously.

        The window, event type and an explicit workspace are checked when this is called; the
        connection (and so a default workspace) when iteration starts.
        """
        if workspace is not None:
            validate_workspace(workspace)
        window = validate_window(start, end)
        return self._aiter_pull(workspace, window, validate_event_type(event_type))

    async def _aiter_pull(
        self, workspace: str | None, window: tuple[datetime, datetime], event_type: str | None
    ) -> AsyncGenerator[dict[str, Any], None]:
        config = await self.aconfig()
        run = self._prepare_pull(self._workspace(workspace, config), *window, event_type)
        schedule: PageSchedule[asyncio.Task[Page]] = PageSchedule(run.pull, config.max_concurrency)
        async with self._async_client(config) as client:
            try:
                while run.pull.next_offset() is not None:
                    key, stale, start = schedule.step()
                    for task in stale:
                        task.cancel()
                        task.add_done_callback(_retrieve_outcome)
                    for pass_number, offset in start:
                        schedule.in_flight[(pass_number, offset)] = asyncio.create_task(
                            self._asend(client, run.url(offset), run.describe(offset))
                        )
                    for batch in run.accept(await schedule.in_flight.pop(key)):
                        for item in batch.events:
                            yield item
            finally:
                leftover = list(schedule.in_flight.values())
                for task in leftover:
                    task.cancel()
                await asyncio.gather(*leftover, return_exceptions=True)
        run.finish()

    def _prepare_pull(
        self, workspace: str, start: datetime | str, end: datetime | str, event_type: str | None
    ) -> _PullRun:
        start_utc, end_utc = validate_window(start, end)
        pull = WindowPull(
            start=start_utc,
            end=end_utc,
            max_snapshot_attempts=self.retry_policy.max_snapshot_attempts,
            on_unknown_event_type=self._warn_unknown_event_type,
            workspace=workspace,
        )
        return _PullRun(self, workspace, pull, validate_event_type(event_type))

    def _warn_unknown_event_type(self, event_type: str) -> None:
        self.log.warning(
            "Event type %r is not one this provider knows; passing it through unchanged. "
            "Upgrade airflow-webflow-audit if you need it recognised.",
            event_type,
        )

    # -- UI "Test" button -----------------------------------------------------------------------

    def test_connection(self) -> tuple[bool, str]:
        """One request for one event, to prove the token, scope, plan and workspace work together."""
        try:
            config = self.config
            if not config.workspace:
                return False, (
                    "Set 'Default workspace' (extra 'workspace') to the workspace id or slug so the "
                    "connection can be tested."
                )
            page = self.get_audit_logs_page(config.workspace, limit=1)
        except WebflowError as exc:
            return False, str(exc)
        except Exception as exc:  # the UI shows this text; never let the button crash
            return False, f"{type(exc).__name__}: {exc}"
        total = page["pagination"]["total"]
        return True, f"Connected to Webflow workspace {config.workspace!r}: {total} audit events visible."


def _page_dict(page: Page) -> dict[str, Any]:
    return {
        "items": page.items,
        "pagination": {"limit": page.limit, "offset": page.offset, "total": page.total},
    }


def audit_logs_url(
    base_url: str,
    workspace: str,
    *,
    limit: int,
    offset: int,
    sort_order: str,
    event_type: str | None,
    start: datetime | None,
    end: datetime | None,
) -> httpx.URL:
    """The URL of one audit-log page; the arguments must be checked already."""
    params: dict[str, str | int] = {"limit": limit, "offset": offset, "sortOrder": sort_order}
    if event_type is not None:
        params["eventType"] = event_type
    if start is not None:
        params["from"] = format_api_time(start)
    if end is not None:
        params["to"] = format_api_time(end)
    # The same URL httpx builds from base_url, path and params, at a quarter of the cost: merging
    # params takes httpx ~0.25 ms, a third of the CPU a whole page costs here otherwise.
    path = f"{API_VERSION_PREFIX}/workspaces/{quote(workspace, safe='')}/audit_logs"
    return httpx.URL(f"{base_url.rstrip('/')}{path}?{urlencode(params)}")


class PullStream(Generic[Item]):
    """What a window pull hands out, in order, with the pull's own counters beside it.

    ``progress`` is live: it counts pages, events and re-reads as the stream is consumed, and holds
    the final figures once it is exhausted. ``close()`` stops the pull early.
    """

    def __init__(self, items: Iterator[Item], progress: PullProgress) -> None:
        self._items = items
        self.progress = progress

    def __iter__(self) -> PullStream[Item]:
        return self

    def __next__(self) -> Item:
        return next(self._items)

    def close(self) -> None:
        close = getattr(self._items, "close", None)
        if close is not None:
            close()


class _PullRun:
    """One window pull in progress: request URLs, progress logs, the closing summary."""

    def __init__(self, hook: WebflowHook, workspace: str, pull: WindowPull, event_type: str | None) -> None:
        # Only the hook's public parts: its checked connection, clock, pacer and logger.
        self.workspace = workspace
        self.pull = pull
        self.event_type = event_type
        self.base_url = hook.config.base_url
        self.clock = hook.clock
        self.pacer = hook.pacer
        self.log = hook.log
        self.started = self.clock.monotonic()
        self.next_progress_log = self.started + PROGRESS_LOG_INTERVAL_SECONDS
        self.log.info(
            "Pulling Webflow audit logs of workspace %s for [%s, %s)%s.",
            workspace,
            pull.start.isoformat(),
            pull.end.isoformat(),
            f", eventType={event_type}" if event_type else "",
        )

    def url(self, offset: int) -> httpx.URL:
        return audit_logs_url(
            self.base_url,
            self.workspace,
            limit=API_MAX_LIMIT,
            offset=offset,
            sort_order="asc",
            event_type=self.event_type,
            start=self.pull.start - REQUEST_WINDOW_PADDING,
            end=self.pull.end + REQUEST_WINDOW_PADDING,
        )

    def describe(self, offset: int) -> str:
        return f"{self.workspace} audit logs at offset {offset}"

    def accept(self, page: Page) -> Iterator[EventBatch]:
        """Hand the page to the pull; yields its batch of events if it has any."""
        batch = self.pull.accept(page)
        if batch.events:
            yield batch
        if self.clock.monotonic() >= self.next_progress_log:
            self._log_progress(final=False)
            self.next_progress_log = self.clock.monotonic() + PROGRESS_LOG_INTERVAL_SECONDS

    def finish(self) -> None:
        self.pull.finish()
        self._log_progress(final=True)

    def _log_progress(self, *, final: bool) -> None:
        progress = self.pull.progress
        self.log.info(
            "%s %d pages, %d events in the window (API total %s), %.1f s elapsed, %.1f s waiting on the rate "
            "limit, %d re-reads.",
            "Pulled" if final else "Pulling:",
            progress.pages,
            progress.records,
            self.pull.snapshot_total,
            self.clock.monotonic() - self.started,
            self.pacer.waited_seconds,
            progress.restarts,
        )


def _retrieve_outcome(task: asyncio.Task[Page]) -> None:
    # A page no longer wanted may still have failed; reading its outcome keeps asyncio from warning.
    if not task.cancelled():
        task.exception()


class _Cancelled(Exception):
    """A request fetched ahead is no longer wanted (the pull failed, stopped early or finished)."""
