"""File formats of a landed window: each encoder turns batches of events into the bytes of one object.

To add a format: write an encoder (``write(batch)``, ``close()``, ``records``) over a
:class:`HashingSink`, and add it to :data:`ENCODERS`; the writer, the manifest and the operator's
``file_format`` check pick it up from there.
"""

from __future__ import annotations

import gzip
import hashlib
import json
from collections import Counter
from collections.abc import Callable
from typing import IO, Any, Protocol

from airflow_webflow_audit.api import parse_timestamp
from airflow_webflow_audit.exceptions import WebflowConfigurationError, WebflowFormatError
from airflow_webflow_audit.jsonlines import EventBatch, json_object

# zlib's own default: most of level 9's ratio at a fraction of its CPU. Fixed, so reruns are byte-identical.
GZIP_LEVEL = 6
PARQUET_ROW_GROUP_EVENTS = 10_000


class HashingSink:
    """A write-only file object that hashes and counts the bytes it forwards."""

    def __init__(self, raw: IO[bytes]) -> None:
        self.raw = raw
        self.sha256 = hashlib.sha256()
        self.size = 0

    def write(self, data: bytes | bytearray | memoryview) -> int:
        self.sha256.update(data)
        self.size += len(data)
        self.raw.write(data)
        return len(data)

    def flush(self) -> None:
        self.raw.flush()

    def tell(self) -> int:
        return self.size

    @property
    def closed(self) -> bool:
        return False

    def writable(self) -> bool:
        return True

    def close(self) -> None:  # the caller closes the underlying file
        pass


class WindowEncoder(Protocol):
    records: int

    def write(self, batch: EventBatch) -> None: ...

    def close(self) -> None: ...


class JsonlGzipEncoder:
    """Gzip JSON Lines, one event per line as the API sent it (compact JSON, keys in the API's order).

    The lines come ready-made from the pull (see :mod:`airflow_webflow_audit.jsonlines`), so nothing is
    serialized twice. The gzip header carries no time and no file name, so the same events always give
    the same bytes.
    """

    def __init__(self, sink: HashingSink) -> None:
        self._gzip = gzip.GzipFile(filename="", mode="wb", fileobj=sink, compresslevel=GZIP_LEVEL, mtime=0)
        self.records = 0

    def write(self, batch: EventBatch) -> None:
        if batch.lines:
            self._gzip.write(b"".join(batch.lines))
            self.records += len(batch.lines)

    def close(self) -> None:
        self._gzip.close()


def parquet_schema() -> Any:
    import pyarrow as pa

    return pa.schema(
        [
            pa.field("timestamp", pa.timestamp("us", tz="UTC"), nullable=False),
            pa.field("event_type", pa.string()),
            pa.field("event_sub_type", pa.string()),
            pa.field("actor_id", pa.string()),
            pa.field("actor_type", pa.string()),
            pa.field("actor_email", pa.string()),
            pa.field("workspace_id", pa.string()),
            pa.field("workspace_slug", pa.string()),
            pa.field("payload", pa.string(), metadata={"format": "json"}),
        ]
    )


def _text(value: object) -> str | None:
    return value if isinstance(value, str) else None


def _parquet_row(event: dict[str, Any]) -> dict[str, Any]:
    actor = json_object(event.get("actor"))
    workspace = json_object(event.get("workspace"))
    payload = event.get("payload")
    return {
        "timestamp": parse_timestamp(event["timestamp"]),
        "event_type": _text(event.get("eventType")),
        "event_sub_type": _text(event.get("eventSubType")),
        "actor_id": _text(actor.get("id")),
        "actor_type": _text(actor.get("type")),
        "actor_email": _text(actor.get("email")),
        "workspace_id": _text(workspace.get("id")),
        "workspace_slug": _text(workspace.get("slug")),
        "payload": None if payload is None else json.dumps(payload, ensure_ascii=False, separators=(",", ":")),
    }


