"""The chain judge on plain values: no storage, the parts and their manifests as a listing would give them."""

from __future__ import annotations

import hashlib
import json
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from airflow_webflow_audit.landing.chain import (
    BAD_SIGNATURE,
    BROKEN_CHAIN,
    CORRUPT,
    MISPLACED,
    MISSING_MANIFEST,
    MISSING_OBJECT,
    MISSING_PART,
    UNSIGNED_PART,
    ObjectMeasure,
    PartFound,
    Place,
    judge_chain,
)
from airflow_webflow_audit.landing.layout import parse_object_name
from airflow_webflow_audit.landing.storage import DIRECTORY, FILE, OTHER
from airflow_webflow_audit.signing import (
    ManifestSigner,
    ManifestVerifier,
    SignaturePolicy,
    generate_private_key_pem,
)

WORKSPACE = "hitchhikers-workspace"
START = datetime(2026, 10, 1, tzinfo=timezone.utc)
END = START + timedelta(days=1)
FIRST = "audit_logs_20261001T000000Z_20261002T000000Z.jsonl.gz"
PLACE = Place(WORKSPACE, parse_object_name(FIRST))  # type: ignore[arg-type]
SIGNER = ManifestSigner.from_pem(generate_private_key_pem(), source="test")
SIGNED = SignaturePolicy(ManifestVerifier([SIGNER.private_key.public_key()]))


def sha(number: int) -> str:
    return hashlib.sha256(f"object {number}".encode()).hexdigest()


def manifest(number: int, previous: list[dict[str, Any]] | None = None, **changes: Any) -> dict[str, Any]:
    """A manifest as the landing writes it for part ``number`` of the window at ``PLACE``."""
    body: dict[str, Any] = {
        "manifest_format_version": 4,
        "workspace": WORKSPACE,
        "workspace_identity": {"id": "6621ccb459b561c69f29d57c", "slug": WORKSPACE},
        "window": {"start": START.isoformat(), "end": END.isoformat(), "end_exclusive": True},
        "filters": {"event_types": None},
        "records": 10 * number,
        "part": {"number": number, "previous": previous or [], "adopted": False},
        "object": {
            "key": PLACE.key(number),
            "uri": f"s3://aws_default@bucket/webflow/{PLACE.key(number)}",
            "file_format": "jsonl.gz",
            "sha256": sha(number),
            "size_bytes": 100 * number,
        },
    }
    for field, value in changes.items():
        body[field] = value
    return body


def encoded(body: dict[str, Any], *, sign: bool = True) -> bytes:
    return json.dumps(SIGNER.sign(body) if sign else body, indent=2, sort_keys=True).encode()


def measure(number: int) -> ObjectMeasure:
    """What the objects of ``good_chain`` measure."""
    return ObjectMeasure(sha(number), 100 * number, 10 * number)


def part(number: int, data: bytes | None, **fields: Any) -> PartFound:
    """Part ``number`` with an object that measures as ``good_chain``'s does, and manifest ``data``."""
    return PartFound(number, FILE, FILE, data, **{"measure": measure(number), **fields})


def good_chain(parts: int = 2, *, sign: bool = True) -> list[PartFound]:
    found, links = [], []
    for number in range(1, parts + 1):
        data = encoded(manifest(number, previous=list(links)), sign=sign)
        found.append(part(number, data))
        name = PLACE.part_name(number)
        links.append(
            {
                "key": name,
                "sha256": sha(number),
                "records": 10 * number,
                "manifest_sha256": hashlib.sha256(data).hexdigest(),
            }
        )
    return found


def kinds(found: list[PartFound], policy: SignaturePolicy = SIGNED, **kwargs: Any) -> list[tuple[str, int]]:
    return [(flaw.kind, flaw.part) for flaw in judge_chain(PLACE, found, policy, **kwargs).flaws]


