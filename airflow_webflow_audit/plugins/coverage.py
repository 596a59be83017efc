"""The coverage page's app: the range audit of a workspace's landed windows as a calendar, in Airflow's UI.

Mounted at ``/webflow-audit`` by :class:`~airflow_webflow_audit.plugins.WebflowAuditPlugin`:

* ``/webflow-audit/`` lists the destinations and workspaces this deployment's landing tasks write
  (their landing assets, as the DAGs declare them), each a link to its calendar;
* ``/webflow-audit/coverage?destination=...&workspace=...&start=...&end=...`` audits the range from the
  bucket (the chain judge, with the signing connection's policy; never a recount against the API) and
  draws the same page as ``audit --html``, with the same day-cell contract. The range defaults to the
  90 days before today (UTC) and is at most 366 days.

Every route is behind Airflow's auth: a plugin's routes are open unless they ask for it, so each
depends on ``requires_access_view(PLUGINS)`` and ``requires_access_asset(GET)``; a request without a
logged-in user gets 401 and no coverage. The page reads only destinations a landing task of this
deployment writes, with the deployment's own connections (the destination's ``conn_id@``): a
viewer cannot point it at any other bucket or path.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from html import escape
from typing import Any
from urllib.parse import urlencode

from fastapi import Request  # at module level: FastAPI resolves the routes' annotations in these globals

from airflow_webflow_audit.exceptions import WebflowConfigurationError
from airflow_webflow_audit.landing.layout import landing_owner
from airflow_webflow_audit.plugins import URL_PREFIX, VIEW_NAME
from airflow_webflow_audit.validation import EARLIEST_TIME, LATEST_TIME

log = logging.getLogger(__name__)

#: The range a calendar shows when none is asked for, and the longest it may show.
DEFAULT_DAYS = 90
MAX_DAYS = 366


@dataclass(frozen=True)
class Landing:
    """A destination and workspace some landing task of this deployment writes."""

    destination: str
    workspace: str

    def link(self, base: str = URL_PREFIX, start: date | None = None, end: date | None = None) -> str:
        """The calendar's address under ``base``, where the page's app is served (see :func:`app_base`)."""
        query = {"destination": self.destination, "workspace": self.workspace}
        if start is not None and end is not None:
            query.update(start=start.isoformat(), end=end.isoformat())
        return f"{base}/coverage?{urlencode(query)}"


class PageError(Exception):
    """A request the page answers with a message instead of a calendar."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def create_app() -> Any:
    """The FastAPI app (built in the api-server, on the page's first request)."""
    from airflow.api_fastapi.auth.managers.models.resource_details import AccessView
    from airflow.api_fastapi.core_api.security import requires_access_asset, requires_access_view
    from fastapi import Depends, FastAPI
    from fastapi.responses import HTMLResponse

    guard = [Depends(requires_access_view(AccessView.PLUGINS)), Depends(requires_access_asset("GET"))]
    # No OpenAPI schema or docs pages: they would be routes outside the guard.
    app = FastAPI(title=VIEW_NAME, docs_url=None, redoc_url=None, openapi_url=None, dependencies=guard)

    @app.get("/", response_class=HTMLResponse)
    def index(request: Request) -> HTMLResponse:
        return HTMLResponse(index_page(known_landings(), app_base(request.scope)))

    @app.get("/coverage", response_class=HTMLResponse)
    def coverage(
        request: Request, destination: str = "", workspace: str = "", start: str = "", end: str = ""
    ) -> HTMLResponse:
        landings, base = known_landings(), app_base(request.scope)
        try:
            return HTMLResponse(coverage_page(landings, destination, workspace, start, end, base))
        except PageError as error:
            return HTMLResponse(message_page(error.message, landings, base), status_code=error.status)

    return app


