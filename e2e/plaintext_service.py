"""Tests-only entry point: a real storage node or index (`serve()` of its service, same settings,
same start-up and shutdown) with gRPC in plaintext, so the benchmark can measure what TLS costs.

    python e2e/plaintext_service.py storage|index

Production code has no way to turn TLS off: `serve()` takes the credentials it runs with, and
only this wrapper hands it plaintext ones (`stratos.common.tls`).
"""

from __future__ import annotations

import functools
import sys

import grpc
from grpc.experimental import insecure_channel_credentials

from stratos.common.lifecycle import run_service
from stratos.common.tls import Credentials

PLAINTEXT = Credentials(grpc.insecure_server_credentials(), insecure_channel_credentials())


def main(argv: list[str]) -> int:
    if argv == ["storage"]:
        from stratos.storage.main import serve
    elif argv == ["index"]:
        from stratos.index.main import serve
    else:
        print("usage: plaintext_service.py storage|index", file=sys.stderr)
        return 2
    return run_service(functools.partial(serve, credentials=PLAINTEXT))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
