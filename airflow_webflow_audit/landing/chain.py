"""The one judge of a window's chain of parts: which parts, their links, each object against its
manifest, each manifest's signature, and what binds each manifest to the place it lies.

Whatever reads landed windows asks this module, so every reader refuses what the audit refuses: the
landing (before it adds a part; it refuses on the first flaw), the range audit (which reports every
flaw), and through the audit the reconcile, OCSF and findings operators. It does no storage I/O of its
own: the caller lists the window's parts, reads their manifests and measures their data objects
(:class:`PartFound`), and the judge decides on those values alone. So the rules are tested on plain
values.

A signature says who wrote a manifest, not that it belongs where it lies: a validly signed manifest
moved to another window's name, another workspace's folder or from a filtered landing to the whole
window's name must still be refused. So each manifest is compared with its place: the workspace it
was asked about (the folder's), its window, its event-type filter, its part number, its object's key
and format -- all of which the manifest states inside what its signature covers.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, NamedTuple

from airflow_webflow_audit.jsonlines import json_object
from airflow_webflow_audit.landing.layout import FIRST_PART, MANIFEST_SUFFIX, Place
from airflow_webflow_audit.landing.manifest import PreviousPart
from airflow_webflow_audit.landing.storage import FILE
from airflow_webflow_audit.signing import INVALID, UNKNOWN_KEY, UNSIGNED, VALID, SignaturePolicy

#: What can be wrong with a window's chain; each is a window status in the audit's report.
#: A part numbered before the window's newest one is gone, object and manifest.
MISSING_PART = "missing_part"
MISSING_MANIFEST = "missing_manifest"
MISSING_OBJECT = "missing_object"
#: An object or manifest that cannot be read, or an object that is not what its manifest says.
CORRUPT = "corrupt"
#: A part's manifest names other parts before it than the bucket holds.
BROKEN_CHAIN = "broken_chain"
#: A manifest's signature does not verify, or is by a key none of the given public keys is.
BAD_SIGNATURE = "bad_signature"
#: A manifest has no signature where one is required.
UNSIGNED_PART = UNSIGNED
#: A manifest that belongs elsewhere: another workspace, window, filter, part or object.
MISPLACED = "misplaced"
#: A manifest signed by a retired key, and written (as the store says) after that key's retirement.
RETIRED_KEY = "retired_key"
#: Every flaw kind, in the order the audit lists them: the one list every other list of problems derives from.
FLAW_KINDS = (
    MISSING_PART,
    MISSING_MANIFEST,
    MISSING_OBJECT,
    CORRUPT,
    BROKEN_CHAIN,
    BAD_SIGNATURE,
    UNSIGNED_PART,
    RETIRED_KEY,
    MISPLACED,
)

#: The first manifest format whose manifests name their object's key and the workspace as the API gave it.
BINDING_FORMAT_VERSION = 4


@dataclass(frozen=True)
class ObjectMeasure:
    """What a landed data object holds, measured from its bytes alone."""

    sha256: str
    size_bytes: int
    records: int
    #: Each event's identity key, counted, when the measure was asked for them (a landing compares a pull
    #: with them); None otherwise.
    keys: Counter[bytes] | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class PartFound:
    """One part number of a window as the listing shows it: what lies at its object's and its manifest's
    names (a file, a folder, something else, or nothing), and the manifest's bytes if it was read."""

    number: int
    object_kind: str | None
    manifest_kind: str | None = None
    manifest_bytes: bytes | None = None
    #: When the manifest was written, as the store reports it (S3 LastModified, GCS timeCreated).
    manifest_created: datetime | None = None
    #: The data object, measured from its bytes (when it is a file and could be read).
    measure: ObjectMeasure | None = None
    #: Why the data object could not be measured: the flaw it is (MISSING_OBJECT if it vanished, CORRUPT
    #: if it cannot be read) and what happened.
    unreadable: tuple[str, str] | None = None

    @property
    def has_object(self) -> bool:
        return self.object_kind is not None


@dataclass(frozen=True)
class Flaw:
    """One thing wrong with a window's chain, at one part."""

    kind: str
    part: int
    detail: str
    #: The newest part's data object without a manifest: its landing stopped in between. A landing may
    #: adopt it once the API vouches for every event in it; to an audit it is unverified.
    adoptable: bool = False


