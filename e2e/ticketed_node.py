"""Test-only entry point: a real index or storage process (`serve()` of each, same settings,
same shutdown) given what issue 11 part 1 will give it — the index a meta identity to sign
tickets with, the storage node an admission list to check them against — so the ticket tests
run real processes with tickets enforced, with no test hook in `src/`.

    python e2e/ticketed_node.py index --key-file KEY.pem --node-id index-0
    python e2e/ticketed_node.py storage --admission LIST --admin-key HEX --mesh-id MESH
"""

from __future__ import annotations

import argparse
import functools
import sys
from pathlib import Path

from stratos.common import admission, identity
from stratos.common.lifecycle import run_service


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="role", required=True)
    index = sub.add_parser("index")
    index.add_argument("--key-file", type=Path, required=True)
    index.add_argument("--node-id", required=True)
    storage = sub.add_parser("storage")
    storage.add_argument("--admission", type=Path, required=True)
    storage.add_argument("--admin-key", required=True)
    storage.add_argument("--mesh-id", required=True)
    args = parser.parse_args(argv)
    if args.role == "index":
        from stratos.index.main import serve as serve_index
        from stratos.index.ticketing import TicketSigner

        signer = TicketSigner(identity.load_or_create(args.key_file), args.node_id)
        return run_service(functools.partial(serve_index, tickets=signer))
    from stratos.storage.main import serve as serve_storage

    opened = admission.open_list(
        args.admission.read_bytes(), bytes.fromhex(args.admin_key), args.mesh_id
    )
    return run_service(functools.partial(serve_storage, admission=lambda: opened))


if __name__ == "__main__":
    sys.exit(main())
