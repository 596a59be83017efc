"""A simulator of Webflow's workspace audit-log API: real HTTP on loopback, no Enterprise plan needed.

It follows the endpoint's OpenAPI description (``GET /v2/workspaces/{id_or_slug}/audit_logs`` with
``limit``/``offset``/``sortOrder``/``eventType``/``from``/``to``, Bearer auth, the documented error
bodies, ``X-RateLimit-*`` headers and 429 with ``Retry-After``), and makes the behaviours the docs
leave open switchable, so code can be proven right whichever way they fall: inclusive or exclusive
``from``/``to``, the default sort order and limit. Faults can be switched on by rate (seeded) or
queued one by one: 5xx, HTML 502 pages, dropped connections, truncated bodies, stalls, latency, and
late-arriving events inserted while a client is paging.

The package is three modules: :mod:`.generator` (synthetic events), :mod:`.server` (the HTTP
server) and :mod:`.cli` (the command line). Use it from Python::

    with WebflowSimulator(events=generate_events(seed=1, start=..., end=...)) as sim:
        ...  # sim.url, sim.token, sim.workspace_slug, sim.events(start, end)

or from a shell (``--help`` lists every switch)::

    python -m airflow_webflow_audit.testing.simulator --port 8081 --days 7

Control endpoints, for tests of your own DAGs: ``GET /_simulator/events?from=&to=&eventType=``
(ground truth of ``[from, to)``), ``POST /_simulator/config`` (JSON patch of
:class:`SimulatorConfig`), ``POST /_simulator/faults`` (JSON list of fault names to queue),
``GET /_simulator/stats`` (requests, answers by status, most in flight at once) and
``POST /_simulator/stats/reset``.
"""

from airflow_webflow_audit.testing.simulator.generator import (
    DEFAULT_WORKSPACE_ID,
    DEFAULT_WORKSPACE_SLUG,
    generate_events,
    to_micros,
)
from airflow_webflow_audit.testing.simulator.server import (
    DEFAULT_TOKEN,
    FAULT_RATE_FIELDS,
    FAULTS,
    RATE_WINDOW_KINDS,
    RecordedRequest,
    SimulatorConfig,
    WebflowSimulator,
)

__all__ = [
    "DEFAULT_TOKEN",
    "DEFAULT_WORKSPACE_ID",
    "DEFAULT_WORKSPACE_SLUG",
    "FAULTS",
    "FAULT_RATE_FIELDS",
    "RATE_WINDOW_KINDS",
    "RecordedRequest",
    "SimulatorConfig",
    "WebflowSimulator",
    "generate_events",
    "to_micros",
]
