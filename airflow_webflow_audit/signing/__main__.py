"""``python -m airflow_webflow_audit.signing``: make a signing key, or print the public key auditors verify with.

    generate-key               a new Ed25519 private key (PKCS#8 PEM) on stdout, for the connection's password
    public-key [--conn-id ID]  the public key (PEM) of the signing connection, default webflow_audit_signing
    public-key --private-key-file FILE   ... of a private key file instead

Exit codes: 0 done, 2 bad usage or no such key.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from airflow_webflow_audit.exceptions import WebflowConfigurationError
from airflow_webflow_audit.signing import (
    DEFAULT_SIGNING_CONN_ID,
    ManifestSigner,
    fingerprint,
    generate_private_key_pem,
    public_key_pem,
    signer_from_connection,
)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m airflow_webflow_audit.signing",
        description="Keys for signed manifests of landed Webflow audit logs.",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser(
        "generate-key", help="print a new Ed25519 private key (PKCS#8 PEM): store it as the connection's password"
    )
    public = commands.add_parser("public-key", help="print the public key (PEM) auditors verify with")
    source = public.add_mutually_exclusive_group()
    source.add_argument("--conn-id", default=DEFAULT_SIGNING_CONN_ID, help="the signing connection")
    source.add_argument("--private-key-file", type=Path, help="a private key file instead of a connection")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "generate-key":
        print(generate_private_key_pem(), end="")
        return 0
    try:
        if args.private_key_file is not None:
            signer = ManifestSigner.from_pem(args.private_key_file.read_bytes(), source=str(args.private_key_file))
        else:
            found = signer_from_connection(args.conn_id, required=True)
            if found is None:
                raise WebflowConfigurationError("give --conn-id or --private-key-file")
            signer = found
    except (WebflowConfigurationError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    public_key = signer.private_key.public_key()
    print(public_key_pem(public_key), end="")
    print(f"fingerprint: {fingerprint(public_key)}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
