"""The Parquet schema of each OCSF class this provider writes, and OCSF event <-> Parquet row.

A lake table's schema must not drift from file to file (the Glue crawler and Athena read every file
of a source with one schema), so each class has a fixed schema here, not one inferred from the rows
at hand. OCSF attributes of type JSON (``entity.data``) are JSON strings in Parquet, as Security
Lake stores them. :func:`to_row` and :func:`from_row` are exact inverses for every event
:func:`~airflow_webflow_audit.ocsf.mapping.to_ocsf` makes; a test holds them to it.
"""

from __future__ import annotations

import json
from functools import cache
from typing import Any

from airflow_webflow_audit.exceptions import WebflowConfigurationError
from airflow_webflow_audit.ocsf.mapping import (
    API_ACTIVITY,
    AUTHENTICATION,
    ENTITY_MANAGEMENT,
    GROUP_MANAGEMENT,
    USER_ACCESS_MANAGEMENT,
)

#: Attributes of OCSF type JSON, per class, as (object, attribute): strings in Parquet.
JSON_ATTRIBUTES: dict[int, tuple[tuple[str, str], ...]] = {
    ENTITY_MANAGEMENT.uid: (("entity", "data"), ("entity_result", "data")),
}


def require_pyarrow() -> Any:
    """pyarrow, or an error naming the extra that installs it."""
    try:
        import pyarrow as pa
    except ImportError:  # pragma: no cover - depends on the install
        raise WebflowConfigurationError(
            "Writing OCSF Parquet needs pyarrow: pip install 'airflow-webflow-audit[parquet]'."
        ) from None
    return pa


@cache
def class_schema(class_uid: int) -> Any:
    """The ``pyarrow.Schema`` of one OCSF class's files."""
    pa = require_pyarrow()
    text, i32 = pa.string(), pa.int32()
    user = pa.struct([("uid", text), ("email_addr", text), ("type_id", i32), ("type", text)])
    org = pa.struct([("uid", text), ("name", text)])
    location = pa.struct([("city", text), ("country", text), ("desc", text)])
    endpoint = pa.struct([("ip", text), ("name", text), ("location", location)])
    scope = pa.struct([("uid", text), ("name", text), ("type", text)])
    metadata = pa.struct(
        [
            ("version", text),
            ("uid", text),
            (
                "product",
                pa.struct([("name", text), ("vendor_name", text), ("feature", pa.struct([("name", text)]))]),
            ),
            ("event_code", text),
            ("log_name", text),
            ("original_time", text),
            ("tenant_uid", text),
            ("profiles", pa.list_(text)),
        ]
    )
    common = [
        ("time", pa.int64()),
        ("activity_id", i32),
        ("activity_name", text),
        ("category_uid", i32),
        ("category_name", text),
        ("class_uid", i32),
        ("class_name", text),
        ("type_uid", pa.int64()),
        ("type_name", text),
        ("severity_id", i32),
        ("severity", text),
        ("status_id", i32),
        ("status", text),
        ("message", text),
        ("metadata", metadata),
        ("actor", pa.struct([("user", user)])),
    ]
    entity = pa.struct([("type", text), ("name", text), ("org", org), ("user", user), ("data", text)])
    specific = {
        AUTHENTICATION.uid: [
            ("user", user),
            ("service", pa.struct([("name", text), ("uid", text)])),
            ("src_endpoint", endpoint),
            ("auth_protocol_id", i32),
            ("auth_protocol", text),
        ],
        ENTITY_MANAGEMENT.uid: [("entity", entity), ("entity_result", entity)],
        USER_ACCESS_MANAGEMENT.uid: [("user", user), ("privileges", pa.list_(text)), ("resource", scope)],
        GROUP_MANAGEMENT.uid: [("user", user), ("group", scope), ("privileges", pa.list_(text))],
        API_ACTIVITY.uid: [
            ("api", pa.struct([("operation", text), ("service", pa.struct([("name", text)]))])),
            ("src_endpoint", endpoint),
        ],
    }[class_uid]
    # raw_data last: the widest column, rarely read.
    return pa.schema([*common, *specific, ("raw_data", text)])


def to_row(class_uid: int, event: dict[str, Any]) -> dict[str, Any]:
    """An OCSF event as a row of its class's schema (JSON attributes as JSON strings)."""
    row = dict(event)
    for outer, inner in JSON_ATTRIBUTES.get(class_uid, ()):
        if isinstance(row.get(outer), dict) and inner in row[outer]:
            row[outer] = {**row[outer], inner: json.dumps(row[outer][inner], sort_keys=True, ensure_ascii=False)}
    return row


def from_row(class_uid: int, row: dict[str, Any]) -> dict[str, Any]:
    """A row read back from Parquet as the OCSF event it was (nulls left out, JSON attributes parsed)."""
    event = _without_nulls(row)
    for outer, inner in JSON_ATTRIBUTES.get(class_uid, ()):
        if isinstance(event.get(outer), dict) and inner in event[outer]:
            event[outer] = {**event[outer], inner: json.loads(event[outer][inner])}
    return event


def _without_nulls(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _without_nulls(item) for key, item in value.items() if item is not None}
    if isinstance(value, list):
        return [_without_nulls(item) for item in value]
    return value