def _utf8(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _encodable(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rows whose text Parquet can store, for a row group that held a lone surrogate (rare: looked for
    only after pyarrow refused the group).

    ``payload`` is JSON, so it is rewritten with ``\\u`` escapes: the same value, now plain ASCII. A
    lone surrogate in a column of its own has no faithful UTF-8 form, so the landing fails.
    """
    fixed = []
    for row in rows:
        payload = row["payload"]
        if payload is not None and not _utf8(payload):
            row = {**row, "payload": json.dumps(json.loads(payload), separators=(",", ":"))}
        for column, value in row.items():
            if isinstance(value, str) and not _utf8(value):
                raise WebflowFormatError(
                    f"The event at {row['timestamp'].isoformat()} cannot be encoded as Parquet: its "
                    f"{column!r} holds a lone UTF-16 surrogate, which is not valid text in UTF-8. Land this "
                    "window with file_format='jsonl.gz', which keeps it exactly as the API sent it."
                )
        fixed.append(row)
    return fixed


class ParquetEncoder:
    """Parquet with a fixed schema (see :func:`parquet_schema`); ``payload`` stays a JSON string."""

    def __init__(self, sink: HashingSink) -> None:
        try:
            import pyarrow as pa
            import pyarrow.parquet as pq
        except ImportError:  # pragma: no cover - depends on the install
            raise WebflowConfigurationError(
                "file_format='parquet' needs pyarrow: pip install 'airflow-webflow-audit[parquet]'."
            ) from None
        self._pa = pa
        self._schema = parquet_schema()
        self._writer = pq.ParquetWriter(sink, self._schema, compression="zstd")
        self._rows: list[dict[str, Any]] = []
        self.records = 0

    def write(self, batch: EventBatch) -> None:
        self._rows.extend(_parquet_row(event) for event in batch.events)
        self.records += len(batch.events)
        # Row groups of exactly PARQUET_ROW_GROUP_EVENTS, whatever the page sizes: same events, same bytes.
        while len(self._rows) >= PARQUET_ROW_GROUP_EVENTS:
            self._flush(PARQUET_ROW_GROUP_EVENTS)

    def _flush(self, count: int | None = None) -> None:
        rows, self._rows = self._rows[:count], self._rows[len(self._rows) if count is None else count :]
        if rows:
            try:
                table = self._pa.Table.from_pylist(rows, schema=self._schema)
            except UnicodeEncodeError:
                table = self._pa.Table.from_pylist(_encodable(rows), schema=self._schema)
            self._writer.write_table(table)

    def close(self) -> None:
        try:
            self._flush()
        finally:
            # Closed even when the last group failed, or pyarrow's finalizer writes to a closed file later.
            self._writer.close()


JSONL_GZ, PARQUET = "jsonl.gz", "parquet"
#: What a landing writes unless told otherwise, and what the readers of events (monitoring, OCSF) read.
DEFAULT_FILE_FORMAT = JSONL_GZ

ENCODERS: dict[str, Callable[[HashingSink], WindowEncoder]] = {
    JSONL_GZ: JsonlGzipEncoder,
    PARQUET: ParquetEncoder,
}


#: File formats in the order the docs list them.
FILE_FORMATS = tuple(ENCODERS)


def encodes_parsed_events(file_format: str) -> bool:
    """Whether the format's encoder needs each event parsed (Parquet's columns); gzip JSONL takes the lines."""
    return file_format != JSONL_GZ


def holds_event_lines(file_format: str) -> bool:
    """Whether a landed object holds the events as the API's JSON lines (what monitoring and OCSF read)."""
    return file_format == JSONL_GZ


def has_schema(file_format: str) -> bool:
    """Whether the format's objects carry a fixed schema (OpenLineage reports it)."""
    return file_format == PARQUET


def count_records(stream: IO[bytes], file_format: str, keys: Counter[bytes] | None = None) -> int:
    """The events of a landed object read from ``stream`` (read to its end); ``keys``, if given, counts each
    event's identity key (:func:`line_key` or :func:`parquet_row_key`)."""
    if file_format == PARQUET:
        import pyarrow as pa
        import pyarrow.parquet as pq

        parquet = pq.ParquetFile(pa.BufferReader(stream.read()))
        if keys is not None:
            for group in range(parquet.num_row_groups):
                keys.update(parquet_row_key(row) for row in parquet.read_row_group(group).to_pylist())
        return int(parquet.metadata.num_rows)
    records = 0
    with gzip.GzipFile(fileobj=stream, mode="rb") as unzipped:
        if keys is None:
            while block := unzipped.read(1 << 20):
                records += block.count(b"\n")
        else:
            for line in unzipped:
                records += 1
                keys[line_key(line)] += 1
    stream.read()  # anything after the gzip stream still counts for the caller's hash
    return records


#: Bytes of an event's identity key (a shortened sha256): what tells a late event from one landed already.
EVENT_KEY_BYTES = 16


def line_key(line: bytes) -> bytes:
    """The identity of an event in gzip JSONL: its line, exactly as landed."""
    return hashlib.sha256(line).digest()[:EVENT_KEY_BYTES]


def parquet_row_key(row: dict[str, Any]) -> bytes:
    """The identity of an event in Parquet: its row (every column), as :func:`parquet_schema` stores it."""
    canonical = [row[name].isoformat() if name == "timestamp" else row[name] for name in parquet_schema().names]
    return hashlib.sha256(json.dumps(canonical, ensure_ascii=False).encode("utf-8", "surrogatepass")).digest()[
        :EVENT_KEY_BYTES
    ]


def event_key(file_format: str, event: dict[str, Any], line: bytes) -> bytes:
    """The identity an event pulled from the API will have once landed in ``file_format``.

    Two events are the same event when their landed form is the same: for gzip JSONL the line, for
    Parquet the row (a Parquet row keeps fewer details than the line, so events that differ only in
    what Parquet drops are one event there).
    """
    if file_format == PARQUET:
        return parquet_row_key(_parquet_row(event))
    return line_key(line)


def validate_file_format(file_format: object) -> str:
    if not isinstance(file_format, str) or file_format not in ENCODERS:
        raise WebflowConfigurationError(f"file_format must be one of {', '.join(FILE_FORMATS)}, got {file_format!r}.")
    return file_format


def encoder_of(file_format: object) -> Callable[[HashingSink], WindowEncoder]:
    """The encoder of ``file_format``; an unknown format raises as :func:`validate_file_format` does."""
    return ENCODERS[validate_file_format(file_format)]
