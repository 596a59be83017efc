"""JSON in and JSON Lines out on the hot path: orjson, with the stdlib for what orjson cannot read exactly.

Every event is parsed once and serialized once; that one line feeds both the pull's snapshot digest
and the landed file. A line is the event as compact JSON: keys in the API's order, UTF-8, no
escapes beyond what JSON requires -- byte for byte what ``json.dumps(item, ensure_ascii=False,
separators=(",", ":"))`` gives, except that a float may be spelled differently (orjson writes
``1e-05`` as ``0.00001``; the value is the same). Audit events carry strings, objects and booleans,
so in practice the lines are the stdlib's.

orjson only gets the documents it reads exactly:

* it reads integers past 64 bits as floats, losing digits, so a document with 19 or more digits in a
  row goes to the stdlib whole (a long digit run inside a string only costs the fast path);
* it refuses ``NaN``/``Infinity`` literals and lone surrogates, which the stdlib accepts: such a
  document fails in orjson and is re-read by the stdlib, and its lines are the stdlib's too (orjson
  would write ``NaN`` as ``null``).
"""

from __future__ import annotations

import json
from typing import Any, NamedTuple

import orjson

#: Maps every digit to "0", so a run of 19 digits is a plain substring search (a regex scan of a
#: page costs more than parsing it).
_DIGITS_AS_ZERO = bytes.maketrans(b"123456789", b"000000000")
_LONG_INTEGER = b"0" * 19


#: The deepest nesting (objects and arrays) an event may have: orjson writes no deeper than this, so
#: the stdlib path holds events to the same limit and both land the same events.
MAX_EVENT_DEPTH = 254


def depth_exceeds(value: Any, limit: int = MAX_EVENT_DEPTH) -> bool:
    """Whether ``value`` nests objects/arrays more than ``limit`` deep (iterative: no recursion limit)."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        children = node.values() if isinstance(node, dict) else node if isinstance(node, list) else None
        if children is None:
            continue
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in children if isinstance(child, (dict, list)))
    return False


def loads(content: bytes) -> tuple[Any, bool]:
    """Parse a JSON document; also say whether orjson read it (and so may serialize its parts)."""
    if _LONG_INTEGER not in content.translate(_DIGITS_AS_ZERO):
        try:
            return orjson.loads(content), True
        except orjson.JSONDecodeError:
            pass  # maybe NaN or a lone surrogate, which the stdlib reads; else it names the error
    return json.loads(content), False


def json_object(value: object) -> dict[str, Any]:
    """``value`` if it is a JSON object, else an empty one: for reading optional nested fields."""
    return value if isinstance(value, dict) else {}


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
    """Events in order, each with its JSON line: what flows from a pull to a landing, page by page.

    From the landing's spool to a gzip JSONL encoder, which writes the lines as they are, ``events``
    is empty: the lines are not parsed again only to be thrown away.
    """

    events: list[dict[str, Any]]
    lines: list[bytes]