def app_base(scope: Mapping[str, Any]) -> str:
    """Where the page's app is served, as the request came in: Airflow's path prefix (``[api] base_url``, e.g.
    ``/airflow``) and the plugin's mount point. Every link is built from it, so the page works behind a prefix."""
    root = str(scope.get("root_path") or "")
    return root.rstrip("/") if root.rstrip("/").endswith(URL_PREFIX) else root.rstrip("/") + URL_PREFIX


def known_landings() -> list[Landing]:
    """What this deployment's landing tasks write, as their DAGs declare it: the landing assets in the tasks'
    outlets and inlets, read from the serialized DAGs the DAG processor stored.

    Never from asset events: anyone allowed to post an asset event (``POST /api/v2/assets/events``) can give it
    any extra, and a destination named only there would be audited and listed here. Nor from the asset table
    alone: Airflow keeps one definition per asset, and a DAG that names the asset without its extra would
    hide the landing. Only DAGs with a task that references an asset are read.
    """
    from airflow.models.asset import TaskOutletAssetReference
    from airflow.models.serialized_dag import SerializedDagModel
    from airflow.utils.session import create_session
    from sqlalchemy import select, union

    references = [select(TaskOutletAssetReference.dag_id)]
    try:  # inlet references are newer than some minors this page runs on
        from airflow.models.asset import TaskInletAssetReference

        references.append(select(TaskInletAssetReference.dag_id))
    except ImportError:
        pass
    found: set[Landing] = set()
    with create_session() as session:
        dag_ids = sorted(set(session.scalars(union(*references))))
        for dag_id in dag_ids:
            serialized = SerializedDagModel.get(dag_id, session=session)
            if serialized is not None and isinstance(serialized.data, dict):
                found.update(declared_landings(serialized.data))
    return sorted(found, key=lambda landing: (landing.destination, landing.workspace))


def declared_landings(serialized_dag: dict[str, Any]) -> set[Landing]:
    """The destinations and workspaces a serialized DAG's tasks declare in their landing assets' extras."""
    found = set()
    for raw in (serialized_dag.get("dag") or {}).get("tasks") or ():
        task = raw.get("__var", {}) if isinstance(raw, dict) else {}
        ports = task.get("partial_kwargs", {}) if task.get("_is_mapped") else task
        for port in (*(ports.get("outlets") or ()), *(ports.get("inlets") or ())):
            if not isinstance(port, dict) or port.get("__type") != "asset":
                continue
            extra = (port.get("__var") or {}).get("extra")
            owner = landing_owner(extra)
            if owner is not None and not owner.event_types:  # the calendar is of the whole log
                found.add(Landing(owner.destination, owner.workspace))
    return found


def coverage_page(
    landings: list[Landing], destination: str, workspace: str, start: str, end: str, base: str = URL_PREFIX
) -> str:
    """The calendar of one landing's range, or a :class:`PageError` that says what is wrong."""
    from airflow_webflow_audit.audit.bucket import audit_bucket
    from airflow_webflow_audit.audit.html import render_html
    from airflow_webflow_audit.landing.layout import resolve_destination
    from airflow_webflow_audit.signing import DEFAULT_SIGNING_CONN_ID, signing_from_connection

    landing = Landing(destination, workspace)
    if landing not in landings:
        raise PageError(
            404,
            f"No landing task of this deployment writes workspace {workspace!r} to {destination!r}. The page shows "
            "only what the landing tasks' DAGs declare; pick one below.",
        )
    first, last = _range(start, end)
    begin, finish = _midnight(first), _midnight(last)
    try:
        policy = signing_from_connection(DEFAULT_SIGNING_CONN_ID, required=False, to_sign=False).policy
        report = audit_bucket(resolve_destination(destination), workspace, begin, finish, signatures=policy)
    except WebflowConfigurationError as exc:
        raise PageError(400, str(exc)) from None
    except Exception as exc:  # storage or a connection: a message, never a stack trace
        log.exception("Auditing %s for the coverage page failed", destination)
        raise PageError(502, f"Could not read {destination}: {type(exc).__name__}: {exc}") from None
    return render_html(report.to_json(), form=_form(landings, landing, first, last, base), nav=_nav(base))