@dataclass(frozen=True)
class VerifiedPart:
    """A part that passed every check."""

    number: int
    key: str
    manifest: dict[str, Any]
    manifest_sha256: str
    signed: bool
    #: Its events' identity keys, when the measure counted them.
    keys: Counter[bytes] | None = field(default=None, compare=False, repr=False)

    @property
    def records(self) -> int:
        return int(self.manifest["records"])

    @property
    def sha256(self) -> str:
        return str(json_object(self.manifest.get("object")).get("sha256"))

    def link(self) -> PreviousPart:
        """How the next part's manifest names this one."""
        return PreviousPart(self.key.rsplit("/", 1)[-1], self.sha256, self.records, self.manifest_sha256)


@dataclass
class ChainVerdict:
    """What the judge found of one window: the parts that passed, the flaws, what could not be bound."""

    place: Place
    parts: list[VerifiedPart] = field(default_factory=list)
    flaws: list[Flaw] = field(default_factory=list)
    #: Accepted but worth saying (an unsigned part before the cut-over).
    warnings: list[str] = field(default_factory=list)
    #: Parts whose manifests (written by earlier versions) cannot state all of their place.
    unbound: list[str] = field(default_factory=list)
    #: The highest part number found (the window's newest part, whatever its state).
    newest_number: int = FIRST_PART
    #: The measure of the :attr:`orphan`'s data object (with its event keys when the reader counted them).
    orphan_measure: ObjectMeasure | None = None

    @property
    def verified(self) -> bool:
        return not self.flaws

    @property
    def records(self) -> int:
        return sum(part.records for part in self.parts)

    @property
    def signed_parts(self) -> int:
        return sum(part.signed for part in self.parts)

    def event_keys(self) -> Counter[bytes]:
        """The identity keys of every verified part's events, counted (each measured with its keys)."""
        keys: Counter[bytes] = Counter()
        for part in self.parts:
            if part.keys is None:
                raise ValueError(f"part {part.number} was measured without its event keys")
            keys.update(part.keys)
        return keys

    @property
    def orphan(self) -> int | None:
        """The number of the newest part if it is only a data object whose landing stopped before its manifest."""
        return self.flaws[0].part if len(self.flaws) == 1 and self.flaws[0].adoptable else None


def judge_chain(
    place: Place,
    found: Sequence[PartFound],
    policy: SignaturePolicy,
    *,
    stop_at_first: bool = False,
) -> ChainVerdict:
    """Judge a window's parts (``found``, by number, from 1 to the newest) against their place.

    ``stop_at_first``: return at the first flaw (a landing, which refuses anyway); otherwise every part
    is judged and every flaw listed (an audit). A consumer reading a verified part later checks its
    bytes again as it reads them, with :func:`object_mismatches`.
    """
    verdict = ChainVerdict(place)
    by_number = {part.number: part for part in found}
    newest = max(by_number, default=FIRST_PART - 1)
    verdict.newest_number = max(newest, FIRST_PART)
    # How each part is named by the next one's manifest; None once a part's manifest is unreadable.
    links: list[PreviousPart] | None = []
    for number in range(FIRST_PART, newest + 1):
        part = by_number.get(number, PartFound(number, None))
        judged = _judge_part(place, part, number == newest, links, policy, verdict, stop_at_first)
        verdict.flaws.extend(judged.flaws)
        if judged.flaws and stop_at_first:
            break
        link = judged.link
        links = None if links is None or link is None else [*links, link]
        if not judged.flaws and judged.manifest is not None and link is not None:
            keys = None if part.measure is None else part.measure.keys
            verdict.parts.append(
                VerifiedPart(number, place.key(number), judged.manifest, link.manifest_sha256, judged.signed, keys)
            )
    if verdict.orphan is not None:
        verdict.orphan_measure = by_number[verdict.orphan].measure  # what a landing compares with its pull
    return verdict


class _Judged(NamedTuple):
    """One part's flaws, its manifest if readable, how the next part should name it, and whether its
    signature verified."""

    flaws: list[Flaw]
    manifest: dict[str, Any] | None = None
    link: PreviousPart | None = None
    signed: bool = False


