"""The storage node's gRPC server: `grpcutil.start_server` plus the transport settings that keep
a node's memory bounded while many clients upload at once.

By default gRPC's HTTP/2 transport grows each stream's flow-control window from bandwidth probes
(BDP), so 64 parallel uploads of 4 MiB chunks get buffered whole in the server before a handler
reads them (measured: ~300 MB RSS for 256 MiB in flight). With probing off and a 256 KiB window
per stream, data waits in the client until the node is ready for it.
"""

from __future__ import annotations

from stratos.common.grpcutil import RunningServer, start_server
from stratos.common.tls import Credentials
from stratos.storage.servicer import SERVICE_NAME, StorageService, register

STREAM_WINDOW_BYTES = 256 * 1024
SERVER_OPTIONS = [
    ("grpc.http2.bdp_probe", 0),
    ("grpc.http2.lookahead_bytes", STREAM_WINDOW_BYTES),
]


async def start_storage_server(
    address: str, service: StorageService, credentials: Credentials, *, health_address: str = ""
) -> RunningServer:
    """Serve `service` (with health and reflection) on `address`; port 0 picks a free port."""
    return await start_server(
        address,
        lambda server: register(server, service),
        [SERVICE_NAME],
        credentials=credentials.server,
        health_address=health_address,
        options=SERVER_OPTIONS,
    )
