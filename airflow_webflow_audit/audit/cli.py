"""``python -m airflow_webflow_audit.audit``: is every audit event of a date range in the bucket, once, and
unaltered?

Signatures are verified by default: with the public keys given (``--public-key``, ``--keyring``, for an auditor
without Airflow access), else with the signing connection's key where this runs. Then an unsigned
part, a signature that does not verify or one by an unknown key is a problem.

Exit codes: 0 complete and verified, 1 incomplete (anything missing, corrupt, tampered with,
overlapping or stale), 2 bad usage, 3 could not audit (storage or API unreachable, a refused token).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import shlex
import sys
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import TextIO

from airflow_webflow_audit.audit.bucket import audit_bucket
from airflow_webflow_audit.audit.html import render_html
from airflow_webflow_audit.audit.recount import recount
from airflow_webflow_audit.exceptions import WebflowConfigurationError
from airflow_webflow_audit.landing.layout import DESTINATION_EXAMPLES, check_destination, resolve_destination
from airflow_webflow_audit.signing import DEFAULT_SIGNING_CONN_ID, SignaturePolicy, signing_from_connection
from airflow_webflow_audit.signing.keyring import key_argument, load_keyring
from airflow_webflow_audit.validation import validate_optional_datetime, validate_window, validate_workspace

EXIT_COMPLETE, EXIT_INCOMPLETE, EXIT_USAGE, EXIT_COULD_NOT_AUDIT = 0, 1, 2, 3


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m airflow_webflow_audit.audit",
        description="Prove a date range of landed Webflow audit logs complete from the bucket alone: every window's "
        "object against its manifest, and the windows against the range.",
        epilog="Exit codes: 0 complete, 1 incomplete, 2 bad usage, 3 could not audit.",
    )
    parser.add_argument("destination", help=f"the landing operator's destination: {DESTINATION_EXAMPLES}")
    parser.add_argument("--workspace", required=True, help="workspace id or slug the windows were landed for")
    parser.add_argument("--start", required=True, help="range start, ISO 8601 with an offset (inclusive)")
    parser.add_argument("--end", required=True, help="range end, ISO 8601 with an offset (exclusive)")
    parser.add_argument("--conn-id", default="webflow_default", help="Webflow connection for --recount")
    parser.add_argument(
        "--recount",
        action="store_true",
        help="also ask the API whether each window gained events since it was landed (one request per window "
        "when nothing changed)",
    )
    parser.add_argument(
        "--public-key",
        action="append",
        default=[],
        metavar="FILE[@ISO-TIME]",
        help="a public key manifests may be signed with (Ed25519 or ECDSA P-256; PEM or OpenSSH), with the time "
        "it was retired after @, if it was: its signatures on parts written after then are problems. Repeat it "
        "for rotated keys. Without it (and --keyring), the keys of --signing-conn-id are used if that connection "
        "exists here",
    )
    parser.add_argument(
        "--keyring",
        action="append",
        default=[],
        metavar="FILE",
        help='a keyring file: {"keys": [{"name", "public_key" or "public_key_file", "not_after"}, ...]} (JSON)',
    )
    parser.add_argument(
        "--signing-conn-id",
        default=None,
        help=f"the connection holding the signing key (default {DEFAULT_SIGNING_CONN_ID}, used when it exists)",
    )
    parser.add_argument(
        "--unsigned-before",
        metavar="ISO",
        help="accept unsigned parts of windows ending at or before this instant (landed before signing was turned "
        "on), as warnings; default: the signing connection's unsigned_before, when its keys are used",
    )
    parser.add_argument("--strict", action="store_true", help="count warnings (filtered, retention) as problems")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.add_argument(
        "--html",
        metavar="FILE",
        type=Path,
        help="also write the report as one self-contained HTML page (a calendar of the range, every window; "
        "printable on A4), built from the same report as --json",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)  # exits 2 on bad usage
    try:
        workspace = validate_workspace(args.workspace)
        start, end = validate_window(args.start, args.end)
        unsigned_before = validate_optional_datetime(args.unsigned_before, "--unsigned-before")
        check_destination(args.destination)
    except WebflowConfigurationError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    # From here on, Airflow may log (a connection lookup, a filesystem attached): stdout is the report's alone.
    with _stdout_for_the_report_alone() as out:
        try:
            policy = _policy(args.public_key, args.keyring, args.signing_conn_id, unsigned_before)
            destination = resolve_destination(args.destination)
        except (WebflowConfigurationError, OSError) as exc:  # a key file or the named connection
            print(f"error: {exc}", file=sys.stderr)
            return EXIT_USAGE
        except Exception as exc:  # a secrets backend that does not answer
            print(f"could not audit: {type(exc).__name__}: {exc}", file=sys.stderr)
            return EXIT_COULD_NOT_AUDIT
        try:
            report = audit_bucket(
                destination, workspace, start, end, strict=args.strict, signatures=policy, keep_event_keys=args.recount
            )
            if args.recount:
                from airflow_webflow_audit.hooks.webflow import WebflowHook

                recount(report, WebflowHook(args.conn_id))
        except Exception as exc:  # storage, the API, a connection: never exit 1, which means "incomplete"
            print(f"could not audit: {type(exc).__name__}: {exc}", file=sys.stderr)
            return EXIT_COULD_NOT_AUDIT
        as_json = report.to_json()
        if args.html is not None:
            command = shlex.join(
                ["python", "-m", "airflow_webflow_audit.audit", *(sys.argv[1:] if argv is None else argv)]
            )
            try:
                args.html.write_text(render_html(as_json, command=command), encoding="utf-8")
            except OSError as exc:
                print(f"could not write the HTML report: {exc}", file=sys.stderr)
                return EXIT_COULD_NOT_AUDIT
        print(json.dumps(as_json, indent=2) if args.json else report.render(), file=out)
    return EXIT_COMPLETE if report.complete else EXIT_INCOMPLETE


def _policy(
    public_keys: list[str], keyrings: list[str], signing_conn_id: str | None, unsigned_before: datetime | None
) -> SignaturePolicy:
    """The keys given (files, keyrings), plus the signing connection's keys when it is named or no key is
    given; the cut-over given, else the connection's."""
    keys = [key_argument(text) for text in public_keys]
    for path in keyrings:
        keys.extend(load_keyring(path))
    if signing_conn_id or not keys:
        found = signing_from_connection(
            signing_conn_id or DEFAULT_SIGNING_CONN_ID, required=signing_conn_id is not None, to_sign=False
        ).policy
        if found.verifier is not None:
            keys.extend(found.verifier.keys)
        if unsigned_before is None:
            unsigned_before = found.unsigned_before
    return SignaturePolicy.of(keys, unsigned_before)


@contextlib.contextmanager
def _stdout_for_the_report_alone() -> Iterator[TextIO]:
    """A stream for the report; meanwhile anything else written to stdout goes to stderr.

    Airflow's and alembic's log handlers keep the stdout they found when logging was configured
    (some Airflow versions log the ORM's setup there during a connection lookup), so swapping
    ``sys.stdout`` is not enough: the file descriptor itself points at stderr until the report.
    """
    try:
        fd = sys.stdout.fileno()
    except (AttributeError, OSError, io.UnsupportedOperation):
        fd = None  # stdout is not a file (replaced in-process): only Python-level writes can be moved
    if fd is None:
        report = sys.stdout
        with contextlib.redirect_stdout(sys.stderr):
            yield report
        return
    sys.stdout.flush()
    saved = os.dup(fd)
    os.dup2(sys.stderr.fileno(), fd)
    try:
        with os.fdopen(os.dup(saved), "w") as report, contextlib.redirect_stdout(sys.stderr):
            yield report
    finally:
        sys.stdout.flush()
        os.dup2(saved, fd)
        os.close(saved)
