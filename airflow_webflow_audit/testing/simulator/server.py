"""The simulator's HTTP server: the audit-log endpoint as the OpenAPI excerpt describes it, its
undocumented behaviours switchable, faults on demand, and control endpoints for tests."""

from __future__ import annotations

import bisect
import contextlib
import json
import math
import random
import socket
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field, fields
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from airflow_webflow_audit.api import KNOWN_EVENT_TYPES, is_loopback_host, parse_timestamp
from airflow_webflow_audit.testing.simulator.generator import (
    DEFAULT_WORKSPACE_ID,
    DEFAULT_WORKSPACE_SLUG,
    late_arrival,
    to_micros,
)

DEFAULT_TOKEN = "sim-token-0123456789abcdef"
MAX_LIMIT = 100
#: Fault names accepted by :meth:`WebflowSimulator.queue_faults` and ``POST /_simulator/faults``.
FAULTS = ("500", "503", "html502", "drop", "truncate", "stall", "429", "late_insert", "repeat", "drip", "huge")
#: SimulatorConfig fields that are chances per request; each is a ``--<name>`` switch of the CLI.
FAULT_RATE_FIELDS = ("error_rate", "html_502_rate", "drop_rate", "truncate_rate", "stall_rate", "late_insert_rate")


@dataclass
class SimulatorConfig:
    """Behaviour switches; change them at any time with :meth:`WebflowSimulator.configure`."""

    #: The API's undocumented edge rules and defaults.
    from_inclusive: bool = True
    to_inclusive: bool = False
    default_sort: str = "desc"
    default_limit: int = 10
    #: Per-token budget of requests per ``rate_window`` seconds (None: unlimited, no headers).
    rate_limit: int | None = None
    rate_window: float = 60.0
    #: How the budget renews (see :data:`RATE_WINDOW_KINDS`). Webflow documents neither the shape nor a
    #: reset header, so a client must be right for each.
    rate_window_kind: str = "fixed"
    #: A fixed window's first boundary, in seconds after the simulator started; None draws it from
    #: ``fault_seed``: a phase the client cannot see.
    rate_window_phase: float | None = None
    #: Seconds added to every audit-log answer.
    latency: float = 0.0
    #: Chances per audit-log request (drawn from ``fault_seed``).
    error_rate: float = 0.0
    html_502_rate: float = 0.0
    drop_rate: float = 0.0
    truncate_rate: float = 0.0
    stall_rate: float = 0.0
    late_insert_rate: float = 0.0
    #: How long a stalled answer sleeps before it is sent.
    stall_seconds: float = 2.0
    #: A dripped answer sends one byte of its body this often, for at most ``drip_seconds``, then hangs up.
    drip_interval: float = 0.25
    drip_seconds: float = 20.0
    #: A huge answer is a valid page padded with whitespace to this many MiB, sent chunked.
    huge_body_mib: int = 64
    #: ``Retry-After`` seconds on an injected 429.
    retry_after_seconds: int = 1
    #: A lying ``pagination.total``: this many more than the events that exist (fewer if negative).
    total_inflation: int = 0
    #: The API's retention horizon (ISO 8601): events before it exist in the ground truth but are never
    #: served or counted, as when a log only goes back so far. None: everything is served.
    retention_start: str | None = None
    #: Serve each page's items newest first although ``sortOrder=asc`` was asked.
    reverse_pages: bool = False
    #: Serve every page as if ``offset`` were 0, as a server that ignores it would.
    ignore_offset: bool = False
    fault_seed: int = 0
    #: Tokens that authenticate but lack ``workspace_activity:read`` (403 missing_scopes).
    tokens_without_scope: tuple[str, ...] = ("sim-token-without-scope",)
    #: Workspace slugs that exist but are not on an Enterprise plan (403).
    non_enterprise_workspaces: tuple[str, ...] = ("starter-workspace",)


@dataclass(frozen=True)
class RecordedRequest:
    path: str
    params: dict[str, str]
    status: int
    fault: str | None


@dataclass
class _Index:
    stamps: list[int] = field(default_factory=list)
    raws: list[bytes] = field(default_factory=list)

    def insert(self, stamp: int, raw: bytes) -> None:
        at = bisect.bisect_right(self.stamps, stamp)
        self.stamps.insert(at, stamp)
        self.raws.insert(at, raw)


