"""Turning a ``webflow`` connection into checked settings, by its one table of fields
(:mod:`airflow_webflow_audit.connection_fields`)."""

from __future__ import annotations

import json
import logging
import math
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from airflow_webflow_audit.api import API_VERSION_PREFIX, DEFAULT_BASE_URL, is_loopback_host
from airflow_webflow_audit.connection_fields import (
    DEFAULT_MAX_CONCURRENCY,
    DEFAULT_MAX_RESPONSE_MIB,
    DEFAULT_MAX_RETRIES,
    DEFAULT_RATE_LIMIT_WINDOW_SECONDS,
    DEFAULT_TIMEOUT_SECONDS,
    EXTRA_FIELDS,
    EXTRA_KEYS,
    ExtraField,
)
from airflow_webflow_audit.exceptions import WebflowConfigurationError
from airflow_webflow_audit.validation import validate_workspace

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class WebflowConnectionConfig:
    """What a ``webflow`` connection says, checked. The token is kept out of ``repr``."""

    base_url: str
    token: str = field(repr=False)
    workspace: str | None = None
    rate_limit_per_minute: float | None = None
    timeout: float = DEFAULT_TIMEOUT_SECONDS
    max_retries: int = DEFAULT_MAX_RETRIES
    max_concurrency: int = DEFAULT_MAX_CONCURRENCY
    rate_limit_window_seconds: float = DEFAULT_RATE_LIMIT_WINDOW_SECONDS
    max_response_mib: int = DEFAULT_MAX_RESPONSE_MIB
    #: Landing and reconcile tasks refuse to run without a signing key.
    require_signing: bool = False


def config_from_connection(
    conn_id: str,
    *,
    host: str | None,
    port: int | None,
    password: str | None,
    extra: str | dict[str, Any] | None,
    hook_params: Mapping[str, Any] | None = None,
) -> WebflowConnectionConfig:
    """Check a connection's fields and extras and turn them into a :class:`WebflowConnectionConfig`.

    ``hook_params`` (checked by :func:`check_hook_params`) replace the extras of the same name for one task.
    """
    token = (password or "").strip()
    if not token:
        raise WebflowConfigurationError(
            f"Connection {conn_id!r} has no API token. Put the Webflow workspace API token (scope "
            "workspace_activity:read) in the connection's password field ('API token' in the UI)."
        )
    check_token_characters(conn_id, token)
    extras = _parse_extras(conn_id, extra)
    settings = {extra.name: _check_extra(conn_id, extra, extras.get(extra.name)) for extra in EXTRA_FIELDS}
    settings.update(check_hook_params(hook_params))
    return WebflowConnectionConfig(base_url=build_base_url(conn_id, host, port), token=token, **settings)


#: The connection extras a task may override for itself with ``hook_params``.
HOOK_PARAM_KEYS = ("max_retries", "timeout", "max_concurrency", "rate_limit_per_minute")


def check_hook_params(hook_params: Mapping[str, Any] | None) -> dict[str, Any]:
    """The checked per-task overrides of connection extras, by the same table and ranges as the extras."""
    if hook_params is None:
        return {}
    if not isinstance(hook_params, Mapping):
        raise WebflowConfigurationError(f"hook_params must be a dict, got {type(hook_params).__name__}.")
    unknown = sorted(set(hook_params) - set(HOOK_PARAM_KEYS))
    if unknown:
        raise WebflowConfigurationError(
            f"Unknown hook_params {', '.join(map(repr, unknown))}; a task may set {', '.join(HOOK_PARAM_KEYS)}."
        )
    fields = {extra.name: extra for extra in EXTRA_FIELDS}
    return {
        name: _check_value(f"hook_params[{name!r}]", fields[name], value)
        for name, value in hook_params.items()
        if value is not None and value != ""
    }


def check_token_characters(conn_id: str, token: str) -> None:
    """Refuse a token with anything but printable ASCII, naming the character by its position only.

    A pasted token may carry a zero-width space, a BOM or a control character: invisible in the UI,
    fatal in an HTTP header, and a reason to show the token in an error if not caught here. The
    message names the kind of character and where it is, never the token or its neighbours.
    """
    for position, char in enumerate(token, start=1):
        if "!" <= char <= "~":
            continue
        if char.isspace():
            kind = "whitespace"
        elif unicodedata.category(char) in ("Cc", "Cf"):
            name = unicodedata.name(char, "control character")
            kind = f"an invisible character (U+{ord(char):04X} {name})"
        else:
            kind = "a character outside printable ASCII"
        raise WebflowConfigurationError(
            f"The API token of connection {conn_id!r} contains {kind} at position {position} of {len(token)}; "
            "copy the token again and paste it alone into the password field (a copy from a rich-text page "
            "can bring invisible characters with it)."
        )


