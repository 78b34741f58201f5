"""The node's NATS connection, made in the background so the node serves gRPC while NATS is down.

Publishing fails fast with `Unavailable` until the connection is up (the heartbeat loop logs it
and tries again at the next tick) rather than queueing stale heartbeats. The node signs in as its
own NATS user, which may publish its heartbeats but not create streams: the index creates the
heartbeat stream, and a heartbeat sent before it exists is simply not kept (the next one is).
A server that refuses the node's credentials is logged as one sentence naming the user, and
retried slowly (an operator may be adding the user to the server's config). What it publishes
is signed by this node (`stratos.common.nats_trust`).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable

import nats.errors
import nats.js.errors
from nats.aio.client import Client as NATS

from stratos.common import natsutil
from stratos.common.errors import FailedPrecondition, PermissionDenied, Unavailable
from stratos.common.lifecycle import background
from stratos.common.logging import get_logger
from stratos.common.nats_trust import Signer

log = get_logger(__name__)

PROBE_INTERVAL_S = 0.5
CONNECT_TIMEOUT_S = 10.0
DRAIN_TIMEOUT_S = 5.0
REFUSED_RETRY_S = 5.0
STORED_TIMEOUT_S = 5.0


class NatsLink:
    def __init__(
        self, url: str, *, name: str, signer: Signer, login: natsutil.NatsLogin | None = None
    ) -> None:
        self.url = url
        self.signer = signer
        self.name = name
        self.login = login
        self.nc: NATS | None = None

    @contextlib.asynccontextmanager
    async def running(self, on_ready: Callable[[], None]) -> AsyncIterator[NatsLink]:
        """Connect in the background (`run`) for the life of the block; leaving stops trying
        and closes the connection."""
        try:
            async with background(self.run(on_ready), name="nats_link"):
                yield self
        finally:
            await self.close()

    async def run(self, on_ready: Callable[[], None]) -> None:
        """Connect (retrying forever), then call `on_ready`."""
        endpoints = natsutil.server_endpoints(self.url)
        waiting_logged = False
        while self.nc is None:
            # wait quietly (one log line) until a server accepts TCP, then connect
            if endpoints and not await natsutil.any_reachable(endpoints):
                if not waiting_logged:
                    log.warning("nats_unavailable", url=self.url, retry_every_s=PROBE_INTERVAL_S)
                    waiting_logged = True
                await asyncio.sleep(PROBE_INTERVAL_S)
                continue
            try:
                self.nc = await asyncio.wait_for(
                    natsutil.connect(self.url, name=self.name, login=self.login),
                    CONNECT_TIMEOUT_S,
                )
            except (Unavailable, TimeoutError) as exc:
                log.warning("nats_connect_failed", url=self.url, error=str(exc))
            except PermissionDenied as exc:
                log.error("nats_refused", error=str(exc))
                await asyncio.sleep(REFUSED_RETRY_S)
        log.info("nats_connected", url=self.url)
        on_ready()

    async def publish(self, subject: str, payload: bytes) -> None:
        nc = self.nc
        if nc is None or not nc.is_connected:
            raise Unavailable(f"not connected to NATS at {self.url}")
        await self.signer.publish(nc, subject, payload)

    async def publish_stored(self, subject: str, payload: bytes) -> None:
        """A JetStream publish, signed: returns once the stream has stored it (Unavailable when
        NATS or the stream is not there)."""
        nc = self.nc
        if nc is None or not nc.is_connected:
            raise Unavailable(f"not connected to NATS at {self.url}")
        headers = self.signer.headers(subject, payload)
        try:
            await nc.jetstream().publish(
                subject, payload, timeout=STORED_TIMEOUT_S, headers=headers
            )
        except (nats.errors.NoRespondersError, nats.js.errors.NoStreamResponseError):
            raise FailedPrecondition(
                f"no stream keeps {subject}: this mesh runs no incentive service"
            ) from None
        except nats.errors.TimeoutError:
            raise Unavailable(
                f"JetStream did not store {subject} within {STORED_TIMEOUT_S:g} s"
            ) from None
        except nats.js.errors.APIError as err:
            raise Unavailable(f"JetStream refused {subject}: {err.description}") from None

    async def close(self) -> None:
        """Flush what was published and disconnect, within a bounded time."""
        nc, self.nc = self.nc, None
        if nc is None or nc.is_closed:
            return
        try:
            await asyncio.wait_for(nc.drain(), DRAIN_TIMEOUT_S)
        except Exception as exc:  # a drain that fails still has to end in a closed connection
            log.warning("nats_drain_failed", error=str(exc) or type(exc).__name__)
            with contextlib.suppress(Exception):
                await nc.close()
