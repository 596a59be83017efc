"""A range audit as one self-contained HTML page: the evidence an auditor files, and the Airflow UI's page.

Built from the audit's JSON report alone (the one source of truth of ``--json``), with inline CSS and
SVG only: no script, font or image from anywhere else, so it reads offline, years later, and prints
on A4. The header says what was audited, how, when, with which keys, and the verdict with its exit
code; the calendar has one cell per UTC day (``data-day``, ``data-status``: see
:mod:`airflow_webflow_audit.audit.calendar`), each a link to that day's windows; below, every window
with its parts, records, signatures and problems, problems first.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from html import escape
from typing import Any

from airflow_webflow_audit.audit.calendar import (
    DAY_STATUSES,
    GAP,
    OK,
    OUTSIDE,
    PROBLEM,
    RETENTION,
    WARNING,
    Month,
    months,
)

#: Each status's colour and the mark inside its cell (colour is never the only sign of a status).
STYLE = {
    PROBLEM: ("#f4b4b4", "#b71c1c", "\u2717"),
    GAP: ("#e0e0e0", "#616161", "\u2013"),
    RETENTION: ("#ffd8a8", "#a04c00", "R"),
    WARNING: ("#fff3a0", "#7a6400", "!"),
    OK: ("#bfe5c2", "#1b5e20", "\u2713"),
    OUTSIDE: ("#ffffff", "#bdbdbd", ""),
}
LEGEND = {
    PROBLEM: "problem",
    GAP: "gap: no whole window",
    RETENTION: "before the API's retention horizon",
    WARNING: "verified, with a warning",
    OK: "every window verified",
    OUTSIDE: "outside the range",
}
WEEKDAYS = ("Mo", "Tu", "We", "Th", "Fr", "Sa", "Su")

_CSS = """
:root { color-scheme: light; }
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, Helvetica, Arial, sans-serif; margin: 1.5rem;
       color: #212121; font-size: 14px; }