def index_page(landings: list[Landing], base: str = URL_PREFIX) -> str:
    from airflow_webflow_audit.audit.html import page

    return page(VIEW_NAME, _landing_list(landings, base), nav=_nav(base))


def message_page(message: str, landings: list[Landing], base: str = URL_PREFIX) -> str:
    from airflow_webflow_audit.audit.html import page

    body = f"<p class='message' id='message'>{escape(message)}</p>{_landing_list(landings, base)}"
    return page(VIEW_NAME, body, nav=_nav(base))


def _landing_list(landings: list[Landing], base: str) -> str:
    if not landings:
        return (
            "<p>No landing task of this deployment declares a landing asset yet. The landing operator declares one "
            "when its destination and workspace are not templated (a mapped or templated task: pass "
            "outlets=[landing_asset(destination, workspace)]).</p>"
        )
    first, last = _default_range()
    items = "".join(
        f"<li><a href='{escape(landing.link(base, first, last))}'>{escape(landing.workspace)}</a> in "
        f"<code>{escape(landing.destination)}</code></li>"
        for landing in landings
    )
    intro = f"<p>The last {DEFAULT_DAYS} days of each destination and workspace the landing tasks write:</p>"
    return f"{intro}<ul>{items}</ul>"


def _form(landings: list[Landing], chosen: Landing, first: date, last: date, base: str) -> str:
    def options(values: list[str], selected: str) -> str:
        return "".join(
            f"<option value='{escape(value)}'{' selected' if value == selected else ''}>{escape(value)}</option>"
            for value in values
        )

    destinations = sorted({landing.destination for landing in landings})
    workspaces = sorted({landing.workspace for landing in landings})
    return (
        f"<form class='range' method='get' action='{escape(base)}/coverage'>"
        f"<label>destination<select name='destination'>{options(destinations, chosen.destination)}</select></label>"
        f"<label>workspace<select name='workspace'>{options(workspaces, chosen.workspace)}</select></label>"
        f"<label>from (UTC day)<input type='date' name='start' value='{first.isoformat()}'></label>"
        f"<label>to, exclusive<input type='date' name='end' value='{last.isoformat()}'></label>"
        "<button type='submit'>Show</button></form>"
    )


def _nav(base: str) -> str:
    return f"<nav><a href='{escape(base)}/'>All landings</a></nav>"


def _default_range() -> tuple[date, date]:
    today = datetime.now(timezone.utc).date()
    return today - timedelta(days=DEFAULT_DAYS), today


def _range(start: str, end: str) -> tuple[date, date]:
    """The asked days ``[start, end)``, checked; the last 90 days when neither is given."""
    if not start and not end:
        return _default_range()
    try:
        first = date.fromisoformat(start[:10]) if start else None
        last = date.fromisoformat(end[:10]) if end else None
    except ValueError:
        raise PageError(400, f"start and end must be days, YYYY-MM-DD; got {start!r} and {end!r}.") from None
    earliest, latest = EARLIEST_TIME.date(), LATEST_TIME.date()
    for day in (first, last):
        if day is not None and not earliest <= day <= latest:
            raise PageError(400, f"{day} is outside the days this page shows, {earliest} to {latest}.")
    if first is None:
        assert last is not None
        first = max(earliest, last - timedelta(days=DEFAULT_DAYS))
    if last is None:
        last = min(latest, first + timedelta(days=DEFAULT_DAYS))
    if last <= first:
        raise PageError(400, f"The range is empty: end ({last}) must be after start ({first}).")
    if (last - first).days > MAX_DAYS:
        raise PageError(
            400,
            f"The range is {(last - first).days} days; the page shows at most {MAX_DAYS}. For a longer one, run "
            "python -m airflow_webflow_audit.audit --html.",
        )
    return first, last


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time(), timezone.utc)