def test_a_good_chain_verifies_every_part_and_links_them():
    verdict = judge_chain(PLACE, good_chain(3), SIGNED)
    assert verdict.verified
    assert [part.number for part in verdict.parts] == [1, 2, 3]
    assert verdict.signed_parts == 3
    assert verdict.records == 60
    assert verdict.unbound == []
    assert verdict.parts[1].link().to_json()["key"] == PLACE.part_name(2)


@pytest.mark.parametrize(
    ("changes", "said"),
    [
        ({"filters": {"event_types": ["custom_role"]}}, "landed with event_types=custom_role"),
        ({"workspace": "another-workspace"}, "of workspace 'another-workspace'"),
        ({"workspace_identity": {"id": "x", "slug": "another-workspace"}}, "its events name workspace id 'x'"),
        (
            {"window": {"start": "2026-10-02T00:00:00+00:00", "end": "2026-10-03T00:00:00+00:00"}},
            "describes the window",
        ),
    ],
)
def test_a_validly_signed_manifest_that_belongs_elsewhere_is_misplaced(changes, said):
    verdict = judge_chain(PLACE, [part(1, encoded(manifest(1, **changes)))], SIGNED)
    assert [(flaw.kind, flaw.part) for flaw in verdict.flaws] == [(MISPLACED, 1)]
    assert said in verdict.flaws[0].detail
    assert verdict.parts == []


def test_a_part_manifest_moved_to_another_part_number_or_object_is_misplaced():
    second = manifest(2)
    second["part"]["previous"] = []
    found = [part(1, encoded(second), measure=measure(2))]  # part 2's manifest and object at part 1's name
    verdict = judge_chain(PLACE, found, SIGNED)
    assert [flaw.kind for flaw in verdict.flaws] == [MISPLACED]
    assert "says it is part 2" in verdict.flaws[0].detail
    assert "describes the object" in verdict.flaws[0].detail


def test_an_earlier_format_is_bound_by_what_it_states_and_says_what_it_cannot():
    old = manifest(1, manifest_format_version=3, workspace_identity=None)
    del old["workspace_identity"]
    del old["object"]["key"]
    verdict = judge_chain(PLACE, [part(1, encoded(old))], SIGNED)
    assert verdict.verified
    assert verdict.unbound == [
        f"{PLACE.key(1)}: manifest format 3 does not record the workspace's id and slug as the API gave them"
    ]
    old["object"]["uri"] = "s3://bucket/webflow/workspace=other/dt=2026-10-01/" + FIRST
    verdict = judge_chain(PLACE, [part(1, encoded(old))], SIGNED)
    assert [flaw.kind for flaw in verdict.flaws] == [MISPLACED]


def test_what_is_missing_is_named_per_part():
    found = good_chain(3)
    assert kinds([found[0], found[2]]) == [(MISSING_PART, 2)]
    assert kinds([found[0], PartFound(2, FILE, None, None), found[2]]) == [(MISSING_MANIFEST, 2)]
    assert kinds([found[0], PartFound(2, None, FILE, found[1].manifest_bytes), found[2]]) == [(MISSING_OBJECT, 2)]


def test_the_newest_part_without_a_manifest_is_an_orphan_a_landing_may_adopt():
    found = [*good_chain(1), PartFound(2, FILE, None, None, measure=measure(2))]
    verdict = judge_chain(PLACE, found, SIGNED)
    assert verdict.orphan == 2
    assert verdict.orphan_measure == measure(2)  # what a landing compares with its pull
    assert verdict.flaws[0].kind == MISSING_MANIFEST
    assert [part.number for part in verdict.parts] == [1]


def test_an_orphan_whose_object_cannot_be_read_is_not_adoptable():
    found = [*good_chain(1), PartFound(2, FILE, None, None, unreadable=(CORRUPT, "part 2: truncated gzip"))]
    verdict = judge_chain(PLACE, found, SIGNED)
    assert verdict.orphan is None
    assert [(flaw.kind, flaw.adoptable) for flaw in verdict.flaws] == [(MISSING_MANIFEST, False)]
    assert "truncated gzip" in verdict.flaws[0].detail


