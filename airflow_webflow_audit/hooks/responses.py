"""Reading Webflow's answers: a checked page, a failure worth retrying, or an error that says what to do.

Sans-IO: it looks at one ``httpx.Response`` (or transport error) at a time and never sends anything.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import quote

import httpx

from airflow_webflow_audit import jsonlines
from airflow_webflow_audit.api import parse_timestamp
from airflow_webflow_audit.exceptions import (
    WebflowAuthError,
    WebflowNotFoundError,
    WebflowRequestRejectedError,
    WebflowResponseError,
)

#: Error texts from the API are cut to this many characters in messages.
MAX_ERROR_TEXT = 300
#: Answers retried with backoff (any other 5xx is too); 429 is retried after its Retry-After.
RETRYABLE_STATUS = frozenset({408, 425, 500, 502, 503, 504})


@dataclass(frozen=True)
class Page:
    """One 200 answer, checked: the items as sent, their JSON lines and timestamps, the pagination."""

    items: list[dict[str, Any]]
    lines: list[bytes]
    timestamps: list[datetime]
    total: int
    limit: int | None
    offset: int | None


@dataclass(frozen=True)
class Transient:
    """A failure worth retrying; ``retry_after`` (uncapped seconds) is set for 429s that sent one."""

    reason: str
    rate_limited: bool = False
    retry_after: float | None = None


class MalformedPageError(ValueError):
    """A 200 whose body is not the documented page shape."""


class BodyReader:
    """Collects one answer's body within a size cap and a deadline for the whole request.

    httpx's ``timeout`` bounds each read, so a server that drips a byte at a time would hold a
    request open for ever; the deadline (checked as each chunk arrives) bounds the whole of it.
    The cap is checked on the declared ``Content-Length`` first and on the bytes as they come, so
    an oversized body is refused before it is parsed and memory stays near the cap.
    """

    def __init__(self, response: httpx.Response, *, max_bytes: int, deadline: float, timeout: float) -> None:
        self.response = response
        self.max_bytes = max_bytes
        self.deadline = deadline
        self.timeout = timeout
        self.size = 0
        self.chunks: list[bytes] = []
        declared = response.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > max_bytes:
            raise self._too_large(f"declares {int(declared):,} bytes")
        self._check_deadline()

    def add(self, chunk: bytes) -> None:
        self.size += len(chunk)
        if self.size > self.max_bytes:
            raise self._too_large(f"sent more than {self.size:,} bytes")
        self.chunks.append(chunk)
        self._check_deadline()

    def finish(self) -> httpx.Response:
        """The answer with its whole body read (already decoded, so without its content encoding)."""
        headers = [
            (name, value)
            for name, value in self.response.headers.multi_items()
            if name.lower() not in ("content-encoding", "content-length", "transfer-encoding")
        ]
        return httpx.Response(
            self.response.status_code,
            headers=headers,
            content=b"".join(self.chunks),
            request=self.response.request,
        )

    def _check_deadline(self) -> None:
        if time.monotonic() > self.deadline:
            raise httpx.ReadTimeout(
                f"the whole answer did not arrive within the {self.timeout:g} s timeout ({self.size:,} bytes "
                "of the body so far)",
                request=self.response.request,
            )

    def _too_large(self, what: str) -> WebflowResponseError:
        request = self.response.request
        return WebflowResponseError(
            f"Webflow's answer to GET {request.url.path} {what}, past the cap of {self.max_bytes:,} bytes; "
            "it was not read further. A page of 100 audit events is far smaller, so this is a broken proxy "
            "or server. If the events really are this large, raise 'max_response_mib' in the connection extra."
        )


def redact(text: str, secret: str) -> str:
    """``text`` with the secret replaced by ``***``, also where it appears escaped.

    An error body or a transport error may quote the token as ``repr`` or JSON writes it (``\\x00``,
    ``\\u0000``) or percent-encoded: each of those spellings is removed too.
    """
    if not secret:
        return text
    for form in _spellings(secret):
        text = text.replace(form, "***")
    return text


def _spellings(secret: str) -> list[str]:
    forms = {
        secret,
        repr(secret)[1:-1],
        json.dumps(secret)[1:-1],
        json.dumps(secret, ensure_ascii=True)[1:-1],
        quote(secret, safe=""),
    }
    # Longest first, so a longer spelling is not half-replaced by a shorter one inside it.
    return sorted(forms, key=len, reverse=True)


def parse_page(content: bytes) -> Page:
    """Check a page body against the documented shape; raise :class:`MalformedPageError` if it is not."""
    try:
        body, fast = jsonlines.loads(content)
    except ValueError as exc:
        raise MalformedPageError(f"invalid JSON ({exc}); {len(content)} bytes received") from None
    except RecursionError:
        raise WebflowResponseError(
            f"Webflow sent a page nested too deeply to read ({len(content)} bytes). Asking again will not help; "
            "report it to Webflow support with the window."
        ) from None
    if not isinstance(body, dict):
        raise MalformedPageError(f"expected a JSON object, got {type(body).__name__}")
    items = body.get("items")
    pagination = body.get("pagination")
    if not isinstance(items, list):
        raise MalformedPageError("'items' is missing or not a list")
    if not isinstance(pagination, dict):
        raise MalformedPageError("'pagination' is missing or not an object")
    total = pagination.get("total")
    if isinstance(total, bool) or not isinstance(total, int) or total < 0:
        raise MalformedPageError(f"'pagination.total' is not a whole number >= 0: {total!r}")
    timestamps: list[datetime] = []
    for index, item in enumerate(items):
        if not isinstance(item, dict):
            raise MalformedPageError(f"item {index} is not an object")
        stamp = item.get("timestamp")
        if not isinstance(stamp, str):
            raise MalformedPageError(f"item {index} has no 'timestamp' string")
        try:
            timestamps.append(parse_timestamp(stamp))
        except ValueError:
            raise MalformedPageError(f"item {index} has an unreadable timestamp {stamp[:40]!r}") from None
    limit, offset = pagination.get("limit"), pagination.get("offset")
    return Page(
        items=items,
        lines=_lines(items, fast=fast, offset=offset),
        timestamps=timestamps,
        total=total,
        limit=limit if isinstance(limit, int) else None,
        offset=offset if isinstance(offset, int) else None,
    )


def _lines(items: list[dict[str, Any]], *, fast: bool, offset: object) -> list[bytes]:
    """Each item's JSON line; an event nested too deep to write faithfully fails the task."""
    if fast:
        try:
            return [jsonlines.dump_line_fast(item) for item in items]
        except TypeError:  # orjson refuses to write past its nesting limit
            pass
    index = next((i for i, item in enumerate(items) if jsonlines.depth_exceeds(item)), None)
    if index is None:
        return [jsonlines.dump_line(item) for item in items]
    raise WebflowResponseError(
        f"Event {index} of the page at offset {offset} is nested more than {jsonlines.MAX_EVENT_DEPTH} levels "
        "deep, past what JSON Lines landing can write faithfully. Asking again will not help: no audit event "
        "of the documented shape nests like this, so report it to Webflow support with the window."
    )