class _Reply(Exception):
    """An answer other than a page, raised from anywhere in the request handling."""

    def __init__(self, status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> None:
        super().__init__(status)
        self.status, self.body, self.headers = status, body, headers or {}

    def with_headers(self, headers: dict[str, str]) -> _Reply:
        self.headers = {**self.headers, **headers}
        return self


#: fixed: the whole budget renews at boundaries every ``rate_window`` seconds, at a phase the client
#: cannot see. sliding: a request counts for ``rate_window`` seconds after it arrived. first-request: a
#: fixed window opened by the token's first request after the last window ended (kind to a client
#: that assumes its first answer starts a window).
RATE_WINDOW_KINDS = ("fixed", "sliding", "first-request")


def _error(status: int, code: str, message: str, details: list[Any] | None = None) -> _Reply:
    return _Reply(status, {"code": code, "message": message, "externalReference": None, "details": details or []})


class WebflowSimulator:
    """The simulator server. Start it with ``with`` or :meth:`start`; it binds 127.0.0.1 only."""

    def __init__(
        self,
        events: Iterable[dict[str, Any]] = (),
        *,
        token: str = DEFAULT_TOKEN,
        workspace_slug: str = DEFAULT_WORKSPACE_SLUG,
        workspace_id: str = DEFAULT_WORKSPACE_ID,
        config: SimulatorConfig | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not is_loopback_host(host):
            raise ValueError(f"The simulator only listens on loopback addresses, not {host!r}.")
        self.token = token
        self.workspace_slug = workspace_slug
        self.workspace_id = workspace_id
        self.config = config or SimulatorConfig()
        if self.config.retention_start is not None:
            parse_timestamp(self.config.retention_start)
        self.host, self.port = host, port
        self.clock = clock
        self.requests: deque[RecordedRequest] = deque(maxlen=100_000)
        self.request_count = 0
        #: Audit-log requests being answered right now, and the most there ever were at once.
        self.in_flight = 0
        self.max_in_flight = 0
        #: Audit-log answers by status (0: connection dropped without an answer).
        self.status_counts: Counter[int] = Counter()
        #: Called with (path, params) before each audit-log request is answered; tests use it to
        #: insert events at an exact moment of a pull.
        self.on_request: Callable[[str, dict[str, str]], None] | None = None
        self._lock = threading.Lock()
        self._all = _Index()
        self._by_type: dict[str, _Index] = {}
        self._queued: deque[str] = deque()
        self._fault_rng = random.Random(self.config.fault_seed)
        if self.config.rate_window_kind not in RATE_WINDOW_KINDS:
            raise ValueError(f"rate_window_kind must be one of {', '.join(RATE_WINDOW_KINDS)}")
        self._rate_windows: dict[str, tuple[float, int]] = {}
        #: (token, when the window renews) of each window whose whole budget was answered.
        self._spent_windows: set[tuple[str, float]] = set()
        self._rate_arrivals: dict[str, deque[float]] = {}
        #: The simulator's clock when it started: the times in :meth:`stats` count from it.
        self.epoch = self.clock()
        self._rate_phase_share = random.Random(f"rate-phase-{self.config.fault_seed}").random()
        self._first_request_at: float | None = None
        self._last_request_at: float | None = None
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        for item in events:
            self.insert_event(item)

    # -- data ---------------------------------------------------------------------------------

    def insert_event(self, item: dict[str, Any]) -> None:
        """Add one event (late arrivals included); it is served in timestamp order from now on."""
        stamp = to_micros(parse_timestamp(item["timestamp"]))
        try:
            raw = json.dumps(item, separators=(",", ":"), ensure_ascii=False).encode()
        except UnicodeEncodeError:  # a lone surrogate: only a JSON escape can carry it
            raw = json.dumps(item, separators=(",", ":")).encode()
        with self._lock:
            self._all.insert(stamp, raw)
            self._by_type.setdefault(str(item.get("eventType")), _Index()).insert(stamp, raw)

    def events(
        self, start: datetime | None = None, end: datetime | None = None, event_type: str | None = None
    ) -> list[dict[str, Any]]:
        """Ground truth: every stored event with ``start <= timestamp < end``, ascending."""
        with self._lock:
            index = self._index(event_type)
            lo = 0 if start is None else bisect.bisect_left(index.stamps, to_micros(start))
            hi = len(index.stamps) if end is None else bisect.bisect_left(index.stamps, to_micros(end))
            raws = index.raws[lo:hi]
        return [json.loads(raw) for raw in raws]

    def __len__(self) -> int:
        return len(self._all.stamps)

    def _index(self, event_type: str | None) -> _Index:
        if event_type is None:
            return self._all
        return self._by_type.get(event_type, _Index())

    # -- control --------------------------------------------------------------------------------

    def configure(self, **changes: Any) -> None:
        """Change :class:`SimulatorConfig` fields while running."""
        known = {f.name for f in fields(SimulatorConfig)}
        unknown = set(changes) - known
        if unknown:
            raise ValueError(f"Unknown simulator settings: {', '.join(sorted(unknown))}")
        if changes.get("rate_window_kind", "fixed") not in RATE_WINDOW_KINDS:
            raise ValueError(f"rate_window_kind must be one of {', '.join(RATE_WINDOW_KINDS)}")
        if changes.get("retention_start") is not None:
            parse_timestamp(changes["retention_start"])  # a ValueError names a bad instant now, not per request
        with self._lock:
            for name, value in changes.items():
                setattr(self.config, name, tuple(value) if isinstance(value, list) else value)
            if "fault_seed" in changes:
                self._fault_rng = random.Random(self.config.fault_seed)

    def queue_faults(self, *names: str) -> None:
        """Answer the next audit-log requests with these faults, in order, before any random ones."""
        for name in names:
            if name not in FAULTS and name != "ok":
                raise ValueError(f"Unknown fault {name!r}; choose from ok, {', '.join(FAULTS)}")
        with self._lock:
            self._queued.extend(names)

    def stats(self) -> dict[str, Any]:
        """Counters since start (or the last :meth:`reset_stats`): requests, answers by status, concurrency.

        Times are seconds on the simulator's clock since it started: when the first and the last
        audit-log request arrived, and the rate-limit window's shape (a fixed window's first boundary).
        """
        cfg = self.config
        with self._lock:
            return {
                "requests": sum(self.status_counts.values()),
                "statuses": {str(status): count for status, count in sorted(self.status_counts.items())},
                "max_in_flight": self.max_in_flight,
                "first_request_at": self._first_request_at,
                "last_request_at": self._last_request_at,
                "rate_window": {
                    "kind": cfg.rate_window_kind,
                    "limit": cfg.rate_limit,
                    "seconds": cfg.rate_window,
                    "first_boundary_at": self._first_boundary_offset(),
                    # Windows whose whole budget was answered: how often clients met the ceiling.
                    "spent": len(self._spent_windows),
                },
            }

    def _first_boundary_offset(self) -> float:
        phase = self.config.rate_window_phase
        return phase if phase is not None else self._rate_phase_share * self.config.rate_window

    def reset_stats(self) -> None:
        with self._lock:
            self.status_counts.clear()
            self._first_request_at = self._last_request_at = None
            self.max_in_flight = self.in_flight
            self.requests.clear()
            self._spent_windows.clear()

    def clear_faults(self) -> None:
        """Forget queued faults: the API is healthy again (rates from the config still apply)."""
        with self._lock:
            self._queued.clear()

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("The simulator is not running; call start() first.")
        return f"http://{self.host}:{self._server.server_address[1]}"

    def connection_json(self, **extra: Any) -> str:
        """An ``AIRFLOW_CONN_...`` value (JSON) for a Webflow connection to this simulator."""
        return json.dumps(
            {
                "conn_type": "webflow",
                "host": self.url,
                "password": self.token,
                "extra": {"workspace": self.workspace_slug, **extra},
            }
        )

    def start(self) -> WebflowSimulator:
        sim = self

        class Handler(_Handler):
            simulator = sim

        self._server = ThreadingHTTPServer((self.host, self.port), Handler)
        self._server.daemon_threads = True
        # A short poll interval keeps stop() fast (tests start and stop many simulators).
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name="webflow-simulator", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> WebflowSimulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- request handling -----------------------------------------------------------------------

    def _next_fault(self) -> str | None:
        with self._lock:
            if self._queued:
                name = self._queued.popleft()
                return None if name == "ok" else name
            cfg = self.config
            draw = self._fault_rng.random()
        for name, rate in (
            ("drop", cfg.drop_rate),
            ("500", cfg.error_rate),
            ("html502", cfg.html_502_rate),
            ("truncate", cfg.truncate_rate),
            ("stall", cfg.stall_rate),
            ("late_insert", cfg.late_insert_rate),
        ):
            if draw < rate:
                return name
            draw -= rate
        return None

    def _rate_headers(self, token: str) -> dict[str, str]:
        """Count this request against the token's window; raise a 429 once the budget is spent."""
        cfg = self.config
        if cfg.rate_limit is None:
            return {}
        now = self.clock()
        with self._lock:
            used, renews_at = self._rate_window_state(token, now)
            if used >= cfg.rate_limit:
                retry_after = max(1, math.ceil(renews_at - now))
                raise _Reply(
                    429,
                    {
                        "code": "too_many_requests",
                        "message": "Too many requests",
                        "externalReference": None,
                        "details": [],
                    },
                    {
                        "Retry-After": str(retry_after),
                        "X-RateLimit-Limit": str(cfg.rate_limit),
                        "X-RateLimit-Remaining": "0",
                    },
                )
            used += 1
            if used == cfg.rate_limit:
                self._spent_windows.add((token, renews_at))
            if cfg.rate_window_kind == "sliding":
                self._rate_arrivals[token].append(now)
            else:
                self._rate_windows[token] = (self._rate_windows[token][0], used)
        return {"X-RateLimit-Limit": str(cfg.rate_limit), "X-RateLimit-Remaining": str(cfg.rate_limit - used)}

    def _rate_window_state(self, token: str, now: float) -> tuple[int, float]:
        """(requests counted against ``token`` now, when the next one stops counting); under the lock."""
        cfg = self.config
        if cfg.rate_window_kind == "sliding":
            arrivals = self._rate_arrivals.setdefault(token, deque())
            while arrivals and arrivals[0] <= now - cfg.rate_window:
                arrivals.popleft()
            return len(arrivals), (arrivals[0] + cfg.rate_window if arrivals else now)
        if cfg.rate_window_kind == "fixed":
            epoch = self.epoch + self._first_boundary_offset()
            start = epoch + math.floor((now - epoch) / cfg.rate_window) * cfg.rate_window
        else:  # first-request
            start = self._rate_windows.get(token, (now, 0))[0]
            if now - start >= cfg.rate_window:
                start = now
        opened, used = self._rate_windows.get(token, (start, 0))
        if opened != start:
            used = 0
        self._rate_windows[token] = (start, used)
        return used, start + cfg.rate_window

    def _check_token(self, handler: BaseHTTPRequestHandler) -> str:
        header = handler.headers.get("Authorization", "")
        token = header[7:] if header.startswith("Bearer ") else ""
        if token != self.token and token not in self.config.tokens_without_scope:
            raise _error(401, "not_authorized", "Request not authorized")
        return token

    def _check_access(self, token: str, workspace: str) -> None:
        cfg = self.config
        if workspace in cfg.non_enterprise_workspaces:
            raise _error(
                403,
                "not_enterprise_plan_workspace",
                "Workspace audit logs are only available for workspaces on an Enterprise plan",
            )
        if workspace not in (self.workspace_slug, self.workspace_id):
            raise _error(404, "resource_not_found", "Requested resource not found: The workspace cannot be found")
        if token in cfg.tokens_without_scope:
            raise _error(
                403, "missing_scopes", "OAuthForbidden: You are missing the following scopes - workspace_activity:read"
            )

    def _parse_query(self, params: dict[str, str]) -> dict[str, Any]:
        details: list[dict[str, str]] = []

        def integer(name: str, default: int, low: int, high: int | None) -> int:
            raw = params.get(name, "")
            if raw == "":
                return default
            try:
                value = int(raw)
            except ValueError:
                details.append({"field": name, "message": f"{name} must be an integer"})
                return default
            if value < low or (high is not None and value > high):
                bound = f"between {low} and {high}" if high is not None else f"at least {low}"
                details.append({"field": name, "message": f"{name} must be {bound}"})
            return value

        def instant(name: str) -> int | None:
            raw = params.get(name, "")
            if raw == "":
                return None
            try:
                return to_micros(parse_timestamp(raw))
            except ValueError:
                details.append({"field": name, "message": f"{name} must be an ISO 8601 date-time"})
                return None

        query = {
            "limit": integer("limit", self.config.default_limit, 1, MAX_LIMIT),
            "offset": integer("offset", 0, 0, None),
            "sort": params.get("sortOrder", "") or self.config.default_sort,
            "event_type": params.get("eventType", "") or None,
            "from": instant("from"),
            "to": instant("to"),
        }
        if query["sort"] not in ("asc", "desc"):
            details.append({"field": "sortOrder", "message": "sortOrder must be one of asc, desc"})
        if query["event_type"] is not None and query["event_type"] not in KNOWN_EVENT_TYPES:
            details.append(
                {"field": "eventType", "message": f"eventType must be one of {', '.join(KNOWN_EVENT_TYPES)}"}
            )
        if details:
            raise _error(400, "validation_error", "Validation Error", details)
        return query

    def _page(self, query: dict[str, Any]) -> bytes:
        cfg = self.config
        with self._lock:
            index = self._index(query["event_type"])
            stamps = index.stamps
            lo, hi = 0, len(stamps)
            if query["from"] is not None:
                find = bisect.bisect_left if cfg.from_inclusive else bisect.bisect_right
                lo = find(stamps, query["from"])
            if query["to"] is not None:
                find = bisect.bisect_right if cfg.to_inclusive else bisect.bisect_left
                hi = find(stamps, query["to"])
            if cfg.retention_start is not None:
                lo = max(lo, bisect.bisect_left(stamps, to_micros(parse_timestamp(cfg.retention_start))))
            total = max(0, hi - lo)
            offset, limit = query.get("served_offset", query["offset"]), query["limit"]
            if query["sort"] == "asc":
                chosen = index.raws[lo + offset : min(hi, lo + offset + limit)] if offset < total else []
            else:
                top = hi - offset
                chosen = index.raws[max(lo, top - limit) : top][::-1] if offset < total else []
        if cfg.reverse_pages:
            chosen = chosen[::-1]
        reported_total = max(0, total + cfg.total_inflation)
        pagination = b'{"limit":%d,"offset":%d,"total":%d}' % (limit, query["offset"], reported_total)
        return b'{"items":[' + b",".join(chosen) + b'],"pagination":' + pagination + b"}"

    def _late_insert(self, query: dict[str, Any]) -> None:
        """Insert one event at a random instant of the window being read, as a late arrival would."""
        low = query["from"] if query["from"] is not None else (self._all.stamps[0] if self._all.stamps else 0)
        high = query["to"] if query["to"] is not None else low + 3_600_000_000
        rng = random.Random(self._fault_rng.random())
        ms = rng.randrange(low // 1000, max(low // 1000 + 1, high // 1000))
        self.insert_event(late_arrival(rng, ms, workspace_id=self.workspace_id, workspace_slug=self.workspace_slug))

    def handle_audit_logs(self, handler: _Handler, workspace: str, params: dict[str, str]) -> None:
        with self._lock:
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            self._handle_audit_logs(handler, workspace, params)
        finally:
            with self._lock:
                self.in_flight -= 1

    def _handle_audit_logs(self, handler: _Handler, workspace: str, params: dict[str, str]) -> None:
        arrived = self.clock() - self.epoch
        fault: str | None = None
        content_type = "application/json"
        try:
            token = self._check_token(handler)
            headers = self._rate_headers(token)
            self._check_access(token, workspace)
            query = self._parse_query(params)
            if self.on_request is not None:
                self.on_request(handler.path, params)
            fault = self._next_fault()
            if self.config.latency:
                time.sleep(self.config.latency)
            if fault == "stall":
                time.sleep(self.config.stall_seconds)
            if fault == "late_insert":
                self._late_insert(query)
            if fault == "429":
                raise _error(429, "too_many_requests", "Too many requests").with_headers(
                    {"Retry-After": str(self.config.retry_after_seconds), **headers}
                )
            if fault == "repeat" or self.config.ignore_offset:
                # The previous page's items (offset 0's when ignoring offset), under this request's offset.
                served = 0 if self.config.ignore_offset else max(0, query["offset"] - query["limit"])
                query = {**query, "served_offset": served}
            if fault in ("500", "503"):
                code = "internal_error" if fault == "500" else "service_unavailable"
                raise _Reply(int(fault), {"code": code, "message": "An Internal Error occurred"}, headers)
            if fault == "html502":
                status, content_type = 502, "text/html"
                body = b"<html><head><title>502 Bad Gateway</title></head><body><h1>502 Bad Gateway</h1></body></html>"
            else:
                status, body = 200, self._page(query)
            if fault == "truncate":
                body = body[: max(1, len(body) // 2)]
        except _Reply as reply:
            status, body, headers = reply.status, json.dumps(reply.body).encode(), reply.headers
        # Record before answering, so a client that has its answer can count on seeing it recorded.
        with self._lock:
            if self._first_request_at is None:
                self._first_request_at = arrived
            self._last_request_at = arrived
            self.request_count += 1
            recorded_status = 0 if fault == "drop" else status
            self.status_counts[recorded_status] += 1
            self.requests.append(RecordedRequest(handler.path.split("?")[0], params, recorded_status, fault))
        if fault == "drop":
            handler.drop()
        elif fault == "drip" and status == 200:
            handler.drip(body, headers, interval=self.config.drip_interval, seconds=self.config.drip_seconds)
        elif fault == "huge" and status == 200:
            handler.reply_chunked(body, headers, padding_bytes=self.config.huge_body_mib * 2**20)
        else:
            handler.reply(status, body, content_type, headers)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    simulator: WebflowSimulator
    server_version = "WebflowSimulator/1"

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def setup(self) -> None:
        super().setup()
        # Headers and body go out in separate writes; without this, delayed ACKs add ~40 ms a page.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def reply(self, status: int, body: bytes, content_type: str, headers: dict[str, str]) -> None:
        try:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            for name, value in headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    def drip(self, body: bytes, headers: dict[str, str], *, interval: float, seconds: float) -> None:
        """Headers at once, then the body a byte at a time: every read is quick, the whole never ends."""
        try:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            for name, value in headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.flush()
            for byte in body[: max(1, int(seconds / interval))]:
                self.wfile.write(bytes([byte]))
                self.wfile.flush()
                time.sleep(interval)
        except (BrokenPipeError, ConnectionResetError):
            pass
        self.drop()

    def reply_chunked(self, body: bytes, headers: dict[str, str], *, padding_bytes: int) -> None:
        """A valid page with ``padding_bytes`` of whitespace inside, sent chunked (no Content-Length)."""
        head, tail = body[:1], body[1:]
        try:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Transfer-Encoding", "chunked")
            for name, value in headers.items():
                self.send_header(name, value)
            self.end_headers()
            block = b" " * 2**16
            chunks = [head] + [block] * (padding_bytes // len(block)) + [tail]
            for chunk in chunks:
                self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            self.wfile.write(b"0\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    def drop(self) -> None:
        """Close the connection without answering, as a failing load balancer would."""
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_RDWR)

    def _params(self) -> dict[str, str]:
        query = parse_qs(urlsplit(self.path).query, keep_blank_values=True)
        return {key: values[-1] for key, values in query.items()}

    def do_GET(self) -> None:
        path = urlsplit(self.path).path
        parts = path.split("/")
        sim = self.simulator
        if len(parts) == 5 and parts[1:3] == ["v2", "workspaces"] and parts[4] == "audit_logs":
            sim.handle_audit_logs(self, unquote(parts[3]), self._params())
        elif path == "/_simulator/stats":
            self.reply(200, json.dumps(sim.stats()).encode(), "application/json", {})
        elif path == "/_simulator/health":
            self.reply(200, b'{"status":"ok"}', "application/json", {})
        elif path == "/_simulator/events":
            params = self._params()
            try:
                start = parse_timestamp(params["from"]) if params.get("from") else None
                end = parse_timestamp(params["to"]) if params.get("to") else None
            except ValueError:
                self.reply(400, b'{"message":"from/to must be ISO 8601"}', "application/json", {})
                return
            body = json.dumps(sim.events(start, end, params.get("eventType") or None)).encode()
            self.reply(200, body, "application/json", {})
        else:
            missing = {"code": "resource_not_found", "message": "Requested resource not found", "details": []}
            self.reply(404, json.dumps(missing).encode(), "application/json", {})

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        try:
            payload = json.loads(self.rfile.read(length) or b"null")
            if self.path == "/_simulator/config" and isinstance(payload, dict):
                self.simulator.configure(**payload)
                body = json.dumps(asdict(self.simulator.config)).encode()
            elif self.path == "/_simulator/stats/reset":
                self.simulator.reset_stats()
                body = json.dumps(self.simulator.stats()).encode()
            elif self.path == "/_simulator/faults" and isinstance(payload, list):
                self.simulator.queue_faults(*payload)
                body = b'{"queued":%d}' % len(payload)
            else:
                self.reply(404, b'{"message":"unknown control endpoint"}', "application/json", {})
                return
        except (ValueError, TypeError) as exc:
            self.reply(400, json.dumps({"message": str(exc)}).encode(), "application/json", {})
            return
        self.reply(200, body, "application/json", {})