@pytest.mark.parametrize("kind", [CORRUPT, MISSING_OBJECT])
def test_an_object_that_could_not_be_measured_is_the_flaw_the_reader_named(kind):
    (first,) = good_chain(1)
    verdict = judge_chain(PLACE, [replace(first, measure=None, unreadable=(kind, "part 1: what happened"))], SIGNED)
    assert [(flaw.kind, flaw.part, flaw.detail) for flaw in verdict.flaws] == [(kind, 1, "part 1: what happened")]


def test_a_part_whose_object_was_never_measured_is_the_callers_mistake():
    (first,) = good_chain(1)
    with pytest.raises(ValueError, match="not measured"):
        judge_chain(PLACE, [replace(first, measure=None)], SIGNED)


@pytest.mark.parametrize(("kind", "what"), [(DIRECTORY, "a folder"), (OTHER, "dangling link")])
def test_a_manifest_that_is_a_folder_or_a_dangling_link_is_corrupt_naming_it(kind, what):
    flaws = judge_chain(PLACE, [PartFound(1, FILE, kind, None)], SIGNED).flaws
    assert [flaw.kind for flaw in flaws] == [CORRUPT]
    assert what in flaws[0].detail
    listed_not_read = judge_chain(PLACE, [PartFound(1, FILE, FILE, None)], SIGNED).flaws
    assert "listed but cannot be read" in listed_not_read[0].detail


def test_an_object_that_differs_from_its_manifest_is_corrupt_whichever_measure_differs():
    (first,) = good_chain(1)
    for changed in (ObjectMeasure(sha(9), 100, 10), ObjectMeasure(sha(1), 101, 10), ObjectMeasure(sha(1), 100, 9)):
        flaws = judge_chain(PLACE, [replace(first, measure=changed)], SIGNED).flaws
        assert [flaw.kind for flaw in flaws] == [CORRUPT]
        assert "changed after landing" in flaws[0].detail


def test_a_changed_earlier_part_breaks_the_chain_even_unsigned_and_unchecked():
    found = good_chain(2, sign=False)
    first = json.loads(found[0].manifest_bytes or b"")
    first["records"] = 11  # a consistent rewrite of part 1: its manifest's bytes change
    rewritten = [part(1, encoded(first, sign=False), measure=ObjectMeasure(sha(1), 100, 11)), found[1]]
    flaws = judge_chain(PLACE, rewritten, SignaturePolicy())
    assert [(flaw.kind, flaw.part) for flaw in flaws.flaws] == [(BROKEN_CHAIN, 2)]


def test_signatures_by_policy_unsigned_is_a_problem_unless_the_window_ends_by_the_cut_over():
    unsigned = good_chain(1, sign=False)
    assert kinds(unsigned) == [(UNSIGNED_PART, 1)]
    verdict = judge_chain(PLACE, unsigned, SignaturePolicy(SIGNED.verifier, unsigned_before=END))
    assert verdict.verified
    assert "unsigned (accepted" in verdict.warnings[0]
    assert kinds(unsigned, SignaturePolicy()) == []  # no key: nothing to check signatures with
    other = ManifestSigner.from_pem(generate_private_key_pem(), source="other")
    foreign = [part(1, json.dumps(other.sign(manifest(1))).encode())]
    assert kinds(foreign) == [(BAD_SIGNATURE, 1)]


def test_the_landing_stops_at_the_first_flaw_and_an_audit_names_every_one():
    found = [replace(each, measure=ObjectMeasure(sha(each.number), 1, 10 * each.number)) for each in good_chain(3)]
    verdict = judge_chain(PLACE, found, SIGNED, stop_at_first=True)  # every size is wrong
    assert [(flaw.kind, flaw.part) for flaw in verdict.flaws] == [(CORRUPT, 1)]
    assert verdict.parts == []
    everything = judge_chain(PLACE, found, SIGNED)
    assert [(flaw.kind, flaw.part) for flaw in everything.flaws] == [(CORRUPT, 1), (CORRUPT, 2), (CORRUPT, 3)]
