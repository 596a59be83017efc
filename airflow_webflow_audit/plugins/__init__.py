"""The Airflow plugin of this provider: the Webflow audit coverage page in Airflow's UI (Airflow 3.1+), and the
scheduler listener that links window aliases to their landing assets (:mod:`.alias_links`).

Registered through the ``airflow.plugins`` entry point, so installing the provider is all it takes.
Every Airflow process loads plugins (workers too, for each task), so this module imports nothing
heavy: the page's FastAPI app (:mod:`.coverage`), and Airflow's API security with it, is built on the
page's first request, in the api-server only.
"""

from __future__ import annotations

import threading
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from airflow.plugins_manager import AirflowPlugin

from airflow_webflow_audit.compat import has_coverage_page
from airflow_webflow_audit.plugins import alias_links

#: Where the page's app is mounted in the api-server.
URL_PREFIX = "/webflow-audit"
VIEW_NAME = "Webflow audit coverage"

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]


class LazyCoverageApp:
    """An ASGI app that builds the coverage page's FastAPI app when the first request arrives."""

    def __init__(self) -> None:
        self._app: Any = None
        self._lock = threading.Lock()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self._app is None:
            with self._lock:
                if self._app is None:
                    from airflow_webflow_audit.plugins.coverage import create_app

                    self._app = create_app()
        await self._app(scope, receive, send)

    def __repr__(self) -> str:
        return "airflow_webflow_audit.plugins.coverage:create_app"


class WebflowAuditPlugin(AirflowPlugin):
    """The coverage page: a calendar of a workspace's landed windows, from the bucket, behind Airflow's auth."""

    name = "webflow_audit"
    # The scheduler links each window alias to its landing asset when a run starts (see alias_links).
    listeners = [alias_links]
    if has_coverage_page():
        fastapi_apps = [{"app": LazyCoverageApp(), "url_prefix": URL_PREFIX, "name": VIEW_NAME}]
        external_views = [
            {
                "name": VIEW_NAME,
                # Relative: Airflow's UI page carries <base href> with its path prefix ([api] base_url), so the
                # iframe finds the page under /airflow/webflow-audit/ as under /webflow-audit/.
                "href": f"{URL_PREFIX.lstrip('/')}/",
                "destination": "nav",
                "category": "browse",
                "url_route": "webflow-audit-coverage",
            }
        ]