h1 { font-size: 1.35rem; margin: 0 0 .5rem; } h2 { font-size: 1.1rem; margin: 1.5rem 0 .5rem; }
dl.meta { display: grid; grid-template-columns: max-content 1fr; gap: .15rem 1rem; margin: 0 0 1rem; }
dl.meta dt { color: #616161; } dl.meta dd { margin: 0; word-break: break-all; }
.verdict { font-weight: 600; padding: .4rem .6rem; border-radius: 4px; display: inline-block; }
.verdict.complete { background: #bfe5c2; color: #1b5e20; } .verdict.incomplete { background: #f4b4b4; color: #b71c1c; }
.legend { display: flex; flex-wrap: wrap; gap: .4rem 1rem; margin: .5rem 0 1rem; }
.legend span { display: inline-flex; align-items: center; gap: .3rem; }
.months { display: flex; flex-wrap: wrap; gap: 1rem 1.5rem; }
.month { break-inside: avoid; }
.month h3 { font-size: .9rem; margin: 0 0 .3rem; }
.grid { display: grid; grid-template-columns: repeat(7, 1.9rem); gap: 2px; }
.grid .wd { font-size: .7rem; color: #757575; text-align: center; }
.day { display: block; height: 1.9rem; border-radius: 3px; text-align: center; font-size: .7rem; line-height: 1rem;
       text-decoration: none; border: 1px solid transparent; }
.day b { display: block; font-size: .75rem; }
table { border-collapse: collapse; width: 100%; font-size: .8rem; }
th, td { border-bottom: 1px solid #e0e0e0; padding: .25rem .4rem; text-align: left; vertical-align: top; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
td.key { font-family: ui-monospace, Menlo, Consolas, monospace; word-break: break-all; }
tr.bad td { background: #fdecec; }
.detail { color: #616161; }
code { font-family: ui-monospace, Menlo, Consolas, monospace; }
form.range { display: flex; flex-wrap: wrap; gap: .5rem; align-items: end; margin: 0 0 1rem; }
form.range label { display: flex; flex-direction: column; font-size: .75rem; color: #616161; }
.message { padding: .6rem .8rem; border-radius: 4px; background: #fff3a0; }
@page { size: A4; margin: 12mm; }
@media print { body { margin: 0; font-size: 11px; } form.range, nav { display: none; } .day { height: 1.6rem; } }
"""


def render_html(
    report: Mapping[str, Any],
    *,
    command: str | None = None,
    form: str = "",
    nav: str = "",
) -> str:
    """The whole page for one audit report (its JSON form); ``form`` and ``nav`` are the UI page's extras."""
    workspace = str(report["workspace"])
    span = f"[{report['range']['start']}, {report['range']['end']})"
    title = f"Webflow audit coverage: {workspace} {span}"
    return "".join(
        [
            "<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>",
            "<meta name='viewport' content='width=device-width, initial-scale=1'>",
            f"<title>{escape(title)}</title><style>{_CSS}{_status_css()}</style></head><body>",
            nav,
            f"<h1>{escape(title)}</h1>",
            form,
            _header(report, command),
            _calendar(report),
            _problems(report),
            _windows(report),
            "</body></html>\n",
        ]
    )


def page(title: str, body: str, *, nav: str = "") -> str:
    """A page in the same style with any body (the UI's index and its messages)."""
    return (
        "<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
        f"<title>{escape(title)}</title><style>{_CSS}{_status_css()}</style></head><body>{nav}"
        f"<h1>{escape(title)}</h1>{body}</body></html>\n"
    )


def _status_css() -> str:
    return (
        "".join(
            f".day[data-status='{status}'] {{ background: {fill}; color: {ink}; }}"
            f".day[data-status='{status}']:hover {{ border-color: {ink}; }}"
            for status, (fill, ink, _) in STYLE.items()
        )
        + ".day[data-status='outside'] { border-color: #f0f0f0; }"
    )


def _header(report: Mapping[str, Any], command: str | None) -> str:
    keys = report.get("keys") or []
    key_lines = (
        "<br>".join(
            escape(
                f"{key.get('name')} -- {key.get('algorithm')} {key.get('fingerprint')}"
                + (f", retired at {key['not_after']}" if key.get("not_after") else "")
            )
            for key in keys
        )
        if keys
        else "none: signatures were not checked"
    )
    rows: list[tuple[str, str]] = [
        ("destination", escape(str(report.get("destination", "")))),
        ("workspace", escape(str(report["workspace"]))),
        ("range (UTC)", escape(f"[{report['range']['start']}, {report['range']['end']})")),
    ]
    if command:
        rows.append(("command", f"<code>{escape(command)}</code>"))
    rows += [
        ("audited at", escape(str(report.get("audited_at") or ""))),
        ("by", escape(f"airflow-webflow-audit {report.get('package_version') or ''}")),
        ("keys", key_lines),
        (
            "API recount",
            escape(f"{report.get('recount_requests', 0)} requests" if report.get("recount_requests") else "not asked"),
        ),
    ]
    meta = "".join(f"<dt>{name}</dt><dd>{value}</dd>" for name, value in rows)
    verdict = str(report["verdict"])
    exit_code = int(report.get("exit_code", 0 if verdict == "complete" else 1))
    windows = report.get("windows", [])
    whole = [w for w in windows if not w.get("event_types")]
    counts = (
        f"{len(whole)} whole window(s), {sum(int(w.get('records') or 0) for w in whole)} events, "
        f"{len(report.get('problems', []))} problem(s), {len(report.get('warnings', []))} warning(s)"
    )
    return (
        f"<dl class='meta'>{meta}</dl>"
        f"<p><span class='verdict {escape(verdict)}' id='verdict' data-verdict='{escape(verdict)}' "
        f"data-exit-code='{exit_code}'>verdict: {escape(verdict)} (exit code {exit_code})</span> "
        f"{escape(counts)}</p>"
    )


def _recount(report: Mapping[str, Any]) -> str:
    requests = report.get("recount_requests") or 0
    return f"{requests} requests" if requests else "not asked (the bucket alone)"


def _calendar(report: Mapping[str, Any]) -> str:
    calendar = months(report)
    parts = ["<h2>Calendar (UTC days)</h2>", _legend(), _strip(calendar), "<div class='months'>"]
    row_of = {str(window["key"]): index for index, window in enumerate(report.get("windows", []))}
    for month in calendar:
        parts.append(f"<div class='month'><h3>{escape(month.label)}</h3><div class='grid'>")
        parts.extend(f"<span class='wd'>{day}</span>" for day in WEEKDAYS)
        parts.extend("<span></span>" for _ in range(month.leading_blanks))
        for cell in month.cells:
            mark = STYLE[cell.status][2]
            href = f" href='#w{row_of[cell.windows[0]]}'" if cell.windows and cell.windows[0] in row_of else ""
            parts.append(
                f"<a class='day' data-day='{cell.day.isoformat()}' data-status='{cell.status}' "
                f"title='{escape(cell.title)}'{href}><b>{cell.day.day}</b>{mark}</a>"
            )
        parts.append("</div></div>")
    parts.append("</div>")
    return "".join(parts)


def _legend() -> str:
    items = []
    for status in DAY_STATUSES:
        fill, ink, mark = STYLE[status]
        swatch = (
            f"<svg width='14' height='14' viewBox='0 0 14 14' aria-hidden='true'><rect x='0.5' y='0.5' width='13' "
            f"height='13' rx='2' fill='{fill}' stroke='{ink}'/></svg>"
        )
        items.append(f"<span>{swatch}{escape(mark)} {escape(LEGEND[status])} (<code>{status}</code>)</span>")
    return f"<div class='legend'>{''.join(items)}</div>"


def _strip(calendar: list[Month]) -> str:
    """The whole range at a glance: one thin bar per day of the range, in its status's colour."""
    cells = [cell for month in calendar for cell in month.cells if cell.status != OUTSIDE]
    if not cells:
        return ""
    width = 3
    bars = "".join(
        f"<rect x='{index * width}' y='0' width='{width}' height='14' fill='{_bar_colour(cell.status)}'>"
        f"<title>{escape(cell.day.isoformat())}: {cell.status}</title></rect>"
        for index, cell in enumerate(cells)
    )
    return (
        f"<svg class='strip' width='{len(cells) * width}' height='14' viewBox='0 0 {len(cells) * width} 14' "
        f"role='img' aria-label='the range, one bar per day'>{bars}</svg>"
    )


def _bar_colour(status: str) -> str:
    return "#43a047" if status == OK else STYLE[status][1]


def _problems(report: Mapping[str, Any]) -> str:
    problems: Sequence[Mapping[str, Any]] = report.get("problems", [])
    warnings: Sequence[str] = report.get("warnings", [])
    parts = [f"<h2>Problems ({len(problems)})</h2>"]
    if problems:
        parts.append("<table><tr><th>kind</th><th>time (UTC)</th><th>key</th><th>detail</th></tr>")
        for problem in problems:
            when = f"[{problem['start']}, {problem['end']})" if problem.get("start") else ""
            parts.append(
                f"<tr class='bad'><td>{escape(str(problem['kind']))}</td><td>{escape(when)}</td>"
                f"<td class='key'>{escape(str(problem.get('key') or ''))}</td>"
                f"<td>{escape(str(problem.get('detail', '')))}</td></tr>"
            )
        parts.append("</table>")
    else:
        parts.append("<p>None.</p>")
    if warnings:
        parts.append(f"<h2>Warnings ({len(warnings)})</h2><ul>")
        parts.extend(f"<li>{escape(str(warning))}</li>" for warning in warnings)
        parts.append("</ul>")
    return "".join(parts)


def _windows(report: Mapping[str, Any]) -> str:
    windows: Sequence[Mapping[str, Any]] = report.get("windows", [])
    signed = bool(report.get("signatures_checked"))
    parts = [
        f"<h2>Windows ({len(windows)})</h2>",
        "<table><tr><th>window (UTC)</th><th>parts</th><th>signed</th><th>records</th><th>status</th><th>key</th></tr>",
    ]
    for index, window in enumerate(windows):
        status = str(window["status"]) + (
            f" (event_types={','.join(window['event_types'])})" if window.get("event_types") else ""
        )
        detail = "".join(
            f"<div class='detail'>{escape(str(text))}</div>"
            for text in ([window["detail"]] if window.get("detail") else []) + list(window.get("warnings", []))
        )
        parts.append(
            f"<tr id='w{index}' class='{'bad' if window['status'] != 'ok' else ''}'>"
            f"<td>[{escape(str(window['start']))}, {escape(str(window['end']))})</td>"
            f"<td class='num'>{int(window.get('parts', 1))}</td>"
            f"<td class='num'>{window.get('signed_parts', 0) if signed else '-'}</td>"
            f"<td class='num'>{'-' if window.get('records') is None else int(window['records'])}</td>"
            f"<td>{escape(status)}{detail}</td><td class='key'>{escape(str(window['key']))}</td></tr>"
        )
    parts.append("</table>")
    return "".join(parts)
