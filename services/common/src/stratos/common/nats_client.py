"""The nats-py client every process connects with, which never signs in over plaintext.

nats-py upgrades a connection to TLS only when the server's INFO says `tls_required`; a `tls://`
URL or a TLS context does not force it. So something in the middle could answer as a plaintext
server, hand the client the real server's nonce, and relay the signature the client makes over
it (the NKey challenge) to the real server over TLS: it would be signed in as that node. This
client refuses to answer a nonce on a connection that is not TLS: the CONNECT with a signature is
never written, the attempt fails, and the connection is retried as any failed one is."""

from __future__ import annotations

import nats.errors
from nats.aio.client import Client


class PlaintextSignInRefused(nats.errors.Error):
    """The server did not ask for TLS, and this client would have signed its nonce in clear."""


class TlsOnlyClient(Client):
    def _connect_command(self) -> bytes:
        signs = self._signature_cb is not None and "nonce" in self._server_info
        if signs and not self._server_info.get("tls_required"):
            raise PlaintextSignInRefused(
                "the NATS server did not ask for TLS; this process signs in over TLS only"
            )
        return super()._connect_command()