def _judge_part(
    place: Place,
    part: PartFound,
    is_newest: bool,
    links: list[PreviousPart] | None,
    policy: SignaturePolicy,
    verdict: ChainVerdict,
    stop_at_first: bool,
) -> _Judged:
    """Judge one part (see :class:`_Judged`)."""
    number = part.number
    key = place.key(number)

    def flaw(kind: str, detail: str, adoptable: bool = False) -> Flaw:
        return Flaw(kind, number, detail, adoptable)

    if part.object_kind is None and part.manifest_kind is None:
        return _Judged([flaw(MISSING_PART, f"part {number} ({key}) is gone: both its object and its manifest")])
    if part.object_kind not in (None, FILE):
        return _Judged([flaw(CORRUPT, f"part {number}: {key} is {_what(part.object_kind)}, not a data object")])
    if part.manifest_kind is None:
        if not is_newest:
            return _Judged([flaw(MISSING_MANIFEST, f"part {number} ({key}) has no manifest (later parts exist)")])
        if part.unreadable is not None:
            detail = f"part {number} ({key}) has no manifest, and its object cannot be read: {part.unreadable[1]}"
            return _Judged([flaw(MISSING_MANIFEST, detail)])
        detail = f"part {number} ({key}) has no manifest: its landing never finished"
        return _Judged([flaw(MISSING_MANIFEST, detail, adoptable=True)])
    if part.manifest_kind != FILE or part.manifest_bytes is None:
        what = _what(part.manifest_kind) if part.manifest_kind != FILE else "listed but cannot be read"
        detail = f"the manifest of part {number} ({key}{MANIFEST_SUFFIX}) is {what}"
        return _Judged([flaw(CORRUPT, detail)])
    manifest = _json_object(part.manifest_bytes)
    if manifest is None:
        return _Judged([flaw(CORRUPT, f"the manifest of part {number} is not a JSON object")])
    link = PreviousPart(
        key.rsplit("/", 1)[-1],
        str(json_object(manifest.get("object")).get("sha256")),
        records if isinstance(records := manifest.get("records"), int) else -1,
        hashlib.sha256(part.manifest_bytes).hexdigest(),
    )
    if part.object_kind is None:
        detail = f"the manifest of part {number} claims {manifest.get('records')} events, but its object is gone"
        return _Judged([flaw(MISSING_OBJECT, detail)], manifest, link)
    flaws = []
    signature, signed = _signature_flaw(place, part, manifest, policy, verdict)
    if signature is not None:
        flaws.append(flaw(*signature))
    misplaced = binding_mismatches(place, number, manifest)
    if misplaced:
        flaws.append(flaw(MISPLACED, f"part {number}'s manifest belongs elsewhere: " + "; ".join(misplaced)))
    verdict.unbound.extend(f"{key}: {note}" for note in unbound_fields(manifest))
    chain = _chain_flaw(number, manifest, links)
    if chain is not None:
        flaws.append(flaw(BROKEN_CHAIN, chain))
    if not (flaws and stop_at_first):
        if part.unreadable is not None:
            flaws.append(flaw(*part.unreadable))
        elif part.measure is None:
            raise ValueError(f"part {number}'s data object is a file, but it was not measured")
        elif mismatches := object_mismatches(manifest, part.measure):
            flaws.append(flaw(CORRUPT, f"part {number}: " + "; ".join(mismatches) + ": changed after landing"))
    return _Judged(flaws, manifest, link, signed)


def object_mismatches(manifest: dict[str, Any], measured: ObjectMeasure) -> list[str]:
    """How a part's data object, as measured, differs from what its manifest says of it (empty: it does not)."""
    expected = json_object(manifest.get("object"))
    return [
        f"{what} {actual} vs {wanted} in the manifest"
        for what, actual, wanted in (
            ("records", measured.records, manifest.get("records")),
            ("size_bytes", measured.size_bytes, expected.get("size_bytes")),
            ("sha256", measured.sha256, expected.get("sha256")),
        )
        if actual != wanted
    ]


def binding_mismatches(place: Place, number: int, manifest: dict[str, Any]) -> list[str]:
    """What a manifest says of its place that is not where it lies (empty: it belongs here)."""
    name = place.name
    found: list[str] = []
    workspace = manifest.get("workspace")
    if workspace != place.workspace:
        found.append(f"it is of workspace {workspace!r}, and lies in the folder of {place.workspace!r}")
    identity = manifest.get("workspace_identity")
    if isinstance(identity, dict) and place.workspace not in (identity.get("id"), identity.get("slug")):
        found.append(
            f"its events name workspace id {identity.get('id')!r}, slug {identity.get('slug')!r}, "
            f"not {place.workspace!r}"
        )
    window = json_object(manifest.get("window"))
    if window.get("start") != name.start.isoformat() or window.get("end") != name.end.isoformat():
        found.append(f"it describes the window [{window.get('start')}, {window.get('end')})")
    claimed = _filter_of(json_object(manifest.get("filters")).get("event_types"))
    if claimed != _filter_of(name.event_types):
        said = "no event-type filter" if claimed is None else f"event_types={','.join(claimed)}"
        lies = "the whole window's name" if name.event_types is None else f"a name filtered by {name.event_types}"
        found.append(f"it was landed with {said}, and lies at {lies}")
    part = json_object(manifest.get("part"))
    if "number" in part and part.get("number") != number:
        found.append(f"it says it is part {part.get('number')}, and lies at part {number}'s name")
    obj = json_object(manifest.get("object"))
    key = place.key(number)
    if "key" in obj:
        if obj.get("key") != key:
            found.append(f"it describes the object {obj.get('key')!r}")
    elif isinstance(obj.get("uri"), str) and not _uri_names(obj["uri"], key):
        found.append(f"it describes the object {obj.get('uri')!r}")
    if "file_format" in obj and obj.get("file_format") != name.file_format:
        found.append(f"it describes a {obj.get('file_format')} object")
    return found


