"""Offline OCSF 1.3.0 checks for the tests, and a Parquet page-size reader.

``pydantic-ocsf`` validates each class's model (types, enums, sibling captions, ``type_uid``), but it
accepts unknown fields and its 1.3.0 schema leaves the base event's includes unresolved, so it does
not require ``time`` or ``activity_id``. :func:`ocsf_problems` adds those rules: the base event's
required attributes, the class's required attributes and ``at_least_one`` constraints, the same for
the objects we fill, and that every attribute is one the class defines.
"""

from __future__ import annotations

import json
import struct
from functools import cache
from pathlib import Path
from typing import Any

import ocsf
import ocsf.v1_3_0.events as events

MODELS = {
    3002: events.Authentication,
    3004: events.EntityManagement,
    3005: events.UserAccess,
    3006: events.GroupManagement,
    6003: events.ApiActivity,
}
SCHEMA_NAMES = {
    3002: "authentication",
    3004: "entity_management",
    3005: "user_access",
    3006: "group_management",
    6003: "api_activity",
}
#: OCSF 1.3.0's includes/classification.json and includes/occurrence.json, which the bundled schema
#: names but does not expand.
BASE_REQUIRED = ("activity_id", "category_uid", "class_uid", "type_uid", "time", "severity_id", "metadata")
#: Attributes of the objects we fill, and the object type of each.
OBJECT_OF = {
    "user": "user",
    "actor": "actor",
    "src_endpoint": "network_endpoint",
    "location": "location",
    "entity": "managed_entity",
    "entity_result": "managed_entity",
    "group": "group",
    "resource": "resource_details",
    "metadata": "metadata",
    "product": "product",
    "service": "service",
    "api": "api",
    "org": "organization",
}


@cache
def _schema() -> dict[str, Any]:
    return json.loads((Path(ocsf.__file__).parent / "schemas" / "v1_3_0.json").read_text())


def _class_attributes(name: str) -> dict[str, Any]:
    """A class's attributes, its parents' included (base_event, category), as the schema file lists them."""
    schema, attributes = _schema()["events"], {}
    while name:
        for key, value in schema[name]["attributes"].items():
            if key != "$include":
                attributes.setdefault(key, value)
        name = schema[name].get("extends")
    return attributes


def ocsf_problems(class_uid: int, event: dict[str, Any]) -> list[str]:
    """Everything that makes ``event`` not a valid OCSF 1.3.0 event of ``class_uid``; empty if it is."""
    problems = []
    try:
        MODELS[class_uid].model_validate(json.loads(json.dumps(event)))
    except Exception as exc:
        problems.append(f"pydantic-ocsf: {exc}")
    name = SCHEMA_NAMES[class_uid]
    definition = _schema()["events"][name]
    attributes = _class_attributes(name)
    for key in BASE_REQUIRED:
        if key not in event:
            problems.append(f"missing base attribute {key}")
    for key, value in attributes.items():
        if isinstance(value, dict) and value.get("requirement") == "required" and key not in event:
            problems.append(f"missing required {key}")
    needs_one = (definition.get("constraints") or {}).get("at_least_one")
    if needs_one and not any(key in event for key in needs_one):
        problems.append(f"needs at least one of {needs_one}")
    # Attributes outside the class: `actor` and `device` come with the host profile, which the event names.
    allowed = set(attributes) | set(BASE_REQUIRED) | {"raw_data", "message", "status", "status_id", "unmapped"}
    allowed |= {"activity_name", "category_name", "class_name", "type_name", "severity"}
    if "host" in event.get("metadata", {}).get("profiles", []):
        allowed |= {"actor", "device"}
    problems += [f"attribute {key} is not in {name}" for key in event if key not in allowed]
    if event.get("type_uid") != event.get("class_uid", 0) * 100 + event.get("activity_id", -1):
        problems.append("type_uid is not class_uid * 100 + activity_id")
    problems += _object_problems(event, "")
    return problems


def _object_problems(value: dict[str, Any], where: str) -> list[str]:
    problems = []
    objects = _schema()["objects"]
    for key, item in value.items():
        kind = OBJECT_OF.get(key)
        if kind is None or not isinstance(item, dict):
            continue
        definition = objects[kind]
        needs_one = (definition.get("constraints") or {}).get("at_least_one")
        if needs_one and not any(k in item for k in needs_one):
            problems.append(f"{where}{key} needs at least one of {needs_one}")
        for attr, spec in definition["attributes"].items():
            if isinstance(spec, dict) and spec.get("requirement") == "required" and attr not in item:
                problems.append(f"{where}{key} is missing required {attr}")
        problems += _object_problems(item, f"{where}{key}.")
    return problems


# --- Parquet pages -----------------------------------------------------------------------------------
# A column chunk is a run of pages, each a Thrift-compact PageHeader followed by its body. pyarrow
# does not expose page sizes, so read the headers: fields 1-3 are type, uncompressed and compressed size.


def _varint(data: bytes, at: int) -> tuple[int, int]:
    shift = result = 0
    while True:
        byte = data[at]
        at += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, at
        shift += 7


def _zigzag(value: int) -> int:
    return (value >> 1) ^ -(value & 1)


def _skip(data: bytes, at: int, kind: int) -> int:
    if kind in (1, 2):  # bool true / false: in the field header
        return at
    if kind == 3:
        return at + 1
    if kind in (4, 5, 6):
        return _varint(data, at)[1]
    if kind == 7:
        return at + 8
    if kind == 8:
        size, at = _varint(data, at)
        return at + size
    if kind in (9, 10):
        header = data[at]
        at += 1
        size, element = header >> 4, header & 0x0F
        if size == 15:
            size, at = _varint(data, at)
        for _ in range(size):
            at = _skip(data, at, element)
        return at
    if kind == 12:
        return _struct(data, at)[1]
    raise ValueError(f"Thrift type {kind} not expected in a page header")


def _struct(data: bytes, at: int) -> tuple[dict[int, int], int]:
    """Read a struct; return its top-level integer fields by id and the offset after it."""
    fields, field_id = {}, 0
    while True:
        header = data[at]
        at += 1
        if header == 0:
            return fields, at
        delta, kind = header >> 4, header & 0x0F
        if delta:
            field_id += delta
        else:
            raw, at = _varint(data, at)
            field_id = _zigzag(raw)
        if kind in (4, 5, 6):
            raw, at = _varint(data, at)
            fields[field_id] = _zigzag(raw)
        else:
            at = _skip(data, at, kind)


def page_sizes(data: bytes) -> list[tuple[str, int, int]]:
    """Every page of a Parquet file: (column path, uncompressed size, compressed size)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    assert data[:4] == b"PAR1"
    metadata = pq.ParquetFile(pa.BufferReader(data)).metadata
    pages = []
    for group in range(metadata.num_row_groups):
        for column in range(metadata.num_columns):
            chunk = metadata.row_group(group).column(column)
            at = chunk.dictionary_page_offset if chunk.has_dictionary_page else chunk.data_page_offset
            end = at + chunk.total_compressed_size
            while at < end:
                header, body = _struct(data, at)
                pages.append((chunk.path_in_schema, header[2], header[3]))
                at = body + header[3]
    assert struct.unpack("<I", data[-8:-4])[0] > 0
    return pages
