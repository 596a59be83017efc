"""JSON in and JSON Lines out on the hot path: orjson where it gives the same result, the stdlib where not.

Every event is parsed once and serialized once; that one line feeds both the pull's snapshot digest
and the landed file. The bytes are always what ``json.dumps(item, ensure_ascii=False,
separators=(",", ":"))`` gives, encoded as UTF-8 (the format landed before orjson came in), so an
object landed by any version is byte-identical for the same events. orjson only gets the documents
where it provably agrees with the stdlib:

* orjson reads integers past 64 bits as floats and writes some floats differently (``1e-05`` as
  ``0.00001``), so a document with a long integer or any fraction or exponent goes to the stdlib whole;
* orjson refuses ``NaN``/``Infinity`` literals and lone surrogates, which the stdlib accepts: such a
  document fails in orjson and is re-read by the stdlib;
* lines of documents the stdlib read are written by the stdlib too (orjson would write a ``NaN`` as
  ``null``).
"""

from __future__ import annotations

import json
import re
from typing import Any, NamedTuple

import orjson

#: What orjson would not write back as the stdlib does: 19 or more digits in a row (maybe an
#: integer past 64 bits, which orjson reads as a float) and any number with a fraction or exponent
#: (orjson writes ``1e-05`` as ``0.00001``) where a number can start: a document's start, after a
#: key's closing quote and colon, or after ``[`` or ``,`` in an array. Strings such as timestamps
#: (``00:00.000Z``) and IP addresses (``"54.165.18.1"``) do not match; a rare string that does only
#: costs the fast path. Audit events are strings, objects and booleans: real pages take the fast path.
_STDLIB_ONLY = re.compile(rb'\d{19}|(?:^|"\s*:|[,\[])\s*-?\d+[.eE]')


def loads(content: bytes) -> tuple[Any, bool]:
    """Parse a JSON document; also say whether orjson read it (and so may serialize its parts)."""
    if not _STDLIB_ONLY.search(content):
        try:
            return orjson.loads(content), True
        except orjson.JSONDecodeError:
            pass  # maybe NaN or a lone surrogate, which the stdlib reads; else it names the error
    return json.loads(content), False


def dump_line_fast(value: Any) -> bytes:
    """One JSON line of a value that came from :func:`loads` with orjson."""
    return orjson.dumps(value, option=orjson.OPT_APPEND_NEWLINE)


def dump_line(value: Any) -> bytes:
    """One JSON line of any JSON value: the stdlib's compact form, UTF-8.

    A lone surrogate (from a ``"\\ud800"`` escape) cannot be UTF-8; such a line keeps every
    non-ASCII character as a JSON escape instead, so it still reads back to the same value.
    """
    line = json.dumps(value, ensure_ascii=False, separators=(",", ":")) + "\n"
    try:
        return line.encode("utf-8")
    except UnicodeEncodeError:
        return (json.dumps(value, separators=(",", ":")) + "\n").encode("ascii")


class EventBatch(NamedTuple):
    """Events in order, each with its JSON line: what flows from a pull to a landing, page by page."""

    events: list[dict[str, Any]]
    lines: list[bytes]

    @classmethod
    def of(cls, events: list[dict[str, Any]]) -> EventBatch:
        """A batch of events from anywhere else (tests, other sources), serialized the stdlib way."""
        return cls(events, [dump_line(event) for event in events])