def parse_retry_after(value: str | None) -> float | None:
    """Seconds from a ``Retry-After`` header (delta-seconds form); None if absent or unreadable.

    The retry policy caps it (:attr:`RetryPolicy.max_retry_after`).
    """
    if value is None:
        return None
    try:
        seconds = float(value.strip())
    except ValueError:
        return None
    if math.isnan(seconds) or seconds < 0:
        return None
    return seconds


def _error_body(response: httpx.Response) -> tuple[str | None, str | None]:
    """Webflow's ``code`` and ``message`` from an error body, if the body is the documented JSON."""
    try:
        body = json.loads(response.content)
    except ValueError:
        return None, None
    if not isinstance(body, dict):
        return None, None
    code, message = body.get("code"), body.get("message")
    return (code if isinstance(code, str) else None, message if isinstance(message, str) else None)


HINTS = {
    400: "The request was rejected as malformed; check the filters (eventType, from, to) for typos.",
    401: "Check the API token in the Webflow connection's password field: it is invalid, expired or revoked.",
    403: (
        "The token needs the workspace_activity:read scope and the workspace must be on an Enterprise plan; "
        "create a workspace API token from the workspace dashboard's integrations page."
    ),
    404: "Check the workspace id or slug: this token cannot see a workspace by that name.",
}


def classify_response(response: httpx.Response, *, token: str) -> Page | Transient:
    """Turn one answer into a page, a retryable failure, or raise a non-retryable error."""
    status = response.status_code
    if status == 200:
        try:
            return parse_page(response.content)
        except MalformedPageError as exc:
            return Transient(f"200 with a bad body: {redact(str(exc), token)}")
    code, message = _error_body(response)
    if code is not None:
        code = redact(code, token)[:MAX_ERROR_TEXT]
    detail = f"HTTP {status}" + (f" {code}" if code else "")
    if message:
        detail += f": {redact(message, token)[:MAX_ERROR_TEXT]}"
    elif code is None:
        kind = response.headers.get("content-type", "unknown content type").split(";")[0]
        detail += f" ({kind} body, {len(response.content)} bytes)"
    if status == 429:
        retry_after = parse_retry_after(response.headers.get("retry-after"))
        return Transient(detail, rate_limited=True, retry_after=retry_after)
    if status in RETRYABLE_STATUS or status >= 500:
        return Transient(detail)
    hint = HINTS.get(status, "The API refused the request; retrying will not help.")
    error_class: type[WebflowRequestRejectedError] = WebflowRequestRejectedError
    if status in (401, 403):
        error_class = WebflowAuthError
    elif status == 404:
        error_class = WebflowNotFoundError
    raise error_class(
        f"Webflow rejected {response.request.method} {response.request.url.path}: {detail}. {hint}",
        http_status=status,
        code=code,
        api_message=redact(message, token) if message else None,
        hint=hint,
    )


def describe_transport_error(exc: httpx.RequestError, token: str) -> str:
    text = str(exc) or "no detail"
    return redact(f"{type(exc).__name__}: {text}", token)[:MAX_ERROR_TEXT]