def _parse_extras(conn_id: str, extra: str | dict[str, Any] | None) -> dict[str, Any]:
    if extra is None or extra == "":
        return {}
    if isinstance(extra, str):
        try:
            extra = json.loads(extra)
        except json.JSONDecodeError as exc:
            raise WebflowConfigurationError(
                f"Connection {conn_id!r}: extra is not valid JSON ({exc.msg} at position {exc.pos}). "
                'Use an object such as {"workspace": "my-workspace", "timeout": 30}.'
            ) from None
    if not isinstance(extra, dict):
        raise WebflowConfigurationError(
            f"Connection {conn_id!r}: extra must be a JSON object, got {type(extra).__name__}."
        )
    unknown = sorted(set(extra) - set(EXTRA_KEYS))
    if unknown:
        log.warning(
            "Connection %r: ignoring unknown extra field(s) %s; known fields are %s.",
            conn_id,
            ", ".join(unknown),
            ", ".join(EXTRA_KEYS),
        )
    return extra


def _check_extra(conn_id: str, extra: ExtraField, value: Any) -> Any:
    """The extra's checked value, or its default when unset (the UI stores empty fields as "")."""
    if value is None or value == "":
        return extra.default
    return _check_value(f"Connection {conn_id!r}: extra {extra.name!r}", extra, value)


def _check_value(where: str, extra: ExtraField, value: Any) -> Any:
    if extra.kind == "workspace":
        if not isinstance(value, str):
            raise WebflowConfigurationError(f"{where} must be a string (the workspace id or slug).")
        return validate_workspace(value)
    if extra.kind == "boolean":
        return validate_flag(where, value)
    number = _number(where, value)
    # The range check comes first: int() of an infinite float overflows.
    if extra.kind == "integer":
        if not extra.minimum <= number <= extra.maximum or not number.is_integer():
            raise WebflowConfigurationError(
                f"{where} must be a whole number from {int(extra.minimum)} to {int(extra.maximum)}, got {value!r}."
            )
        return int(number)
    if not extra.minimum <= number <= extra.maximum:
        raise WebflowConfigurationError(
            f"{where} must be a number from {extra.minimum:g} to {extra.maximum:g}, got {value!r}."
        )
    return number


def validate_flag(where: str, value: Any) -> bool:
    """A true/false setting: a JSON boolean, or the strings the UI may store ("true", "false")."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    raise WebflowConfigurationError(f"{where} must be true or false, got {value!r}.")


def _number(where: str, value: Any) -> float:
    # The UI may store numbers as strings; bool is an int subclass but never a sensible number here.
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            raise WebflowConfigurationError(f"{where} must be a number, got {value!r}.") from None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or math.isnan(value):
        raise WebflowConfigurationError(f"{where} must be a number, got {value!r}.")
    return float(value)


def build_base_url(conn_id: str, host: str | None, port: int | None) -> str:
    """Base URL from the connection's host (a bare host name or a full URL) and port."""
    raw = (host or "").strip()
    if not raw:
        return DEFAULT_BASE_URL
    if "://" not in raw:
        raw = f"https://{raw}"
    parts = urlsplit(raw)
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise WebflowConfigurationError(
            f"Connection {conn_id!r}: base URL scheme {scheme!r} is not supported; use https://."
        )
    if parts.username or parts.password or parts.query or parts.fragment:
        raise WebflowConfigurationError(
            f"Connection {conn_id!r}: the base URL must not carry credentials, a query or a fragment; "
            "put the token in the password field."
        )
    hostname = parts.hostname or ""
    if not hostname:
        raise WebflowConfigurationError(f"Connection {conn_id!r}: the base URL has no host.")
    if scheme == "http" and not is_loopback_host(hostname):
        raise WebflowConfigurationError(
            f"Connection {conn_id!r}: plain http:// is only allowed for loopback hosts (localhost, "
            f"127.0.0.0/8, ::1), not {hostname!r}: the API token would travel unencrypted. Use https://."
        )
    try:
        url_port = parts.port
    except ValueError:
        raise WebflowConfigurationError(f"Connection {conn_id!r}: the base URL has an invalid port.") from None
    netloc = parts.netloc
    if port and url_port is None:
        netloc = f"{netloc}:{int(port)}"
    # Webflow's docs give the base URL as https://api.webflow.com/v2; the hook adds /v2 itself.
    path = parts.path.rstrip("/").removesuffix(API_VERSION_PREFIX)
    return f"{scheme}://{netloc}{path}"
