"""``python -m airflow_webflow_audit.signing``: make a signing key, or print the public key auditors verify with.

    generate-key               a new Ed25519 private key (PKCS#8 PEM) on stdout, for the connection's password
    public-key [--conn-id ID]  the public key (PEM) of the signing connection, default webflow_audit_signing:
                               a local key's public half, or a KMS key's (AWS GetPublicKey, Cloud KMS
                               GetPublicKey); the key's algorithm and fingerprint go to stderr
    public-key --private-key-file FILE   ... of a private key file instead

Exit codes: 0 done, 2 bad usage or no such key, 3 the KMS could not be reached.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from airflow_webflow_audit.exceptions import WebflowConfigurationError, WebflowSigningError
from airflow_webflow_audit.signing import (
    DEFAULT_SIGNING_CONN_ID,
    ManifestSigner,
    Signer,
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
        signer: Signer
        if args.private_key_file is not None:
            signer = ManifestSigner.from_pem(args.private_key_file.read_bytes(), source=str(args.private_key_file))
        else:
            found = signer_from_connection(args.conn_id, required=True, probe=False)
            if found is None:
                raise WebflowConfigurationError(f"the connection {args.conn_id!r} holds no signing key")
            signer = found
    except (WebflowConfigurationError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except WebflowSigningError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 3
    public_key = signer.public_key()
    print(public_key_pem(public_key), end="")
    print(f"fingerprint: {fingerprint(public_key)}", file=sys.stderr)
    print(f"algorithm: {signer.algorithm} ({signer.description})", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
