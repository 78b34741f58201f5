"""Process wiring of one incentive replica: NATS (the traffic stream and the reports bucket),
the chain (any validator), the tally, and a gRPC server that only answers health checks.

Order at start: connect to NATS and the chain, learn which epoch the chain settles next, read
the stream from just after that epoch's predecessor's mark, and then, every poll interval,
mark ended epochs and settle signed ones (`settle.Settler`). The replica keeps no state of its
own: killed at any moment, it reads the same stream again and computes the same reports.
"""

from __future__ import annotations

import asyncio
import contextlib

from stratos.common import tls
from stratos.common.admission_source import AdmissionSource, self_problem
from stratos.common.chain_client import Chain
from stratos.common.config import load_settings
from stratos.common.errors import StratosError, Unavailable
from stratos.common.grpcutil import serving, start_server
from stratos.common.identity import Identity, load_admitted
from stratos.common.lifecycle import background, first_or_stop, run_service
from stratos.common.logging import configure_logging, get_logger
from stratos.common.nats_trust import Gate, Signer
from stratos.common.natsutil import connect
from stratos.common.tracing import setup_tracing
from stratos.incentive.config import IncentiveSettings
from stratos.incentive.settle import Settler, mark_due
from stratos.incentive.tally import Tally
from stratos.incentive.traffic import (
    TrafficReader,
    ensure_traffic,
    publish_mark,
    starting_position,
)
from stratos.v1 import auth_pb2

log = get_logger(__name__)

SERVICE = "stratos-incentive"
CONNECT_TIMEOUT_S = 30.0


def load_identity(settings: IncentiveSettings) -> Identity:
    """The replica's admitted key: its address is a bonded meta node on the ledger."""
    return load_admitted(settings.identity_file, settings.node_id, "incentive service")


async def _first_status(chain: Chain, stop: asyncio.Event):
    """The chain's status, waiting (quietly after one line) until a validator answers."""
    logged = False
    while not stop.is_set():
        try:
            return await chain.status()
        except StratosError as err:
            if not logged:
                log.warning("chain_unavailable", error=err.message)
                logged = True
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), 1.0)
    return None


async def _settle_loop(
    settings: IncentiveSettings,
    nc,
    kv,
    chain: Chain,
    reader: TrafficReader,
    settler: Settler,
    signer: Signer,
    admission,
    stop: asyncio.Event,
) -> None:
    while not stop.is_set():
        try:
            status = await chain.status()
            reader.settled_below = status.epochs.next_to_settle
            due = mark_due(
                reader.last_mark,
                status.epochs.next_to_settle,
                status.height,
                status.epochs.epoch_blocks,
            )
            if due is not None:
                await publish_mark(nc, signer, due, status.height)
            await settler.step(status)
            if settler.reread_due:  # another replica counted differently: count again
                settler.reread_due = False
                position = await starting_position(kv, status.epochs.next_to_settle)
                log.warning("traffic_reread", from_seq=position.start_seq)
                await reader.reread(position, Tally(admission))
        except (StratosError, TimeoutError, OSError) as exc:
            log.warning("settle_step_failed", error=str(exc) or type(exc).__name__)
        except Exception as exc:  # a NATS hiccup: try again at the next tick
            log.warning("settle_step_failed", error=repr(exc))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), settings.poll_interval_s)


async def serve(stop: asyncio.Event, credentials: tls.Credentials | None = None) -> None:
    settings = load_settings(IncentiveSettings)
    configure_logging("incentive", settings.log_level)
    setup_tracing(SERVICE)
    credentials = credentials or tls.from_settings(settings).credentials()
    admission = AdmissionSource.from_env()
    ident = load_identity(settings)
    role = auth_pb2.MESH_ROLE_INCENTIVE
    if problem := self_problem(admission.current(), settings.node_id, ident.public_bytes, role):
        log.warning("not_admitted", problem=problem)
    signer, gate = Signer(settings.node_id, ident), Gate(admission.current)
    chain = Chain(settings.validators, credentials.channel)
    async with contextlib.AsyncExitStack() as stack:
        stack.push_async_callback(chain.close)
        try:
            nc = await first_or_stop(
                asyncio.wait_for(
                    connect(
                        settings.nats_url,
                        name=SERVICE,
                        connect_deadline_s=CONNECT_TIMEOUT_S,
                        login=settings.nats_login(),
                    ),
                    CONNECT_TIMEOUT_S,
                ),
                stop,
            )
        except TimeoutError:
            raise Unavailable(
                f"cannot connect to NATS at {settings.nats_url} within {CONNECT_TIMEOUT_S:g} s "
                "(STRATOS_NATS_URL); is it running?"
            ) from None
        if nc is None:
            return
        stack.push_async_callback(nc.drain)
        kv = await ensure_traffic(
            nc, replicas=settings.nats_replicas, max_age_s=settings.stream_max_age_s
        )
        status = await _first_status(chain, stop)
        if status is None:
            return
        settler = Settler(
            nc,
            kv,
            chain,
            ident,
            chain_id=status.chain_id,
            fee_nstos=settings.report_fee_nstos,
            stagger_s=settings.submit_stagger_s,
        )
        reader = TrafficReader(
            nc,
            kv,
            Tally(admission.current),
            gate,
            settler.on_report,
            settled_below=status.epochs.next_to_settle,
        )
        await reader.start(await starting_position(kv, status.epochs.next_to_settle))
        stack.push_async_callback(reader.stop)
        await stack.enter_async_context(background(reader.run(), name="traffic"))
        await stack.enter_async_context(
            background(
                _settle_loop(
                    settings, nc, kv, chain, reader, settler, signer, admission.current, stop
                ),
                name="settle",
                stop=stop,
            )
        )
        server = await stack.enter_async_context(
            serving(
                start_server(
                    settings.grpc_address,
                    lambda s: None,
                    [],
                    credentials=credentials.server,
                    health_address=settings.health_address,
                ),
                grace_s=settings.shutdown_grace_s,
            )
        )
        log.info(
            "incentive_ready",
            port=server.port,
            address=settler.address,
            next_to_settle=status.epochs.next_to_settle,
        )
        await stop.wait()
        log.info("stopping")
    log.info("stopped")


def main() -> int:
    return run_service(serve)


if __name__ == "__main__":
    raise SystemExit(main())