def unbound_fields(manifest: dict[str, Any]) -> list[str]:
    """What a manifest of an earlier format cannot say of its place (it keeps verifying without it)."""
    version = manifest.get("manifest_format_version", 0)
    if isinstance(version, int) and version >= BINDING_FORMAT_VERSION:
        return []
    missing = ["the workspace's id and slug as the API gave them"]
    if not isinstance(json_object(manifest.get("object")).get("uri"), str):
        missing.append("its object's key")
    if "number" not in json_object(manifest.get("part")):
        missing.append("its part number")
    return [f"manifest format {version} does not record " + ", ".join(missing)]


def _signature_flaw(
    place: Place, part: PartFound, manifest: dict[str, Any], policy: SignaturePolicy, verdict: ChainVerdict
) -> tuple[tuple[str, str] | None, bool]:
    """``((kind, detail) or None, whether the signature verified)``; the manifest is verified once."""
    if policy.verifier is None:
        return None, False
    number = part.number
    result = policy.verifier.verify(manifest)
    if result.status == VALID:
        key = result.key
        if key is None or key.not_after is None:
            return None, True
        if part.manifest_created is None:
            verdict.warnings.append(
                f"{place.key(FIRST_PART)}: part {number} is signed by the retired key {key.describe()}, and the store "
                "gives no time its manifest was written: the retirement could not be checked"
            )
            return None, True
        if part.manifest_created > key.not_after:
            return (
                RETIRED_KEY,
                f"part {number} is signed by {key.describe()}, but its manifest was written at "
                f"{part.manifest_created.isoformat()}, after that key was retired: a leaked old key signs like this",
            ), True
        return None, True
    if result.status in (INVALID, UNKNOWN_KEY):
        return (BAD_SIGNATURE, f"part {number}: {result.detail}"), False
    cutoff = policy.unsigned_before
    if cutoff is not None and place.name.end <= cutoff:
        verdict.warnings.append(
            f"{place.key(FIRST_PART)}: part {number} is unsigned (accepted: the window ends by the cut-over "
            f"unsigned_before {cutoff.isoformat()})"
        )
        return None, False
    return (
        UNSIGNED_PART,
        f"part {number} is unsigned, where a signature is required (a stripped signature looks like this; windows "
        "landed before signing was turned on need an unsigned_before cut-over)",
    ), False


def _chain_flaw(number: int, manifest: dict[str, Any], links: list[PreviousPart] | None) -> str | None:
    version = manifest.get("manifest_format_version", 0)
    if not isinstance(version, int) or version < 3:
        if number != FIRST_PART:
            return f"part {number} has a manifest of format {version}, which has no parts"
        return None
    if links is None:
        return None  # an earlier part's manifest is unreadable: that part is named already
    claimed = json_object(manifest.get("part")).get("previous")
    expected = [link.to_json() for link in links]
    if claimed != expected:
        return (
            f"part {number}'s manifest names other parts before it than those in the bucket: a part before it was "
            "replaced or its manifest changed"
        )
    return None


def _filter_of(event_types: object) -> tuple[str, ...] | None:
    if event_types is None:
        return None
    if isinstance(event_types, (list, tuple)):
        return tuple(sorted({str(t) for t in event_types}))
    return (str(event_types),)


def _uri_names(uri: str, key: str) -> bool:
    """Whether a manifest's ``object.uri`` (an earlier format's only name for its object) ends in ``key``."""
    return uri == key or uri.endswith("/" + key)


def _what(kind: str | None) -> str:
    return {"directory": "a folder", None: "missing"}.get(kind, "neither an object nor a folder (a dangling link?)")


def _json_object(data: bytes) -> dict[str, Any] | None:
    try:
        value = json.loads(data)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None
